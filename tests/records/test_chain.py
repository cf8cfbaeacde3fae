"""The hash chain verifies, and tampering is caught at the right entry."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from typer.testing import CliRunner

import records
from mast.cli import app as cli
from records import kinds
from records.chain import GENESIS

N = 12


def _reference_hash(prev: str, row: dict) -> str:
    """Independent re-implementation of the documented hash rule."""
    fields = (
        "seq",
        "at",
        "kind",
        "actor",
        "role",
        "referral_id",
        "person_id",
        "record_id",
        "payload",
    )
    content = json.dumps(
        {f: row[f] for f in fields}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256((prev + "\n" + content).encode()).hexdigest()


@pytest.fixture
def filled(store):
    principal = records.Principal("Sam Screener", "screener", "t")
    for i in range(N):
        store.log_view(
            principal, kinds.CHRONOLOGY_VIEW, person_id=f"P{i}", detail={"i": i, "note": "é ✓"}
        )
    return store


def _path(store) -> str:
    return store.url.removeprefix("sqlite:///")


def _tamper(store, sql: str, *params) -> None:
    with sqlite3.connect(_path(store)) as con:
        con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        con.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        con.execute(sql, params)


def test_chain_verifies_and_matches_reference(filled):
    report = filled.verify()
    assert report.ok and report.entries == N
    with sqlite3.connect(_path(filled)) as con:
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM audit_log ORDER BY seq")]
    prev = GENESIS
    for row in rows:
        assert row["prev_hash"] == prev
        assert row["hash"] == _reference_hash(prev, row)
        prev = row["hash"]
    assert report.head_hash == prev


def test_trigger_refuses_update_and_delete(filled):
    with (
        sqlite3.connect(_path(filled)) as con,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        con.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 3")
    with (
        sqlite3.connect(_path(filled)) as con,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        con.execute("DELETE FROM audit_log WHERE seq = 3")
    assert filled.verify().ok


@pytest.mark.parametrize(
    "column,value",
    [
        ("actor", "Someone Else"),
        ("payload", '{"i":5}'),
        ("at", "2020-01-01T00:00:00.000000Z"),
        ("referral_id", "R-X"),
    ],
)
def test_altered_field_is_caught_at_that_entry(filled, column, value):
    _tamper(filled, f"UPDATE audit_log SET {column} = ? WHERE seq = 6", value)
    report = filled.verify()
    assert not report.ok and report.broken_seq == 6
    assert "altered" in report.reason


def test_rehashed_entry_is_caught_at_the_next(filled):
    """A tamperer who recomputes the altered entry's own hash breaks the link to the next one."""
    with sqlite3.connect(_path(filled)) as con:
        con.row_factory = sqlite3.Row
        row = dict(con.execute("SELECT * FROM audit_log WHERE seq = 4").fetchone())
    row["actor"] = "Someone Else"
    _tamper(
        filled,
        "UPDATE audit_log SET actor = ?, hash = ? WHERE seq = 4",
        row["actor"],
        _reference_hash(row["prev_hash"], row),
    )
    report = filled.verify()
    assert report.broken_seq == 5 and "does not point" in report.reason


def test_deleted_entry_is_caught(filled):
    _tamper(filled, "DELETE FROM audit_log WHERE seq = 7")
    report = filled.verify()
    assert report.broken_seq == 8 and "missing" in report.reason


def test_truncation_needs_the_recorded_head(filled):
    head = filled.verify().head_hash
    _tamper(filled, "DELETE FROM audit_log WHERE seq = ?", N)
    assert filled.verify().ok  # a chain alone cannot see its end cut off...
    report = filled.verify(expect_hash=head)
    assert not report.ok and "removed" in report.reason  # ...the recorded head can


def test_cli_verify_names_the_broken_entry(filled):
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit-log", "verify", "--db", filled.url])
    assert ok.exit_code == 0 and f"{N} entries verify" in ok.output
    _tamper(filled, "UPDATE audit_log SET actor = 'x' WHERE seq = 9")
    broken = runner.invoke(cli, ["audit-log", "verify", "--db", filled.url])
    assert broken.exit_code == 1
    assert "entry 9" in broken.output


def test_cli_refuses_missing_database(tmp_path):
    result = CliRunner().invoke(
        cli, ["audit-log", "verify", "--db", f"sqlite:///{tmp_path}/nope.sqlite"]
    )
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())
    assert not (tmp_path / "nope.sqlite").exists()


def test_memory_database_refused():
    with pytest.raises(ValueError, match="needs a file"):
        records.RecordsStore("sqlite:///:memory:")


def test_sqlite_pragmas(store):
    with store.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
