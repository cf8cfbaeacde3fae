"""Property (issue 17): no referral alleging a physical injury is closed without a strategy
discussion or a manager's reason, whatever sequence of requests a client sends to the API.

Hypothesis draws sequences of decisions (each superseding the last, by a
screener or a manager), statutory overrides (by either role) and recorded
strategy discussions (with or without the three agencies, with or without a
manager's reason), and sends them over HTTP to the records API.  After the
sequence, a reference reading of the trail checks every closing decision
that was accepted: before it there must be a recorded strategy discussion,
or a manager's statutory override allowing that very decision.
"""

from __future__ import annotations

import itertools

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import records
from records import kinds
from tests.records.app import build_app

CLOSING = ("no_further_action", "early_help")
_ids = itertools.count(1)

decision_step = st.tuples(
    st.just("decide"),
    st.sampled_from(("no_further_action", "early_help", "assessment", "strategy_discussion")),
    st.sampled_from(("screener", "manager")),
)
override_step = st.tuples(
    st.just("override"), st.sampled_from(CLOSING), st.sampled_from(("screener", "manager"))
)
review_step = st.tuples(
    st.just("review"),
    st.sampled_from(("three", "two", "two_with_reason")),
    st.sampled_from(("screener", "manager")),
)
steps = st.lists(st.one_of(decision_step, override_step, review_step), min_size=1, max_size=8)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):08d}"


def _review(kind: str) -> dict:
    agencies = ("children_social_care", "police", "health")
    if kind != "three":
        agencies = agencies[:2]
    body = {
        "review_id": _id("rv"),
        "held_at": "2026-11-30T10:00:00",
        "participants": [{"agency": a, "name": "a colleague"} for a in agencies],
        "outcome": {
            "section_47": False,
            "section_47_rationale": "explained by the paediatrician",
            "cp_medical": False,
            "cp_medical_rationale": "seen in A&E the same day",
        },
    }
    if kind == "two_with_reason":
        body["missing_agencies_reason"] = "health could not attend"
    return body


def closed_without_review_or_reason(entries) -> list:
    """Reference: accepted closing decisions with neither a review nor a manager's statutory reason before them."""
    bad = []
    for e in entries:
        if e.kind != kinds.DECISION or e.payload["decision"] not in CLOSING:
            continue
        before = [x for x in entries if x.seq < e.seq]
        reviewed = any(x.kind == kinds.REVIEW for x in before)
        allowed = any(
            x.kind == kinds.OVERRIDE
            and x.payload["kind"] == kinds.STATUTORY_OVERRIDE
            and x.payload["decision"] == e.payload["decision"]
            and x.role == "manager"
            for x in before
        )
        if not (reviewed or allowed):
            bad.append(e)
    return bad


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=steps, flagged=st.booleans())
def test_no_injury_referral_closed_without_a_strategy_discussion_or_a_managers_reason(
    tmp_path_factory, sequence, flagged
):
    store = records.RecordsStore(f"sqlite:///{tmp_path_factory.mktemp('inj') / 'r.sqlite'}")
    tokens = {r: store.create_token(f"{r} person", r)[0] for r in ("screener", "manager")}
    rid = ("R-FS" if flagged else "R-S") + _id("x")  # the lookup says: physical injury alleged
    latest = None
    try:
        with TestClient(build_app(store)) as client:
            for what, choice, role in sequence:
                headers = {"Authorization": f"Bearer {tokens[role]}"}
                if what == "decide":
                    body = {"decision_id": _id("d"), "decision": choice, "rationale": "why"}
                    if latest:
                        body["supersedes"] = latest
                    got = client.post(f"/v1/referrals/{rid}/decisions", json=body, headers=headers)
                    if got.status_code == 201:
                        latest = body["decision_id"]
                elif what == "override":
                    body = {
                        "override_id": _id("o"),
                        "kind": "statutory",
                        "decision": choice,
                        "reason": "seen by GP",
                    }
                    got = client.post(f"/v1/referrals/{rid}/overrides", json=body, headers=headers)
                else:
                    body = _review(choice)
                    got = client.post(f"/v1/referrals/{rid}/reviews", json=body, headers=headers)
                assert got.status_code < 500, got.text
                if got.status_code >= 400:
                    assert isinstance(got.json()["detail"], dict | str)
        entries, _ = store.query(referral_id=rid)
        assert closed_without_review_or_reason(entries) == []
        assert store.verify().ok
    finally:
        store.close()


def test_the_reference_catches_a_closure_written_around_the_rules(store):
    """The reference is not vacuous: a closing decision appended without the rules is caught."""
    from records import trail

    p = records.Principal(name="x", role="screener", token_id="t")
    with store.db.write() as conn:
        trail.append(
            conn,
            kind=kinds.DECISION,
            actor=p.name,
            role=p.role,
            payload={"decision": "no_further_action"},
            referral_id="R-S1",
            record_id="d-00000001",
        )
    entries, _ = store.query(referral_id="R-S1")
    assert len(closed_without_review_or_reason(entries)) == 1


def test_closing_straight_away_is_refused_then_allowed_after_the_review(client, tokens, store):
    rid = "R-S" + _id("y")
    first = {"decision_id": _id("d"), "decision": "no_further_action", "rationale": "why"}
    got = client.post(
        f"/v1/referrals/{rid}/decisions",
        json=first,
        headers={"Authorization": f"Bearer {tokens['screener']}"},
    )
    assert got.status_code == 422
    assert got.json()["detail"]["rule"] == "statutory_rule_requires_manager"
    h = {"Authorization": f"Bearer {tokens['screener']}"}
    sd = {"decision_id": _id("d"), "decision": "strategy_discussion", "rationale": "injury"}
    assert client.post(f"/v1/referrals/{rid}/decisions", json=sd, headers=h).status_code == 201
    assert (
        client.post(f"/v1/referrals/{rid}/reviews", json=_review("three"), headers=h).status_code
        == 201
    )
    close = {
        "decision_id": _id("d"),
        "decision": "no_further_action",
        "rationale": "the strategy discussion found the injury explained",
        "supersedes": sd["decision_id"],
    }
    got = client.post(f"/v1/referrals/{rid}/decisions", json=close, headers=h)
    assert got.status_code == 201, got.text
