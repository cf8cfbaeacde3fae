"""A user's team: signed into their token, written on every trail entry they make.

Old entries (written before teams were recorded) are never rewritten: they
count as "Not recorded" and the chain still verifies.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import records
from mast.cli import app as cli
from records import kinds
from records.practice import practice_report
from records.tokens import NO_TEAM
from tests.records.conftest import auth, new_id
from tests.records.test_rules import decide


def _payloads(store, kind):
    entries, _ = store.query(kind=kind)
    return [e.payload for e in entries]


def test_a_token_names_its_team_and_a_page_session_follows_it(store):
    token, principal = store.create_token("Sam", "screener", team="MASH North")
    assert principal.team == "MASH North"
    assert store.verify_token(token).team == "MASH North"
    session = store.create_session(store.verify_token(token))
    assert store.verify_token(session).team == "MASH North"
    listed = {t["token_id"]: t for t in store.list_tokens()}
    assert listed[principal.token_id]["team"] == "MASH North"
    _, plain = store.create_token("Pat", "screener")
    assert plain.team is None and listed.get(plain.token_id) is None  # listed before Pat existed
    assert {t["token_id"]: t for t in store.list_tokens()}[plain.token_id]["team"] == NO_TEAM


@pytest.mark.parametrize("team", ["", "   ", "x" * 65, "North<script>", "not recorded"])
def test_a_bad_team_is_refused_naming_the_option(store, team):
    with pytest.raises(ValueError, match="--team"):
        store.create_token("Sam", "screener", team=team)


def test_a_team_changed_with_sql_is_not_honoured(store):
    """The team is signed with the issue: editing the trail's issue entry breaks the chain."""
    token, principal = store.create_token("Sam", "screener", team="MASH North")
    with store.db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))  # as an insider would
        row = conn.execute(
            text("SELECT seq, payload FROM audit_log WHERE kind = :k"), {"k": kinds.TOKEN_CREATED}
        ).first()
        payload = json.loads(row.payload)
        payload["team"] = "MASH South"
        conn.execute(
            text("UPDATE audit_log SET payload = :p WHERE seq = :s"),
            {"p": json.dumps(payload), "s": row.seq},
        )
    fresh = records.RecordsStore(store.url)
    try:
        assert fresh.verify_token(token) is None  # the signature no longer matches: not honoured
        assert not fresh.verify(anchors=False).ok
    finally:
        fresh.close()


def test_entries_carry_the_writers_team_and_a_client_cannot_set_it(client, store):
    north = store.create_token("Sam", "screener", team="MASH North")[0]
    plain = store.create_token("Pat", "screener")[0]
    assert decide(client, north, "R-1", "assessment").status_code == 201
    assert decide(client, plain, "R-2", "assessment").status_code == 201
    teams = {p.get("team") for p in _payloads(store, kinds.DECISION)}
    assert teams == {"MASH North", None}
    # "team" is not a field a client may send: refused, nothing written.
    refused = decide(client, plain, "R-3", "assessment", team="MASH North")
    assert refused.status_code == 422
    assert len(_payloads(store, kinds.DECISION)) == 2


def test_views_and_referral_versions_carry_the_team(store):
    sam = store.create_token("Sam", "screener", team="MASH North")[1]
    store.log_view(sam, kinds.SCORE_VIEW, referral_id="R-1", detail={"team": "forged"})
    store.register_referral(
        sam,
        "R-2",
        records.register.referral_content(
            "2025-01-06T10:00:00", "police", None, ["neglect"], ["C1"]
        ),
        flagged=False,
        view={"payload": {"person_ids": ["C1"]}},
    )
    assert [p["team"] for p in _payloads(store, kinds.SCORE_VIEW)] == ["MASH North"] * 2
    assert _payloads(store, kinds.REFERRAL)[0]["team"] == "MASH North"


def test_old_entries_stay_valid_and_count_as_not_recorded(client, store):
    old = store.create_token("Old hand", "screener")[0]  # as every token was before teams
    assert decide(client, old, "R-1", "assessment").status_code == 201
    head_before = store.head()
    north = store.create_token("Sam", "screener", team="MASH North")[0]
    south = store.create_token("Sol", "screener", team="MASH South")[0]
    for token, rid in ((north, "R-2"), (north, "R-3"), (south, "R-4")):
        assert decide(client, token, rid, "no_further_action").status_code == 201
    report = store.verify(anchors=False)
    assert report.ok, report.reason
    assert store.query(kind=kinds.DECISION)[0][0].hash == _hash_of(store, head_before[0])
    frame = practice_report(store)
    by_team = frame.groupby(level="team")["decisions"].sum().to_dict()
    assert by_team == {NO_TEAM: 1, "MASH North": 2, "MASH South": 1}
    assert frame.groupby(level="team")["nfa_closures"].sum().to_dict() == {
        NO_TEAM: 0,
        "MASH North": 2,
        "MASH South": 1,
    }


def _hash_of(store, seq):
    entries, _ = store.query(limit=seq)
    return entries[seq - 1].hash


def _create(store, team: str):
    args = ["tokens", "create", "--role", "manager", "--name", "Mo", "--team", team]
    return CliRunner().invoke(cli, [*args, "--db", store.url])


def test_mast_tokens_create_with_a_team(store):
    run = _create(store, "MASH East")
    assert run.exit_code == 0, run.output
    assert "team MASH East" in " ".join(run.output.split())
    listed = CliRunner().invoke(cli, ["tokens", "list", "--db", store.url])
    assert "MASH" in listed.output and "East" in listed.output  # the table wraps at 80 columns
    bad = _create(store, "<b>")
    assert bad.exit_code == 2 and "--team" in bad.output


def test_practice_by_team_through_the_api(client, store):
    """Decisions posted over HTTP by two teams: the practice figures split by team."""
    north = store.create_token("Sam", "screener", team="MASH North")[0]
    south = store.create_token("Sol", "screener", team="MASH South")[0]
    manager = store.create_token("Mo", "manager", team="MASH South")[0]
    body = {"override_id": new_id("o"), "kind": "malicious_closure", "reason": "agreed"}
    assert (
        client.post("/v1/referrals/R-9/overrides", json=body, headers=auth(manager)).status_code
        == 201
    )
    assert decide(client, north, "R-8", "strategy_discussion").status_code == 201
    assert (
        decide(
            client,
            south,
            "R-9",
            "no_further_action",
            closure_reason="malicious",
            referrer_spoken_to="rang them",
        ).status_code
        == 201
    )
    frame = practice_report(store).groupby(level="team").sum()
    assert frame.loc["MASH North", "decisions"] == 1
    assert frame.loc["MASH South", "closed_malicious"] == 1
    assert frame.loc["MASH North", "closed_malicious"] == 0
