"""Outside-probe hardening: body limits, short error bodies, sign-out, logs, refusals, no-store.

Over the page's stand-in engine (no model needed): the limits sit in front
of every route, whatever the engine.  Bodies are sent as a client sends
them: with an honest ``Content-Length``, with none (chunked), and over a
real socket where the length lies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
from fastapi.testclient import TestClient

import records
from serving import create_app
from serving.launch import serve_in_thread
from serving.limits import DEFAULT_MAX_BODY, RefusalCounter
from tests.serving.page_fakes import FakeEngine

REFERRAL = {
    "referral_id": "LIM1",
    "received_at": "2026-10-01T10:00:00+01:00",
    "source": "school",
    "referrer_relationship": "teacher",
    "concerns": ["neglect"],
    "children": ["C1"],
}


@pytest.fixture
def tokens(store):
    return {role: store.create_token(f"Probe {role}", role)[0] for role in records.ROLES}


@pytest.fixture
def app(store):
    engine = FakeEngine()
    yield create_app(engine=engine, records_store=store)
    engine.close()


@pytest.fixture
def api(app, tokens):
    with TestClient(app, headers={"Authorization": f"Bearer {tokens['screener']}"}) as c:
        yield c


def test_a_body_over_the_limit_is_413_before_it_is_parsed(api):
    huge = {**REFERRAL, "children": ["C1"] * 200_000}  # ~1.4 MB of JSON
    r = api.post("/v1/referrals/score", json=huge)
    assert r.status_code == 413 and "larger than this service accepts" in r.json()["detail"]
    assert len(r.content) < 300


def test_a_chunked_body_without_length_is_counted(api):
    def chunks():
        piece = b" " * 65_536
        for _ in range(DEFAULT_MAX_BODY // len(piece) + 4):
            yield piece

    r = api.post(
        "/v1/referrals/score", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_a_lying_length_over_a_real_socket_is_413(app, tokens):
    """Chunked transfer, no Content-Length: the server stops taking the body at the limit."""
    with serve_in_thread(app) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(
                b"POST /v1/referrals/score HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: Bearer {tokens['screener']}\r\n".encode()
                + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b" " * 60_000
            sent = 0
            try:
                for _ in range(200):  # 12 MB offered
                    s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
            except OSError:  # the server closed the connection: stopped reading
                pass
            reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_422_names_the_field_and_echoes_only_an_excerpt(api):
    long_id = "X" * 200_000  # inside the body limit, far over the field's
    r = api.post("/v1/referrals/score", json={**REFERRAL, "referral_id": long_id})
    assert r.status_code == 422
    assert len(r.content) < 2_000, len(r.content)
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "referral_id"]
    assert error["input"].startswith("XXXX") and "200,000 characters" in error["input"]


def test_422_on_a_long_list_summarises_it(api):
    r = api.post("/v1/referrals/score", json={**REFERRAL, "children": ["C1"] * 5_000})
    assert r.status_code == 422 and len(r.content) < 2_000
    assert r.json()["detail"][0]["input"] == "(a list of 5,000 items)"


def test_the_form_reader_stops_at_its_cap():
    """The page's reader pulls chunks only until the cap, not the whole body."""
    from serving.page.forms import MAX_FORM_BYTES, FormError, read_form

    pulled = 0

    class Stream:
        async def stream(self):
            nonlocal pulled
            for _ in range(1_000):  # 64 MB offered
                pulled += 1
                yield b"a" * 65_536

        async def body(self):  # what a reader that reads everything would call
            return b"".join([c async for c in self.stream()])

    with pytest.raises(FormError, match="larger than"):
        asyncio.run(read_form(Stream()))
    assert pulled * 65_536 <= MAX_FORM_BYTES + 2 * 65_536


def test_sign_out_revokes_the_session_token(app, tokens):
    page = TestClient(app, follow_redirects=False)
    assert page.post("/page/sign-in", data={"token": tokens["screener"]}).status_code == 303
    session = page.cookies.get(records.COOKIE_NAME)
    assert session and session != tokens["screener"]  # a token of its own
    bearer = {"Authorization": f"Bearer {session}"}
    assert page.get("/v1/model", headers=bearer).status_code == 200
    page.post("/page/sign-out")
    assert page.get("/v1/model", headers=bearer).status_code == 401
    page.cookies.set(records.COOKIE_NAME, session, path="/page")  # replayed cookie
    assert 'name="token"' in page.get("/page/").text  # signed out
    # The token signed in with is still good: sign-out ended the session only.
    assert (
        page.get("/v1/model", headers={"Authorization": f"Bearer {tokens['screener']}"}).status_code
        == 200
    )


def test_every_response_is_no_store_and_has_a_request_id(api):
    for r in (
        api.get("/v1/children/C1/chronology"),
        api.post("/v1/referrals/score", json=REFERRAL),
        api.get("/v1/model"),
        api.post("/v1/referrals/score", json={**REFERRAL, "children": []}),
    ):
        assert r.headers["cache-control"] == "no-store", (r.request.url, r.status_code)
        assert len(r.headers["x-request-id"]) == 32


def test_every_request_is_logged_without_its_body(api, app, caplog):
    caplog.set_level(logging.INFO, logger="mast.access")
    secret = {**REFERRAL, "referral_id": "SECRETBODY1"}
    ok = api.post("/v1/referrals/score?records=true", json=secret)
    refused = TestClient(app).get("/v1/model")
    lines = [r.getMessage() for r in caplog.records if r.name == "mast.access"]
    assert any(
        line.startswith("POST /v1/referrals/score 200 role=screener")
        and ok.headers["x-request-id"] in line
        for line in lines
    ), lines
    assert any(line.startswith("GET /v1/model 401 role=-") for line in lines), lines
    assert refused.status_code == 401
    assert not any("SECRETBODY1" in line or "records=" in line for line in lines)  # nor a query


def test_repeated_refusals_are_written_to_the_trail(app, store, tokens):
    anonymous = TestClient(app)
    analyst = TestClient(app, headers={"Authorization": f"Bearer {tokens['data_scientist']}"})
    for _ in range(4):
        assert (
            anonymous.get("/v1/model", headers={"Authorization": "Bearer nope"}).status_code == 401
        )
    assert store.query(kind=records.kinds.ACCESS_REFUSED)[1] == 0  # a few slips are not news
    assert analyst.post("/v1/referrals/score", json=REFERRAL).status_code == 403
    for _ in range(20):
        anonymous.get("/v1/model")
    (entry,) = store.query(kind=records.kinds.ACCESS_REFUSED)[0]  # one per window, not per refusal
    assert entry.payload["refusals"] == 5 and entry.payload["client"] == "testclient"
    assert entry.actor == "Probe data_scientist" and entry.payload["last_status"] == 403
    assert store.verify().ok


def test_refusal_counter_window():
    counter = RefusalCounter(threshold=3, window_s=10)
    assert [counter.refused("a", t) for t in (0, 1, 2, 3)] == [None, None, 3, None]
    assert counter.refused("a", 30) is None  # the old ones left the window
    assert [counter.refused("a", t) for t in (31, 32)] == [None, 3]
    assert json.dumps(counter.refused("b", 0)) == "null"
