"""The board's report's practice section: from the decision record, plain English, by month and team."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import records
from audit import evaluate_gate, write_governance_report
from audit.practice import MIN_RATE_BASE, in_100, practice_from_records, practice_section
from records.practice import MEASURES, NOT_RECORDED_YET, REVIEW_MEASURES
from tests.records.app import build_app
from tests.records.conftest import auth
from tests.records.test_rules import decide


def _frame(rows: list[dict]) -> pd.DataFrame:
    cols = [*MEASURES, *REVIEW_MEASURES, *NOT_RECORDED_YET]
    frame = pd.DataFrame([{c: 0 for c in cols} | r for r in rows])
    frame[list(NOT_RECORDED_YET)] = pd.NA
    return frame.set_index(["month", "team"])


def test_rates_are_in_100_only_on_enough_referrals():
    assert in_100(31, 40) == "78 in 100"
    assert in_100(1, 2) == "1 of 2"  # "50 in 100" from two would read as a finding
    assert in_100(0, 0) == "none to count"
    assert in_100(pd.NA, 5) == "not recorded"
    assert in_100(MIN_RATE_BASE, MIN_RATE_BASE) == "100 in 100"


def test_small_teams_and_early_months_are_folded():
    rows = [{"month": f"2025-{m:02d}", "team": "MASH North", "decisions": 20} for m in range(1, 13)]
    rows += [{"month": "2026-01", "team": "MASH North", "decisions": 20}]
    rows += [{"month": "2026-01", "team": "Out of hours", "decisions": 3}]
    rows += [{"month": "2026-01", "team": "Not recorded", "decisions": 4}]
    view = practice_section(_frame(rows), ["MAST does not record escalations yet."])
    assert view["period"] == "January 2025 to January 2026"
    names = [t["name"] for t in view["teams"]]
    assert names[0] == "MASH North"
    assert names[1].startswith("Other teams (2 with fewer than 10 decisions each")
    assert view["teams"][1]["cells"][0] == "7"  # 3 + 4 folded into one line
    assert len(view["months"]) == 13 and view["months"][0]["folded"]
    assert view["months"][0]["name"] == "Earlier months (January 2025)"
    # Nothing recorded at all: the columns are left out and a sentence says why, never 0.
    assert "Referrer told the outcome" not in view["columns"]
    assert "Strategy discussions recorded" in view["columns"]  # zeros recorded: real zeros
    assert "MAST does not record escalations yet." in view["notes"]


@pytest.fixture
def decided(store):
    """Decisions posted over HTTP by screeners of two teams and one without a team."""
    north = store.create_token("Sam", "screener", team="MASH North")[0]
    south = store.create_token("Sol", "screener", team="MASH South")[0]
    old = store.create_token("Old hand", "screener")[0]
    with TestClient(build_app(store)) as client:
        for i in range(12):
            assert decide(client, north, f"R-{i}", "strategy_discussion").status_code == 201
        for i in range(12, 15):
            assert decide(client, south, f"R-{i}", "no_further_action").status_code == 201
        assert decide(client, old, "R-15", "assessment").status_code == 201
        assert client.get("/v1/config", headers=auth(north)).status_code == 200
    return store


def test_the_board_report_shows_practice_by_team(decided, tmp_path, audit_result):
    view = practice_from_records(decided.url)
    assert not view["empty"]
    assert any("16 referrals were decided" in line for line in view["headlines"])
    paths = write_governance_report(
        tmp_path,
        audit_result,
        evaluate_gate(audit_result),
        metadata={"practice": view},
        pdf=False,
    )
    html = paths["html"].read_text()
    start = html.index('id="practice"')
    section = html[start : html.index('id="limitations"')]
    number = re.search(r'id="practice"[^>]*>(\d+)\.', html).group(1)
    limits = re.search(r'id="limitations"[^>]*>(\d+)\.', html).group(1)
    assert int(limits) == int(number) + 1  # numbered in order, no gap
    assert "How the front door is working" in section
    assert "MASH North" in section and "Other teams (2 with fewer than 10" in section
    assert "MASH South" in section and "Not recorded" in section
    text = re.sub(r"<[^>]+>", " ", section)
    assert "_" not in text  # no raw codes (measure names, decision codes)
    assert "no further action" in text or "no-further-action" in text


def test_no_practice_section_without_figures(tmp_path, audit_result):
    paths = write_governance_report(
        tmp_path, audit_result, evaluate_gate(audit_result), metadata={}, pdf=False
    )
    assert 'id="practice"' not in paths["html"].read_text()


def test_an_empty_record_says_so_in_words(store, tmp_path, audit_result):
    view = practice_from_records(store.url)
    assert view["empty"]
    paths = write_governance_report(
        tmp_path, audit_result, evaluate_gate(audit_result), metadata={"practice": view}, pdf=False
    )
    assert "No decisions have been recorded in MAST yet" in paths["html"].read_text()


def test_a_missing_record_is_a_clear_error(tmp_path):
    with pytest.raises((ValueError, FileNotFoundError)):
        practice_from_records(f"sqlite:///{tmp_path / 'nothing-here.sqlite'}")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MAST_HOME", str(tmp_path / "mast-home"))
    s = records.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    yield s
    s.close()
