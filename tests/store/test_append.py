"""``mast load --append``: a day's delta, atomic, reconciled by key, safe beside a reader."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import duckdb
import pytest

from store import ContractError, StoreBusyError, connect, content_hash, load_extracts
from tests.store import extract_writer as w


@pytest.fixture
def base(tmp_path):
    rows = w.generate(n_people=12, random_state=1)
    db = tmp_path / "db.duckdb"
    load_extracts(db, w.as_csv(rows, tmp_path / "day0"))
    return rows, db


def _hash(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return content_hash(con), con.execute("SELECT count(*) FROM store_loads").fetchone()[0]
    finally:
        con.close()


def test_delta_inserts_new_rows_and_updates_a_membership_end(tmp_path, base):
    rows, db = base
    member = dict(rows["household_members"][1], end_date=w.datetime(2024, 1, 31),
                  end_recorded_at=w.datetime(2024, 2, 2, 9))  # fmt: skip
    event = dict(rows["agency_events"][0], event_id="E-new")
    delta = {"household_members": [member], "agency_events": [event, rows["agency_events"][1]]}
    report = load_extracts(db, w.as_csv(delta, tmp_path / "day1"), mode="append")
    assert report.inserted == {"household_members": 1, "agency_events": 1}
    assert report.updated == {"household_members": 1}
    assert report.unchanged == {"agency_events": 1}
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute(
        "SELECT count(*), max(end_date) FROM household_members WHERE person_id = ?",
        [member["person_id"]],
    ).fetchone()
    assert got == (1, w.datetime(2024, 1, 31).date())
    mode, counts = con.execute(
        "SELECT mode, row_counts FROM store_loads ORDER BY loaded_at DESC LIMIT 1"
    ).fetchone()
    assert mode == "append" and json.loads(counts)["updated"] == {"household_members": 1}


def test_resending_a_delta_changes_nothing_but_the_load_log(tmp_path, base):
    rows, db = base
    before, n = _hash(db)
    load_extracts(db, w.as_csv(rows, tmp_path / "again"), mode="append")
    assert _hash(db) == (before, n + 1)


def test_a_changed_referral_is_refused_unless_marked_a_correction(tmp_path, base):
    rows, db = base
    changed = dict(rows["referrals"][0], source="family", referrer_relationship="grandparent")
    before = _hash(db)
    with pytest.raises(ContractError) as info:
        load_extracts(db, w.as_csv({"referrals": [changed]}, tmp_path / "d1"), mode="append")
    (p,) = info.value.problems
    assert changed["referral_id"] in p.problem and "correction" in p.problem
    assert _hash(db) == before
    marked = dict(changed, correction="yes")
    report = load_extracts(db, w.as_csv({"referrals": [marked]}, tmp_path / "d2"), mode="append")
    assert report.updated == {"referrals": 1}
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute(
        "SELECT source FROM referrals WHERE referral_id = ?", [changed["referral_id"]]
    ).fetchone() == ("family",)


def test_a_membership_update_may_not_rewrite_when_it_was_recorded(tmp_path, base):
    rows, db = base
    member = dict(rows["household_members"][2], recorded_at=w.datetime(2010, 1, 1))
    before = _hash(db)
    with pytest.raises(ContractError, match="only end_date and end_recorded_at"):
        load_extracts(db, w.as_csv({"household_members": [member]}, tmp_path / "d"), mode="append")
    assert _hash(db) == before


def test_a_bad_row_anywhere_in_the_delta_writes_nothing(tmp_path, base):
    rows, db = base
    good = dict(rows["agency_events"][0], event_id="E-ok")
    bad = dict(rows["agency_events"][0], event_id="E-bad", person_id="NOBODY")
    before = _hash(db)
    with pytest.raises(ContractError, match="NOBODY"):
        load_extracts(db, w.as_csv({"agency_events": [good, bad]}, tmp_path / "d"), mode="append")
    assert _hash(db) == before


def test_plain_load_still_refuses_stored_keys(tmp_path, base):
    rows, db = base
    with pytest.raises(ContractError, match="--append"):
        load_extracts(db, w.as_csv({"people": rows["people"][:1]}, tmp_path / "d"))


_HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _reader(db, seconds):
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_append_waits_for_a_brief_reader_then_writes(tmp_path, base):
    rows, db = base
    event = dict(rows["agency_events"][0], event_id="E-late")
    delta = w.as_csv({"agency_events": [event]}, tmp_path / "d")
    proc = _reader(db, 1.5)
    try:
        started = time.monotonic()
        report = load_extracts(db, delta, mode="append", wait_seconds=30)
        assert time.monotonic() - started > 0.5  # it did wait for the reader
        assert report.inserted == {"agency_events": 1}
    finally:
        proc.wait(timeout=30)


def test_append_gives_up_with_a_clear_message(tmp_path, base):
    rows, db = base
    delta = w.as_csv(
        {"agency_events": [dict(rows["agency_events"][0], event_id="E-x")]}, tmp_path / "d"
    )
    proc = _reader(db, 5)
    try:
        with pytest.raises(StoreBusyError, match="in use by another process"):
            load_extracts(db, delta, mode="append", wait_seconds=0.5)
    finally:
        proc.wait(timeout=30)
    con = connect(db)
    assert con.execute("SELECT count(*) FROM agency_events WHERE event_id = 'E-x'").fetchone() == (
        0,
    )
