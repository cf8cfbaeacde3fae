"""Live history: what MAST receives and decides is history at once, on every worker.

The store is the local authority's extract, loaded now and then.  Between
two extracts, the front door keeps receiving referrals (scored through the
API or the page) and deciding them in MAST.  Those referrals and decisions
are the history the next referral about the same child must see: a second
referral at 09:30 about a child referred at 09:00 is a repeat referral.

The records database (:class:`records.RecordsStore`, shared by every worker
process) is the source of truth: the service writes a ``referral`` entry when
it first receives a referral, and a ``decision`` entry when a screener
decides.  Each worker keeps an *overlay* on top of its in-memory store
(:class:`features.StoreSnapshot`):

- it reads the trail's new ``referral`` and ``decision`` entries since the
  last ``seq`` it saw, in a background thread every :data:`POLL_SECONDS`, and
  synchronously before every score and chronology (one indexed
  ``max(seq)`` read), so a worker sees every write acknowledged before the
  request, its own and the other workers';
- it merges them into a copy of the snapshot's referral arrays exactly as
  the store would hold them (:func:`merge`): a referral as a ``referrals``
  row and its ``referral_children`` rows, a decision as its
  ``screening_decisions`` row (the latest decision on a referral, decided at
  the entry's time), with the static predicate bits evaluated by DuckDB
  from the feature query's own SQL.  Features then equal those of a full
  rebuild from an extract holding the same rows;
- a referral (or decision) whose ``referral_id`` is in the store already is
  the extract's: the overlay drops it, so it is never counted twice.

A refreshed store (``mast load --append``) is picked up the same way: the
background thread notices the file changed, loads a fresh snapshot (the
DuckDB file is opened read-only only while loading, then closed, so the
loader can write whenever no snapshot is loading), recomputes the overlay
against it and swaps both in with one assignment.  Requests keep using the
snapshot they started with.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np

from features import NEVER, StoreSnapshot, referral_mask_sql
from serving.chronology import DECISION_EVENT, REFERRAL_EVENT, SOCIAL_CARE, SUBJECT
from store import vocabulary as v

# How often a worker reads the trail for new referrals and decisions, and
# looks at the store file, in its background thread.
POLL_SECONDS = 0.25
STORE_CHECK_SECONDS = 1.0
# Opening the store read-only while `mast load` writes it fails on DuckDB's
# file lock: wait and try again, up to this long.
LOCK_WAIT_SECONDS = 60.0

REFERRAL_KIND = "referral"
DECISION_KIND = "decision"
LIVE_KINDS = (REFERRAL_KIND, DECISION_KIND)
_LONDON = ZoneInfo("Europe/London")
# Up to this many people gain rows in a merge, their offsets are shifted a
# slice at a time (the usual case: one referral about a few children);
# beyond, in one pass over every person.
SLICE_ADD_MAX = 4


# -- the store file ------------------------------------------------------------
@contextmanager
def reading(db: str | Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """The store open read-only for the duration of the ``with`` block, then closed.

    A worker never keeps the DuckDB file open between uses: DuckDB lets one
    process write a file only while no other has it open, and ``mast load
    --append`` must be able to write while the service runs.  If the loader
    holds the file, this waits for it (up to ``wait`` seconds).
    """
    con = open_store(db, wait)
    try:
        yield con
    finally:
        con.close()


def open_store(db: str | Path, wait: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the store, retried while a writer holds its lock.

    The retry is the store's own (:func:`store.connect`'s ``wait_seconds``),
    the same one ``mast load --append`` uses from the other side.
    """
    from store import connect

    return connect(Path(db), read_only=True, wait_seconds=wait)


def load_snapshot(
    db: str | Path, wait: float = LOCK_WAIT_SECONDS, threads: int | None = None
) -> StoreSnapshot:
    """A fresh :class:`StoreSnapshot` of the store; the file is closed again afterwards.

    ``threads`` caps DuckDB's threads: a refresh in the background runs on
    one, leaving the other core to the requests being served meanwhile.
    """
    with reading(db, wait) as con:
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        return StoreSnapshot.load(con)


