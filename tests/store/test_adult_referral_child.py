"""The contract refuses a referral "child" aged 18 or over on received_at, naming the row."""

from __future__ import annotations

import pandas as pd
import pytest

from store import ContractError, validate_tables
from store import vocabulary as v


def _tables(dob_c2: str) -> dict[str, pd.DataFrame]:
    concerns = {c: [c == "concern_neglect"] for c in v.CONCERN_COLUMNS}
    return {
        "people": pd.DataFrame(
            {
                "person_id": ["C1", "C2"],
                "date_of_birth": ["2015-01-01", dob_c2],
                "sex": ["Female", "Male"],
                "ethnicity": [v.ETHNICITIES[0]] * 2,
                "disability": ["No", "No"],
            }
        ),
        "referrals": pd.DataFrame(
            {
                "referral_id": ["R1"],
                "received_at": ["2026-03-01 10:00"],
                "source": ["police"],
                "referrer_relationship": ["police_officer"],
                **concerns,
            }
        ),
        "referral_children": pd.DataFrame({"referral_id": ["R1", "R1"], "person_id": ["C1", "C2"]}),
    }


def test_eighteenth_birthday_is_refused_naming_the_row():
    with pytest.raises(ContractError) as err:
        validate_tables(_tables("2008-03-01"))  # 18 on the day of the referral
    (problem,) = err.value.problems
    assert (problem.table, problem.row, problem.column) == ("referral_children", 2, "person_id")
    assert "18 or over" in problem.problem and "'C2'" in problem.problem


def test_the_day_before_is_a_child():
    clean = validate_tables(_tables("2008-03-02"))
    assert len(clean["referral_children"]) == 2
