"""The decision rules, through the API: refusals are clear 4xx and write nothing.

``@both``: the rules that read the trail back (overrides, replays, a
second decision, blind-first) also run on a real PostgreSQL server.
"""

from __future__ import annotations

import pytest

import records
from tests.records.conftest import auth, both, new_id


def decide(client, token, referral, decision="strategy_discussion", **extra):
    body = {"decision_id": new_id("d"), "decision": decision, "rationale": "reasons given", **extra}
    return client.post(f"/v1/referrals/{referral}/decisions", json=body, headers=auth(token))


def override(
    client, token, referral, kind="flag", decision="early_help", reason="manager's reason", **extra
):
    body = {
        "override_id": new_id("o"),
        "kind": kind,
        "decision": decision,
        "reason": reason,
        **extra,
    }
    if decision is None:
        body.pop("decision")
    return client.post(f"/v1/referrals/{referral}/overrides", json=body, headers=auth(token))


@pytest.fixture
def entries(store):
    return lambda: store.verify().entries


@both
def test_flagged_needs_review_unless_overridden(client, tokens, entries, store):
    n = entries()
    refused = decide(client, tokens["screener"], "R-F1", "no_further_action")
    assert refused.status_code == 422
    assert refused.json()["detail"]["rule"] == "flagged_requires_review"
    assert "strategy discussion / multi-agency review" in refused.json()["detail"]["message"]
    assert entries() == n
    # A screener cannot override; a manager can, for one named decision.
    assert override(client, tokens["screener"], "R-F1").status_code == 403
    assert override(client, tokens["manager"], "R-F1", decision="early_help").status_code == 201
    assert decide(client, tokens["screener"], "R-F1", "no_further_action").status_code == 422
    accepted = decide(client, tokens["screener"], "R-F1", "early_help")
    assert accepted.status_code == 201, accepted.text
    payload = accepted.json()["payload"]
    assert payload["flagged"] is True and payload["override_seqs"]
    assert store.verify().ok


def test_flagged_strategy_discussion_is_accepted(client, tokens):
    r = decide(client, tokens["screener"], "R-F2", "strategy_discussion")
    assert r.status_code == 201 and r.json()["payload"]["score"] == 17


def test_flag_override_needs_flag_and_reason(client, tokens):
    assert override(client, tokens["manager"], "R-3").json()["detail"]["rule"] == "not_flagged"
    missing = override(client, tokens["manager"], "R-F3", reason="   ")
    assert missing.status_code == 422 and "reason" in missing.text
    to_review = override(client, tokens["manager"], "R-F3", decision="strategy_discussion")
    assert to_review.status_code == 422


@both
def test_malicious_needs_manager_agreement_and_note(client, tokens, entries):
    n = entries()
    no_note = decide(
        client, tokens["screener"], "R-4", "no_further_action", closure_reason="malicious"
    )
    assert no_note.status_code == 422 and "referrer_spoken_to" in no_note.text
    no_agreement = decide(
        client,
        tokens["screener"],
        "R-4",
        "no_further_action",
        closure_reason="malicious",
        referrer_spoken_to="rang the referrer on 3 May",
    )
    assert no_agreement.status_code == 422
    assert no_agreement.json()["detail"]["rule"] == "malicious_needs_manager"
    assert entries() == n
    assert (
        override(
            client, tokens["manager"], "R-4", kind="malicious_closure", decision=None
        ).status_code
        == 201
    )
    ok = decide(
        client,
        tokens["screener"],
        "R-4",
        "no_further_action",
        closure_reason="malicious",
        referrer_spoken_to="rang the referrer on 3 May",
    )
    assert ok.status_code == 201, ok.text


def test_closure_reason_only_with_nfa(client, tokens):
    r = decide(client, tokens["screener"], "R-5", "assessment", closure_reason="signposted")
    assert r.status_code == 422 and "closure_reason" in r.text