def background_load(db: str | Path) -> StoreSnapshot:
    """How a worker reloads the store while serving: on one DuckDB thread."""
    return load_snapshot(db, threads=1)


def store_marker(db: str | Path) -> tuple:
    """What changes when the store's content may have: the file's and its WAL's identity.

    ``mast load`` writes in one transaction (and a rewrite replaces the
    file), so the inode, size and modification time of the file and of its
    write-ahead log change with every commit.
    """
    out = []
    for path in (Path(db), Path(f"{db}.wal")):
        try:
            st = path.stat()
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


# -- trail entries as store rows ------------------------------------------------
def store_time(at: str) -> datetime:
    """A trail time (UTC ISO 8601 text) in the store's convention: naive local time in England."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_LONDON).replace(tzinfo=None)


def _us(moment: datetime) -> int:
    return int(np.datetime64(moment, "us").astype(np.int64))


@dataclass(frozen=True)
class LiveReferral:
    """A referral MAST received, as the store's ``referrals`` row would hold it."""

    referral_id: str
    received_at: datetime  # naive local time in England
    source: str
    referrer_relationship: str | None
    concerns: frozenset[str]
    children: tuple[str, ...]

    @classmethod
    def from_payload(cls, referral_id: str, payload: dict) -> LiveReferral:
        return cls(
            referral_id=referral_id,
            received_at=datetime.fromisoformat(payload["received_at"]),
            source=payload["source"],
            referrer_relationship=payload.get("referrer_relationship"),
            concerns=frozenset(payload.get("concerns") or ()),
            children=tuple(payload.get("children") or ()),
        )


@dataclass(frozen=True)
class LiveDecision:
    """A screening decision recorded in MAST, as ``screening_decisions`` would hold it."""

    referral_id: str
    decided_at: datetime  # naive local time in England
    decision: str
    closure_reason: str | None


@dataclass
class Overlay:
    """The latest version of every referral and decision read from the trail so far."""

    seq: int = 0
    referrals: dict[str, LiveReferral] = field(default_factory=dict)
    decisions: dict[str, LiveDecision] = field(default_factory=dict)

    def add(self, entries) -> bool:
        """Take in trail entries (ordered by seq); whether anything changed."""
        changed = False
        for e in entries:
            self.seq = max(self.seq, e.seq)
            if not e.referral_id:
                continue
            if e.kind == REFERRAL_KIND:
                self.referrals[e.referral_id] = LiveReferral.from_payload(e.referral_id, e.payload)
                changed = True
            elif e.kind == DECISION_KIND and e.payload.get("decision") in v.DECISIONS:
                # The latest decision on a referral (a later one supersedes) is
                # the one the store holds, decided when it was recorded.
                self.decisions[e.referral_id] = LiveDecision(
                    e.referral_id,
                    store_time(e.at),
                    e.payload["decision"],
                    e.payload.get("closure_reason"),
                )
                changed = True
        return changed


# -- merging the overlay into a snapshot ------------------------------------------
class _Masks:
    """The static referral-counter bits of a (referral, child) row, from DuckDB.

    The bits are the feature query's own predicates
    (:func:`features.sql.referral_classes`) evaluated by DuckDB on the row's
    source, received_at, child's date of birth, decision and closure reason,
    as :meth:`StoreSnapshot.load` evaluates them for the store's rows.
    Memoised: a row's bits change only when its decision does.
    """

    _SQL = (
        "SELECT {mask} AS mask FROM (SELECT CAST(? AS VARCHAR) AS source, "
        "CAST(? AS TIMESTAMP) AS received_at, CAST(? AS DATE) AS date_of_birth, "
        "CAST(? AS VARCHAR) AS decision, CAST(? AS VARCHAR) AS closure_reason) h"
    )

    def __init__(self):
        self._sql = self._SQL.format(mask=referral_mask_sql())
        self._known: dict[tuple, int] = {}
        self._con = duckdb.connect()
        self._lock = threading.Lock()

    def __call__(self, source, received_at, dob, decision, closure) -> int:
        key = (source, received_at, dob, decision, closure)
        if key not in self._known:
            with self._lock:
                row = self._con.execute(self._sql, list(key)).fetchone()
            self._known[key] = int(row[0])
        return self._known[key]


