"""A tiny hand-written store whose chronology can be checked by eye.

Household H1: child C1 (born 2015), sibling C2 (2018), mother A1, a partner
A2 who moved in on 2026-09-01 (recorded 2026-09-05), and a former partner A3
who left in 2020.  Household H2 holds an unrelated adult X.  AD is an adult
with no household; NB is a baby born 2026-06-01.
"""

from __future__ import annotations

import pandas as pd

from store import SCHEMAS, connect, validate_tables, write_tables
from store import vocabulary as v

T = pd.Timestamp


def tables() -> dict[str, pd.DataFrame]:
    people = pd.DataFrame(
        [
            ("C1", "2015-03-01", "Female", "White", "No"),
            ("C2", "2018-07-10", "Male", "White", "No"),
            ("A1", "1988-01-01", "Female", "White", "No"),
            ("A2", "1985-05-05", "Male", "Black", "No"),
            ("A3", "1984-02-02", "Male", "White", "No"),
            ("X", "1970-01-01", "Female", "Asian", "No"),
            ("AD", "1996-01-01", "Male", "Mixed", "No"),
            ("NB", "2026-06-01", "Female", "White", v.NOT_RECORDED),
        ],
        columns=["person_id", "date_of_birth", "sex", "ethnicity", "disability"],
    )
    households = pd.DataFrame(
        [("H1", 2, "Testshire"), ("H2", 8, "Testshire")],
        columns=["household_id", "imd_decile", "local_authority"],
    )
    members = pd.DataFrame(
        [
            ("C1", "H1", "child", "2015-03-01", None, "2015-03-02", None),
            ("C2", "H1", "child", "2018-07-10", None, "2018-07-11", None),
            ("A1", "H1", "parent", "2014-01-01", None, "2014-01-02", None),
            ("A2", "H1", "partner", "2026-09-01", None, "2026-09-05", None),
            ("A3", "H1", "partner", "2014-01-01", "2020-06-30", "2014-01-02", "2020-07-03"),
            ("X", "H2", "parent", "2010-01-01", None, "2010-01-02", None),
            ("NB", "H1", "child", "2026-06-01", None, "2026-06-02", None),
        ],
        columns=[
            "person_id",
            "household_id",
            "role",
            "start_date",
            "end_date",
            "recorded_at",
            "end_recorded_at",
        ],
    )
    events = pd.DataFrame(
        [
            (
                "E1",
                "C1",
                "health",
                "ed_attendance",
                "2025-11-02 10:00",
                "2025-11-02 12:00",
                None,
                None,
            ),
            ("E2", "C1", "education", "school_absence", "2026-01-10", "2026-01-11", None, None),
            # Late: recorded 74 days after it happened.
            ("E3", "A1", "police", "domestic_incident", "2026-01-01", "2026-03-16", "victim", None),
            (
                "E4",
                "A2",
                "police",
                "domestic_incident",
                "2024-04-04",
                "2024-04-05",
                "perpetrator",
                None,
            ),
            ("E5", "A2", "police", "violent_offence", "2023-02-02", "2023-02-03", "perpetrator", 2),
            ("E6", "A3", "police", "arrest", "2019-01-01", "2019-01-02", "subject", None),
            ("E7", "X", "police", "arrest", "2025-01-01", "2025-01-02", "subject", None),
            ("E8", "C2", "health", "injury", "2026-02-01", "2026-02-01", None, 1),
            # Exactly 30 days: not late.
            (
                "E9",
                "A1",
                "adult_mental_health",
                "mh_contact",
                "2026-04-01",
                "2026-05-01",
                None,
                None,
            ),
        ],
        columns=list(SCHEMAS["agency_events"].columns),
    )
    referrals = pd.DataFrame(
        [
            ("R0", "2025-06-01 09:00", "school", "teacher", True, False),
            ("R1", "2026-03-20 09:00", "police", "police_officer", False, True),
        ],
        columns=[
            "referral_id",
            "received_at",
            "source",
            "referrer_relationship",
            "concern_neglect",
            "concern_domestic_abuse",
        ],
    )
    for c in v.CONCERN_COLUMNS:
        if c not in referrals:
            referrals[c] = False
    referral_children = pd.DataFrame(
        [("R0", "C1"), ("R1", "C1"), ("R1", "C2")], columns=["referral_id", "person_id"]
    )
    decisions = pd.DataFrame(
        [("R0", "2025-06-02 15:00", "no_further_action", "no_concerns_substantiated")],
        columns=["referral_id", "decided_at", "decision", "closure_reason"],
    )
    return {
        "people": people,
        "households": households,
        "household_members": members,
        "referrals": referrals,
        "referral_children": referral_children,
        "screening_decisions": decisions,
        "agency_events": events,
    }


def write_store(path, tables_: dict[str, pd.DataFrame] | None = None) -> None:
    """Write the fixture's tables (or a changed copy of them) as a store at ``path``."""
    clean = validate_tables(tables() if tables_ is None else tables_)
    con = connect(path)
    write_tables(con, clean)
    con.close()
