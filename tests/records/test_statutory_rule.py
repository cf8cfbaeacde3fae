"""Closing a referral against a statutory trigger needs a manager's recorded reason.

``R-S...`` referrals of the test app allege an injury (the physical-injury
trigger fires); ``R-FS...`` are flagged as well.  The pure check is compared
with a one-line reference over every combination; the HTTP tests show the
refusal, the manager's override and what the trail records.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import records
from records.models import DecisionIn
from records.statutory import Triggered
from records.trail import Entry
from store.vocabulary import CLOSURE_REASONS, DECISIONS
from tests.records.conftest import new_id
from tests.records.test_rules import decide, override

INJURY = Triggered("physical_injury", "Injury", "text", ("strategy_discussion",))
REPEAT = Triggered("repeat_referral", "Repeat", "text", ("manager_review_before_closure",))


def _override(kind: str, decision: str | None) -> Entry:
    return Entry(
        0,
        "",
        "override",
        "M",
        "manager",
        "R",
        None,
        "o",
        {"kind": kind, "decision": decision},
        "",
        "",
    )


def _body(decision: str, closure_reason: str | None) -> DecisionIn:
    return DecisionIn(
        decision_id=new_id("d"),
        decision=decision,
        rationale="why",
        closure_reason=closure_reason,
        referrer_spoken_to="spoke to them" if closure_reason == "malicious" else None,
    )


def _reference(decision: str, triggered, overrides) -> bool:
    """Allowed?  Not closing, or nothing triggered, or a manager allowed this very decision."""
    closing = decision in ("no_further_action", "early_help")
    allowed = {o.payload["decision"] for o in overrides if o.payload["kind"] == "statutory"}
    return not closing or not triggered or decision in allowed


BODIES = [(d, None) for d in DECISIONS] + [("no_further_action", r) for r in CLOSURE_REASONS]
TRIGGERS = [None, (), (INJURY,), (REPEAT,), (INJURY, REPEAT)]
OVERRIDES = [
    [],
    [_override("statutory", "no_further_action")],
    [_override("statutory", "early_help")],
    [_override("flag", "no_further_action"), _override("malicious_closure", None)],
]


@pytest.mark.parametrize(
    ("body", "triggered", "overrides"), list(itertools.product(BODIES, TRIGGERS, OVERRIDES))
)
def test_check_statutory_matches_the_reference(body, triggered, overrides):
    status = records.ReferralStatus(flagged=False, statutory=triggered)
    expected = _reference(body[0], triggered, overrides)
    try:
        records.check_statutory(_body(*body), status, overrides)
        allowed = True
    except records.RuleViolation as err:
        assert err.rule == "statutory_rule_requires_manager" and err.field == "decision"
        assert "manager" in err.message and "_" not in err.message.split("(POST")[0]
        allowed = False
    assert allowed == expected


def test_closing_against_a_trigger_is_refused_until_a_manager_gives_a_reason(client, tokens, store):
    n = store.verify().entries
    for decision in ("no_further_action", "early_help"):
        refused = decide(client, tokens["screener"], "R-S1", decision)
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert detail["rule"] == "statutory_rule_requires_manager"
        assert "Allegation or sign of physical injury" in detail["message"]
    assert store.verify().entries == n  # nothing written
    # A screener cannot give the manager's reason; a manager can, for one named closure.
    assert (
        override(
            client, tokens["screener"], "R-S1", kind="statutory", decision="no_further_action"
        ).status_code
        == 403
    )
    allowed = override(
        client,
        tokens["manager"],
        "R-S1",
        kind="statutory",
        decision="no_further_action",
        reason="Strategy discussion held by phone with police and health on 6 Jan; injury explained by a fall seen by the nursery",
    )
    assert allowed.status_code == 201, allowed.text
    assert decide(client, tokens["screener"], "R-S1", "early_help").status_code == 422
    ok = decide(client, tokens["screener"], "R-S1", "no_further_action")
    assert ok.status_code == 201, ok.text
    payload = ok.json()["payload"]
    assert payload["statutory_rules"] == ["physical_injury"]
    assert payload["statutory_rules_version"] == records.statutory.default_rules().log()
    assert allowed.json()["seq"] in payload["override_seqs"]
    assert store.verify().ok


@pytest.mark.parametrize("decision", ["assessment", "strategy_discussion"])
def test_not_closing_needs_no_manager(client, tokens, decision):
    assert decide(client, tokens["screener"], "R-S2", decision).status_code == 201


def test_a_flagged_triggered_referral_needs_both_overrides_to_close(client, tokens):
    m = tokens["manager"]
    override(client, m, "R-FS1", kind="flag", decision="no_further_action")
    assert decide(client, tokens["screener"], "R-FS1", "no_further_action").json()["detail"][
        "rule"
    ] == ("statutory_rule_requires_manager")
    override(client, m, "R-FS1", kind="statutory", decision="no_further_action")
    assert decide(client, tokens["screener"], "R-FS1", "no_further_action").status_code == 201


def test_statutory_override_needs_a_trigger_and_a_closing_decision(client, tokens):
    m = tokens["manager"]
    none = override(client, m, "R-7", kind="statutory", decision="no_further_action")
    assert none.status_code == 422 and none.json()["detail"]["rule"] == "no_statutory_rule"
    bad = override(client, m, "R-S3", kind="statutory", decision="assessment")
    assert bad.status_code == 422 and "closing decision" in bad.text
    assert override(client, m, "R-S3", kind="statutory", decision=None).status_code == 422


def test_an_untriggered_decision_records_that_none_applied(client, tokens):
    payload = decide(client, tokens["screener"], "R-8", "no_further_action").json()["payload"]
    assert payload["statutory_rules"] == []


_attempt = st.tuples(
    st.sampled_from(["decide", "override"]),
    st.sampled_from(DECISIONS),
    st.sampled_from(["screener", "manager"]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_attempt, min_size=1, max_size=6))
def test_no_injury_referral_is_closed_without_a_managers_reason(client, tokens, store, attempts):
    """Whatever anyone posts, in any order, an accepted closure has a manager's statutory override before it."""
    referral = new_id("R-S")
    latest = None
    for action, decision, who in attempts:
        if action == "override":
            override(client, tokens[who], referral, kind="statutory", decision=decision)
            continue
        extra = {"supersedes": latest} if latest else {}
        r = decide(client, tokens[who], referral, decision, **extra)
        if r.status_code == 201:
            latest = r.json()["record_id"]
    with store.db.read() as conn:
        trail = records.trail.entries_for(conn, referral, records.kinds.DECISION)
        overrides = records.trail.entries_for(conn, referral, records.kinds.OVERRIDE)
    for d in trail:
        if d.payload["decision"] in ("no_further_action", "early_help"):
            assert any(
                o.seq < d.seq
                and o.role == "manager"
                and o.payload
                == {**o.payload, "kind": "statutory", "decision": d.payload["decision"]}
                and o.payload["reason"]
                for o in overrides
            ), d.payload
