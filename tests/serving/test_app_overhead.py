"""The request path around the engine: one validation, one durable entry, no Nagle stalls.

Over the page tests' stand-in engine (no model), so only the service's own
work is under test:

* the score is checked against ``ScoreOut`` once and sent as that JSON; a
  result that breaks the contract is a 500 and is *not* logged as shown;
* concurrent scores over real HTTP are each logged once, with the request
  id the client received, and the chain verifies;
* every connection has ``TCP_NODELAY``, whatever the worker count: with
  ``--workers 2`` uvicorn's own sockets left Nagle's algorithm on, and every
  response waited ~40 ms for the client's delayed ACK.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import records
from serving import create_app
from serving.launch import NoDelayH11Protocol, free_port, serve_in_thread, wait_healthy
from serving.schemas import ScoreOut
from tests.serving.page_fakes import FakeEngine

REPO = Path(__file__).resolve().parents[2]


def referral(rid: str, children=("C1", "C2")) -> dict:
    return {
        "referral_id": rid,
        "received_at": "2026-10-01T10:00:00",
        "source": "police",
        "referrer_relationship": "police_officer",
        "concerns": ["domestic_abuse"],
        "children": list(children),
    }


@pytest.fixture
def token(store) -> str:
    return store.create_token("Sam Screener", "screener")[0]


def _views(store) -> list[records.Entry]:
    return store.query(kind="score_view", limit=10_000)[0]


def test_score_is_the_contract_serialised_once(store, token):
    app = create_app(engine=FakeEngine(), records_store=store)
    with TestClient(app) as client:
        r = client.post(
            "/v1/referrals/score",
            json=referral("R-ONE"),
            headers={"Authorization": f"Bearer {token}"},
        )
        schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    # Exactly the model's JSON: re-validating and dumping it gives the same bytes.
    assert ScoreOut.model_validate(body).model_dump_json().encode() == r.content
    assert body["children"][0]["reasons_for"][0]["records"][0]["occurred_at"] == (
        "2026-09-10T22:05:00"
    )
    # The schema still documents the response model.
    ok = schema["paths"]["/v1/referrals/score"]["post"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/ScoreOut")
    (view,) = _views(store)
    assert view.payload["request_id"] == body["request_id"]
    assert view.payload["highest_score"] == body["highest_score"]


class BrokenEngine(FakeEngine):
    """Returns a score outside 1-20: a bug the contract must catch."""

    def score(self, referral, **kw) -> dict:
        result = super().score(referral)
        result["children"][0]["score"] = 25
        return result


def test_result_breaking_the_contract_is_500_and_not_logged(store, token):
    app = create_app(engine=BrokenEngine(), records_store=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post(
            "/v1/referrals/score",
            json=referral("R-BAD"),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 500
    assert _views(store) == []  # the screener was shown nothing


def test_concurrent_scores_each_logged_once_over_http(store, token):
    app = create_app(engine=FakeEngine(), records_store=store, threads=4)
    n_clients, per_client = 4, 15

    def run(c: int) -> list[str]:
        ids = []
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            for i in range(per_client):
                r = http.post("/v1/referrals/score", json=referral(f"R-C{c}-{i:03d}"))
                assert r.status_code == 200, r.text
                ids.append((r.json()["referral_id"], r.json()["request_id"]))
        return ids

    with serve_in_thread(app) as base_url, ThreadPoolExecutor(n_clients) as pool:
        sent = [pair for ids in pool.map(run, range(n_clients)) for pair in ids]
    logged = [(e.referral_id, e.payload["request_id"]) for e in _views(store)]
    assert len(sent) == n_clients * per_client
    assert sorted(logged) == sorted(sent)  # each once, with the id the client got
    assert store.verify().ok


def _accepted_nodelay(protocol_factory) -> int:
    """TCP_NODELAY of a connection accepted, as uvicorn's workers accept, by ``protocol_factory``.

    The listening socket is made the way uvicorn makes it for several
    workers (``socket.socket(AF_INET)``, ``proto`` 0), then served by asyncio.
    """
    seen = {}

    async def main() -> None:
        listener = socket.socket(socket.AF_INET)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        loop = asyncio.get_running_loop()

        def factory():
            proto = protocol_factory()
            made = proto.connection_made

            def connection_made(transport):
                made(transport)
                sock = transport.get_extra_info("socket")
                seen["nodelay"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

            proto.connection_made = connection_made
            return proto

        server = await loop.create_server(factory, sock=listener)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(200):
            if "nodelay" in seen:
                break
            await asyncio.sleep(0.005)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    return seen["nodelay"]


def test_every_connection_has_nodelay():
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.server import ServerState

    config = uvicorn.Config(FastAPI(), log_level="warning")
    config.load()
    state = ServerState()
    # The premise: uvicorn's own protocol on such a socket keeps Nagle's algorithm on.
    assert _accepted_nodelay(lambda: H11Protocol(config, state, {})) == 0
    assert _accepted_nodelay(lambda: NoDelayH11Protocol(config, state, {})) != 0


def tiny_app() -> FastAPI:
    """A factory for ``run_server`` in a subprocess (imported afresh in each worker)."""
    app = FastAPI()

    @app.get("/v1/health")
    def health() -> dict:
        return {"status": "ok", "pid": os.getpid()}

    return app


@pytest.mark.slow
def test_two_workers_answer_without_the_40ms_stall(tmp_path):
    """``run_server`` as ``mast serve --workers 2`` runs it: no request waits for a delayed ACK."""
    port = free_port()
    code = (
        "from serving.launch import run_server; "
        f"run_server('tests.serving.test_app_overhead:tiny_app', '127.0.0.1', {port}, 2)"
    )
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, 120, proc, tmp_path / "server.log")
        times, pids = [], set()
        with httpx.Client(base_url=base_url) as http:
            for _ in range(40):
                t = time.perf_counter()
                pids.add(http.get("/v1/health").json()["pid"])
                times.append((time.perf_counter() - t) * 1000)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()
    # Nagle + delayed ACK cost >= 40 ms a request; a loaded 2-core machine answers in a few.
    assert statistics.median(times) < 25, f"median {statistics.median(times):.1f} ms"
    assert len(pids) == 1 and proc.pid not in pids  # a worker process answered


def test_mast_serve_defaults_are_the_launchers():
    import inspect

    from mast.commands import serve
    from serving import launch

    options = inspect.signature(serve.serve).parameters
    assert options["workers"].default.default == launch.DEFAULT_WORKERS
    assert options["threads"].default.default == launch.DEFAULT_THREADS
