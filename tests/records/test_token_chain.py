"""Tokens are governed by signed trail events, not by the ``api_tokens`` table.

Each attack is a direct SQL edit by someone with write access to the
database, made while the service (``client``) is running.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import records
from mast.cli import app as cli
from records import kinds, trail
from tests.records.conftest import auth

AUDIT = "/v1/audit"  # governance only


def _token_id(token: str) -> str:
    return token.split("_")[1]


def _sql(store, sql: str, **params) -> None:
    with store.db.engine.begin() as conn:
        conn.execute(text(sql), params)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_a_role_raised_with_sql_is_not_honoured(store, client, tokens):
    token = tokens["screener"]
    assert client.get(AUDIT, headers=auth(token)).status_code == 403
    _sql(store, "UPDATE api_tokens SET role = 'governance' WHERE token_id = :t", t=_token_id(token))
    assert client.get(AUDIT, headers=auth(token)).status_code == 403
    assert store.verify_token(token).role == "screener"
    assert any(
        "the table says governance, the trail screener" in d for d in store.tokens.disagreements()
    )


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_a_cleared_revocation_is_not_honoured(store, client, tokens):
    token = tokens["governance"]
    store.revoke_token(_token_id(token))
    assert client.get(AUDIT, headers=auth(token)).status_code == 401
    _sql(store, "UPDATE api_tokens SET revoked_at = NULL WHERE token_id = :t", t=_token_id(token))
    assert client.get(AUDIT, headers=auth(token)).status_code == 401


def test_a_token_row_inserted_with_sql_is_not_honoured(store, client, tokens):
    """Copy a governance row under a new id with a secret the attacker knows."""
    import hashlib

    secret = "A" * 43
    digest = hashlib.sha256(secret.encode()).hexdigest()
    _sql(
        store,
        "INSERT INTO api_tokens VALUES ('0123456789ab', 'Mallory', 'governance', :d, :c, NULL)",
        d=digest,
        c=trail.now_text(),
    )
    assert client.get(AUDIT, headers=auth(f"mast_0123456789ab_{secret}")).status_code == 401


def test_an_unsigned_token_event_chained_onto_the_trail_is_ignored(store, client):
    """A correctly chained (so verifying) but unsigned issue entry is not honoured."""
    import hashlib

    secret = "B" * 43
    with store.db.write() as conn:
        trail.append(
            conn,
            kind=kinds.TOKEN_CREATED,
            actor="cli",
            role="cli",
            payload={
                "token_id": "ba9876543210",
                "name": "Mallory",
                "role": "governance",
                "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "parent": None,
                "mac": "0" * 64,
            },
        )
    assert store.verify().ok
    assert client.get(AUDIT, headers=auth(f"mast_ba9876543210_{secret}")).status_code == 401


def test_role_change_is_a_signed_trail_event_and_applies_at_once(store, client, tokens):
    token = tokens["screener"]
    runner = CliRunner()
    result = runner.invoke(
        cli, ["tokens", "set-role", _token_id(token), "--role", "governance", "--db", store.url]
    )
    assert result.exit_code == 0, result.output
    assert client.get(AUDIT, headers=auth(token)).status_code == 200
    changes = store.query(kind=kinds.TOKEN_ROLE_CHANGED)[0]
    assert [c.payload["role"] for c in changes] == ["governance"] and "mac" in changes[0].payload
    assert store.verify().ok


def test_tokens_expire(store, client):
    token, _ = store.create_token("Brief Visitor", "governance", days=2 / 86_400)
    assert client.get(AUDIT, headers=auth(token)).status_code == 200
    time.sleep(2.2)
    assert client.get(AUDIT, headers=auth(token)).status_code == 401
    (listed,) = [t for t in store.list_tokens() if t["name"] == "Brief Visitor"]
    assert listed["expires_at"] < trail.now_text()


def test_default_lifetimes_are_settings(store, monkeypatch):
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv("MAST_TOKEN_DAYS", "3")
    monkeypatch.setenv("MAST_SESSION_HOURS", "2")
    token, principal = store.create_token("Set Lifetime", "screener")
    session = store.create_session(principal)
    by_id = {t["token_id"]: t for t in store.list_tokens()}
    now = datetime.now(UTC)
    for tok, expected in ((token, timedelta(days=3)), (session, timedelta(hours=2))):
        expires = datetime.fromisoformat(by_id[_token_id(tok)]["expires_at"])
        assert abs(expires - now - expected) < timedelta(minutes=1)
    assert by_id[_token_id(session)]["session_of"] == principal.token_id


def test_a_session_dies_with_its_token(store):
    token, principal = store.create_token("Parent Token", "manager")
    session = store.create_session(principal)
    assert store.verify_token(session).role == "manager"
    store.change_role(principal.token_id, "screener")
    assert store.verify_token(session).role == "screener"  # follows the token signed in with
    store.revoke_token(principal.token_id)
    assert store.verify_token(session) is None


def test_revocation_from_another_process_applies_to_the_next_request(store, client, tokens):
    token = tokens["governance"]
    assert client.get(AUDIT, headers=auth(token)).status_code == 200
    other = records.RecordsStore(store.url)
    other.revoke_token(_token_id(token))
    other.close()
    assert client.get(AUDIT, headers=auth(token)).status_code == 401


def test_start_up_names_table_rows_that_disagree_with_the_trail(store, tokens, caplog):
    from tests.records.app import build_app

    _sql(
        store,
        "UPDATE api_tokens SET role = 'manager' WHERE token_id = :t",
        t=_token_id(tokens["screener"]),
    )
    with caplog.at_level("WARNING", logger="records.api"):
        build_app(store)
    assert any(
        "the table says manager, the trail screener" in r.getMessage() for r in caplog.records
    )
