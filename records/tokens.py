"""API tokens: minted by the CLI, stored hashed, verified in constant time, governed by the trail.

A token looks like ``mast_<token_id>_<secret>``: ``token_id`` (12 hex
digits) finds the token, ``secret`` (32 random bytes, URL-safe base64)
proves possession.  Only ``sha256(secret)`` is stored.

Why SHA-256 and not scrypt/PBKDF2: slow password hashes exist to make
guessing *low-entropy* secrets expensive after a database leak.  A 256-bit
random secret cannot be guessed at any hash speed, so a slow hash would buy
no security and would cost tens of milliseconds on every API request.  The
digest comparison uses :func:`hmac.compare_digest`, so timing reveals
nothing about how much of a guessed secret was right.

What the service honours is the *trail*, not the ``api_tokens`` table.
Issue (with the digest, role and expiry), role change and revocation are
entries of the hash chain; issue and role change are signed with the
anchor key (:mod:`records.anchor`), which is not in the database.
:class:`TokenBook` derives every token's state from those entries, so a
direct SQL ``UPDATE api_tokens SET role='manager'``, a cleared
``revoked_at``, or an inserted row or unsigned entry changes nothing the
service does.  Any revocation entry is honoured, signed or not (failing
closed).  The table is kept as a listing; :meth:`TokenBook.disagreements`
names rows that differ from the chain.

Tokens expire: ``MAST_TOKEN_DAYS`` (default 90) for tokens minted by the
CLI, ``MAST_SESSION_HOURS`` (default 12) for the page's sign-in sessions,
which are tokens of their own whose role, team and validity follow the
token signed in with.

A token may name the holder's *team* (``--team`` on ``mast tokens create``;
signed into the issue like the role).  Every trail entry its holder writes
carries that team in its payload, so the practice report can count by team.
Tokens minted without one, and every entry written before teams were
recorded, read as :data:`NO_TEAM`: old entries are never rewritten, so the
hash chain stays valid.  Tokens issued before tokens were signed are not honoured:
mint new ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from records import kinds
from records.anchor import sign, signed
from records.db import Database, api_tokens
from records.roles import check_role
from records.trail import append, format_time, now_text

_log = logging.getLogger(__name__)
ENV_TOKEN_DAYS = "MAST_TOKEN_DAYS"
ENV_SESSION_HOURS = "MAST_SESSION_HOURS"
DEFAULT_TOKEN_DAYS = 90
DEFAULT_SESSION_HOURS = 12
# What the practice report and the monitor call an entry or token without a team.
NO_TEAM = "Not recorded"

PREFIX = "mast"
_TOKEN = re.compile(r"^mast_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[\w.@' -]{1,128}$")
_DUMMY = hashlib.sha256(b"no such token").hexdigest()
# Read on every request (Database.read_all): the token events after the last one seen.
_EVENTS_SINCE = (
    "SELECT seq, kind, payload, at FROM audit_log WHERE kind IN ("
    + ", ".join(f"'{k}'" for k in kinds.TOKEN_EVENTS)
    + ") AND seq > :last ORDER BY seq"
)


def token_lifetime() -> timedelta:
    """How long a token minted by the CLI is valid (``MAST_TOKEN_DAYS``)."""
    return timedelta(days=float(os.environ.get(ENV_TOKEN_DAYS) or DEFAULT_TOKEN_DAYS))


def session_lifetime() -> timedelta:
    """How long a page sign-in lasts (``MAST_SESSION_HOURS``)."""
    return timedelta(hours=float(os.environ.get(ENV_SESSION_HOURS) or DEFAULT_SESSION_HOURS))


@dataclass(frozen=True)
class Principal:
    """Who is making a request: the token's holder and role."""

    name: str
    role: str
    token_id: str
    team: str | None = None


def check_team(team: str | None) -> str | None:
    """A team name stripped, or ``None``; refused (naming ``--team``) when it is not plain text."""
    if team is None:
        return None
    team = team.strip()
    if not _NAME.match(team) or len(team) > 64:
        raise ValueError(f"--team {team!r}: use 1-64 letters, digits, spaces or . @ ' -")
    if team.casefold() == NO_TEAM.casefold():
        raise ValueError(f"--team {team!r}: that is what a token without a team is called")
    return team


