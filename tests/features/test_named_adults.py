"""The named-adult feature family (issue #20) against a brute-force reference, and point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import definitions as d
from features.catalogue import model_inputs, monotone_signs
from features.named_adults import EVENT_COLUMNS, named_adult_features
from tests.features.reference import reference_named_adult_features

RECEIVED = pd.Series(
    pd.to_datetime(["2026-03-20 09:00", "2025-06-01 12:00", "2024-01-01 08:00"]),
    index=["R1", "R2", "R3"],
)


def _random_case(rng: np.random.Generator):
    outcomes, events = [], []
    for ref in RECEIVED.index:
        for number in range(1, int(rng.integers(0, 4)) + 1):
            status = rng.choice(["found", "found", "possible", "not_found"])
            outcomes.append((ref, number, status))
            for _ in range(int(rng.integers(0, 6))):
                agency = rng.choice(["police", "children_social_care", "adult_mental_health"])
                event_type = {
                    "police": rng.choice(
                        ["domestic_incident", "violent_offence", "arrest", "restraining_order"]
                    ),
                    "children_social_care": rng.choice(["section47_enquiry", "cp_plan_start"]),
                    "adult_mental_health": rng.choice(["mh_crisis", "mh_contact"]),
                }[agency]
                occurred = RECEIVED[ref] - pd.Timedelta(days=int(rng.integers(-30, 900)))
                recorded = occurred + pd.Timedelta(days=int(rng.integers(0, 60)))
                role = rng.choice(["victim", "perpetrator", "subject", "witness", None])
                events.append((ref, number, agency, event_type, role, np.nan, occurred, recorded))
    outcomes = pd.DataFrame(outcomes, columns=["referral_id", "adult_number", "status"])
    return outcomes, pd.DataFrame(events, columns=EVENT_COLUMNS)


@pytest.mark.parametrize("seed", range(20))
def test_the_family_matches_the_brute_force_reference(seed):
    outcomes, events = _random_case(np.random.default_rng(seed))
    got = named_adult_features(RECEIVED, outcomes, events)
    want = reference_named_adult_features(RECEIVED, outcomes, events)
    pd.testing.assert_frame_equal(got, want, check_names=False)


def _one(status="found", recorded="2026-03-19 09:00", occurred="2026-03-01"):
    outcomes = pd.DataFrame({"referral_id": ["R1"], "adult_number": [1], "status": [status]})
    events = pd.DataFrame(
        [
            (
                "R1",
                1,
                "police",
                "domestic_incident",
                "perpetrator",
                np.nan,
                pd.Timestamp(occurred),
                pd.Timestamp(recorded),
            )
        ],
        columns=EVENT_COLUMNS,
    )
    return named_adult_features(RECEIVED, outcomes, events).loc["R1"]


def test_a_record_recorded_on_or_after_the_referral_is_not_counted():
    assert _one(recorded="2026-03-20 08:59")["named_adults_da_perpetrator_12m_max"] == 1
    assert _one(recorded="2026-03-20 09:00")["named_adults_da_perpetrator_12m_max"] == 0
    assert _one(recorded="2026-03-21")["named_adults_da_perpetrator_ever_sum"] == 0


def test_only_a_found_adult_is_counted_and_unsearched_is_unknown_not_zero():
    possible = _one(status="possible")
    assert possible["named_adults_da_perpetrator_ever_max"] == 0
    assert possible[d.NAMED_FOUND] == 0 and possible[d.NAMED_NOT_FOUND] == 1
    assert _one(status="found")[d.NAMED_FOUND] == 1
    assert _one(status="not_searched").isna().all()
    none = named_adult_features(
        RECEIVED,
        pd.DataFrame(columns=["referral_id", "adult_number", "status"]),
        pd.DataFrame(columns=EVENT_COLUMNS),
    )
    assert (none == 0).all().all()  # no one named: nothing to count


def test_not_found_is_no_model_input_and_records_may_only_raise_risk():
    names = d.NAMED_ADULT_NAMES
    assert d.NAMED_NOT_FOUND not in model_inputs(names)
    signs = dict(zip(names, monotone_signs(names), strict=True))
    assert all(signs[n] == 1 for n in names if n != d.NAMED_NOT_FOUND)
    for spec in d.NAMED_ADULT_SPECS:
        assert "_" not in spec.describe(2).replace("named_adults", "")
