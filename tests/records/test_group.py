"""Group commit of views: shared commits, nothing lost, nothing acknowledged early.

* Concurrent views are all stored once, in one chain that verifies, and
  each caller gets back exactly the entry that was stored.
* Views queued while the write lock is busy go out in one transaction
  (bounded by ``max_batch``): the batching is real, not hoped for.
* A failed commit fails every request of its batch and stores none of them.
* Two processes appending at once (the writers' file lock) keep one chain.
* SIGKILL while views are being appended: every acknowledged view survives.

``@both``: also on a real PostgreSQL server.  There ``LOCK TABLE audit_log
IN EXCLUSIVE MODE`` serialises writers of different processes, not a file
lock: test_databases.py checks that with two stores in one process (the
same race, without the 2-4 s of starting two interpreters).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import records
from records import group, kinds
from records.group import GroupCommit
from tests.records.conftest import both

REPO = Path(__file__).resolve().parents[2]
SCREENER = records.Principal("Sam Screener", "screener", "t1")


def _view(store, i: int) -> records.Entry:
    return store.log_view(
        SCREENER,
        kinds.SCORE_VIEW,
        referral_id=f"R-{i:05d}",
        detail={"i": i, "person_ids": [f"P{i}"]},
    )


def _stored(store) -> list[records.Entry]:
    entries, _ = store.query(limit=10_000)
    return entries


def _wait_queued(appender: GroupCommit, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(appender._queue) < n:
        assert time.monotonic() < deadline, f"only {len(appender._queue)} of {n} queued"
        time.sleep(0.001)


@both
def test_concurrent_views_all_stored_once(store):
    n = 200
    with ThreadPoolExecutor(16) as pool:
        returned = list(pool.map(lambda i: _view(store, i), range(n)))
    stored = _stored(store)
    views = [e for e in stored if e.kind == kinds.SCORE_VIEW]
    assert sorted(e.payload["i"] for e in views) == list(range(n))
    # Each caller got back the entry as stored: same place in the chain, same hash.
    by_seq = {e.seq: e for e in stored}
    for entry in returned:
        assert by_seq[entry.seq].hash == entry.hash
        assert by_seq[entry.seq].payload == entry.payload
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    report = store.verify()
    assert report.ok, report
    assert report.head_hash == stored[-1].hash
    assert store.views.entries == n
    assert store.views.batches <= n


@both
def test_views_queued_behind_the_lock_share_one_commit(store):
    n = 12
    before = store.views.batches
    with ThreadPoolExecutor(n) as pool:
        with store.db.write_lock():  # a write in progress: everyone queues
            futures = [pool.submit(_view, store, i) for i in range(n)]
            _wait_queued(store.views, n)
        entries = [f.result(timeout=30) for f in futures]
    assert store.views.batches - before == 1
    assert len({e.at for e in entries}) == 1  # one transaction, one moment
    assert sorted(e.seq for e in entries) == list(range(1, n + 1))
    assert store.verify().ok


def test_batches_are_bounded(store):
    appender = GroupCommit(store.db, max_batch=3)
    principal = SCREENER
    n = 10

    def append(i: int) -> records.Entry:
        return appender.append(
            kind=kinds.CHRONOLOGY_VIEW,
            actor=principal.name,
            role=principal.role,
            payload={"i": i},
            person_id=f"P{i}",
        )

    with ThreadPoolExecutor(n) as pool:
        with store.db.write_lock():
            futures = [pool.submit(append, i) for i in range(n)]
            _wait_queued(appender, n)
        entries = [f.result(timeout=30) for f in futures]
    assert appender.batches == 4  # ceil(10 / 3)
    assert appender.entries == n
    assert sorted(e.payload["i"] for e in entries) == list(range(n))
    assert store.verify().ok


@both
def test_failed_commit_fails_every_request_of_the_batch(store, monkeypatch):
    _view(store, 0)  # one good entry before
    real = group.append_rows
    failing = {"on": True}

    def insert_then_fail(conn, rows):
        stored = real(conn, rows)  # rows are inserted, then the commit is abandoned
        if failing["on"]:
            raise OSError("disk full")
        return stored

    monkeypatch.setattr(group, "append_rows", insert_then_fail)
    n = 6
    with ThreadPoolExecutor(n) as pool:
        with store.db.write_lock():
            futures = [pool.submit(_view, store, i) for i in range(1, n + 1)]
            _wait_queued(store.views, n)
        for f in futures:
            with pytest.raises(OSError, match="disk full"):
                f.result(timeout=30)
    assert [e.payload["i"] for e in _stored(store)] == [0]  # none of the batch was stored
    failing["on"] = False
    after = _view(store, 99)
    assert after.seq == 2
    assert store.verify().ok


@both
def test_unstorable_payload_fails_alone(store):
    with pytest.raises(ValueError):
        store.log_view(SCREENER, kinds.SCORE_VIEW, referral_id="R-1", detail={"x": float("nan")})
    assert _view(store, 1).seq == 1
    assert store.verify().ok


_APPENDER = """
import sys, threading
import records
from records import kinds
store = records.RecordsStore(sys.argv[1])
who = records.Principal(sys.argv[2], "screener", "t")
n = int(sys.argv[3])
lock = threading.Lock()
def run(t):
    for i in range(n):
        e = store.log_view(who, kinds.SCORE_VIEW, referral_id=f"R-{sys.argv[2]}-{t}-{i}", detail={"t": t, "i": i})
        with lock:
            print(e.seq, e.referral_id, flush=True)
threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def _appender(url: str, name: str, n: int, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _APPENDER, url, name, str(n)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_two_processes_keep_one_chain(store):
    n = 40  # per thread; 4 threads per process
    procs = [_appender(store.url, name, n) for name in ("A", "B")]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    acked = [line.split() for out in outputs for line in out.splitlines()]
    assert len(acked) == 2 * 4 * n
    stored = {e.seq: e.referral_id for e in _stored(store)}
    assert len(stored) == 2 * 4 * n
    assert all(stored[int(seq)] == ref for seq, ref in acked)
    assert store.verify().ok


def test_sigkill_loses_no_acknowledged_view(store):
    proc = _appender(store.url, "K", 100_000, start_new_session=True)
    acked: list[tuple[int, str]] = []

    def read() -> None:
        for line in proc.stdout:
            seq, ref = line.split()
            acked.append((int(seq), ref))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    reader.join(timeout=10)
    assert len(acked) >= 300, f"only {len(acked)} views acknowledged before the deadline"
    fresh = records.RecordsStore(store.url)  # reopen: recovers the WAL like a restart
    try:
        stored = {e.seq: e.referral_id for e in _stored(fresh)}
        lost = [(s, r) for s, r in acked if stored.get(s) != r]
        assert not lost, f"{len(lost)} acknowledged views lost, e.g. {lost[:3]}"
        report = fresh.verify()
        assert report.ok, report
        assert report.entries >= len(acked)
    finally:
        fresh.close()
    print(json.dumps({"acknowledged": len(acked), "stored": len(stored)}))