def team_payload(principal: Principal, payload: dict) -> dict:
    """``payload`` with the writer's team (unchanged when their token names none).

    The team comes from the signed token, never from what a client sends:
    it overwrites any ``team`` key in ``payload``.
    """
    if principal.team is None:
        return payload
    return {**payload, "team": principal.team}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _signed_event(key: bytes | None, kind: str, fields: dict) -> dict:
    """``fields`` with their signature under the anchor key (refused without a key)."""
    if key is None:
        raise ValueError("no anchor key: token events must be signed (see MAST_ANCHOR_KEY)")
    return {**fields, "mac": sign(key, {"event": kind, **fields})}


def create_token(
    db: Database,
    name: str,
    role: str,
    created_by: str = "cli",
    *,
    key: bytes | None,
    lifetime: timedelta | None = None,
    parent: str | None = None,
    created_role: str = "cli",
    team: str | None = None,
) -> tuple[str, Principal]:
    """Mint a token for ``name`` in ``role``; the plain token is returned once, never stored.

    The issue (digest, role, expiry, and for a page session the token it
    was signed in with) is written to the trail, signed, in the same
    transaction as the table row.
    """
    check_role(role)
    team = check_team(team)
    name = name.strip()
    if not _NAME.match(name):
        raise ValueError(f"--name {name!r}: use 1-128 letters, digits, spaces or . @ ' -")
    lifetime = token_lifetime() if lifetime is None else lifetime
    if lifetime <= timedelta(0):
        days = lifetime.total_seconds() / 86400
        raise ValueError(f"a token must last more than 0 days, not {days:g}")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = f"{PREFIX}_{token_id}_{secret}"
    fields = {
        "token_id": token_id,
        "name": name,
        "role": role,
        "secret_sha256": _digest(secret),
        "expires_at": format_time(datetime.now(UTC) + lifetime),
        "parent": parent,
    }
    if team is not None:  # absent, not null, so tokens without a team sign as before
        fields["team"] = team
    payload = _signed_event(key, kinds.TOKEN_CREATED, fields)
    with db.write() as conn:
        conn.execute(
            api_tokens.insert().values(
                token_id=token_id,
                name=name,
                role=role,
                secret_sha256=fields["secret_sha256"],
                created_at=now_text(),
                revoked_at=None,
            )
        )
        append(conn, kind=kinds.TOKEN_CREATED, actor=created_by, role=created_role, payload=payload)
    return token, Principal(name=name, role=role, token_id=token_id, team=team)


@dataclass(frozen=True)
class TokenState:
    """One token as the trail says it is."""

    token_id: str
    name: str
    role: str
    digest: str
    created_at: str
    expires_at: str
    parent: str | None = None
    revoked_at: str | None = None
    team: str | None = None


