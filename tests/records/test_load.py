"""Bounded load tests on loopback: a real uvicorn server in a subprocess.

* 20 concurrent clients post 2,000 decisions (scaled by ``scale``, never
  below 200): every one is stored once, whole, and the chain verifies.
* The server is killed with SIGKILL mid-load: every decision it
  acknowledged is present after a restart, nothing else is, and the chain
  verifies; the clients' retries of their unanswered requests get 409 if
  stored and are written if not.
* On PostgreSQL (``@both``, or the ``postgresql`` store alone), the same,
  smaller in CI (see :func:`_size`); and the database server itself
  crashes mid-load (:meth:`tests.records.postgres.Cluster.crash`): every
  acknowledged decision is there after its recovery.  That test found
  writes acknowledged before their WAL was flushed when the server runs
  with ``synchronous_commit=off`` (fixed in :mod:`records.db`).

The server process gets the database URL through ``MAST_RECORDS_DB``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from records import kinds
from tests.records.conftest import both

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CLIENTS = 20
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving tests/records/app.py on a free loopback port."""

    def __init__(self, db_url: str, log: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MAST_RECORDS_DB": db_url}
        # As `mast serve` runs uvicorn (serving.launch.run_server), with ``workers``
        # processes: the chain must stay linear across processes, not just threads.
        cmd = [
            sys.executable,
            "-c",
            "from serving.launch import run_server; "
            f"run_server('tests.records.app:create_app', '127.0.0.1', {self.port}, {workers})",
        ]
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so stop() and kill() reach every worker process
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {log}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start within 60 s; see {log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()

    def kill(self) -> None:
        """SIGKILL the server and every worker process: a crash, nothing shut down cleanly."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()


def _body(client: int, i: int) -> tuple[str, dict]:
    """Every 5th referral is flagged and goes to a strategy discussion."""
    flagged = i % 5 == 0
    referral = f"R-{'F' if flagged else ''}L{client:02d}-{i:05d}"
    decision = (
        "strategy_discussion"
        if flagged
        else ("assessment", "early_help", "no_further_action")[i % 3]
    )
    return referral, {
        "decision_id": f"load-{client:02d}-{i:05d}",
        "decision": decision,
        "rationale": f"load test {client}/{i}",
    }


def _post_decision(url: str, token: str, client: int, i: int) -> httpx.Response:
    """Post client ``client``'s ``i``-th decision (:func:`_body`) with ``token``."""
    referral, body = _body(client, i)
    return httpx.post(
        f"{url}/v1/referrals/{referral}/decisions",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _stored(store) -> list:
    """Every decision entry of the trail, in chain order."""
    entries, offset = [], 0
    while True:
        page, total = store.query(kind=kinds.DECISION, limit=10_000, offset=offset)
        entries += page
        offset += len(page)
        if offset >= total:
            return entries


def _assert_whole(entry) -> None:
    """A stored decision is exactly the request that made it: no half-written entry."""
    _, client, i = entry.record_id.split("-")
    referral, body = _body(int(client), int(i))
    assert (entry.referral_id, entry.actor, entry.role) == (
        referral,
        f"Screener {int(client):02d}",
        "screener",
    ), entry
    assert {k: entry.payload[k] for k in ("decision", "rationale")} == {
        k: body[k] for k in ("decision", "rationale")
    }, entry


@pytest.fixture
def setup(store, tmp_path):
    """The test's store (SQLite, or PostgreSQL under ``@both``), its URL and a token per client.

    The server process reaches the same database through ``MAST_RECORDS_DB``.
    """
    tokens = [store.create_token(f"Screener {c:02d}", "screener")[0] for c in range(CLIENTS)]
    return store.url, store, tokens, tmp_path / "server.log"


def _size(store, full: int, scale: float) -> int:
    """``full`` scaled, never below 200; on PostgreSQL a quarter of that in a scaled run.

    The PostgreSQL cases prove the same properties on the other database
    (chain linear across processes, nothing acknowledged lost); in CI
    (``scale < 1``) they run small so they add seconds, not minutes.
    """
    n = max(200, int(full * scale))
    if store.db.dialect == "postgresql" and scale < 1:
        n = max(100, n // 4)
    return n


@pytest.mark.parametrize(
    ("store", "workers"),
    [("sqlite", 1), ("sqlite", 2), ("postgresql", 2)],
    ids=["1-process-sqlite", "2-processes-sqlite", "2-processes-postgresql"],
    indirect=["store"],
)
def test_concurrent_decisions_all_stored(setup, scale, workers):
    """With 2 worker processes the chain must stay linear across processes, not just threads.

    On PostgreSQL only the two-process case runs: it exercises everything
    the one-process case does (threads of one process share its write
    lock) plus the table lock between processes, and a server costs ~2 s
    to start.
    """
    url, store, tokens, log = setup
    total = _size(store, 2000, scale)
    per_client = total // CLIENTS
    server = Server(url, log, workers)
    statuses: list[int] = []
    lock = threading.Lock()

    def run(c: int) -> None:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {tokens[c]}"}, timeout=30
        ) as http:
            for i in range(per_client):
                referral, body = _body(c, i)
                code = http.post(f"/v1/referrals/{referral}/decisions", json=body).status_code
                with lock:
                    statuses.append(code)

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(run, range(CLIENTS)))
        elapsed = time.perf_counter() - start
    finally:
        server.stop()
    n = per_client * CLIENTS
    assert statuses.count(201) == n, {s: statuses.count(s) for s in set(statuses)}
    entries = _stored(store)
    ids = [e.record_id for e in entries]
    assert len(ids) == len(set(ids)) == n
    for entry in entries:
        _assert_whole(entry)
    assert set(ids) == {
        _body(c, i)[1]["decision_id"] for c in range(CLIENTS) for i in range(per_client)
    }
    report = store.verify()
    assert report.ok and report.entries == n + CLIENTS  # + one token_created each
    ARTIFACTS.mkdir(exist_ok=True)
    figures = {
        "database": store.db.dialect,
        "workers": workers,
        "decisions": n,
        "clients": CLIENTS,
        "seconds": round(elapsed, 3),
        "decisions_per_second": round(n / elapsed, 1),
    }
    (ARTIFACTS / f"records_load_{store.db.dialect}_{workers}w.json").write_text(
        json.dumps(figures, indent=2)
    )
    print(f"\nrecords load: {figures}")


def _load_until(
    url: str, tokens: list[str], kill_after: int, kill
) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """Post decisions from every client until ``kill_after`` are acknowledged, then ``kill()``.

    Each client stops at its first request that gets no 201 (no answer at
    all, or an error while the database is gone).

    Returns
    -------
    acked, sent, refused
        The decision ids answered 201; every decision id posted, with its
        client; the ids answered otherwise, with the status.
    """
    acked: list[str] = []
    sent: dict[str, int] = {}
    refused: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def run(c: int) -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens[c]}"}, timeout=10
        ) as http:
            for i in range(100_000):
                if stop.is_set():
                    return
                referral, body = _body(c, i)
                with lock:
                    sent[body["decision_id"]] = c
                try:
                    response = http.post(f"/v1/referrals/{referral}/decisions", json=body)
                except httpx.TransportError:
                    return  # the server is gone
                with lock:
                    if response.status_code != 201:
                        refused[body["decision_id"]] = response.status_code
                        return
                    acked.append(body["decision_id"])

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(run, c) for c in range(CLIENTS)]
        deadline = time.monotonic() + 120
        while len(acked) < kill_after and time.monotonic() < deadline:
            time.sleep(0.01)
        kill()  # mid-load: clients are still posting
        stop.set()
        for f in futures:
            f.result(timeout=30)
    assert len(acked) >= kill_after, f"only {len(acked)} acknowledged before the deadline"
    return acked, sent, refused


