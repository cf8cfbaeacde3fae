"""The per-request reads (token, blind-first) see every commit at once: no cache to go stale.

Both run on a thread's own SQLite connection (``Database.read_one``) for
speed; these tests pin down that being fast did not make them stale.  A
revocation or a blind-first switch made by *another process* (as ``mast
tokens revoke`` and ``mast audit-log blind-first on`` are) applies to the
very next request.  ``@both``: PostgreSQL too, where the same reads go
through SQLAlchemy (a fresh statement each time), off the event loop.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from pathlib import Path

import records
from tests.records.conftest import auth, both

REPO = Path(__file__).resolve().parents[2]
GOVERNANCE = records.Principal("Gina Governance", "governance", "g1")


def _in_another_process(url: str, code: str) -> None:
    subprocess.run(
        [sys.executable, "-c", f"import records; store = records.RecordsStore({url!r}); {code}"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
        timeout=120,
    )


def test_revocation_in_another_process_applies_to_the_next_request(client, store):
    token, principal = store.create_token("Rita Revoked", "screener")
    assert store.verify_token(token) == principal  # read once: this thread's reader is warm
    assert client.get("/v1/config", headers=auth(token)).status_code == 200
    _in_another_process(store.url, f"store.revoke_token({principal.token_id!r})")
    assert store.verify_token(token) is None
    assert client.get("/v1/config", headers=auth(token)).status_code == 401


def test_blind_first_switched_in_another_process_applies_at_once(store):
    assert store.blind_first() is False
    _in_another_process(
        store.url,
        "store.set_blind_first(True, records.Principal('G', 'governance', 'g'), 'pilot')",
    )
    assert store.blind_first() is True
    store.set_blind_first(False, GOVERNANCE, "pilot over")
    assert store.blind_first() is False


@both
def test_reads_match_the_sqlalchemy_path(store, tokens):
    """The fast read and a plain SQLAlchemy read agree, token by token."""
    from sqlalchemy import select

    from records.db import api_tokens

    with store.db.read() as conn:
        rows = {r.token_id: r for r in conn.execute(select(api_tokens))}
    for role, token in tokens.items():
        principal = store.verify_token(token)
        row = rows[principal.token_id]
        assert (principal.name, principal.role) == (row.name, row.role) and role == row.role
        assert store.verify_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None


def test_a_readers_connection_closes_with_its_thread(store, tokens):
    token = tokens["screener"]
    before = len(store.db._readers)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(store.verify_token(token))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and all(p is not None for p in results)
    del threads
    gc.collect()
    assert len(store.db._readers) == before  # no connection left behind by a finished thread


def _on_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@both
def test_token_read_runs_on_the_loop_for_sqlite_in_a_thread_otherwise(
    client, store, tokens, monkeypatch
):
    """Off SQLite the token read is a network round trip: it must not block the event loop."""
    on_loop = []
    real = store.verify_token

    def verify(token):
        on_loop.append(_on_event_loop())
        return real(token)

    monkeypatch.setattr(store, "verify_token", verify)
    sqlite = store.db.dialect == "sqlite"
    assert client.get("/v1/config", headers=auth(tokens["governance"])).status_code == 200
    monkeypatch.setattr(store.db, "dialect", "postgresql")  # only the dependency reads it here
    assert client.get("/v1/config", headers=auth(tokens["governance"])).status_code == 200
    bad = "mast_000000000000_" + "x" * 43
    assert client.get("/v1/config", headers=auth(bad)).status_code == 401
    assert on_loop == [sqlite, False, False]
