"""The screener's work queue: referrals received through MAST that still need someone.

A MASH screener starts the day on a list, not on a blank box for a
referral id.  The list a front door keeps is every referral received and
not yet decided, newest first, plus the decided ones that still owe
something: a strategy discussion decided but not yet recorded (overdue
once past the local timescale), and, once the review and partner-agency
records exist, a referrer not yet told or a partner's open escalation.

Everything here is read from the hash-chained trail (the referral register,
decisions, score views, initial views, reviews, the referrer told,
escalations and their answers).  The queue is the landing page, so all of
it is summarised in a :class:`QueueIndex` kept per worker and brought up to
date with only the entries written since the last load, whichever worker
wrote them: a load reads the new entries and the blind-first setting, and
re-summarises the follow-up of only the referrals that changed.  The
follow-up markers come from small functions in :data:`FOLLOW_UPS`; each
takes the index, the latest decision of every referral and "now", and
returns markers by referral id.  A new kind of follow-up is one more
function in that list.

Blind-first: for a screener who has not yet recorded an initial view of a
referral, the queue shows its statutory triggers (the law, not a
prediction) but not its flag or score band, nor those of any other
referral about the same children.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import records
from records import follow_up, kinds, review, statutory
from records.kinds import DECISION_LABELS
from records.trail import Entry
from serving.scoring import store_now

STATUS_AWAITING = "awaiting"
STATUS_FOLLOW_UP = "follow_up"
SHOW = {
    "all": "everything on the queue",
    "awaiting": "awaiting a decision",
    "follow_up": "decided, with something still owed",
}
MAX_ROWS = 200


@dataclass(frozen=True)
class Marker:
    """Something owed on a referral, in words (``kind`` is for filters and tests)."""

    kind: str
    text: str
    urgent: bool = False
    link: str | None = None  # where it is dealt with, under the page's prefix


@dataclass
class QueueItem:
    """One row of the queue.

    ``flagged`` and ``highest_score`` are ``None`` when they are hidden
    (blind-first) or no score of the referral was ever shown.
    """

    referral_id: str
    received_at: datetime
    source: str
    referrer_relationship: str | None
    concerns: list[str]
    children: list[str]
    version: int
    status: str
    decision: str | None = None
    decided_at: str | None = None
    triggers: list[dict] = field(default_factory=list)
    repeat: list[Marker] = field(default_factory=list)
    follow_ups: list[Marker] = field(default_factory=list)
    flagged: bool | None = None
    highest_score: int | None = None
    score_hidden: bool = False
    checks: list[Marker] = field(default_factory=list)

    @property
    def decision_label(self) -> str | None:
        return None if self.decision is None else DECISION_LABELS[self.decision]


FollowUp = Callable[["QueueIndex", dict[str, Entry], datetime], dict[str, list[Marker]]]


def follow_up_markers(
    index: QueueIndex, decided: dict[str, Entry], now: datetime
) -> dict[str, list[Marker]]:
    """What is still owed after each decision, from :func:`records.follow_up.summarise`.

    One reading of the trail's rules for the queue, the review page and the
    practice report: a strategy discussion due or overdue (the local
    timescale in working days, England and Wales bank holidays skipped), the
    referrer (or the police, when they referred) not yet told the current
    decision, and partner agencies' escalations awaiting a manager's answer.
    """
    if not decided:
        return {}
    out: dict[str, list[Marker]] = {}
    for rid, f in index.follow_ups(sorted(decided), now).items():
        markers = _markers(f, now)
        if markers:
            out[rid] = markers
    return out


def _markers(f: follow_up.FollowUp, now: datetime) -> list[Marker]:
    markers = []
    if f.review_open and f.review_due is not None:
        when = f.review_due.strftime("%d %b %Y %H:%M")
        late = now > f.review_due
        text = (
            f"strategy discussion overdue: it was due by {when} (UK time) and is not recorded"
            if late
            else f"strategy discussion to be held and recorded by {when} (UK time)"
        )
        markers.append(Marker("review_overdue" if late else "review_due", text, urgent=late))
    if f.escalations_open:
        n = f.escalations_open
        what = "a challenge" if n == 1 else f"{n} challenges"
        markers.append(
            Marker(
                "escalation_open",
                f"{what} from a partner agency awaiting a manager's answer",
                urgent=True,
            )
        )
    if f.needs_referrer_told:
        who = "the police (who referred)" if f.police_referred else "the referrer"
        markers.append(Marker("referrer_not_told", f"{who} not yet told the outcome"))
    return markers


# The follow-ups the queue shows, each called once per queue load.
FOLLOW_UPS: list[FollowUp] = [follow_up_markers]


def _repeat_markers(
    triggers: list[dict],
    item_children: list[str],
    received_at: datetime,
    count_referrals: Callable[[list[str], datetime], int | None] | None,
) -> list[Marker]:
    if not triggers:  # most rows: nothing to say, and nothing to read
        return []
    p = statutory.default_rules().parameters
    out = []
    ids = {t["rule_id"] for t in triggers}
    if "repeat_referral" in ids:
        n = count_referrals(item_children, received_at) if count_referrals else None
        text = (
            f"{statutory.ordinal(n)} referral in {p.repeat_window_months} months"
            if n
            else f"{statutory.ordinal(p.repeat_referral_count)} or later referral in "
            f"{p.repeat_window_months} months"
        )
        out.append(Marker("repeat_referral", text))
    if "after_nfa_closure" in ids:
        out.append(
            Marker(
                "after_closure",
                f"within {p.after_closure_days} days of a no-further-action closure",
            )
        )
    return out


@dataclass
class _Shown:
    """What the queue keeps of a referral's score views: sticky flag, latest score, every rule."""

    flagged: bool = False
    highest_score: int | None = None
    triggers: dict[str, dict] = field(default_factory=dict)