_MASKS: _Masks | None = None


def _masks() -> _Masks:
    global _MASKS
    if _MASKS is None:
        _MASKS = _Masks()
    return _MASKS


@dataclass
class Merged:
    """A snapshot with the overlay merged in, and what of the overlay it holds."""

    snapshot: StoreSnapshot
    referrals: list[LiveReferral]  # not in the store: added
    decisions: list[LiveDecision]  # on referrals the store holds undecided, or on added ones


def merge(base: StoreSnapshot, overlay: Overlay) -> Merged:
    """``base`` with the overlay's referrals and decisions added as the store would hold them.

    A referral whose ``referral_id`` the store already holds is the
    extract's and is left out (never counted twice); so is a decision on a
    referral the store holds a decision for.  Children unknown to the store
    cannot be placed and are left out (the service refuses to score them).
    """
    s = base
    added = sorted(
        (r for rid, r in overlay.referrals.items() if rid not in s.referral),
        key=lambda r: r.referral_id,
    )
    n = len(s.referral_ids)
    position = {r.referral_id: n + k for k, r in enumerate(added)}
    # Decisions the store does not hold: on a new referral, or on a stored, undecided one.
    decisions = {}
    for rid, d in overlay.decisions.items():
        if rid in position or (rid in s.referral and s.r_decision[s.referral[rid]] < 0):
            decisions[rid] = d
    if not added and not decisions:
        return Merged(base, [], [])

    k = len(added)
    received = np.array([_us(r.received_at) for r in added], dtype=np.int64)
    source = np.array([v.REFERRAL_SOURCES.index(r.source) for r in added], dtype=np.int16)
    concerns = np.array([[c in r.concerns for c in v.CONCERNS] for r in added], dtype=bool).reshape(
        k, len(v.CONCERN_COLUMNS)
    )
    r_decided = np.concatenate([s.r_decided, np.full(k, NEVER, dtype=np.int64)])
    r_decision = np.concatenate([s.r_decision, np.full(k, -1, dtype=np.int16)])
    r_closure = np.concatenate([s.r_closure, np.full(k, -1, dtype=np.int16)])
    for rid, d in decisions.items():
        i = position.get(rid, s.referral.get(rid))
        r_decided[i] = _us(d.decided_at)
        r_decision[i] = v.DECISIONS.index(d.decision)
        r_closure[i] = v.CLOSURE_REASONS.index(d.closure_reason) if d.closure_reason else -1
    r_received = np.concatenate([s.r_received, received])
    r_source = np.concatenate([s.r_source, source])
    masks = _masks()

    def mask(ref: int, person: int) -> int:
        dec, clo = int(r_decision[ref]), int(r_closure[ref])
        return masks(
            v.REFERRAL_SOURCES[int(r_source[ref])],
            np.datetime64(int(r_received[ref]), "us").astype(datetime),
            np.datetime64(int(s.dob[person]), "us").astype(datetime).date(),
            v.DECISIONS[dec] if dec >= 0 else None,
            v.CLOSURE_REASONS[clo] if clo >= 0 else None,
        )

    # Stored rows of newly decided stored referrals take the decision's bits.
    rc_mask = s.rc_mask.copy()
    stored = [s.referral[rid] for rid in decisions if rid not in position]
    if stored:
        rows = np.flatnonzero(np.isin(s.rc_referral, stored))
        people = np.searchsorted(s.rc_offsets, rows, side="right") - 1
        for row, p in zip(rows, people, strict=True):
            rc_mask[row] = mask(int(s.rc_referral[row]), int(p))
    # New rows go at the end of their person's rows.
    new = sorted(
        (s.person[pid], position[r.referral_id])
        for r in added
        for pid in dict.fromkeys(r.children)
        if pid in s.person
    )
    new_p = np.array([p for p, _ in new], dtype=np.int64)
    new_ref = np.array([ref for _, ref in new], dtype=np.int64)
    new_mask = np.array([mask(ref, p) for p, ref in new], dtype=np.int64)
    at = s.rc_offsets[new_p + 1]
    # Each person's rows start later by the rows added to the people before them.
    rc_offsets = s.rc_offsets.copy()
    people, added_rows = np.unique(new_p, return_counts=True)
    if len(people) <= SLICE_ADD_MAX:
        for p, c in zip(people, added_rows, strict=True):
            rc_offsets[p + 1 :] += c
    else:
        grow = np.bincount(new_p, minlength=len(s.person_ids))
        rc_offsets[1:] += np.cumsum(grow)
    snapshot = replace(
        s,
        referral=ChainMap({r.referral_id: position[r.referral_id] for r in added}, s.referral)
        if added
        else s.referral,
        referral_ids=np.concatenate(
            [s.referral_ids, np.array([r.referral_id for r in added], object)]
        ),
        r_received=r_received,
        r_source=r_source,
        r_concerns=np.vstack([s.r_concerns, concerns]),
        r_decided=r_decided,
        r_decision=r_decision,
        r_closure=r_closure,
        rc_offsets=rc_offsets,
        rc_referral=np.insert(s.rc_referral, at, new_ref),
        rc_mask=np.insert(rc_mask, at, new_mask),
    )
    return Merged(snapshot, added, list(decisions.values()))


