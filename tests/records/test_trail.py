"""Query, export and rates, each compared with a simple reference.

``@both``: on SQLite and on a real PostgreSQL server.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import records
from mast.cli import app as cli
from records import kinds
from records.chain import verify_rows
from records.db import metadata
from records.trail import format_time
from tests.records.conftest import auth, both, new_id


@pytest.fixture
def busy(store):
    """A trail with decisions by three people on flagged and unflagged referrals."""
    people = [
        records.Principal(n, r, "t")
        for n, r in (("Ann", "screener"), ("Bob", "screener"), ("Mo", "manager"))
    ]
    plan = [
        # (who, referral, decision, override decision, initial view)
        (0, "R-F1", "strategy_discussion", None, "assessment"),
        (0, "R-F2", "early_help", "early_help", None),
        (0, "R-3", "assessment", None, "assessment"),
        (1, "R-4", "strategy_discussion", None, None),
        (1, "R-F5", "strategy_discussion", None, "strategy_discussion"),
        (1, "R-6", "no_further_action", None, None),
        (2, "R-F7", "assessment", "assessment", None),
    ]
    for who, referral, decision, override_to, initial in plan:
        p = people[who]
        status = records.ReferralStatus(flagged=referral.startswith("R-F"))
        if override_to:
            body = records.OverrideIn(
                override_id=new_id("o"), kind="flag", decision=override_to, reason="r"
            )
            store.record_override(people[2], referral, body, status)
        if initial:
            store.record_initial_view(
                p, referral, records.InitialViewIn(view_id=new_id("v"), decision=initial)
            )
        store.log_view(p, kinds.SCORE_VIEW, referral_id=referral)
        store.record_decision(
            p,
            referral,
            records.DecisionIn(decision_id=new_id("d"), decision=decision, rationale="r"),
            status,
        )
    # Ann corrects R-3: only the latest decision counts in rates.
    first = store.query(kind=kinds.DECISION, referral_id="R-3")[0][0]
    body = records.DecisionIn(
        decision_id=new_id("d"),
        decision="strategy_discussion",
        rationale="new info",
        supersedes=first.record_id,
    )
    store.record_decision(people[0], "R-3", body, records.ReferralStatus(False))
    return store


def _all(store):
    return store.query(limit=10_000)[0]


@both
def test_query_filters_match_reference(busy):
    everything = _all(busy)
    middle = everything[len(everything) // 2]
    cases = [
        {"referral_id": "R-F2"},
        {"actor": "Bob"},
        {"kind": kinds.DECISION, "actor": "Ann"},
        {"start": pd.Timestamp(middle.at).to_pydatetime()},
        {"end": pd.Timestamp(middle.at).to_pydatetime()},
    ]
    for filters in cases:
        got, total = busy.query(**filters)

        def keep(e, f=filters):
            return (
                f.get("referral_id") in (None, e.referral_id)
                and f.get("actor") in (None, e.actor)
                and f.get("kind") in (None, e.kind)
                and ("start" not in f or e.at >= format_time(f["start"]))
                and ("end" not in f or e.at <= format_time(f["end"]))
            )

        expected = [e.seq for e in everything if keep(e)]
        assert [e.seq for e in got] == expected and total == len(expected), filters
        assert expected, filters  # each case selects something


@both
def test_query_dates_and_paging(busy):
    today = pd.Timestamp(_all(busy)[0].at).date()
    assert busy.query(start=today, end=today)[1] == len(_all(busy))
    assert busy.query(start=today + timedelta(days=1))[1] == 0
    page, total = busy.query(limit=3, offset=2)
    assert [e.seq for e in page] == [3, 4, 5] and total == len(_all(busy))
    with pytest.raises(ValueError, match="after end"):
        busy.query(start=today + timedelta(days=1), end=today)


@both
def test_audit_endpoint_filters_and_is_logged(busy, client, tokens):
    before = busy.verify().entries
    r = client.get(
        "/v1/audit",
        params={"referral_id": "R-F2", "user": "Ann"},
        headers=auth(tokens["governance"]),
    )
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == len(body["entries"]) > 0
    assert {(e["referral_id"], e["actor"]) for e in body["entries"]} == {("R-F2", "Ann")}
    assert busy.query(kind=kinds.AUDIT_QUERY)[1] == 1 and busy.verify().entries == before + 1
    assert (
        client.get(
            "/v1/audit", params={"kind": "gossip"}, headers=auth(tokens["governance"])
        ).status_code
        == 422
    )
    assert (
        client.get(
            "/v1/audit", params={"from": "yesterday"}, headers=auth(tokens["governance"])
        ).status_code
        == 422
    )


@both
def test_export_csv_is_complete_and_reverifiable(busy, tmp_path):
    out = tmp_path / "trail.csv"
    assert busy.export_csv(out) == len(_all(busy))
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # CSV has no NULL or int: empty is NULL, seq is an int
        row["seq"] = int(row["seq"])
        for key in ("referral_id", "person_id", "record_id"):
            row[key] = row[key] or None
    assert verify_rows(rows).ok and len(rows) == len(_all(busy))
    assert [json.loads(r["payload"]) for r in rows] == [e.payload for e in _all(busy)]
    assert not list(tmp_path.glob(".trail.csv.*"))  # no temp file left behind


@both
def test_export_cli_and_bad_folder(busy, tmp_path):
    runner = CliRunner()
    out = tmp_path / "x.csv"
    assert (
        runner.invoke(cli, ["audit-log", "export", "--out", str(out), "--db", busy.url]).exit_code
        == 0
    )
    assert out.exists()
    bad = runner.invoke(
        cli, ["audit-log", "export", "--out", str(tmp_path / "no" / "x.csv"), "--db", busy.url]
    )
    assert bad.exit_code == 2


def _reference_rates(store, key_of):
    """Loop-based reference: latest decision per referral, then counts per key."""
    latest = {}
    for e in _all(store):
        if e.kind == kinds.DECISION:
            latest[e.referral_id] = e
    out = {}
    for e in latest.values():
        for key in key_of(e):
            s = out.setdefault(
                key,
                {
                    "n": 0,
                    "flagged": 0,
                    "followed": 0,
                    "unflagged": 0,
                    "escalated": 0,
                    "blind": 0,
                    "changed": 0,
                },
            )
            s["n"] += 1
            p = e.payload
            if p["flagged"]:
                s["flagged"] += 1
                s["followed"] += p["decision"] == "strategy_discussion"
            else:
                s["unflagged"] += 1
                s["escalated"] += p["decision"] == "strategy_discussion"
            if p["initial_view"]:
                s["blind"] += 1
                s["changed"] += p["initial_view"]["decision"] != p["decision"]
    return out


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)


def _compare(frame, reference):
    assert set(frame.index) == set(reference)
    nan = float("nan")
    for key, s in reference.items():
        row = frame.loc[key]
        assert (
            row["n_decisions"] == s["n"]
            and row["n_flagged"] == s["flagged"]
            and row["n_blind"] == s["blind"]
        )
        assert _same(
            row["flag_followed_rate"], s["followed"] / s["flagged"] if s["flagged"] else nan
        )
        assert _same(
            row["override_rate"], 1 - s["followed"] / s["flagged"] if s["flagged"] else nan
        )
        assert _same(
            row["escalation_rate_unflagged"],
            s["escalated"] / s["unflagged"] if s["unflagged"] else nan,
        )
        assert _same(
            row["changed_after_reveal_rate"], s["changed"] / s["blind"] if s["blind"] else nan
        )


@both
def test_rates_by_actor_match_reference(busy):
    frame = records.decision_rates(busy)
    _compare(frame, _reference_rates(busy, lambda e: [e.actor]))
    assert frame.loc["Ann", "n_decisions"] == 3  # R-3 counted once, as corrected
    assert frame.loc["Ann", "override_rate"] == 0.5


def test_rates_by_group_match_reference(busy):
    groups = pd.DataFrame(
        {
            "referral_id": ["R-F1", "R-F1", "R-F2", "R-3", "R-4", "R-F5", "R-6", "R-F7"],
            "ethnicity": ["White", "Black", "White", "Asian", "Black", "White", "Asian", "Black"],
        }
    )
    frame = records.decision_rates(busy, by="ethnicity", groups=groups)
    members = groups.groupby("referral_id")["ethnicity"].apply(list).to_dict()
    _compare(frame, _reference_rates(busy, lambda e: members[e.referral_id]))
    with pytest.raises(ValueError, match="groups"):
        records.decision_rates(busy, by="ethnicity")


@both
def test_tokens_are_stored_hashed(store):
    token, principal = store.create_token("Ann Screener", "screener")
    assert store.verify_token(token) == principal
    assert store.verify_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    with store.db.engine.connect() as conn:  # every row of every table, as stored
        dump = "\n".join(
            repr(tuple(row))
            for table in metadata.sorted_tables
            for row in conn.execute(table.select())
        )
    assert principal.token_id in dump  # the dump does hold the token's row
    assert token.split("_", 2)[2] not in dump  # the secret is never stored
    with pytest.raises(ValueError, match="unknown role"):
        store.create_token("x", "admin")
    with pytest.raises(ValueError, match="name"):
        store.create_token("", "screener")
    assert [t["name"] for t in store.list_tokens()] == ["Ann Screener"]


def test_tokens_cli(tmp_path):
    url = f"sqlite:///{tmp_path}/r.sqlite"
    runner = CliRunner()
    made = runner.invoke(
        cli, ["tokens", "create", "--role", "manager", "--name", "Mo Manager", "--db", url]
    )
    assert made.exit_code == 0
    token = made.output.strip().splitlines()[-1]
    store = records.RecordsStore(url)
    principal = store.verify_token(token)
    assert principal.role == "manager"
    assert runner.invoke(cli, ["tokens", "revoke", principal.token_id, "--db", url]).exit_code == 0
    assert store.verify_token(token) is None
    assert (
        runner.invoke(
            cli, ["tokens", "create", "--role", "boss", "--name", "x", "--db", url]
        ).exit_code
        == 2
    )
    assert store.verify().ok and store.query(kind=kinds.TOKEN_REVOKED)[1] == 1
    store.close()


@both
def test_rates_and_blind_first_cli(busy):
    runner = CliRunner()
    rates = runner.invoke(cli, ["audit-log", "rates", "--db", busy.url], env={"COLUMNS": "160"})
    assert (
        rates.exit_code == 0 and "Ann" in rates.output and "50.0%" in rates.output
    )  # Ann's override rate
    assert (
        runner.invoke(cli, ["audit-log", "blind-first", "on", "--db", busy.url]).exit_code == 2
    )  # no --by/--reason
    on = runner.invoke(
        cli,
        [
            "audit-log",
            "blind-first",
            "on",
            "--by",
            "Gov Lead",
            "--reason",
            "pilot",
            "--db",
            busy.url,
        ],
    )
    assert on.exit_code == 0 and "is on" in on.output and busy.blind_first()
    switch = busy.query(kind=kinds.CONFIG_CHANGE)[0][-1]
    assert switch.actor == "Gov Lead" and switch.payload == {"blind_first": True, "reason": "pilot"}
    assert (
        "is on"
        in runner.invoke(cli, ["audit-log", "blind-first", "status", "--db", busy.url]).output
    )
