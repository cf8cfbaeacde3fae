"""A tiny, valid extract written as CSV files: the base every bad-extract test breaks."""

from __future__ import annotations

import pandas as pd
import pytest

from store.vocabulary import CONCERN_COLUMNS


def valid_extract() -> dict[str, pd.DataFrame]:
    referrals = pd.DataFrame(
        {
            "referral_id": ["R1", "R2"],
            "received_at": ["2022-03-01 10:00:00", "2022-06-01 09:30:00"],
            "source": ["family", "police"],
            "referrer_relationship": ["grandparent", "police_officer"],
            **{c: ["false", "false"] for c in CONCERN_COLUMNS},
        }
    )
    referrals["concern_neglect"] = ["true", "false"]
    referrals["concern_domestic_abuse"] = ["false", "true"]
    return {
        "people": pd.DataFrame(
            {
                "person_id": ["C1", "C2", "A1", "A2"],
                "date_of_birth": ["2021-05-01", "2018-02-11", "1995-07-09", "1990-01-20"],
                "sex": ["Female", "Male", "Female", "Male"],
                "ethnicity": ["White", "Not recorded", "White", "Black"],
                "disability": ["No", "No", "Not recorded", "No"],
            }
        ),
        "households": pd.DataFrame(
            {"household_id": ["H1"], "imd_decile": ["2"], "local_authority": ["Synthshire"]}
        ),
        "household_members": pd.DataFrame(
            {
                "person_id": ["C1", "C2", "A1", "A2"],
                "household_id": ["H1"] * 4,
                "role": ["child", "child", "parent", "partner"],
                "start_date": ["2021-05-01", "2018-02-11", "2015-01-01", "2022-01-15"],
                "end_date": [None, None, None, None],
                "recorded_at": [
                    "2021-05-02 00:00:00",
                    "2018-02-12 00:00:00",
                    "2015-01-02 00:00:00",
                    "2022-04-01 00:00:00",
                ],
                "end_recorded_at": [None, None, None, None],
            }
        ),
        "referrals": referrals,
        "referral_children": pd.DataFrame(
            {"referral_id": ["R1", "R1", "R2"], "person_id": ["C1", "C2", "C1"]}
        ),
        "screening_decisions": pd.DataFrame(
            {
                "referral_id": ["R1"],
                "decided_at": ["2022-03-02 12:00:00"],
                "decision": ["no_further_action"],
                "closure_reason": ["malicious"],
            }
        ),
        "agency_events": pd.DataFrame(
            {
                "event_id": ["E1", "E2"],
                "person_id": ["A2", "C1"],
                "agency": ["police", "health"],
                "event_type": ["domestic_incident", "missed_appointment"],
                "occurred_at": ["2019-08-01 23:00:00", "2022-01-10 09:00:00"],
                "recorded_at": ["2019-08-02 10:00:00", "2022-01-20 09:00:00"],
                "role": ["perpetrator", None],
                "severity": ["2", None],
            }
        ),
    }


def write_csvs(tables: dict[str, pd.DataFrame], directory) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(directory / f"{name}.csv", index=False)


@pytest.fixture
def extract():
    return valid_extract()
