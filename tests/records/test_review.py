"""The strategy-discussion record: the three required agencies, the manager's reason, the timescale."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import records
from records import review
from records.review import StrategyDiscussionIn
from tests.records.conftest import new_id

SCREENER = records.Principal(name="Sam Screener", role="screener", token_id="t1")
MANAGER = records.Principal(name="Mo Manager", role="manager", token_id="t2")


def body(agencies=("children_social_care", "police", "health"), **changes) -> StrategyDiscussionIn:
    raw = {
        "review_id": new_id("rv"),
        "held_at": datetime.now().isoformat(),
        "participants": [{"agency": a, "name": f"someone from {a}"} for a in agencies],
        "shared": [
            {"agency": a, "summary": "two earlier referrals about bruising"} for a in agencies[:1]
        ],
        "outcome": {
            "section_47": True,
            "section_47_rationale": "injury unexplained in a child of 4",
            "cp_medical": True,
            "cp_medical_rationale": "bruising to the back; paediatrician agrees",
        },
        "actions": [{"action": "arrange the medical today", "owner": "duty paediatrician"}],
        **changes,
    }
    return StrategyDiscussionIn.model_validate(raw)


def decide(store, rid, decision="strategy_discussion"):
    store.record_decision(
        SCREENER,
        rid,
        records.DecisionIn(decision_id=new_id("d"), decision=decision, rationale="why"),
        records.ReferralStatus(False),
    )


def test_a_review_with_the_three_agencies_is_recorded_in_the_chain(store):
    decide(store, "R-1")
    entry = store.record_review(SCREENER, "R-1", body())
    assert entry.kind == records.kinds.REVIEW and entry.payload["missing_agencies"] == []
    assert entry.payload["outcome"]["cp_medical_rationale"].startswith("bruising")
    assert entry.payload["held_late"] is False
    assert store.verify().ok


@pytest.mark.parametrize(
    "agencies",
    [("children_social_care", "police"), ("children_social_care", "health"), ("police",)],
)
def test_without_the_three_a_managers_reason_is_needed(store, agencies):
    rid = new_id("R")
    decide(store, rid)
    n = store.verify().entries
    with pytest.raises(records.RuleViolation) as err:
        store.record_review(SCREENER, rid, body(agencies))
    assert (
        err.value.rule == "review_needs_required_agencies"
        and "did not take part" in err.value.message
    )
    reason = {"missing_agencies_reason": "police unavailable overnight; briefed by phone at 08:00"}
    with pytest.raises(records.RuleViolation) as err:
        store.record_review(SCREENER, rid, body(agencies, **reason))
    assert err.value.rule == "manager_only" and err.value.status == 403
    assert store.verify().entries == n
    entry = store.record_review(MANAGER, rid, body(agencies, **reason))
    assert set(entry.payload["missing_agencies"]) == {
        "children_social_care",
        "police",
        "health",
    } - set(agencies)


def test_a_review_needs_a_strategy_discussion_decision_and_refuses_replay(store):
    decide(store, "R-2", "assessment")
    with pytest.raises(records.RuleViolation) as err:
        store.record_review(SCREENER, "R-2", body())
    assert err.value.rule == "no_review_open"
    decide(store, "R-3")
    b = body()
    store.record_review(SCREENER, "R-3", b)
    with pytest.raises(records.RuleViolation) as err:
        store.record_review(SCREENER, "R-3", b)
    assert err.value.rule == "replay"


def test_bad_reviews_are_refused_naming_the_field():
    with pytest.raises(ValidationError, match="shared"):
        body(("police", "health"), shared=[{"agency": "education", "summary": "x"}])
    with pytest.raises(ValidationError, match="cp_medical_rationale"):
        body(outcome={"section_47": False, "section_47_rationale": "x", "cp_medical": False})
    with pytest.raises(ValidationError, match="participants"):
        body(())


def test_due_and_overdue():
    friday = datetime(2026, 11, 27, 16, 0)  # a Friday
    assert review.review_due(friday) == datetime(2026, 11, 30, 16, 0)  # Monday
    assert review.review_due(friday, 1, holidays=[date(2026, 11, 30)]) == datetime(
        2026, 12, 1, 16, 0
    )
    assert not review.is_overdue(friday, None, datetime(2026, 11, 30, 15, 59))
    assert review.is_overdue(friday, None, datetime(2026, 11, 30, 16, 1))
    assert not review.is_overdue(friday, datetime(2026, 11, 28, 10, 0), datetime(2027, 1, 1))


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
    st.integers(1, 10),
    st.lists(st.dates(date(2025, 1, 1), date(2028, 3, 1)), max_size=5),
)
def test_due_matches_numpy_business_days(opened, days, holidays):
    expected = np.busday_offset(
        np.datetime64(opened.date()), days, roll="forward", holidays=holidays
    )
    # numpy counts from the opening day rolled forward; the review counts whole working days after it.
    start = np.datetime64(opened.date())
    if np.is_busday(start, holidays=holidays):
        got = review.review_due(opened, days, holidays)
        assert got.date() == expected.astype(date) and got.time() == opened.time()
    else:
        got = review.review_due(opened, days, holidays)
        assert got.date() == np.busday_offset(
            start, days - 1, roll="forward", holidays=holidays
        ).astype(date)
    assert got - opened >= timedelta(days=days)
