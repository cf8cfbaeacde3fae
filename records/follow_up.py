"""What follows a decision, per referral, read from the trail: for the queue, the page and reports.

:func:`follow_up` answers, for many referrals in one read, whether the
referrer has been told the current decision, whether a strategy discussion
is open and overdue, and whether an escalation is open.  The work queue
(#17 b) and the practice report (#17 c) call it; neither needs to know how
the entries are laid out.

Times: the trail keeps UTC; everything returned here is England local time
(naive), as the page shows it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import and_, select

from records import kinds, review
from records.db import audit_log
from records.trail import Entry

STRATEGY_DISCUSSION = "strategy_discussion"
# The kinds of entry a referral's follow-up is read from.
FOLLOW_UP_KINDS = (
    kinds.REFERRAL,
    kinds.DECISION,
    kinds.REVIEW,
    kinds.REFERRER_TOLD,
    kinds.ESCALATION,
    kinds.ESCALATION_ANSWER,
)
_CHUNK = 500


@dataclass(frozen=True)
class FollowUp:
    """One referral's follow-up, as the queue shows it.

    Attributes
    ----------
    decision
        The current decision (``None``: awaiting a decision).
    decided_at
        When it was recorded (England local time).
    referrer_told
        Whether the referrer has been told the current decision (the police
        count as the referrer when they referred).
    police_referred
        Whether the police referred (from the referral register).
    review_open
        The current decision is a strategy discussion and none has been recorded against it.
    review_due
        When the strategy discussion is (or was) due, if the decision opened one.
    review_overdue
        Open and past due, or recorded after it was due.
    review_held_late
        A recorded strategy discussion was held after its due time.
    escalations_open
        Partners' challenges of a no-further-action decision not yet answered by a manager.
    """

    referral_id: str
    decision: str | None = None
    decided_at: datetime | None = None
    referrer_told: bool = False
    police_referred: bool = False
    review_open: bool = False
    review_due: datetime | None = None
    review_overdue: bool = False
    review_held_late: bool = False
    escalations_open: int = 0
    escalations: int = 0
    reviews: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def needs_referrer_told(self) -> bool:
        """Decided, and the referrer not yet told: the queue lists it."""
        return self.decision is not None and not self.referrer_told


def entries_of(
    conn, referral_ids: Iterable[str], kinds_: tuple[str, ...] = FOLLOW_UP_KINDS
) -> dict:
    """The entries of ``kinds_`` for each referral, oldest first, in one indexed read per 500 ids."""
    ids = list(dict.fromkeys(referral_ids))
    found: dict[str, list[Entry]] = defaultdict(list)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(
            select(audit_log)
            .where(and_(audit_log.c.referral_id.in_(chunk), audit_log.c.kind.in_(kinds_)))
            .order_by(audit_log.c.seq)
        )
        for row in rows:
            entry = Entry.from_row(row)
            found[entry.referral_id].append(entry)
    return found


def summarise(
    referral_id: str, entries: list[Entry], now: datetime, working_days: int | None = None
) -> FollowUp:
    """One referral's :class:`FollowUp` from its entries (pure: the rules in one place)."""
    by_kind: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_kind[e.kind].append(e)
    versions = by_kind[kinds.REFERRAL]
    police = bool(versions) and versions[-1].payload.get("source") == "police"
    answered = {e.payload["escalation_id"] for e in by_kind[kinds.ESCALATION_ANSWER]}
    escalations = by_kind[kinds.ESCALATION]
    common = {
        "referral_id": referral_id,
        "police_referred": police,
        "escalations": len(escalations),
        "escalations_open": sum(e.record_id not in answered for e in escalations),
        "reviews": len(by_kind[kinds.REVIEW]),
    }
    decisions = by_kind[kinds.DECISION]
    if not decisions:
        return FollowUp(**common)
    current = decisions[-1]
    told = [
        e
        for e in by_kind[kinds.REFERRER_TOLD]
        if e.seq > current.seq
        and (
            e.payload["recipient"] == "referrer" or (police and e.payload["recipient"] == "police")
        )
    ]
    follow = {
        **common,
        "decision": current.payload["decision"],
        "decided_at": review.local_time(current.at),
        "referrer_told": bool(told),
    }
    if current.payload["decision"] != STRATEGY_DISCUSSION:
        return FollowUp(**follow)
    opened = review.local_time(current.at)
    due = review.due_in_england(opened, working_days)
    held = [e for e in by_kind[kinds.REVIEW] if e.payload.get("decision_seq") == current.seq]
    held_at = review.local_time(held[-1].payload["held_at"]) if held else None
    late = held_at is not None and held_at > due
    return FollowUp(
        **follow,
        review_open=not held,
        review_due=due,
        review_overdue=(not held and now > due) or late,
        review_held_late=late,
    )


def as_of(f: FollowUp, now: datetime) -> FollowUp:
    """``f`` with "overdue" as at ``now`` (the one field that changes with the clock alone)."""
    if f.review_due is None:
        return f
    overdue = (f.review_open and now > f.review_due) or f.review_held_late
    return f if overdue == f.review_overdue else replace(f, review_overdue=overdue)


def follow_up(
    conn, referral_ids: Iterable[str], now: datetime | None = None, working_days: int | None = None
) -> dict[str, FollowUp]:
    """:class:`FollowUp` for each of ``referral_ids`` (a referral with no entries gets the empty one).

    ``now`` is England local time (default: the clock); ``working_days``
    the local timescale (default: ``MAST_REVIEW_WORKING_DAYS``, else 1).
    """
    now = review.local_time(datetime.now().astimezone()) if now is None else now
    ids = list(dict.fromkeys(referral_ids))
    found = entries_of(conn, ids)
    return {rid: summarise(rid, found.get(rid, []), now, working_days) for rid in ids}
