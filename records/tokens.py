"""API tokens: minted by the CLI, stored hashed, verified in constant time.

A token looks like ``mast_<token_id>_<secret>``: ``token_id`` (12 hex
digits) finds the row, ``secret`` (32 random bytes, URL-safe base64) proves
possession.  Only ``sha256(secret)`` is stored.

Why SHA-256 and not scrypt/PBKDF2: slow password hashes exist to make
guessing *low-entropy* secrets expensive after a database leak.  A 256-bit
random secret cannot be guessed at any hash speed, so a slow hash would buy
no security and would cost tens of milliseconds on every API request.  The
digest comparison uses :func:`hmac.compare_digest`, so timing reveals
nothing about how much of a guessed secret was right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from records import kinds
from records.db import Database, api_tokens
from records.roles import check_role
from records.trail import append, now_text

PREFIX = "mast"
_TOKEN = re.compile(r"^mast_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[\w.@' -]{1,128}$")
_DUMMY = hashlib.sha256(b"no such token").hexdigest()
# Read on every request (Database.read_one): plain SQL both SQLite and PostgreSQL take.
_BY_ID = (
    "SELECT name, role, token_id, secret_sha256, revoked_at FROM api_tokens "
    "WHERE token_id = :token_id"
)


@dataclass(frozen=True)
class Principal:
    """Who is making a request: the token's holder and role."""

    name: str
    role: str
    token_id: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    db: Database, name: str, role: str, created_by: str = "cli"
) -> tuple[str, Principal]:
    """Mint a token for ``name`` in ``role``; the plain token is returned once, never stored.

    The creation is written to the audit trail in the same transaction.
    """
    check_role(role)
    name = name.strip()
    if not _NAME.match(name):
        raise ValueError(f"--name {name!r}: use 1-128 letters, digits, spaces or . @ ' -")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = f"{PREFIX}_{token_id}_{secret}"
    with db.write() as conn:
        conn.execute(
            api_tokens.insert().values(
                token_id=token_id,
                name=name,
                role=role,
                secret_sha256=_digest(secret),
                created_at=now_text(),
                revoked_at=None,
            )
        )
        append(
            conn,
            kind=kinds.TOKEN_CREATED,
            actor=created_by,
            role="cli",
            payload={"token_id": token_id, "name": name, "role": role},
        )
    return token, Principal(name=name, role=role, token_id=token_id)


def verify_token(db: Database, token: str) -> Principal | None:
    """The principal holding ``token``, or ``None`` if it is malformed, unknown or revoked."""
    match = _TOKEN.match(token or "")
    if not match:
        return None
    token_id, secret = match.groups()
    row = db.read_one(_BY_ID, {"token_id": token_id})
    stored = row[3] if row else _DUMMY
    good = hmac.compare_digest(stored, _digest(secret))
    if not row or not good or row[4] is not None:
        return None
    name, role, token_id = row[:3]
    return Principal(name=name, role=role, token_id=token_id)


def revoke_token(db: Database, token_id: str, revoked_by: str = "cli") -> None:
    """Revoke a token at once; the revocation is written to the audit trail."""
    with db.write() as conn:
        result = conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now_text())
        )
        if result.rowcount != 1:
            raise ValueError(f"token_id {token_id!r}: no such active token")
        append(
            conn,
            kind=kinds.TOKEN_REVOKED,
            actor=revoked_by,
            role="cli",
            payload={"token_id": token_id},
        )


def list_tokens(db: Database) -> list[dict]:
    """Every token's id, holder, role and dates (never the secret or its hash)."""
    cols = [
        api_tokens.c.token_id,
        api_tokens.c.name,
        api_tokens.c.role,
        api_tokens.c.created_at,
        api_tokens.c.revoked_at,
    ]
    with db.read() as conn:
        return [
            dict(r._mapping) for r in conn.execute(select(*cols).order_by(api_tokens.c.created_at))
        ]