class TokenBook:
    """Every token's state, derived from the trail's token events and kept up to date.

    Each :meth:`principal` call first reads the token events appended since
    the last call (an indexed read that finds nothing almost always), so a
    revocation or role change made by another process applies to the very
    next request.
    """

    def __init__(self, db: Database, key: bytes | None) -> None:
        self.db = db
        self.key = key
        self._tokens: dict[str, TokenState] = {}
        self._last = 0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Apply the token events appended since the last refresh."""
        with self._lock:
            for seq, kind, payload, at in self.db.read_all(_EVENTS_SINCE, {"last": self._last}):
                self._apply(seq, kind, json.loads(payload), at)
                self._last = seq

    def _apply(self, seq: int, kind: str, payload: dict, at: str) -> None:
        token_id = payload.get("token_id")
        current = self._tokens.get(token_id)
        if kind == kinds.TOKEN_REVOKED:  # honoured signed or not: it can only take access away
            if current is not None and current.revoked_at is None:
                self._tokens[token_id] = replace(current, revoked_at=at)
            return
        fields = {k: val for k, val in payload.items() if k != "mac"}
        if self.key is None or not signed(self.key, {"event": kind, **fields}, payload.get("mac")):
            _log.warning(
                "trail entry %s (%s) is not signed with the anchor key: ignored", seq, kind
            )
            return
        if kind == kinds.TOKEN_CREATED and current is None:
            self._tokens[token_id] = TokenState(
                token_id=token_id,
                name=fields["name"],
                role=fields["role"],
                digest=fields["secret_sha256"],
                created_at=at,
                expires_at=fields["expires_at"],
                parent=fields.get("parent"),
                team=fields.get("team"),
            )
        elif kind == kinds.TOKEN_ROLE_CHANGED and current is not None:
            self._tokens[token_id] = replace(current, role=fields["role"])

    def state(self, token_id: str) -> TokenState | None:
        """The token's state as of the latest commit (``None`` if the trail never issued it)."""
        self.refresh()
        return self._tokens.get(token_id)

    def active(self, token_id: str, now: str | None = None) -> TokenState | None:
        """The token's state if it is neither revoked nor expired (nor its parent)."""
        now = now or now_text()
        t = self._tokens.get(token_id)
        if t is None or t.revoked_at is not None or t.expires_at <= now:
            return None
        if t.parent is not None:
            parent = self.active(t.parent, now)
            if parent is None:
                return None
            t = replace(t, role=parent.role, team=parent.team)
        return t

    def principal(self, token: str) -> Principal | None:
        """The principal holding ``token``, or ``None`` if malformed, unknown, revoked or expired."""
        match = _TOKEN.match(token or "")
        if not match:
            return None
        token_id, secret = match.groups()
        self.refresh()
        state = self._tokens.get(token_id)
        good = hmac.compare_digest(state.digest if state else _DUMMY, _digest(secret))
        live = self.active(token_id) if state is not None else None
        if not good or live is None:
            return None
        return Principal(name=live.name, role=live.role, token_id=token_id, team=live.team)

    def all(self) -> list[TokenState]:
        self.refresh()
        return sorted(self._tokens.values(), key=lambda t: t.created_at)

    def disagreements(self) -> list[str]:
        """Rows of the ``api_tokens`` table that differ from the trail, in words."""
        chain = {t.token_id: t for t in self.all()}
        out = []
        with self.db.read() as conn:
            rows = conn.execute(select(api_tokens)).all()
        for r in rows:
            t = chain.get(r.token_id)
            if t is None:
                out.append(f"token {r.token_id}: in the table but never issued in the trail")
                continue
            if r.role != t.role:
                out.append(f"token {r.token_id}: the table says {r.role}, the trail {t.role}")
            if (r.revoked_at is None) != (t.revoked_at is None):
                out.append(f"token {r.token_id}: revoked in one of the table and the trail only")
            if r.secret_sha256 != t.digest:
                out.append(f"token {r.token_id}: the table's secret digest is not the trail's")
        return out


def revoke_token(
    db: Database, book: TokenBook, token_id: str, revoked_by: str = "cli", by_role: str = "cli"
) -> None:
    """Revoke a token at once; the revocation is written to the audit trail."""
    with db.write() as conn:
        book.refresh()
        state = book.active(token_id)
        if state is None:
            raise ValueError(f"token_id {token_id!r}: no such active token")
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now_text())
        )
        append(
            conn,
            kind=kinds.TOKEN_REVOKED,
            actor=revoked_by,
            role=by_role,
            payload={"token_id": token_id},
        )


def change_role(db: Database, book: TokenBook, token_id: str, role: str, by: str = "cli") -> None:
    """Give an active token a new role; the change is signed and written to the trail."""
    check_role(role)
    with db.write() as conn:
        book.refresh()
        state = book.active(token_id)
        if state is None or state.parent is not None:
            raise ValueError(f"token_id {token_id!r}: no such active token")
        if state.role == role:
            raise ValueError(f"token_id {token_id!r} already has the role {role}")
        conn.execute(update(api_tokens).where(api_tokens.c.token_id == token_id).values(role=role))
        payload = _signed_event(
            book.key, kinds.TOKEN_ROLE_CHANGED, {"token_id": token_id, "role": role}
        )
        append(conn, kind=kinds.TOKEN_ROLE_CHANGED, actor=by, role="cli", payload=payload)


def list_tokens(book: TokenBook) -> list[dict]:
    """Every token the trail issued: id, holder, role, dates (never the secret or its hash)."""
    return [
        {
            "token_id": t.token_id,
            "name": t.name,
            "role": t.role,
            "team": t.team or NO_TEAM,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "revoked_at": t.revoked_at,
            "session_of": t.parent,
        }
        for t in book.all()
    ]
