"""The practice report: compared with a plain pandas reference, and run as a person runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import records
from mast.cli import app as cli
from records import kinds
from records.practice import (
    MEASURES,
    NO_TEAM,
    NOT_RECORDED_YET,
    REVIEW_MEASURES,
    optional_kind,
    practice_figures,
)
from records.trail import Entry, format_time
from store.vocabulary import CLOSURE_REASONS, DECISIONS
from tests.records.conftest import new_id


def reference(entries: list[Entry]) -> pd.DataFrame:
    """The same figures, written from the definitions with pandas."""
    df = pd.DataFrame(
        [
            {
                "seq": e.seq,
                "time": pd.Timestamp(e.at).tz_convert("Europe/London").tz_localize(None),
                "kind": e.kind,
                "referral_id": e.referral_id,
                **{f"p_{k}": v for k, v in e.payload.items() if k != "person_ids"},
                "children": frozenset(e.payload.get("person_ids") or []),
            }
            for e in entries
        ]
    )
    for col in ("p_decision", "p_closure_reason", "p_team", "p_statutory_rules", "p_kind"):
        if col not in df:
            df[col] = None
    dec = df[df["kind"] == "decision"].sort_values("seq").groupby("referral_id").tail(1).copy()
    dec["month"] = dec["time"].dt.strftime("%Y-%m")
    dec["team"] = dec["p_team"].where(dec["p_team"].notna(), NO_TEAM)
    ov = df[df["kind"] == "override"].set_index("seq")
    nfa = dec["p_decision"] == "no_further_action"
    closing = dec["p_decision"].isin(["no_further_action", "early_help"])
    rules = dec["p_statutory_rules"]
    triggered = rules.map(lambda r: bool(r) if isinstance(r, list) else False)

    def with_reason(row) -> bool:
        seqs = [s for s in row["p_override_seqs"] if s in ov.index]
        return any(
            ov.at[s, "p_kind"] == "statutory" and ov.at[s, "p_decision"] == row["p_decision"]
            for s in seqs
        )

    dec["decisions"] = 1
    dec["rules_not_evaluated"] = rules.map(lambda r: not isinstance(r, list)).astype(int)
    dec["rules_triggered"] = triggered.astype(int)
    dec["triggered_closed"] = (triggered & closing).astype(int)
    dec["triggered_closed_with_reason"] = [
        int(t and c and with_reason(row))
        for t, c, (_, row) in zip(triggered, closing, dec.iterrows(), strict=True)
    ]
    dec["nfa_closures"] = nfa.astype(int)
    dec["closed_malicious"] = (nfa & (dec["p_closure_reason"] == "malicious")).astype(int)
    dec["closed_declined"] = (nfa & (dec["p_closure_reason"] == "family_declined_support")).astype(
        int
    )
    dec["re_referrals"] = 0
    parts = [dec[["month", "team", *[m for m in MEASURES]]]]

    views = df[df["kind"] == "score_view"].sort_values("seq")
    first = views.groupby("referral_id").agg(time=("time", "first"))
    kids = views.groupby("referral_id")["children"].agg(lambda s: frozenset().union(*s))
    closed = dec[nfa][["referral_id", "time", "seq", "team"]]
    rows = []
    for rid, when in first["time"].items():
        match = closed[
            (closed["referral_id"] != rid)
            & closed["referral_id"].map(lambda c, r=rid: bool(kids.get(c, frozenset()) & kids[r]))
            & (closed["time"] >= when - pd.DateOffset(months=12))
            & (closed["time"] < when)
        ]
        if len(match):
            last = match.sort_values(["time", "seq"]).iloc[-1]
            rows.append({"month": when.strftime("%Y-%m"), "team": last["team"], "re_referrals": 1})
    if rows:
        parts.append(pd.DataFrame(rows))
    out = pd.concat(parts).fillna(0).groupby(["month", "team"]).sum().astype(int)
    return out[list(MEASURES)]


T0 = datetime(2025, 1, 1, tzinfo=UTC)


@st.composite
def trails(draw) -> list[Entry]:
    n = draw(st.integers(1, 25))
    entries = []
    moment = T0
    for seq in range(1, n + 1):
        moment += timedelta(days=draw(st.integers(0, 120)), minutes=draw(st.integers(0, 1440)))
        rid = draw(st.sampled_from(["R1", "R2", "R3", "R4"]))
        kind = draw(st.sampled_from([kinds.SCORE_VIEW, kinds.DECISION, kinds.OVERRIDE]))
        if kind == kinds.SCORE_VIEW:
            payload = {"person_ids": draw(st.sets(st.sampled_from(["P1", "P2", "P3"]), max_size=2))}
            payload["person_ids"] = sorted(payload["person_ids"])
        elif kind == kinds.OVERRIDE:
            payload = {
                "kind": draw(st.sampled_from(kinds.OVERRIDE_KINDS)),
                "decision": draw(st.sampled_from(DECISIONS)),
            }
        else:
            decision = draw(st.sampled_from(DECISIONS))
            payload = {
                "decision": decision,
                "closure_reason": draw(st.none() | st.sampled_from(CLOSURE_REASONS))
                if decision == "no_further_action"
                else None,
                "statutory_rules": draw(
                    st.none() | st.lists(st.sampled_from(["physical_injury", "repeat_referral"]))
                ),
                "override_seqs": [
                    e.seq for e in entries if e.kind == kinds.OVERRIDE and e.referral_id == rid
                ],
            }
            team = draw(st.none() | st.sampled_from(["North", "South"]))
            if team:
                payload["team"] = team
        entries.append(
            Entry(seq, format_time(moment), kind, "A", "screener", rid, None, None, payload, "", "")
        )
    return entries


@settings(max_examples=150, deadline=None)
@given(trails())
def test_figures_match_the_pandas_reference(entries):
    got = practice_figures(entries)
    expected = reference(entries)
    assert got[list(MEASURES)].astype(int).sort_index().equals(expected.sort_index()), (
        got[list(MEASURES)],
        expected,
    )
    assert got[list(REVIEW_MEASURES)].isna().all().all()
    for measure in NOT_RECORDED_YET:  # no such entries drawn: 0 once the kind exists
        assert (got[measure].isna() if optional_kind(measure) is None else got[measure] == 0).all()


def test_months_are_uk_local_time():
    # 23:30 UTC on 31 July is 00:30 on 1 August in London.
    late = Entry(
        1,
        "2025-07-31T23:30:00.000000Z",
        kinds.DECISION,
        "A",
        "screener",
        "R1",
        None,
        None,
        {"decision": "assessment", "override_seqs": []},
        "",
        "",
    )
    assert practice_figures([late]).index.tolist() == [("2025-08", NO_TEAM)]


@pytest.fixture
def filled(store):
    """A trail written through the store as the service writes it."""
    screener = records.Principal(name="Sam Screener", role="screener", token_id="t1")
    manager = records.Principal(name="Mo Manager", role="manager", token_id="t2")
    facts = records.statutory.ReferralFacts(
        "R-1", datetime(2025, 1, 6, 10), frozenset({"neglect"}), injury_alleged=True
    )
    injury = records.statutory.evaluate(facts, [records.statutory.ChildHistory("C1")])
    rules = records.statutory.default_rules().log()

    def status(triggered=()):
        return records.ReferralStatus(False, statutory=triggered, statutory_rules=rules)

    def decide(rid, decision, st=status(), **extra):
        body = records.DecisionIn(
            decision_id=new_id("d"), decision=decision, rationale="why", **extra
        )
        store.record_decision(screener, rid, body, st)

    def seen(rid):
        store.log_view(screener, kinds.SCORE_VIEW, referral_id=rid, detail={"person_ids": ["C1"]})

    seen("R-1")
    decide("R-1", "no_further_action")
    seen("R-2")
    store.record_override(
        manager,
        "R-2",
        records.OverrideIn(
            override_id=new_id("o"),
            kind="statutory",
            decision="no_further_action",
            reason="seen by GP: birthmark",
        ),
        status(injury),
    )
    decide("R-2", "no_further_action", status(injury))
    seen("R-3")
    store.record_override(
        manager,
        "R-3",
        records.OverrideIn(override_id=new_id("o"), kind="malicious_closure", reason="agreed"),
        status(),
    )
    decide("R-3", "no_further_action", closure_reason="malicious", referrer_spoken_to="rang them")
    seen("R-4")
    decide("R-4", "strategy_discussion", records.ReferralStatus(False))
    return store


def test_practice_report_of_a_real_trail(filled):
    frame = records.practice.practice_report(filled)
    (row,) = [r for _, r in frame.iterrows()]
    assert row["decisions"] == 4 and row["rules_not_evaluated"] == 1
    assert row["rules_triggered"] == 1 and row["triggered_closed_with_reason"] == 1
    assert row["closed_malicious"] == 1 and row["nfa_closures"] == 3
    assert row["re_referrals"] == 3  # each follow a closure about C1


def test_mast_audit_log_practice_prints_plain_english(filled, tmp_path):
    out = tmp_path / "practice.csv"
    result = CliRunner().invoke(
        cli, ["audit-log", "practice", "--db", filled.url, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    month = datetime.now(UTC).strftime("%B %Y")
    assert month in text and f"{month}, Not recorded" in text
    assert "closed as malicious" in text and "referrers told the outcome" in text
    missing = [m for m in NOT_RECORDED_YET if optional_kind(m) is None]
    assert text.count("not recorded yet") >= len(missing) + len(REVIEW_MEASURES)
    assert "_" not in result.output.split("Wrote")[0]  # no raw codes (the file path aside)
    csv = pd.read_csv(out)
    assert csv.loc[0, "closed as malicious"] == 1
    if optional_kind("referrer_told") is None:
        assert (csv["referrers told the outcome"] == "not recorded yet").all()
        assert "MAST does not record referrers told the outcome yet" in text


def test_mast_audit_log_practice_on_an_empty_trail(store):
    result = CliRunner().invoke(cli, ["audit-log", "practice", "--db", store.url])
    assert result.exit_code == 0 and "No decisions recorded yet" in result.output


def test_reviews_count_once_the_trail_holds_them(filled):
    from tests.records.test_review import MANAGER, body

    filled.record_review(
        MANAGER, "R-4", body(("police", "health"), missing_agencies_reason="no social worker free")
    )
    frame = records.practice.practice_report(filled)
    (row,) = [r for _, r in frame.iterrows()]
    assert row["strategy_recorded"] == 1 and row["strategy_in_time"] == 1
    assert row["strategy_three_agencies"] == 0  # a real zero now: the review lacked one
    missing = [m for m in NOT_RECORDED_YET if optional_kind(m) is None]
    assert frame[missing].isna().all().all()


def test_optional_kinds_are_counted_once_defined(monkeypatch):
    """Referrers told and escalations (issue #17 a's records) count as soon as their kinds exist."""
    names = {"REFERRER_TOLD": "referrer_told", "ESCALATION": "escalation"}
    for attr, kind in names.items():
        monkeypatch.setattr(kinds, attr, kind, raising=False)
    monkeypatch.delattr(kinds, "ESCALATION_ANSWER", raising=False)

    def entry(seq, kind, rid, payload, at="2025-03-03T10:00:00.000000Z"):
        return Entry(seq, at, kind, "A", "screener", rid, None, None, payload, "", "")

    entries = [
        entry(1, kinds.DECISION, "R1", {"decision": "no_further_action", "team": "North"}),
        entry(2, "referrer_told", "R1", {"team": "North"}),
        entry(3, "referrer_told", "R1", {"team": "North"}),  # told again: one referral
        entry(4, "escalation", "R1", {}),  # a partner's: counts for the team that decided
        entry(5, "escalation", "R1", {}, at="2025-04-01T10:00:00.000000Z"),
    ]
    frame = practice_figures(entries)
    assert frame.loc[("2025-03", "North"), "referrer_told"] == 1
    assert frame.loc[("2025-03", "North"), "escalations_raised"] == 1
    assert frame.loc[("2025-04", "North"), "escalations_raised"] == 1
    assert frame.loc[("2025-04", "North"), "referrer_told"] == 0  # defined, none: a real 0
    assert frame["escalations_answered"].isna().all()  # not defined: not recorded
    notes = records.practice.practice_notes()
    assert len(notes) == 1 and "partner escalations answered" in notes[0]