class QueueIndex:
    """The trail's entries the queue reads, summarised and kept up to date from the trail.

    The trail is append-only, so each refresh reads only the entries after
    the last one seen (as live history does, serving/live.py): a queue load
    costs the entries written since the previous load, by this worker or
    any other, not the whole history.  The follow-up of a decided referral
    (:func:`records.follow_up.summarise`) is kept too, and summarised again
    only when one of its entries arrives.  One per worker (``app.state``);
    thread-safe.
    """

    KINDS = tuple(dict.fromkeys((*follow_up.FOLLOW_UP_KINDS, kinds.SCORE_VIEW, kinds.INITIAL_VIEW)))
    BATCH = 5000

    def __init__(self) -> None:
        self.seq = 0
        self.latest: dict[str, dict] = {}  # referral id -> current version's payload
        self.flagged: dict[str, bool] = {}  # any version flagged
        self.decided: dict[str, Entry] = {}  # latest decision
        self.shown: dict[str, _Shown] = {}
        self.viewed: dict[str, set[str]] = {}  # actor -> referrals they recorded an initial view of
        self._trail: dict[str, list[Entry]] = {}  # referral id -> its follow-up entries
        self._summary: dict[str, follow_up.FollowUp] = {}  # kept until the referral changes
        self._working_days: int | None = None
        self._lock = threading.Lock()

    def refresh(self, store: records.RecordsStore) -> None:
        """Read the entries appended since the last refresh (by any worker) into the index."""
        with self._lock:
            while True:
                batch = store.entries_since(self.seq, self.KINDS, limit=self.BATCH)
                for e in batch:
                    self._add(e)
                    self.seq = e.seq
                if len(batch) < self.BATCH:
                    return

    def follow_ups(self, referral_ids: list[str], now: datetime) -> dict[str, follow_up.FollowUp]:
        """The follow-up of each referral as :func:`records.follow_up.follow_up` reads it.

        Kept per referral and summarised again only when the referral has
        new entries (or the local timescale setting changed); only "overdue"
        depends on ``now``, and is worked out again on each call.
        """
        days = review.working_days_setting()
        with self._lock:
            if days != self._working_days:
                self._summary.clear()
                self._working_days = days
            out = {}
            for rid in referral_ids:
                f = self._summary.get(rid)
                if f is None:
                    f = follow_up.summarise(rid, self._trail.get(rid, []), now, days)
                    self._summary[rid] = f
                out[rid] = follow_up.as_of(f, now)
            return out

    def _add(self, e: Entry) -> None:
        rid = e.referral_id
        if e.kind in follow_up.FOLLOW_UP_KINDS:
            kept = self._trail.setdefault(rid, [])
            if e.kind == kinds.REFERRAL:  # the follow-up reads only the current version
                kept[:] = [x for x in kept if x.kind != kinds.REFERRAL]
            kept.append(e)
            self._summary.pop(rid, None)
        if e.kind == kinds.INITIAL_VIEW:
            self.viewed.setdefault(e.actor, set()).add(rid)
        elif e.kind == kinds.REFERRAL:
            self.latest[rid] = e.payload
            self.flagged[rid] = self.flagged.get(rid, False) or bool(e.payload.get("flagged"))
        elif e.kind == kinds.DECISION:
            self.decided[rid] = e
        elif e.kind == kinds.SCORE_VIEW:
            shown = self.shown.setdefault(rid, _Shown())
            shown.flagged = shown.flagged or bool(e.payload.get("review_recommended"))
            shown.highest_score = e.payload.get("highest_score")
            for t in e.payload.get("statutory") or []:
                # Sticky, as the flag is: a rule met when scored does not lapse
                # because a later view did not carry the same facts.
                shown.triggers.setdefault(t["rule_id"], t)


