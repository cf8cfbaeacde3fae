"""The trail's anchor: signed heads outside the database catch truncation and rewrites.

Each attack is done the way an insider with write access to the database
would do it: with SQL, the append-only triggers dropped first.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import records
from mast.cli import app as cli
from records import kinds
from records.anchor import AnchorError
from records.chain import entry_hash

SCREENER = records.Principal(name="Sam Screener", role="screener", token_id="t1")


def _fill(store, n: int) -> list:
    return [
        store.log_view(SCREENER, kinds.SCORE_VIEW, referral_id=f"R-{i}", detail={"i": i})
        for i in range(n)
    ]


def _sql(store, *statements: str) -> None:
    """Run SQL as an insider would: append-only triggers dropped first."""
    with store.db.engine.begin() as conn:
        if store.db.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log"))
        for sql in statements:
            conn.execute(text(sql))


@pytest.fixture
def every5(monkeypatch):
    monkeypatch.setenv("MAST_ANCHOR_EVERY", "5")


def _verify_cli(url: str):
    return CliRunner().invoke(cli, ["audit-log", "verify", "--db", url])


def test_each_append_returns_the_new_head(store):
    entries = _fill(store, 3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert store.head() == (entries[-1].seq, entries[-1].hash)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_heads_are_signed_every_n_entries_and_at_close(every5, store):
    anchor = records.RecordsStore(store.url).anchor  # a second process's view of the same file
    _fill(store, 12)
    heads = store.anchor.heads()
    assert [h.seq for h in heads] == [5, 10]
    store.close()  # shutdown signs the newest head
    assert [h.seq for h in anchor.heads()] == [5, 10, 12]
    assert stat.S_IMODE(os.stat(anchor.path).st_mode) == 0o600
    key_file = anchor.path.parent / "records.anchor-key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_truncating_the_newest_entries_is_detected(every5, store):
    _fill(store, 12)
    store.anchor.flush()
    assert store.verify().ok
    _sql(store, "DELETE FROM audit_log WHERE seq > 9")
    report = store.verify()
    assert not report.ok and "entries 10..12 at least were removed" in report.reason
    assert store.verify(anchors=False).ok  # the chain alone cannot see it


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_an_emptied_trail_with_anchors_fails(every5, store):
    _fill(store, 6)
    _sql(store, "DELETE FROM audit_log")
    report = store.verify()
    assert not report.ok and "every entry was removed" in report.reason


def test_a_rewritten_and_rechained_trail_is_detected(every5, store):
    """Rewrite entry 2 and recompute every hash after it: the chain checks out, the anchor does not."""
    _fill(store, 6)
    with store.db.read() as conn:
        rows = [
            dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY seq"))
        ]
    rows[1]["actor"] = "Someone Else"
    prev = rows[0]["hash"]
    statements = ["DELETE FROM audit_log WHERE seq >= 2"]
    for row in rows[1:]:
        row["prev_hash"] = prev
        row["hash"] = prev = entry_hash(prev, row)
    _sql(store, *statements)
    with store.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log VALUES (:seq, :at, :kind, :actor, :role, :referral_id, "
                ":person_id, :record_id, :payload, :prev_hash, :hash)"
            ),
            rows[1:],
        )
    assert store.verify(anchors=False).ok
    report = store.verify()
    assert not report.ok and report.broken_seq == 5 and "rewritten" in report.reason


def test_a_forged_anchor_line_is_refused(every5, store):
    _fill(store, 5)
    line = json.loads(store.anchor.path.read_text().splitlines()[0])
    line["seq"] = 1  # claim a different head, keep the old signature
    with store.anchor.path.open("a") as handle:
        handle.write(json.dumps(line) + "\n")
    with pytest.raises(AnchorError, match="line 2 .* not signed with this key"):
        store.verify()


def test_the_key_can_be_an_environment_secret(every5, store, tmp_path, monkeypatch):
    monkeypatch.setenv("MAST_ANCHOR_KEY", "an environment secret of the LA")
    monkeypatch.setenv("MAST_ANCHOR_FILE", str(tmp_path / "elsewhere" / "trail.anchors"))
    other = records.RecordsStore(store.url)
    _fill(other, 5)
    assert [h.seq for h in other.anchor.heads()] == [5]
    monkeypatch.setenv("MAST_ANCHOR_KEY", "a different secret")
    with pytest.raises(AnchorError, match="not signed with this key"):
        records.RecordsStore(store.url).verify()
    other.close()


def test_cli_verify_fails_on_truncation_and_says_what_it_can_detect(every5, store):
    _fill(store, 7)
    store.anchor.flush()
    ok = _verify_cli(store.url)
    assert ok.exit_code == 0, ok.output
    assert "All 2 signed heads" in ok.output and "What it cannot detect" in ok.output
    _sql(store, "DELETE FROM audit_log WHERE seq > 3")
    broken = _verify_cli(store.url)
    assert broken.exit_code == 1 and "were removed" in broken.output
    _sql(store, "DELETE FROM audit_log")
    empty = _verify_cli(store.url)
    assert empty.exit_code == 1 and "every entry was removed" in empty.output


def test_an_anchor_that_cannot_be_written_never_fails_a_stored_write(every5, store, caplog):
    store.anchor.path.mkdir()  # a folder where the file should be: opening it fails, even as root
    entries = _fill(store, 6)
    assert [e.seq for e in entries] == list(range(1, 7)) and store.verify(anchors=False).ok
    assert "could not anchor the trail's head at entry 5" in caplog.text


def test_workers_making_the_key_at_once_all_get_the_whole_same_key(tmp_path, monkeypatch):
    """The key file appears whole or not at all (it was once read empty by a second worker)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from records.anchor import ENV_KEY, ENV_KEY_FILE, load_key

    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)
    for trial in range(20):
        anchors = tmp_path / f"t{trial}" / "records.sqlite.anchors"
        barrier = threading.Barrier(8)

        def make(_, anchors=anchors, barrier=barrier):
            barrier.wait()
            return load_key(anchors, create=True)

        with ThreadPoolExecutor(8) as pool:
            keys = set(pool.map(make, range(8)))
        assert len(keys) == 1 and len(keys.pop()) == 64
        assert [p.name for p in anchors.parent.iterdir()] == ["records.anchor-key"]
