"""Bounded load tests on loopback: a real uvicorn server in a subprocess.

* 20 concurrent clients post 2,000 decisions (scaled by ``scale``, never
  below 200): every one is stored once and the chain verifies.
* The server is killed with SIGKILL mid-load: every decision it
  acknowledged is present after a restart, and the chain verifies.
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

import records
from records import kinds

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


def _stored_ids(store) -> list[str]:
    ids, offset = [], 0
    while True:
        page, total = store.query(kind=kinds.DECISION, limit=10_000, offset=offset)
        ids += [e.record_id for e in page]
        offset += len(page)
        if offset >= total:
            return ids


@pytest.fixture
def setup(tmp_path):
    url = f"sqlite:///{tmp_path / 'records.sqlite'}"
    store = records.RecordsStore(url)
    tokens = [store.create_token(f"Screener {c:02d}", "screener")[0] for c in range(CLIENTS)]
    yield url, store, tokens, tmp_path / "server.log"
    store.close()


@pytest.mark.parametrize("workers", [1, 2], ids=["1-process", "2-processes"])
def test_concurrent_decisions_all_stored(setup, scale, workers):
    """With 2 worker processes the chain must stay linear across processes, not just threads."""
    url, store, tokens, log = setup
    total = max(200, int(2000 * scale))
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
    ids = _stored_ids(store)
    assert len(ids) == len(set(ids)) == n
    assert set(ids) == {
        _body(c, i)[1]["decision_id"] for c in range(CLIENTS) for i in range(per_client)
    }
    report = store.verify()
    assert report.ok and report.entries == n + CLIENTS  # + one token_created each
    ARTIFACTS.mkdir(exist_ok=True)
    figures = {
        "workers": workers,
        "decisions": n,
        "clients": CLIENTS,
        "seconds": round(elapsed, 3),
        "decisions_per_second": round(n / elapsed, 1),
    }
    (ARTIFACTS / f"records_load_{workers}w.json").write_text(json.dumps(figures, indent=2))
    print(f"\nrecords load: {figures}")


def test_sigkill_loses_no_acknowledged_decision(setup, scale):
    url, store, tokens, log = setup
    kill_after = max(200, int(1000 * scale))
    server = Server(url, log)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def run(c: int) -> None:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {tokens[c]}"}, timeout=10
        ) as http:
            for i in range(100_000):
                if stop.is_set():
                    return
                referral, body = _body(c, i)
                try:
                    response = http.post(f"/v1/referrals/{referral}/decisions", json=body)
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 201:
                    with lock:
                        acked.append(body["decision_id"])

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(run, c) for c in range(CLIENTS)]
        deadline = time.monotonic() + 120
        while len(acked) < kill_after and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()  # mid-load: clients are still posting
        stop.set()
        for f in futures:
            f.result(timeout=30)
    assert len(acked) >= kill_after, f"only {len(acked)} acknowledged before the deadline"

    # Restart on the same database: it recovers its WAL, and serves.
    server = Server(url, log)
    try:
        referral, body = _body(99, 1)
        again = httpx.post(
            f"{server.url}/v1/referrals/{referral}/decisions",
            json=body,
            headers={"Authorization": f"Bearer {tokens[0]}"},
            timeout=10,
        )
        assert again.status_code == 201
    finally:
        server.stop()
    stored = set(_stored_ids(store))
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged decisions lost, e.g. {sorted(missing)[:3]}"
    report = store.verify()
    assert report.ok, report
    print(
        f"\nrecords SIGKILL: {len(acked)} acknowledged, {len(stored)} stored (>= acknowledged), chain of {report.entries} verifies"
    )
