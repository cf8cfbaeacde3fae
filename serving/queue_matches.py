"""Queue rows whose named adults have a possible match awaiting a person's verdict.

``mast link`` leaves pairs of agency records it could not be sure of as
*possible matches* (:mod:`serving.matches`); a screener or manager confirms
or rejects each.  Until they do, an adult a referrer named may be matched to
the wrong person's records, or to too few.  So a referral whose named adults
were matched (or nearly matched) to a person with a record in such a pair
says "possible match to check" on its queue row, linking to the
possible-matches page.

Two things are kept between queue loads, so a load costs no search:

- the people each referral's named adults were matched to, per referral
  version (the service's own search, :meth:`ScoringEngine.named_adults`),
  found again only after a new linkage run (``mast link``; a person's key
  is stable only within one run), not after every load of new records;
- the people with a record in a pair that has no verdict yet, found again
  after a new linkage run or when a verdict is recorded.

Only the rows listed are looked at (at most :data:`serving.queue.MAX_ROWS`).
The cost: a worker's first queue load after it starts, or after a linkage
run, searches once for the named adults of each listed referral that names
any (docs/linkage.md: about 0.2 s a search one at a time); later loads
search only for referrals (or versions) not seen before.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import duckdb

from linkage.labels import pair_key
from records import kinds
from serving.matches import MatchSource, latest_by_pair

_log = logging.getLogger(__name__)
MARKER_TEXT = "possible match to check"
LINK = "/page/possible-matches"


class MatchesToCheck:
    """Per worker (``app.state.queue_matches``): which listed referrals have a match to check."""

    def __init__(self) -> None:
        self._people: dict[tuple[str, int], frozenset[str]] = {}
        self._pending: tuple[tuple, frozenset[str]] | None = None
        self._store_mark: tuple | None = None
        self._file: tuple | None = None
        self._lock = threading.Lock()

    def referrals(self, app, rows: list[tuple[str, int, dict]]) -> set[str]:
        """The ids of ``rows`` (``(referral id, version, content)``) with a match to check."""
        named = [(rid, v) for rid, v, content in rows if content.get("named_adults")]
        source = _source(app)
        if not named or source is None or not source.db.exists():
            return set()
        with self._lock:
            mark = self._linkage_run(source)
            pending = self._pending_people(source, app.state.records, mark)
            if not pending:
                return set()
            out = set()
            for rid, version in named:
                people = self._people.get((rid, version))
                if people is None:
                    people = self._people[(rid, version)] = _named_people(app, rid)
                if people & pending:
                    out.add(rid)
            return out

    def _linkage_run(self, source: MatchSource) -> tuple:
        """The store's linkage run, read again only when the file changed; a new run
        forgets the people found (person keys are the run's own)."""
        stat = source.db.stat()
        seen = (stat.st_mtime_ns, stat.st_size)
        if self._file != seen:
            run = linkage_run(source.db)
            if run != self._store_mark:
                self._people.clear()
                self._store_mark = run
            self._file = seen
        return self._store_mark

    def _pending_people(self, source: MatchSource, store, mark: tuple) -> frozenset[str]:
        verdicts_seq = store.latest_seq([kinds.POSSIBLE_MATCH_REVIEW])
        key = (mark, verdicts_seq)
        if self._pending is None or self._pending[0] != key:
            self._pending = (key, pending_people(source, store))
        return self._pending[1]


def pending_people(source: MatchSource, store) -> frozenset[str]:
    """The people (``person_key``) with a record in a possible match that has no verdict yet."""
    from serving.live import reading

    frame = source.frame()
    if frame.empty:
        return frozenset()
    verdicts = latest_by_pair(store)
    records = set()
    for row in frame.to_dict("records"):
        left = f"{row['agency_l']}:{row['agency_record_id_l']}"
        right = f"{row['agency_r']}:{row['agency_record_id_r']}"
        if pair_key(left, right) not in verdicts:
            records.update((left, right))
    if not records:
        return frozenset()
    with reading(source.db) as con:
        found = con.execute(
            "SELECT DISTINCT person_key FROM person_links "
            "WHERE agency || ':' || agency_record_id IN (SELECT UNNEST(?))",
            [sorted(records)],
        ).fetchall()
    return frozenset(r[0] for r in found)


def _named_people(app, referral_id: str) -> frozenset[str]:
    """The people the referral's named adults were matched or nearly matched to."""
    engine = app.state.engine
    referral = app.state.register.current(referral_id)
    if referral is None or not referral.named_adults or not hasattr(engine, "named_adults"):
        return frozenset()
    try:
        adults, _, _ = engine.named_adults(referral)
    except Exception:  # the queue must load even if the search cannot run now
        _log.exception("could not search for the named adults of referral %s", referral_id)
        return frozenset()
    keys = set()
    for adult in adults:
        if adult.get("person_key"):
            keys.add(adult["person_key"])
        keys.update(m["person_key"] for m in adult.get("matches") or [] if m.get("person_key"))
    return frozenset(keys)


def _source(app) -> MatchSource | None:
    source = getattr(app.state, "possible_matches", None)
    if source is not None:
        return source
    db = getattr(app.state.engine, "db", None)
    return None if db is None else MatchSource(db)


def linkage_run(db: Path) -> tuple:
    """What identifies the store's last linkage run: its run ids and how many records it linked."""
    from serving.live import reading

    with reading(db) as con:
        try:
            return tuple(
                con.execute(
                    "SELECT min(run_id), max(run_id), count(*) FROM person_links"
                ).fetchone()
            )
        except duckdb.Error:  # no linkage tables: nothing linked, nothing to check
            return (None, None, 0)