def queue_items(
    store: records.RecordsStore,
    principal: records.Principal,
    *,
    now: datetime | None = None,
    follow_ups: Iterable[FollowUp] | None = None,
    count_referrals: Callable[[list[str], datetime], int | None] | None = None,
    index: QueueIndex | None = None,
) -> list[QueueItem]:
    """Every referral received through MAST that still needs someone, newest first.

    Parameters
    ----------
    store
        The records store (the register, decisions, score views, reviews).
    principal
        Who is looking: in blind-first mode a screener sees no flag or score
        of a referral they have not recorded an initial view of.
    now
        England local time (default: now), for overdue follow-ups.
    follow_ups
        The follow-up functions (default :data:`FOLLOW_UPS`).
    count_referrals
        ``(children, received_at) -> n``: how many referrals about any one
        of the children in the repeat-referral window, this one included;
        ``None`` to say "3rd or later" without a count.
    index
        A :class:`QueueIndex` kept between calls (the page keeps one per
        worker); by default one is read from the whole trail.
    """
    now = now or store_now()
    follow_ups = FOLLOW_UPS if follow_ups is None else list(follow_ups)
    index = index or QueueIndex()
    index.refresh(store)
    versions = index.latest
    decided = {rid: e for rid, e in index.decided.items() if rid in versions}
    owed: dict[str, list[Marker]] = {}
    for fn in follow_ups:
        for rid, markers in fn(index, decided, now).items():
            if rid in versions:
                owed.setdefault(rid, []).extend(markers)
    blind = principal.role == "screener" and store.blind_first()
    mine = set(index.viewed.get(principal.name, ())) if blind else set()
    items = []
    for rid, latest in versions.items():
        decision = decided.get(rid)
        if decision is not None and rid not in owed:
            continue
        received = datetime.fromisoformat(latest["received_at"])
        shown = index.shown.get(rid)
        triggers = list(shown.triggers.values()) if shown else []
        item = QueueItem(
            referral_id=rid,
            received_at=received,
            source=latest["source"],
            referrer_relationship=latest.get("referrer_relationship"),
            concerns=list(latest["concerns"]),
            children=list(latest["children"]),
            version=int(latest["version"]),
            status=STATUS_FOLLOW_UP if decision else STATUS_AWAITING,
            decision=decision.payload["decision"] if decision else None,
            decided_at=decision.at if decision else None,
            triggers=triggers,
            repeat=_repeat_markers(triggers, list(latest["children"]), received, count_referrals),
            follow_ups=owed.get(rid, []),
        )
        if shown:
            item.flagged = shown.flagged or index.flagged.get(rid, False)
            item.highest_score = shown.highest_score
        items.append(item)
    if blind:
        _hide_scores(items, mine)
    items.sort(key=lambda i: (i.received_at, i.referral_id), reverse=True)
    return items