# -- the per-worker follower -------------------------------------------------------
class LiveHistory:
    """One worker's view of the store plus everything MAST received and decided since.

    Parameters
    ----------
    db
        The DuckDB store.
    records_store
        The shared records database (:class:`records.RecordsStore`).
    base
        The snapshot already loaded from ``db`` (the engine's).
    load
        Loads a fresh snapshot of ``db`` (default :func:`background_load`).
    """

    def __init__(
        self,
        db: str | Path,
        records_store,
        base: StoreSnapshot,
        *,
        load: Callable[[Path], StoreSnapshot] = background_load,
        poll_seconds: float = POLL_SECONDS,
        store_check_seconds: float = STORE_CHECK_SECONDS,
    ):
        self.db = Path(db)
        self.records = records_store
        self._load = load
        self.poll_seconds = poll_seconds
        self.store_check_seconds = store_check_seconds
        self._overlay = Overlay()
        self._applied = 0  # the seq the current snapshot holds everything up to
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._marker = store_marker(self.db)
        self._base = base
        self.merged = Merged(base, [], [])
        self.refreshes = 0
        self.last_refresh_seconds: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.catch_up()

    @property
    def base(self) -> StoreSnapshot:
        """The store as last loaded, without the overlay."""
        return self._base

    @property
    def snapshot(self) -> StoreSnapshot:
        """The current snapshot: the store plus the overlay (one consistent object)."""
        return self.merged.snapshot

    # -- the trail ------------------------------------------------------------
    def catch_up(self, people: Iterable[str] | None = None) -> None:
        """Take in every referral and decision committed to the trail before this call.

        With ``people`` (a request's children), new entries that cannot touch
        their features or chronology are left to the background thread: a
        referral or decision counts for a child only if it is about someone
        who has shared a household with the child (:meth:`reach`).  Under
        load every request would otherwise merge the others' new referrals.
        """
        latest = self.records.latest_seq(LIVE_KINDS)
        if latest is None or latest <= self._applied:
            return
        if people is not None and not self._touches(people):
            return
        with self._lock:
            if latest <= self._applied:  # another thread took it in meanwhile
                return
            entries = self.records.entries_since(self._overlay.seq, LIVE_KINDS)
            if self._overlay.add(entries):
                self.merged = merge(self._base, self._overlay)
            # Only now: a thread that finds nothing new must find it merged.
            self._applied = self._overlay.seq

    def reach(self, people: Iterable[str]) -> set[str]:
        """``people`` and everyone who has shared a household with one of them.

        A superset of whose referrals any feature of theirs counts (their
        own, and their household's adults' and children's at any ``as_of``);
        memberships come from the store alone.
        """
        s = self._base
        out = set(people)
        for pid in list(out):
            p = s.person.get(pid)
            if p is None:
                continue
            for h in np.unique(s.m_household[s.m_offsets[p] : s.m_offsets[p + 1]]):
                rows = s.h_rows[s.h_offsets[h] : s.h_offsets[h + 1]]
                out.update(s.person_ids[s.m_person[rows]])
        return out

    def _touches(self, people: Iterable[str]) -> bool:
        """Whether a trail entry not yet merged is about someone in :meth:`reach` of ``people``."""
        pending = self.records.entries_since(self._applied, LIVE_KINDS)
        reach = self.reach(people)
        received = {
            e.referral_id: e.payload.get("children") or []
            for e in pending
            if e.kind == REFERRAL_KIND
        }
        for e in pending:
            if e.kind == REFERRAL_KIND:
                about = received[e.referral_id]
            else:
                about = self._children_of(e.referral_id, received)
                if about is None:  # unknown: take it in to be safe
                    return True
            if reach.intersection(about):
                return True
        return False

    def _children_of(self, referral_id: str | None, received: dict) -> list[str] | None:
        if referral_id in received:
            return received[referral_id]
        if referral_id in self._overlay.referrals:
            return list(self._overlay.referrals[referral_id].children)
        s = self._base
        i = s.referral.get(referral_id) if referral_id else None
        if i is None:
            return None
        rows = np.flatnonzero(s.rc_referral == i)
        return list(s.person_ids[np.searchsorted(s.rc_offsets, rows, side="right") - 1])

    # -- the store --------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Load the store afresh if it changed, then swap it in; whether it did.

        The load runs outside the lock, so scores go on against the current
        snapshot meanwhile; the swap is one assignment.
        """
        with self._refresh_lock:
            marker = store_marker(self.db)
            if marker == self._marker and not force:
                return False
            started = time.perf_counter()
            base = self._load(self.db)
            with self._lock:
                self._base = base
                self._marker = marker
                self.merged = merge(base, self._overlay)
            self.refreshes += 1
            self.last_refresh_seconds = time.perf_counter() - started
            return True

    # -- the background thread -----------------------------------------------------
    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mast-live-history", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._thread = None

    def _run(self) -> None:
        last_check = time.monotonic()
        failures = 0
        while not self._stop.wait(self.poll_seconds * (1 + min(failures, 20))):
            try:
                self.catch_up()
                if time.monotonic() - last_check >= self.store_check_seconds:
                    last_check = time.monotonic()
                    if self.refresh():
                        print(
                            f"MAST worker {os.getpid()}: store refreshed in "
                            f"{self.last_refresh_seconds:.1f} s",
                            file=sys.stderr,
                            flush=True,
                        )
                failures = 0
            except Exception as err:  # keep following; say why once per failure run
                if failures == 0:
                    print(f"MAST worker: live history: {err}", file=sys.stderr, flush=True)
                failures += 1

    # -- the chronology --------------------------------------------------------------
    def chronology_entries(self, person_id: str, as_of: datetime) -> list[dict]:
        """The overlay's referrals about ``person_id`` and their decisions before ``as_of``.

        As the chronology's SQL gives the store's (one entry each, recorded
        when received or decided).
        """
        merged = self.merged
        s = merged.snapshot
        p = s.person.get(person_id)
        if p is None:
            return []
        theirs = set(s.referral_ids[s.rc_referral[s.rc_offsets[p] : s.rc_offsets[p + 1]]])
        out = []
        for r in merged.referrals:
            if r.referral_id in theirs and r.received_at < as_of:
                detail = (
                    f"from {r.source} ({r.referrer_relationship})"
                    if r.referrer_relationship
                    else None
                )
                out.append(_entry(r.received_at, REFERRAL_EVENT, detail, person_id))
        for d in merged.decisions:
            if d.referral_id in theirs and d.decided_at < as_of:
                detail = d.decision + (f" (closed: {d.closure_reason})" if d.closure_reason else "")
                out.append(_entry(d.decided_at, DECISION_EVENT, detail, person_id))
        return out


def _entry(at: datetime, event_type: str, detail: str | None, person_id: str) -> dict:
    return {
        "occurred_at": at,
        "recorded_at": at,
        "agency": SOCIAL_CARE,
        "event_type": event_type,
        "detail": detail,
        "person_id": person_id,
        "relationship": SUBJECT,
        "days_to_record": 0,
        "late": False,
    }
