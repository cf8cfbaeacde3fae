"""The hash chain verifies, and tampering is caught at the right entry.

The tests marked ``@both`` run on SQLite and on a real PostgreSQL server:
the stored rows must hash as the reference says on both, and each
dialect's trigger must refuse what it claims to refuse.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

import records
from mast.cli import app as cli
from records import kinds
from records.chain import GENESIS
from tests.records.conftest import both

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


def _rows(store, where: str = "") -> list[dict]:
    """The stored rows as the database returns them, bypassing records' own reads."""
    with store.db.engine.connect() as conn:
        result = conn.execute(text(f"SELECT * FROM audit_log {where} ORDER BY seq"))
        return [dict(r._mapping) for r in result]


def _tamper(store, sql: str, **params) -> None:
    """Run ``sql`` as someone who can switch the append-only trigger off first."""
    with store.db.engine.begin() as conn:
        if store.db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        conn.execute(text(sql), params)


@both
def test_chain_verifies_and_matches_reference(filled):
    report = filled.verify()
    assert report.ok and report.entries == N
    rows = _rows(filled)
    assert len(rows) == N
    prev = GENESIS
    for row in rows:
        assert row["prev_hash"] == prev
        assert row["hash"] == _reference_hash(prev, row)
        prev = row["hash"]
    assert report.head_hash == prev


@both
def test_trigger_refuses_update_and_delete(filled):
    statements = [
        "UPDATE audit_log SET actor = 'x' WHERE seq = 3",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_log",
    ]
    if filled.db.dialect == "postgresql":  # row triggers do not see TRUNCATE; its own does
        statements.append("TRUNCATE audit_log")
    for sql in statements:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            filled.db.engine.begin() as conn,
        ):
            conn.execute(text(sql))
    assert _rows(filled, "WHERE seq = 3")[0]["actor"] == "Sam Screener"
    report = filled.verify()
    assert report.ok and report.entries == N


@both
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
    _tamper(filled, f"UPDATE audit_log SET {column} = :value WHERE seq = 6", value=value)
    report = filled.verify()
    assert not report.ok and report.broken_seq == 6
    assert "altered" in report.reason


@both
def test_rehashed_entry_is_caught_at_the_next(filled):
    """A tamperer who recomputes the altered entry's own hash breaks the link to the next one."""
    (row,) = _rows(filled, "WHERE seq = 4")
    row["actor"] = "Someone Else"
    _tamper(
        filled,
        "UPDATE audit_log SET actor = :actor, hash = :hash WHERE seq = 4",
        actor=row["actor"],
        hash=_reference_hash(row["prev_hash"], row),
    )
    report = filled.verify()
    assert report.broken_seq == 5 and "does not point" in report.reason


@both
def test_deleted_entry_is_caught(filled):
    _tamper(filled, "DELETE FROM audit_log WHERE seq = 7")
    report = filled.verify()
    assert report.broken_seq == 8 and "missing" in report.reason


def test_truncation_needs_the_recorded_head(filled):
    head = filled.verify().head_hash
    _tamper(filled, "DELETE FROM audit_log WHERE seq = :seq", seq=N)
    assert filled.verify().ok  # a chain alone cannot see its end cut off...
    report = filled.verify(expect_hash=head)
    assert not report.ok and "removed" in report.reason  # ...the recorded head can


@both
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
