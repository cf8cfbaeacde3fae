"""``RecordsStore``: the one object the service, the page and the CLI hold."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from records import kinds, rules, tokens, trail
from records.anchor import Anchor
from records.chain import ChainReport
from records.db import Database, audit_log
from records.group import GroupCommit
from records.models import DecisionIn, InitialViewIn, OverrideIn
from records.rules import ReferralStatus, RuleViolation
from records.tokens import Principal
from records.trail import Entry

ENV_URL = "MAST_RECORDS_DB"


def default_url() -> str:
    """``$MAST_RECORDS_DB``, else SQLite at ``<MAST_HOME or mast-data>/records.sqlite``."""
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL]
    home = Path(os.environ.get("MAST_HOME", "mast-data"))
    return f"sqlite:///{home / 'records.sqlite'}"


def _append_as(conn, principal: Principal, kind: str, payload: dict[str, Any], **ids) -> Entry:
    """Append an entry in ``principal``'s name: every write records who made it, in what role."""
    return trail.append(
        conn, kind=kind, actor=principal.name, role=principal.role, payload=payload, **ids
    )


_LATEST_CONFIG = (
    select(audit_log.c.payload)
    .where(audit_log.c.kind == kinds.CONFIG_CHANGE)
    .order_by(audit_log.c.seq.desc())
    .limit(1)
)
# The same, as plain SQL for Database.read_one (read on every score request).
_LATEST_CONFIG_SQL = (
    f"SELECT payload FROM audit_log WHERE kind = '{kinds.CONFIG_CHANGE}' ORDER BY seq DESC LIMIT 1"
)


def _blind_first(conn) -> bool:
    row = conn.execute(_LATEST_CONFIG).first()
    return _blind_first_of(row)


def _blind_first_of(row) -> bool:
    return bool(json.loads(row[0])["blind_first"]) if row else False