@pytest.mark.parametrize(
    "body,field",
    [
        ({"decision": "assessment"}, "rationale"),
        ({"decision": "assessment", "rationale": ""}, "rationale"),
        ({"decision": "assessment", "rationale": "   "}, "rationale"),
        ({"decision": "close_it", "rationale": "x"}, "decision"),
        ({"decision": "assessment", "rationale": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_bodies_name_the_field(client, tokens, entries, body, field):
    n = entries()
    r = client.post(
        "/v1/referrals/R-6/decisions",
        json={"decision_id": new_id("d"), **body},
        headers=auth(tokens["screener"]),
    )
    assert r.status_code == 422
    assert any(field in err["loc"] for err in r.json()["detail"]), r.text
    assert entries() == n


def test_unknown_referral_is_404(client, tokens, entries):
    n = entries()
    r = decide(client, tokens["screener"], "X-404")
    assert r.status_code == 404 and "X-404" in r.text
    assert entries() == n


@both
def test_replay_is_409_and_writes_nothing(client, tokens, store, entries):
    body = {"decision_id": "dec-replay-0001", "decision": "assessment", "rationale": "first"}
    assert (
        client.post(
            "/v1/referrals/R-7/decisions", json=body, headers=auth(tokens["screener"])
        ).status_code
        == 201
    )
    n = entries()
    for again in (body, {**body, "rationale": "changed"}, {**body, "decision": "early_help"}):
        r = client.post("/v1/referrals/R-7/decisions", json=again, headers=auth(tokens["manager"]))
        assert r.status_code == 409 and r.json()["detail"]["rule"] == "replay"
    # The same id on another referral is a replay too.
    assert (
        client.post(
            "/v1/referrals/R-8/decisions", json=body, headers=auth(tokens["screener"])
        ).status_code
        == 409
    )
    assert entries() == n
    entries_, total = store.query(kind=records.kinds.DECISION, referral_id="R-7")
    assert total == 1 and entries_[0].payload["rationale"] == "first"


@both
def test_second_decision_needs_supersedes(client, tokens):
    first = decide(client, tokens["screener"], "R-9", "assessment")
    second = decide(client, tokens["screener"], "R-9", "early_help")
    assert second.status_code == 409 and second.json()["detail"]["rule"] == "already_decided"
    corrected = decide(
        client, tokens["screener"], "R-9", "early_help", supersedes=first.json()["record_id"]
    )
    assert corrected.status_code == 201
    assert (
        decide(client, tokens["screener"], "R-10", supersedes="dec-nothing-0001").status_code == 422
    )


@both
def test_blind_first(client, tokens, store):
    gov = tokens["governance"]
    assert client.put(
        "/v1/config/blind-first", json={"enabled": True, "reason": "pilot"}, headers=auth(gov)
    ).json()["blind_first"]
    screener = tokens["screener"]
    refused = decide(client, screener, "R-F11")
    assert (
        refused.status_code == 422 and refused.json()["detail"]["rule"] == "initial_view_required"
    )
    view = {"view_id": new_id("v"), "decision": "assessment", "rationale": "before the score"}
    assert (
        client.post(
            "/v1/referrals/R-F11/initial-views", json=view, headers=auth(screener)
        ).status_code
        == 201
    )
    # A second initial view, or one after the score was seen, is refused.
    view2 = {**view, "view_id": new_id("v")}
    assert (
        client.post(
            "/v1/referrals/R-F11/initial-views", json=view2, headers=auth(screener)
        ).status_code
        == 409
    )
    principal = store.verify_token(screener)
    store.log_view(principal, records.kinds.SCORE_VIEW, referral_id="R-F12")
    late = client.post(
        "/v1/referrals/R-F12/initial-views",
        json={**view, "view_id": new_id("v")},
        headers=auth(screener),
    )
    assert late.status_code == 409 and late.json()["detail"]["rule"] == "score_already_seen"
    # Both views are stored with the decision.
    final = decide(client, screener, "R-F11", "strategy_discussion")
    assert final.status_code == 201
    payload = final.json()["payload"]
    assert payload["blind_first"] is True
    assert (
        payload["initial_view"]["decision"] == "assessment"
        and payload["decision"] == "strategy_discussion"
    )
    assert store.has_initial_view("R-F11", principal)
    client.put(
        "/v1/config/blind-first", json={"enabled": False, "reason": "pilot over"}, headers=auth(gov)
    )
    assert decide(client, screener, "R-F13").status_code == 201


def test_check_decision_reference_table():
    """check_decision against a hand-written truth table of the flag rule."""
    flag_override = records.Entry(
        1,
        "t",
        "override",
        "m",
        "manager",
        "R",
        None,
        "o",
        {"kind": "flag", "decision": "early_help"},
        "",
        "",
    )
    cases = [
        (False, "no_further_action", [], True),
        (True, "strategy_discussion", [], True),
        (True, "assessment", [], False),
        (True, "early_help", [flag_override], True),
        (True, "assessment", [flag_override], False),
    ]
    for flagged, decision, overrides, ok in cases:
        body = records.DecisionIn(decision_id="dec-00000001", decision=decision, rationale="r")
        try:
            records.check_decision(
                body,
                records.ReferralStatus(flagged),
                previous=None,
                overrides=overrides,
                initial_view=None,
                blind_first=False,
            )
            accepted = True
        except records.RuleViolation:
            accepted = False
        assert accepted == ok, (flagged, decision, overrides)


def test_initial_view_precedes_scoring(client, tokens):
    """An initial view is accepted before the scoring side knows the referral (blind-first order)."""
    view = {"view_id": new_id("v"), "decision": "early_help"}
    r = client.post(
        "/v1/referrals/X-not-scored-yet/initial-views", json=view, headers=auth(tokens["screener"])
    )
    assert r.status_code == 201, r.text


@both
def test_text_that_is_not_unicode_is_422(client, tokens, entries):
    """A lone surrogate cannot be stored or hashed: a 422, not a 500."""
    n = entries()
    raw = '{"decision_id":"dec-surrogate-1","decision":"assessment","rationale":"x\\ud800y"}'
    r = client.post(
        "/v1/referrals/R-12/decisions",
        content=raw,
        headers={**auth(tokens["screener"]), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "rationale" in r.text
    assert entries() == n


@both
def test_control_characters_are_stored_and_read_back(client, tokens, store):
    """A NUL in free text is legal JSON: stored escaped, so PostgreSQL's text takes it too."""
    rationale = "rang at 10:00\x00 then\ttwice; café ✓"
    r = decide(client, tokens["screener"], "R-13", "assessment", rationale=rationale)
    assert r.status_code == 201, r.text
    (entry,), total = store.query(kind=records.kinds.DECISION, referral_id="R-13")
    assert total == 1 and entry.payload["rationale"] == rationale
    assert store.decisions_for("R-13") == [entry]
    assert store.verify().ok
