"""The strategy discussion, the referrer told and partner agencies, through the HTTP API.

Requests are sent as a client sends them (JSON over the records router of
``tests/records/app.py``): ``R-...`` referrals are unflagged, ``R-S...``
ones allege a physical injury (the statutory trigger fires).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest

import records
from records import kinds, review, roles
from tests.records.conftest import auth, new_id

THREE = ("children_social_care", "police", "health")
STAFF = records.Principal(name="Sam Screener", role="screener", token_id="ts")


def review_body(agencies=THREE, **changes) -> dict:
    return {
        "review_id": new_id("rv"),
        "held_at": "2026-11-30T10:00:00",
        "participants": [{"agency": a, "name": f"someone from {a}"} for a in agencies],
        "shared": [{"agency": agencies[0], "summary": "two earlier referrals about bruising"}],
        "outcome": {
            "section_47": True,
            "section_47_rationale": "injury unexplained in a child of 4",
            "cp_medical": True,
            "cp_medical_rationale": "bruising to the back; paediatrician agrees",
        },
        "actions": [{"action": "arrange the medical today", "owner": "duty paediatrician"}],
        **changes,
    }


def post(client, token, referral, what, body):
    return client.post(f"/v1/referrals/{referral}/{what}", json=body, headers=auth(token))


def decide(client, token, referral, decision, supersedes=None, **more):
    body = {"decision_id": new_id("d"), "decision": decision, "rationale": "why", **more}
    if supersedes:
        body["supersedes"] = supersedes
    return post(client, token, referral, "decisions", body)


def scored(store, referral, source="school"):
    """The referral as received by MAST (a register version), so it can be invited to."""
    content = records.register.referral_content(
        "2026-11-30T09:00:00", source, "teacher", ["neglect"], ["C1"]
    )
    store.register_referral(STAFF, referral, content, flagged=False)


def invite(client, tokens, referral, role=roles.POLICE_LEAD):
    return post(
        client,
        tokens["screener"],
        referral,
        "invitations",
        {
            "invitation_id": new_id("inv"),
            "partner_name": f"{role} person",
            "partner_role": role,
            "reason": "the police attended the home twice",
        },
    )


def test_a_review_with_the_three_agencies_is_recorded_and_in_the_chain(client, tokens, store):
    rid = "R-S" + new_id()
    assert decide(client, tokens["screener"], rid, "strategy_discussion").status_code == 201
    got = post(client, tokens["screener"], rid, "reviews", review_body())
    assert got.status_code == 201, got.text
    payload = got.json()["payload"]
    assert payload["missing_agencies"] == [] and payload["outcome"]["section_47"] is True
    assert [p["agency"] for p in payload["participants"]] == list(THREE)
    assert payload["actions"][0]["owner"] == "duty paediatrician"
    assert store.verify().ok and store.query(kind=kinds.REVIEW)[1] == 1


def test_a_review_without_the_three_needs_a_managers_reason(client, tokens, store):
    rid = "R-" + new_id()
    decide(client, tokens["screener"], rid, "strategy_discussion")
    two = ("children_social_care", "police")
    refused = post(client, tokens["screener"], rid, "reviews", review_body(two))
    assert refused.status_code == 422
    assert refused.json()["detail"]["rule"] == "review_needs_required_agencies"
    assert "health did not take part" in refused.json()["detail"]["message"]
    reason = {"missing_agencies_reason": "health could not attend; GP records read by phone"}
    by_screener = post(client, tokens["screener"], rid, "reviews", review_body(two, **reason))
    assert by_screener.status_code == 403
    assert store.query(kind=kinds.REVIEW)[1] == 0
    ok = post(client, tokens["manager"], rid, "reviews", review_body(two, **reason))
    assert ok.status_code == 201 and ok.json()["payload"]["missing_agencies"] == ["health"]


def test_referrer_told_follows_the_current_decision(client, tokens, store):
    rid = "R-" + new_id()
    scored(store, rid)
    told = {
        "record_id": new_id("t"),
        "told_at": "2026-11-30T15:00:00",
        "method": "phone",
        "outcome_given": "an assessment will be made",
    }
    assert post(client, tokens["screener"], rid, "referrer-told", told).status_code == 409
    first = decide(client, tokens["screener"], rid, "assessment").json()
    follow = client.get(f"/v1/referrals/{rid}/follow-up", headers=auth(tokens["screener"])).json()
    assert follow["needs_referrer_told"] and not follow["referrer_told"]
    assert post(client, tokens["screener"], rid, "referrer-told", told).status_code == 201
    assert post(client, tokens["screener"], rid, "referrer-told", told).status_code == 409  # replay
    follow = client.get(f"/v1/referrals/{rid}/follow-up", headers=auth(tokens["screener"])).json()
    assert follow["referrer_told"] and not follow["needs_referrer_told"]
    # A changed decision is a new outcome: the referrer has not been told it.
    decide(client, tokens["manager"], rid, "early_help", supersedes=first["record_id"])
    follow = client.get(f"/v1/referrals/{rid}/follow-up", headers=auth(tokens["screener"])).json()
    assert follow["decision"] == "early_help" and follow["needs_referrer_told"]


def test_police_told_counts_as_the_referrer_only_when_the_police_referred(client, tokens, store):
    told = {
        "record_id": "",
        "recipient": "police",
        "told_at": "2026-11-30T15:00:00",
        "method": "secure_email",
        "outcome_given": "no further action: the family has moved to Leeds, who are told",
    }
    for source, counts in (("police", True), ("school", False)):
        rid = "R-" + new_id()
        scored(store, rid, source)
        decide(client, tokens["screener"], rid, "assessment")
        body = {**told, "record_id": new_id("t")}
        assert post(client, tokens["screener"], rid, "referrer-told", body).status_code == 201
        assert store.follow_up([rid])[rid].referrer_told is counts


def test_a_partner_sees_only_the_referrals_they_are_invited_to(client, tokens, store):
    mine, other = "R-" + new_id(), "R-" + new_id()
    for rid in (mine, other):
        scored(store, rid)
    police = tokens[roles.POLICE_LEAD]
    assert invite(client, tokens, mine).status_code == 201
    assert invite(client, tokens, mine).status_code == 409  # already invited
    # A health lead invited nowhere, and the police lead on another referral: 404, as unknown.
    for token, rid in ((tokens[roles.HEALTH_LEAD], mine), (police, other), (police, "R-nope")):
        assert client.get(f"/v1/referrals/{rid}/record", headers=auth(token)).status_code == 404
        body = {"contribution_id": new_id("c"), "summary": "x"}
        assert post(client, token, rid, "contributions", body).status_code == 404
    assert client.get(f"/v1/referrals/{mine}/record", headers=auth(police)).status_code == 200
    # Neither the queue's follow-up, nor scores, nor the model.
    assert client.get(f"/v1/referrals/{mine}/follow-up", headers=auth(police)).status_code == 403
    assert client.get("/v1/config", headers=auth(police)).status_code == 403
    principal = store.verify_token(police)
    assert store.invited_referrals(principal) == [mine]


def test_contributions_are_appended_never_overwriting(client, tokens, store):
    rid = "R-" + new_id()
    scored(store, rid)
    invite(client, tokens, rid, roles.HEALTH_LEAD)
    health = tokens[roles.HEALTH_LEAD]
    first = {"contribution_id": new_id("c"), "summary": "two A&E visits in October"}
    assert post(client, health, rid, "contributions", first).status_code == 201
    again = {**first, "summary": "nothing known"}  # same id, other words: refused, kept as was
    assert post(client, health, rid, "contributions", again).status_code == 409
    second = {"contribution_id": new_id("c"), "summary": "missed 6-8 week check"}
    assert post(client, health, rid, "contributions", second).status_code == 201
    got = client.get(f"/v1/referrals/{rid}/record", headers=auth(tokens["screener"])).json()
    contributions = [e for e in got["entries"] if e["kind"] == kinds.AGENCY_CONTRIBUTION]
    assert [c["payload"]["summary"] for c in contributions] == [
        "two A&E visits in October",
        "missed 6-8 week check",
    ]
    assert {c["payload"]["agency"] for c in contributions} == {"health"}
    assert contributions[0]["actor"] == f"{roles.HEALTH_LEAD} person"


def test_an_escalation_challenges_a_no_further_action_decision_and_a_manager_answers(
    client, tokens, store
):
    rid = "R-" + new_id()
    scored(store, rid)
    invite(client, tokens, rid)
    police = tokens[roles.POLICE_LEAD]
    esc = {"escalation_id": new_id("e"), "reason": "third domestic incident this year"}
    assert post(client, police, rid, "escalations", esc).status_code == 409  # nothing decided
    decide(client, tokens["screener"], rid, "assessment")
    assert post(client, police, rid, "escalations", esc).status_code == 409  # not a closure
    rid = "R-" + new_id()
    scored(store, rid)
    invite(client, tokens, rid)
    decide(client, tokens["screener"], rid, "no_further_action")
    got = post(client, police, rid, "escalations", esc)
    assert got.status_code == 201 and got.json()["payload"]["agency"] == "police"
    assert store.follow_up([rid])[rid].escalations_open == 1
    answer = {"answer_id": new_id("a"), "outcome": "decision_to_be_changed", "reason": "agreed"}
    url = f"escalations/{esc['escalation_id']}/answer"
    assert post(client, tokens["screener"], rid, url, answer).status_code == 403
    assert post(client, police, rid, url, answer).status_code == 403
    assert (
        post(client, tokens["manager"], rid, "escalations/nope-0000/answer", answer).status_code
        == 404
    )
    assert post(client, tokens["manager"], rid, url, answer).status_code == 201
    again = {**answer, "answer_id": new_id("a")}
    assert post(client, tokens["manager"], rid, url, again).status_code == 409  # answered once
    follow = store.follow_up([rid])[rid]
    assert follow.escalations == 1 and follow.escalations_open == 0
    kinds_seen = [e.kind for e in store.query(referral_id=rid)[0]]
    assert kinds.ESCALATION in kinds_seen and kinds.ESCALATION_ANSWER in kinds_seen
    assert store.verify().ok


def test_follow_up_overdue_against_a_reference(client, tokens, store):
    """Open and past due (England working days, bank holidays off) is overdue; held in time is not."""
    rid = "R-" + new_id()
    decide(client, tokens["screener"], rid, "strategy_discussion")
    decided = store.follow_up([rid])[rid]
    opened = decided.decided_at
    # Reference: numpy's business days with the same bank holidays.
    hols = sorted(review.england_bank_holidays(opened.date(), opened.date() + timedelta(days=30)))
    start = np.datetime64(opened.date())
    offset = 1 if np.is_busday(start, holidays=hols) else 0
    due_day = np.busday_offset(start, offset, roll="forward", holidays=hols).astype(date)
    assert decided.review_due == datetime.combine(due_day, opened.time())
    assert decided.review_open and not decided.review_overdue
    later = store.follow_up([rid], now=decided.review_due + timedelta(minutes=1))[rid]
    assert later.review_overdue
    held = review_body(held_at=opened.isoformat())
    assert post(client, tokens["screener"], rid, "reviews", held).status_code == 201
    after = store.follow_up([rid], now=decided.review_due + timedelta(days=9))[rid]
    assert not after.review_open and not after.review_overdue and after.reviews == 1


def test_bank_holidays_are_englands():
    assert date(2026, 12, 28) in review.england_bank_holidays(date(2026, 12, 1), date(2027, 1, 31))
    assert date(2026, 8, 31) in review.england_bank_holidays(date(2026, 8, 1), date(2026, 9, 1))
    # 2 January is a bank holiday in Scotland, not in England and Wales.
    assert date(2026, 1, 2) not in review.england_bank_holidays(date(2026, 1, 1), date(2026, 1, 5))
    thursday = datetime(2026, 12, 24, 16, 0)
    assert review.due_in_england(thursday, 1) == datetime(2026, 12, 29, 16, 0)


def test_working_days_setting(monkeypatch):
    monkeypatch.setenv(review.WORKING_DAYS_ENV, "3")
    assert review.working_days_setting() == 3
    monkeypatch.setenv(review.WORKING_DAYS_ENV, "none")
    with pytest.raises(ValueError, match="MAST_REVIEW_WORKING_DAYS"):
        review.working_days_setting()