class RecordsStore:
    """The human decision record and the append-only audit trail.

    Every method that writes does so in one serialised transaction that
    also appends the matching audit entry: a decision is never stored
    without its entry, nor an entry without its decision.

    Parameters
    ----------
    url
        SQLAlchemy URL; see :func:`default_url`.
    must_exist
        Refuse to create a new SQLite file (read-only commands).
    """

    def __init__(self, url: str | None = None, must_exist: bool = False) -> None:
        self.db = Database(url or default_url(), must_exist)
        self.views = GroupCommit(self.db)
        self.anchor = Anchor.for_url(self.db.url, writing=not must_exist)
        self.db.after_append = self.anchor.noted
        self.tokens = tokens.TokenBook(self.db, self.anchor.key)

    @property
    def url(self) -> str:
        return self.db.url

    def close(self) -> None:
        """Anchor the newest head this process wrote, then close the database."""
        try:
            self.anchor.flush()
        finally:
            self.db.dispose()

    def head(self) -> tuple[int, str]:
        """The trail's newest entry's ``seq`` and hash (0 and the genesis hash when empty)."""
        with self.db.read() as conn:
            return trail.head(conn)

    # tokens
    def create_token(
        self, name: str, role: str, created_by: str = "cli", *, days: float | None = None
    ) -> tuple[str, Principal]:
        """Mint a token valid for ``days`` (default ``MAST_TOKEN_DAYS``)."""
        lifetime = None if days is None else timedelta(days=days)
        return tokens.create_token(
            self.db, name, role, created_by, key=self.anchor.key, lifetime=lifetime
        )

    def create_session(self, principal: Principal) -> str:
        """A page sign-in: a token of its own, valid ``MAST_SESSION_HOURS``, tied to ``principal``'s."""
        token, _ = tokens.create_token(
            self.db,
            principal.name,
            principal.role,
            principal.name,
            key=self.anchor.key,
            lifetime=tokens.session_lifetime(),
            parent=principal.token_id,
            created_role=principal.role,
        )
        return token

    def verify_token(self, token: str) -> Principal | None:
        return self.tokens.principal(token)

    def revoke_token(self, token_id: str, revoked_by: str = "cli", by_role: str = "cli") -> None:
        tokens.revoke_token(self.db, self.tokens, token_id, revoked_by, by_role)

    def change_role(self, token_id: str, role: str, changed_by: str = "cli") -> None:
        tokens.change_role(self.db, self.tokens, token_id, role, changed_by)

    def list_tokens(self) -> list[dict]:
        return tokens.list_tokens(self.tokens)

    # configuration
    def blind_first(self) -> bool:
        """Whether blind-first mode is on: the latest governance switch, off by default.

        Read afresh on every call (no cache), so a switch made by another
        process (``mast audit-log blind-first on``) applies to the next request.
        """
        return _blind_first_of(self.db.read_one(_LATEST_CONFIG_SQL))

    def set_blind_first(self, enabled: bool, principal: Principal, reason: str) -> Entry:
        """Switch blind-first mode; the switch, who made it and why go into the trail."""
        if not reason or not reason.strip():
            raise ValueError("reason: say why blind-first mode is being switched")
        with self.db.write() as conn:
            return _append_as(
                conn,
                principal,
                kinds.CONFIG_CHANGE,
                {"blind_first": bool(enabled), "reason": reason.strip()},
            )

    # views
    def log_view(
        self,
        principal: Principal,
        kind: str,
        *,
        referral_id: str | None = None,
        person_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Entry:
        """Record that ``principal`` saw a score or a chronology (or queried the trail).

        ``kind`` is one of :data:`records.kinds.SCORE_VIEW`,
        :data:`~records.kinds.CHRONOLOGY_VIEW`, :data:`~records.kinds.AUDIT_QUERY`.
        Returns once the entry is durably committed; views logged at the same
        moment by other threads share that commit (:mod:`records.group`).
        """
        if kind not in (kinds.SCORE_VIEW, kinds.CHRONOLOGY_VIEW, kinds.AUDIT_QUERY):
            raise ValueError(f"kind {kind!r} is not a view")
        return self.views.append(
            kind=kind,
            actor=principal.name,
            role=principal.role,
            payload=detail or {},
            referral_id=referral_id,
            person_id=person_id,
        )

    # the decision record
    def _replay(self, conn, record_id: str) -> None:
        existing = trail.find_record(conn, record_id)
        if existing is not None:
            raise RuleViolation(
                "replay",
                f"id {record_id!r} was already recorded ({existing.kind} by {existing.actor} at {existing.at}); nothing was written",
                status=409,
            )

    def record_initial_view(
        self, principal: Principal, referral_id: str, body: InitialViewIn
    ) -> Entry:
        """Store a screener's view taken before the score was revealed to them."""
        with self.db.write() as conn:
            self._replay(conn, body.view_id)
            if trail.entries_for(conn, referral_id, kinds.SCORE_VIEW, principal.name):
                raise RuleViolation(
                    "score_already_seen",
                    "you have already seen this referral's score: an initial view must come first",
                    status=409,
                )
            if trail.entries_for(conn, referral_id, kinds.INITIAL_VIEW, principal.name):
                raise RuleViolation(
                    "initial_view_exists",
                    "you have already recorded an initial view of this referral",
                    status=409,
                )
            payload = body.model_dump(exclude={"view_id"})
            return _append_as(
                conn,
                principal,
                kinds.INITIAL_VIEW,
                payload,
                referral_id=referral_id,
                record_id=body.view_id,
            )

    def record_override(
        self, principal: Principal, referral_id: str, body: OverrideIn, status: ReferralStatus
    ) -> Entry:
        """Store a manager's override (role checked by the API, re-checked here)."""
        if principal.role != "manager":
            raise RuleViolation("manager_only", "only a manager can record an override", status=403)
        with self.db.write() as conn:
            self._replay(conn, body.override_id)
            rules.check_override(body.kind, status)
            payload = {**body.model_dump(exclude={"override_id"}), "flagged": status.flagged}
            return _append_as(
                conn,
                principal,
                kinds.OVERRIDE,
                payload,
                referral_id=referral_id,
                record_id=body.override_id,
            )

    def record_decision(
        self, principal: Principal, referral_id: str, body: DecisionIn, status: ReferralStatus
    ) -> Entry:
        """Check the rules and store the decision, with both views in blind-first mode.

        Raises
        ------
        RuleViolation
            On a replayed id (409), a second decision without ``supersedes``
            (409), or a broken rule (422).  Nothing is written.
        """
        with self.db.write() as conn:
            self._replay(conn, body.decision_id)
            blind_first = _blind_first(conn)
            decisions = trail.entries_for(conn, referral_id, kinds.DECISION)
            overrides = trail.entries_for(conn, referral_id, kinds.OVERRIDE)
            views = trail.entries_for(conn, referral_id, kinds.INITIAL_VIEW, principal.name)
            initial = views[-1] if views else None
            rules.check_decision(
                body,
                status,
                previous=decisions[-1] if decisions else None,
                overrides=overrides,
                initial_view=initial,
                blind_first=blind_first,
            )
            payload = {
                **body.model_dump(exclude={"decision_id"}),
                "flagged": status.flagged,
                "score": status.score,
                "model_version": status.model_version,
                "blind_first": blind_first,
                "initial_view": None
                if initial is None
                else {"seq": initial.seq, "at": initial.at, **initial.payload},
                "override_seqs": [o.seq for o in overrides],
            }
            return _append_as(
                conn,
                principal,
                kinds.DECISION,
                payload,
                referral_id=referral_id,
                record_id=body.decision_id,
            )

    def decisions_for(self, referral_id: str) -> list[Entry]:
        """The referral's decisions and overrides, oldest first (for the page)."""
        with self.db.read() as conn:
            found = trail.entries_for(conn, referral_id, kinds.DECISION) + trail.entries_for(
                conn, referral_id, kinds.OVERRIDE
            )
        return sorted(found, key=lambda e: e.seq)

    def has_initial_view(self, referral_id: str, principal: Principal) -> bool:
        """Whether ``principal`` has recorded an initial view (blind-first gate for the score)."""
        with self.db.read() as conn:
            return bool(trail.entries_for(conn, referral_id, kinds.INITIAL_VIEW, principal.name))

    # the trail
    def query(
        self,
        *,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        referral_id: str | None = None,
        actor: str | None = None,
        kind: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> tuple[list[Entry], int]:
        return trail.query(
            self.db,
            start=start,
            end=end,
            referral_id=referral_id,
            actor=actor,
            kind=kind,
            limit=limit,
            offset=offset,
        )

    def verify(self, expect_hash: str | None = None, anchors: bool = True) -> ChainReport:
        """Verify the chain, and by default that every signed head in the anchor file is in it.

        Raises :class:`records.anchor.AnchorError` when the anchor file has
        a line that is not signed with the key, or cannot be checked.
        """
        heads = self.anchor.heads() if anchors else ()
        return trail.verify(self.db, expect_hash, heads)

    def export_csv(self, out: Path | str) -> int:
        return trail.export_csv(self.db, out)