@both
def test_sigkill_loses_no_acknowledged_decision(setup, scale):
    """SIGKILL mid-load, restart: every acknowledged decision is there, whole, once; nothing else.

    A decision in flight at the kill may be stored without its answer (written,
    killed before replying): its client's retry then gets 409 ``replay``, and an
    unstored one is written by the retry, so after the retries the trail holds
    exactly what the clients sent.
    """
    url, store, tokens, log = setup
    kill_after = _size(store, 1000, scale)
    server = Server(url, log)
    acked, sent, refused = _load_until(server.url, tokens, kill_after, server.kill)
    assert not refused, f"answers other than 201 before the kill: {refused}"

    # Straight after the crash, before anything else writes: what survived.
    stored_entries = _stored(store)
    stored = [e.record_id for e in stored_entries]
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged decisions lost, e.g. {sorted(missing)[:3]}"
    assert len(stored) == len(set(stored)), "a decision stored twice"
    unasked = set(stored) - set(sent)
    assert not unasked, f"stored decisions no client sent: {sorted(unasked)[:3]}"
    in_flight = set(stored) - set(acked)
    assert len(in_flight) <= CLIENTS, f"{len(in_flight)} stored unacknowledged: more than in flight"
    for entry in stored_entries:
        _assert_whole(entry)
    report = store.verify()
    assert report.ok, report
    assert report.entries == len(stored) + CLIENTS, report  # + one token_created each

    # Restart on the same database: it recovers, serves, and the clients' retries
    # of their unanswered requests are refused if stored and written if not.
    server = Server(url, log)
    try:
        unanswered = sorted(set(sent) - set(acked))
        for decision_id in unanswered:
            _, client, i = decision_id.split("-")
            again = _post_decision(server.url, tokens[sent[decision_id]], int(client), int(i))
            if decision_id in in_flight:
                assert again.status_code == 409, again.text
                assert again.json()["detail"]["rule"] == "replay", again.text
            else:
                assert again.status_code == 201, again.text
        sent[_body(0, 99_999)[1]["decision_id"]] = 0  # and a new decision is written as ever
        new = _post_decision(server.url, tokens[0], 0, 99_999)
        assert new.status_code == 201, new.text
    finally:
        server.stop()
    final = _stored(store)
    assert sorted(e.record_id for e in final) == sorted(sent)
    for entry in final:
        _assert_whole(entry)
    report = store.verify()
    assert report.ok and report.entries == len(sent) + CLIENTS, report
    print(
        f"\nrecords SIGKILL ({store.db.dialect}): {len(acked)} acknowledged, {len(stored)} stored"
        f" ({len(in_flight)} in flight), chain of {report.entries} verifies after the retries"
    )


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_database_crash_loses_no_acknowledged_decision(setup, scale, postgres_cluster):
    """The PostgreSQL server crashes mid-load: every decision acknowledged before is there.

    MAST's own process surviving is not enough on PostgreSQL: the commit
    must be on the server's disk before the answer.  The test cluster runs
    with ``synchronous_commit=off``, as a site might for speed; MAST must
    not acknowledge a commit that setting would let a crash take back.
    The same MAST server then carries on once the database is back.
    """
    url, store, tokens, log = setup
    kill_after = _size(store, 1000, scale)
    server = Server(url, log)
    try:
        try:
            acked, sent, refused = _load_until(
                server.url, tokens, kill_after, postgres_cluster.crash
            )
        finally:
            postgres_cluster.restart()
        assert set(refused.values()) <= {500, 503}, refused
        stored_entries = _stored(store)
        stored = [e.record_id for e in stored_entries]
        missing = set(acked) - set(stored)
        assert not missing, (
            f"{len(missing)} of {len(acked)} acknowledged decisions lost in the database crash,"
            f" e.g. {sorted(missing)[:3]}"
        )
        assert len(stored) == len(set(stored)) and set(stored) <= set(sent)
        assert len(set(stored) - set(acked)) <= CLIENTS
        for entry in stored_entries:
            _assert_whole(entry)
        report = store.verify()
        assert report.ok and report.entries == len(stored) + CLIENTS, report
        # The server that lived through the crash writes again.
        again = _post_decision(server.url, tokens[0], 0, 99_999)
        assert again.status_code == 201, again.text
    finally:
        server.stop()
    report = store.verify()
    assert report.ok and report.entries == len(stored) + 1 + CLIENTS, report
    print(
        f"\nrecords database crash: {len(acked)} acknowledged, {len(stored)} stored,"
        f" {len(refused)} refused while it was down; chain of {report.entries} verifies"
    )


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_postgresql_writes_wait_for_the_wal_flush(store):
    """The bug the crash test found, in process: with the server's ``synchronous_commit=off``
    (the test cluster's), a write transaction now runs with ``on``; reads keep the server's."""
    with store.db.read() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "off"
    with store.db.write() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
    with store.db.read() as conn:  # SET LOCAL: the pooled connection is not changed for good
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "off"
