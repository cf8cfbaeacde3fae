"""``RecordsStore``: the one object the service, the page and the CLI hold."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from records import kinds, register, review, rules, tokens, trail
from records.anchor import Anchor
from records.authored import append_as as _append_as
from records.chain import ChainReport
from records.db import Database, audit_log
from records.group import GroupCommit
from records.models import STRATEGY_DISCUSSION, DecisionIn, InitialViewIn, OverrideIn
from records.partner_store import PartnerRecords
from records.review import StrategyDiscussionIn
from records.rules import ReferralStatus, RuleViolation
from records.tokens import Principal
from records.trail import Entry

ENV_URL = "MAST_RECORDS_DB"


def default_url() -> str:
    """``$MAST_RECORDS_DB``, else SQLite at ``<MAST_HOME or mast-data>/records.sqlite``."""
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL]
    from settings import home as mast_home

    home = mast_home()
    return f"sqlite:///{home / 'records.sqlite'}"


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


def _sticky(conn, referral_id: str, status: ReferralStatus) -> ReferralStatus:
    """``status`` with the referral's sticky flag: flagged if any version or score ever was.

    Read inside the write transaction from the trail itself, so a caller's
    stale or milder view of the referral cannot unflag it.
    """
    if status.flagged:
        return status
    versions = trail.entries_for(conn, referral_id, kinds.REFERRAL)
    scores = trail.entries_for(conn, referral_id, kinds.SCORE_VIEW)
    if register.ever_flagged(versions, scores):
        return dataclasses.replace(status, flagged=True)
    return status


def _seen_first(
    conn, actor: str, referral_id: str, status: ReferralStatus, before_seq: int
) -> list[Entry]:
    """Scores of other referrals about the same children shown to ``actor`` before ``before_seq``.

    Only those shown at or after the referral was received: a score of an
    earlier referral about the child, seen before this one arrived, is
    history, not a peek at this referral's score.
    """
    children = set(status.children)
    if not children:
        return []
    return [
        e
        for e in trail.entries_by(
            conn, actor, kinds.SCORE_VIEW, since_at=status.received_at, before_seq=before_seq
        )
        if e.referral_id != referral_id and children & set(e.payload.get("person_ids") or [])
    ]


def _blind_first(conn) -> bool:
    row = conn.execute(_LATEST_CONFIG).first()
    return _blind_first_of(row)


def _blind_first_of(row) -> bool:
    return bool(json.loads(row[0])["blind_first"]) if row else False


def _matching_version(
    conn, referral_id: str, content: dict[str, Any], stored: dict[str, Any] | None
) -> int | None:
    """The current version if its content equals ``content``; ``None`` if the referral is new."""
    current = register.latest(trail.entries_for(conn, referral_id, kinds.REFERRAL), stored)
    if current is None:
        return None
    number, known = current
    if register.differing_fields(known, content):
        raise register.content_conflict(referral_id, number, known, content)
    return number


class RecordsStore(PartnerRecords):
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
        self,
        name: str,
        role: str,
        created_by: str = "cli",
        *,
        days: float | None = None,
        team: str | None = None,
    ) -> tuple[str, Principal]:
        """Mint a token valid for ``days`` (default ``MAST_TOKEN_DAYS``), in ``team`` if given."""
        lifetime = None if days is None else timedelta(days=days)
        return tokens.create_token(
            self.db, name, role, created_by, key=self.anchor.key, lifetime=lifetime, team=team
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
        if kind not in (
            kinds.SCORE_VIEW,
            kinds.CHRONOLOGY_VIEW,
            kinds.AUDIT_QUERY,
            kinds.QUEUE_VIEW,
        ):
            raise ValueError(f"kind {kind!r} is not a view")
        return self.views.append(
            kind=kind,
            actor=principal.name,
            role=principal.role,
            payload=tokens.team_payload(principal, detail or {}),
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

    def record_review(
        self,
        principal: Principal,
        referral_id: str,
        body: StrategyDiscussionIn,
        working_days: int | None = None,
    ) -> Entry:
        """Store a strategy discussion on a referral whose latest decision opened one.

        The entry records when the review was due (``working_days`` working
        days after the decision, England local time, less England and Wales
        bank holidays; default the ``MAST_REVIEW_WORKING_DAYS`` setting, else 1)
        and whether it was held late.

        Raises
        ------
        RuleViolation
            On a replayed id (409), no strategy-discussion decision to review
            (409), or the three required agencies missing without a manager's
            reason (422/403).  Nothing is written.
        """
        with self.db.write() as conn:
            self._replay(conn, body.review_id)
            decisions = trail.entries_for(conn, referral_id, kinds.DECISION)
            if not decisions or decisions[-1].payload["decision"] != STRATEGY_DISCUSSION:
                raise RuleViolation(
                    "no_review_open",
                    "this referral has no strategy discussion / multi-agency review decision to record a review against",
                    status=409,
                )
            review.check_review(body, principal.role)
            opened = review.local_time(decisions[-1].at)
            working_days = working_days or review.working_days_setting()
            due = review.due_in_england(opened, working_days)
            payload = {
                **body.model_dump(mode="json", exclude={"review_id"}),
                "decision_seq": decisions[-1].seq,
                "missing_agencies": list(body.missing_agencies()),
                "due": due.isoformat(),
                "working_days": working_days,
                "held_late": review.local_time(body.held_at) > due,
            }
            return _append_as(
                conn,
                principal,
                kinds.REVIEW,
                payload,
                referral_id=referral_id,
                record_id=body.review_id,
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
            status = _sticky(conn, referral_id, status)
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
            status = _sticky(conn, referral_id, status)
            # Read from the trail in this transaction: a caller cannot claim a review.
            held = bool(trail.entries_for(conn, referral_id, kinds.REVIEW))
            status = dataclasses.replace(status, review_held=held)
            decisions = trail.entries_for(conn, referral_id, kinds.DECISION)
            overrides = trail.entries_for(conn, referral_id, kinds.OVERRIDE)
            views = trail.entries_for(conn, referral_id, kinds.INITIAL_VIEW, principal.name)
            initial = views[-1] if views else None
            if blind_first and initial is not None:
                rules.check_blind_order(
                    referral_id,
                    initial,
                    _seen_first(conn, principal.name, referral_id, status, initial.seq),
                )
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
                # None: not evaluated (a lookup that does not know the facts), never "none apply".
                "statutory_rules": None
                if status.statutory is None
                else [t.rule_id for t in status.statutory],
                "statutory_rules_version": status.statutory_rules,
            }
            return _append_as(
                conn,
                principal,
                kinds.DECISION,
                payload,
                referral_id=referral_id,
                record_id=body.decision_id,
            )

    # the referral register (records/register.py)
    def referral_versions(self, referral_id: str) -> list[Entry]:
        """Every version of the referral MAST has recorded, oldest first (empty if none)."""
        with self.db.read() as conn:
            return trail.entries_for(conn, referral_id, kinds.REFERRAL)

    def referral_flagged(self, referral_id: str) -> bool:
        """The sticky flag: whether any version of the referral, or any score shown of it, was flagged."""
        with self.db.read() as conn:
            return register.ever_flagged(
                trail.entries_for(conn, referral_id, kinds.REFERRAL),
                trail.entries_for(conn, referral_id, kinds.SCORE_VIEW),
            )

    def check_referral(
        self, referral_id: str, content: dict[str, Any], stored: dict[str, Any] | None = None
    ) -> int | None:
        """The version ``content`` matches (``None`` if the referral is new); writes nothing.

        Raises
        ------
        RuleViolation
            409 naming the fields, if the referral is known with other content.
        """
        with self.db.read() as conn:
            return _matching_version(conn, referral_id, content, stored)

    def register_referral(
        self,
        principal: Principal,
        referral_id: str,
        content: dict[str, Any],
        *,
        flagged: bool,
        stored: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
    ) -> int:
        """Fix a referral's content the first time MAST receives it; returns its version.

        ``content`` comes from :func:`records.register.referral_content`;
        ``stored`` is the referral's content in the local authority's store,
        if it is there (version 1, not written to the trail again).  A
        referral already known with the same content writes no version.
        ``view`` (``{"payload": ..., "person_id": ...}``) is the score view
        shown for it, appended in the same transaction: a new referral costs
        one durable commit, not two.

        Raises
        ------
        RuleViolation
            409 naming the fields, if the referral is known with other content.
        """
        with self.db.write() as conn:
            version = _matching_version(conn, referral_id, content, stored)
            rows = []
            if version is None:
                payload = {"version": 1, **content, "flagged": bool(flagged), "reason": None}
                rows.append(
                    trail.new_row(
                        kind=kinds.REFERRAL,
                        actor=principal.name,
                        role=principal.role,
                        payload=tokens.team_payload(principal, payload),
                        referral_id=referral_id,
                    )
                )
            if view is not None:
                rows.append(
                    trail.new_row(
                        kind=kinds.SCORE_VIEW,
                        actor=principal.name,
                        role=principal.role,
                        payload=tokens.team_payload(principal, view["payload"]),
                        referral_id=referral_id,
                        person_id=view.get("person_id"),
                    )
                )
            trail.append_rows(conn, rows)
            return 1 if version is None else version

    def amend_referral(
        self,
        principal: Principal,
        referral_id: str,
        content: dict[str, Any],
        *,
        flagged: bool,
        reason: str | None,
        amendment_id: str,
        stored: dict[str, Any] | None = None,
    ) -> Entry:
        """Record a corrected version of a referral's content, keeping every earlier one.

        A manager may amend; a screener may, with a reason.  The new
        version's ``flagged`` is its own score's flag: the referral's flag
        stays the highest of every version's (:meth:`referral_flagged`).

        Raises
        ------
        RuleViolation
            403 for another role; 422 for a screener without a reason;
            404 for a referral MAST does not know; 409 for a replayed
            ``amendment_id`` or content equal to the current version's.
        """
        reason = reason.strip() if reason else None
        if principal.role not in ("manager", "screener"):
            raise RuleViolation(
                "amend_role", "only a screener or a manager can amend a referral", status=403
            )
        if principal.role == "screener" and not reason:
            raise RuleViolation(
                "amendment_reason_required",
                "say why the referral is being amended: a screener's amendment needs a reason",
                field="reason",
            )
        with self.db.write() as conn:
            self._replay(conn, amendment_id)
            versions = trail.entries_for(conn, referral_id, kinds.REFERRAL)
            current = register.latest(versions, stored)
            if current is None:
                raise RuleViolation(
                    "unknown_referral",
                    f"referral {referral_id} has not been received by MAST: score it first",
                    status=404,
                )
            number, known = current
            if not register.differing_fields(known, content):
                raise RuleViolation(
                    "nothing_to_amend",
                    f"the content sent is the same as version {number} of referral {referral_id}: nothing was written",
                    status=409,
                )
            return _append_as(
                conn,
                principal,
                kinds.REFERRAL,
                {"version": number + 1, **content, "flagged": bool(flagged), "reason": reason},
                referral_id=referral_id,
                record_id=amendment_id,
            )

    def entries_since(
        self, seq: int, kinds: tuple[str, ...], limit: int | None = None
    ) -> list[Entry]:
        """Entries of ``kinds`` appended after ``seq``, in chain order.

        For a reader that follows the trail (live history polls referrals
        and decisions): remember the last ``seq`` seen and ask again.
        """
        with self.db.read() as conn:
            return trail.entries_since(conn, seq, tuple(kinds), limit)

    def record_match_review(
        self, principal: Principal, review_id: str, payload: dict[str, Any]
    ) -> Entry:
        """Store a person's verdict on a possible match (issue 20); ``review_id`` is replay-safe.

        ``payload`` names the two agency records, the verdict, the score and
        rule version it was judged at, and the reason.  The next ``mast link``
        reads the latest verdict on each pair (:meth:`match_reviews`).
        """
        with self.db.write() as conn:
            self._replay(conn, review_id)
            return _append_as(
                conn, principal, kinds.POSSIBLE_MATCH_REVIEW, payload, record_id=review_id
            )

    def match_reviews(self) -> list[Entry]:
        """Every verdict on a possible match, oldest first."""
        with self.db.read() as conn:
            return trail.entries_since(conn, 0, (kinds.POSSIBLE_MATCH_REVIEW,))

    def decisions_for(self, referral_id: str) -> list[Entry]:
        """The referral's decisions and overrides, oldest first (for the page)."""
        with self.db.read() as conn:
            found = trail.entries_for(conn, referral_id, kinds.DECISION) + trail.entries_for(
                conn, referral_id, kinds.OVERRIDE
            )
        return sorted(found, key=lambda e: e.seq)

    def scores_seen_first(
        self,
        principal: Principal,
        referral_id: str,
        children: list[str] | tuple[str, ...],
        received_at: str | None,
    ) -> list[Entry]:
        """Scores of other referrals naming any of ``children`` that ``principal`` was shown
        after ``received_at`` (trail time) and before their initial view of ``referral_id``.

        Empty when there is no initial view yet (blind-first by child; see
        :func:`records.rules.check_blind_order`).
        """
        with self.db.read() as conn:
            views = trail.entries_for(conn, referral_id, kinds.INITIAL_VIEW, principal.name)
            if not views:
                return []
            status = ReferralStatus(False, children=tuple(children), received_at=received_at)
            return _seen_first(conn, principal.name, referral_id, status, views[-1].seq)

    def has_initial_view(self, referral_id: str, principal: Principal) -> bool:
        """Whether ``principal`` has recorded an initial view (blind-first gate for the score)."""
        with self.db.read() as conn:
            return bool(trail.entries_for(conn, referral_id, kinds.INITIAL_VIEW, principal.name))

    def latest_seq(self, kinds_: tuple[str, ...] | list[str]) -> int | None:
        """The highest seq of an entry of the given kinds (one indexed read per call)."""
        listed = ", ".join(f"'{k}'" for k in kinds_ if k in kinds.KINDS)
        row = self.db.read_one(f"SELECT max(seq) FROM audit_log WHERE kind IN ({listed})")
        return None if row is None or row[0] is None else int(row[0])

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