def _hide_scores(items: list[QueueItem], viewed: set[str]) -> None:
    """Hide the flag and score of every referral the screener has no initial view of,
    and of every other referral about one of its children (blind-first by child)."""
    pending_children = {
        c
        for i in items
        if i.referral_id not in viewed and i.status == STATUS_AWAITING
        for c in i.children
    }
    for i in items:
        if i.referral_id not in viewed or pending_children & set(i.children):
            i.flagged, i.highest_score, i.score_hidden = None, None, True


def filter_items(
    items: list[QueueItem],
    *,
    show: str = "all",
    statutory_only: bool = False,
    flagged_only: bool = False,
    repeat_only: bool = False,
    search: str | None = None,
) -> list[QueueItem]:
    """The queue as filtered on the page; a hidden flag never matches "flagged only"."""
    needle = (search or "").strip().lower()
    out = []
    for i in items:
        if show == STATUS_AWAITING and i.status != STATUS_AWAITING:
            continue
        if show == STATUS_FOLLOW_UP and i.status != STATUS_FOLLOW_UP:
            continue
        if statutory_only and not i.triggers:
            continue
        if flagged_only and not i.flagged:
            continue
        if repeat_only and not i.repeat:
            continue
        if needle and not (
            needle in i.referral_id.lower() or any(needle in c.lower() for c in i.children)
        ):
            continue
        out.append(i)
    return out


def referral_counter(engine) -> Callable[[list[str], datetime], int | None] | None:
    """``count_referrals`` for :func:`queue_items` from the service's snapshot, if it has one."""
    from features import StoreSnapshot
    from serving.statutory import snapshot_histories

    snap = getattr(engine, "snapshot", None)
    if not isinstance(snap, StoreSnapshot):
        return None
    window = statutory.default_rules().parameters.repeat_window_months

    def count(children: list[str], received_at: datetime) -> int | None:
        since = statutory.months_before(received_at, window)
        best = 0
        for history in snapshot_histories(snap, children):
            earlier = {
                r.referral_id for r in history.referrals if since <= r.received_at < received_at
            }
            best = max(best, len(earlier) + 1)
        return best or None

    return count


@dataclass
class Shown:
    """The queue as shown to one person: the rows listed, how many more matched, how many in all."""

    items: list[QueueItem]
    more: int
    total: int
    blind_first: bool


def show_queue(app, principal: records.Principal, *, via: str, **filters) -> Shown:
    """The queue ``principal`` sees, filtered, with the view written to the trail.

    One place for the page and ``GET /v1/queue``: the worker's kept
    :class:`QueueIndex` (``app.state.queue_index``), the same filters, the
    same blind-first rule, and a ``queue_view`` entry naming the referrals
    whose flag and score band were shown and those hidden (``via``: ``page``
    or ``api``).  At most :data:`MAX_ROWS` rows are listed.
    """
    store = app.state.records
    index = getattr(app.state, "queue_index", None)
    if index is None:  # one per worker, kept up to date from the trail on each load
        index = app.state.queue_index = QueueIndex()
    items = queue_items(
        store,
        principal,
        count_referrals=referral_counter(app.state.engine),
        index=index,
    )
    matched = filter_items(items, **filters)
    listed = matched[:MAX_ROWS]
    _possible_matches(app, index, listed)
    # Every flag and score band shown is in the trail, the queue's as well as the referral page's.
    store.log_view(
        principal,
        kinds.QUEUE_VIEW,
        detail={
            "scores_shown": [i.referral_id for i in listed if i.highest_score is not None],
            "hidden_blind_first": [i.referral_id for i in listed if i.score_hidden],
            "listed": len(listed),
            "on_queue": len(items),
            "via": via,
        },
    )
    return Shown(listed, len(matched) - len(listed), len(items), store.blind_first())


def _possible_matches(app, index: QueueIndex, listed: list[QueueItem]) -> None:
    """Mark the listed rows whose named adults have a possible match awaiting a verdict."""
    from serving import queue_matches

    checker = getattr(app.state, "queue_matches", None)
    if checker is None:  # one per worker, like the index
        checker = app.state.queue_matches = queue_matches.MatchesToCheck()
    rows = [(i.referral_id, i.version, index.latest[i.referral_id]) for i in listed]
    found = checker.referrals(app, rows)
    for i in listed:
        if i.referral_id in found:
            i.checks.append(
                Marker("possible_match", queue_matches.MARKER_TEXT, link=queue_matches.LINK)
            )
