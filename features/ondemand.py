"""Features for a few new referrals, from a :class:`~features.snapshot.StoreSnapshot`.

This is the scoring service's engine.  It evaluates the same definitions as
the SQL (:mod:`features.definitions`), in the same order, with the same
NULL rules, and returns the columns the feature query returns, so
:func:`features.build_features` splits both alike.  The static part of every
predicate was computed by DuckDB when the snapshot was loaded; what is left
here is what depends on ``as_of``:

- a record counts if ``recorded_at < as_of`` (a referral if ``received_at <
  as_of``, its decision if ``decided_at < as_of``);
- a window keeps what happened at or after ``as_of - N days``;
- the household is every active membership of one of the child's active
  homes (:func:`household`), exactly as ``features.sql.household_ctes``.

``tests/features/test_ondemand.py`` checks every column against the SQL on
random timelines built to hit each edge, and on the simulated world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import definitions as d
from features.snapshot import (
    MEMBER_ROLES,
    NEVER,
    NO_ONE_NAMED,
    US_PER_DAY,
    NamedGroup,
    StoreSnapshot,
    named_groups,
)
from features.sql import (
    event_class_key,
    event_classes,
    referral_classes,
    referral_predicate,
    static_referral,
)
from store import vocabulary as v


def _window_us(days: list[int | None]) -> tuple[np.ndarray, np.ndarray]:
    ever = np.array([n is None for n in days])
    return np.array([0 if n is None else n * US_PER_DAY for n in days], dtype=np.int64), ever


# -- the definitions, compiled to arrays once ---------------------------------
_BIT = {key: k for k, (key, _) in enumerate(event_classes())}
_EC_MASK = np.array([1 << _BIT[event_class_key(c)] for c in d.EVENT_COUNTERS], dtype=np.int64)
_EC_DAYS = [d.WINDOWS[c.window] for c in d.EVENT_COUNTERS]
_EC_WINDOW = _window_us(_EC_DAYS)
# Which age bound a counter compares an event with: 0 none, 1 the 18th birthday,
# 2 the end of the non-mobile months (StoreSnapshot.adult_at / non_mobile_until).
_AGE_CODE = {None: 0, "adult": 1, "non_mobile": 2}
_EC_AGE = np.array([_AGE_CODE[c.filter.age_limit] for c in d.EVENT_COUNTERS])
_ST_START = np.array([1 << _BIT[f"{s.name}:start"] for s in d.EVENT_STATES], dtype=np.int64)
_ST_END = np.array([1 << _BIT[f"{s.name}:end"] for s in d.EVENT_STATES], dtype=np.int64)
_RBIT = {key: k for k, (key, _) in enumerate(referral_classes())}
# A counter whose static predicate is TRUE (any prior referral) has no bit: 0.
_RC_MASK = np.array(
    [
        1 << _RBIT[key] if (key := referral_predicate(static_referral(c))) != "TRUE" else 0
        for c in d.REFERRAL_COUNTERS
    ],
    dtype=np.int64,
)
_RC_DAYS = [d.WINDOWS[c.window] for c in d.REFERRAL_COUNTERS]
_RC_WINDOW = _window_us(_RC_DAYS)
_RC_ADULT = np.array([c.age_limit == "adult" for c in d.REFERRAL_COUNTERS])
_RC_DECIDED = np.array([bool(c.decision or c.closure_reason) for c in d.REFERRAL_COUNTERS])
COUNTER_NAMES = [c.name for c in [*d.EVENT_COUNTERS, *d.EVENT_STATES, *d.REFERRAL_COUNTERS]]
_COL = {name: i for i, name in enumerate(COUNTER_NAMES)}
_ADULT = np.array([MEMBER_ROLES.index(r) for r in d.MEMBERSHIPS["household_adults"].roles])
# By role code (one past the last for "no role"): is it an adult's role?
_IS_ADULT = np.isin(np.arange(len(MEMBER_ROLES) + 1), _ADULT)
_SIBLING = np.array([MEMBER_ROLES.index(r) for r in d.MEMBERSHIPS["siblings"].roles])
_LOWEST = np.iinfo(np.int64).min


def _thresholds(as_of: int, window: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``as_of - N days`` per counter; "ever" lets everything through."""
    span, ever = window
    out = as_of - span
    out[ever] = _LOWEST
    return out


def whole_days(start, end):
    """SQL's ``FLOOR(microseconds between / 86400000000.0)``, for int64 microseconds."""
    return np.floor((np.asarray(end, dtype=np.int64) - start) / float(US_PER_DAY))


def whole_months(start, end):
    """Whole calendar months between int64-microsecond moments, as SQL's ``Dialect.whole_months``.

    ``(years * 12 + months)`` between the two calendar months, less one when the
    day of the month of ``end`` is before that of ``start`` (the month is not yet
    complete).  Time of day is ignored: a date of birth is midnight.
    """
    start = np.asarray(start, dtype="datetime64[us]")
    end = np.asarray(end, dtype="datetime64[us]")
    start_m, end_m = start.astype("datetime64[M]"), end.astype("datetime64[M]")
    start_day = (start.astype("datetime64[D]") - start_m).astype(np.int64)
    end_day = (end.astype("datetime64[D]") - end_m).astype(np.int64)
    months = (end_m - start_m).astype(np.int64) - (end_day < start_day)
    return months.astype(float)


# -- targets and their households ---------------------------------------------
@dataclass
class Target:
    """One (referral, child) row to build, with its referral's attributes."""

    referral_id: str
    person_id: str
    child: int  # row in the snapshot's people, -1 if unknown
    as_of: int  # microseconds
    referral: dict
    n_children: int


@dataclass
class Household:
    """The child's active homes and the other members of them, as of ``as_of``."""

    homes: np.ndarray
    members: np.ndarray  # person rows, ascending
    roles: np.ndarray  # MIN(role) code per member
    starts: np.ndarray  # MAX(start_date) per member, microseconds


def active_membership(s: StoreSnapshot, rows: np.ndarray, as_of: int) -> np.ndarray:
    """Which membership ``rows`` are current as of ``as_of`` (:func:`features.sql.active_membership`)."""
    ended = (s.m_end[rows] < as_of) & (s.m_end_recorded[rows] < as_of)
    return (s.m_recorded[rows] < as_of) & (s.m_start[rows] <= as_of) & ~ended


def household(s: StoreSnapshot, child: int, as_of: int) -> Household:
    """``features.sql.household_ctes`` for one child: homes, then their other members."""
    if child < 0:
        empty = np.empty(0, dtype=np.int64)
        return Household(empty, empty, empty, empty)
    own = np.arange(s.m_offsets[child], s.m_offsets[child + 1])
    homes = np.unique(s.m_household[own[active_membership(s, own, as_of)]])
    rows = np.concatenate(
        [s.h_rows[s.h_offsets[h] : s.h_offsets[h + 1]] for h in homes] or [np.empty(0, np.int64)]
    ).astype(np.int64)
    rows = rows[(s.m_person[rows] != child) & active_membership(s, rows, as_of)]
    people = s.m_person[rows]
    members = np.unique(people)
    roles = np.full(len(members), len(MEMBER_ROLES), dtype=np.int64)
    starts = np.full(len(members), _LOWEST, dtype=np.int64)
    at = np.searchsorted(members, people)
    np.minimum.at(roles, at, s.m_role[rows])
    np.maximum.at(starts, at, s.m_start[rows])
    return Household(homes, members, roles, starts)


# -- per-person counters -------------------------------------------------------
@dataclass
class History:
    """A person's referrals received before ``as_of`` (store rows, then batch rows)."""

    received: np.ndarray
    concerns: np.ndarray
    mask: np.ndarray
    decided: np.ndarray  # NEVER for a referral not decided (or not in the store)
    ref: np.ndarray  # row in the snapshot's referrals; -1 for a new referral of the batch
    extra: list  # the batch's new referrals, in order after the store's

    def _stored(self, i: int) -> int:
        return int(self.ref[i]) if i < len(self.ref) - len(self.extra) else -1

    def referral_id(self, s: StoreSnapshot, i: int) -> str:
        r = self._stored(i)
        return s.referral_ids[r] if r >= 0 else self.extra[i - len(self.ref) + len(self.extra)][3]

    def source(self, s: StoreSnapshot, i: int) -> str:
        r = self._stored(i)
        if r < 0:
            return self.extra[i - len(self.ref) + len(self.extra)][4]
        return v.REFERRAL_SOURCES[s.r_source[r]]

    def decision(self, s: StoreSnapshot, i: int) -> tuple[str | None, str | None]:
        """(decision, closure reason) as stored, whenever made; (None, None) if none."""
        r = self._stored(i)
        if r < 0 or s.r_decision[r] < 0:
            return None, None
        closure = s.r_closure[r]
        return v.DECISIONS[s.r_decision[r]], (v.CLOSURE_REASONS[closure] if closure >= 0 else None)


class Extras:
    """New referrals of the batch that are not in the store, as history rows per person.

    The SQL path inserts them beside the store's referrals, so a batch of new
    referrals sees its own earlier members; so does this.
    """

    def __init__(self, s: StoreSnapshot, refs: list[dict], referral_children: list[dict]):
        self.rows: dict[int, list[tuple]] = {}
        latest = max((r["received_at"] for r in refs), default=None)
        # A referral received at or after every target's as_of is no one's history
        # (so a single referral, the service's case, needs none of this).
        by_id = {
            r["referral_id"]: r
            for r in refs
            if r["referral_id"] not in s.referral and r["received_at"] < latest
        }
        if not by_id:
            return
        for row in referral_children:
            r = by_id.get(row["referral_id"])
            p = s.person.get(row["person_id"], -1)
            if r is None or p < 0:
                continue
            received = _us(r["received_at"])
            concerns = np.array([bool(r[c]) for c in v.CONCERN_COLUMNS])
            mask = _new_referral_mask(r["source"])
            self.rows.setdefault(p, []).append(
                (received, concerns, mask, r["referral_id"], r["source"])
            )

    def for_person(self, p: int) -> list[tuple]:
        return self.rows.get(p, [])


def _new_referral_mask(source: str) -> int:
    """The static referral bits of a referral with no decision (it is not in the store)."""
    mask = 0
    for c, bit in zip(d.REFERRAL_COUNTERS, _RC_MASK, strict=True):
        if bit and (not c.sources or source in c.sources) and not (c.decision or c.closure_reason):
            mask |= int(bit)
    return mask


def history(s: StoreSnapshot, p: int, as_of: int, extras: Extras) -> History:
    """The person's referrals received strictly before ``as_of``."""
    rows = np.arange(s.rc_offsets[p], s.rc_offsets[p + 1])
    ref = s.rc_referral[rows]
    keep = s.r_received[ref] < as_of
    ref, rows = ref[keep], rows[keep]
    received = s.r_received[ref]
    concerns = s.r_concerns[ref]
    mask = s.rc_mask[rows]
    decided = s.r_decided[ref]
    extra = [x for x in extras.for_person(p) if x[0] < as_of]
    if extra:
        received = np.concatenate([received, [x[0] for x in extra]])
        concerns = np.vstack([concerns, [x[1] for x in extra]])
        mask = np.concatenate([mask, [x[2] for x in extra]])
        decided = np.concatenate([decided, [NEVER] * len(extra)])
        ref = np.concatenate([ref, [-1] * len(extra)])
    return History(received, concerns, mask, decided, ref, extra)


def visible_events(s: StoreSnapshot, p: int, as_of: int) -> np.ndarray:
    """Rows of the person's agency events recorded strictly before ``as_of``."""
    lo, hi = s.e_offsets[p], s.e_offsets[p + 1]
    rows = np.arange(lo, hi)
    return rows[s.e_recorded[lo:hi] < as_of]


def age_bounds(s: StoreSnapshot, p: int) -> np.ndarray:
    """By ``_AGE_CODE``: no bound, the person's 18th birthday, the end of their non-mobile months."""
    return np.array([NEVER, s.adult_at[p], s.non_mobile_until[p]], dtype=np.int64)


def event_hits(s: StoreSnapshot, p: int, rows: np.ndarray, as_of: int) -> np.ndarray:
    """(event row, event counter) -> does the counter count it, as of ``as_of``.

    ``rows`` are the person's :func:`visible_events`; the counter's bit, its
    window and its age limit are applied here, for the counts and the
    records behind them alike.
    """
    occurred = s.e_occurred[rows]
    hits = (s.e_mask[rows][:, None] & _EC_MASK[None, :]) != 0
    hits &= occurred[:, None] >= _thresholds(as_of, _EC_WINDOW)[None, :]
    hits &= occurred[:, None] < age_bounds(s, p)[_EC_AGE][None, :]
    return hits


def referral_hits(s: StoreSnapshot, p: int, h: History, as_of: int) -> np.ndarray:
    """(prior referral, referral counter) -> does the counter count it, as of ``as_of``."""
    hits = (_RC_MASK == 0)[None, :] | ((h.mask[:, None] & _RC_MASK[None, :]) != 0)
    hits &= h.received[:, None] >= _thresholds(as_of, _RC_WINDOW)[None, :]
    hits &= ~_RC_DECIDED[None, :] | (h.decided < as_of)[:, None]
    hits &= ~_RC_ADULT[None, :] | (h.received < s.adult_at[p])[:, None]
    return hits


def person_counters(s: StoreSnapshot, p: int, as_of: int, h: History) -> np.ndarray:
    """Every per-person counter (``COUNTER_NAMES`` order) and, last, the latest referral time.

    ``h`` is the person's :func:`history` as of ``as_of``.
    """
    out = np.zeros(len(COUNTER_NAMES) + 1)
    rows = visible_events(s, p, as_of)
    mask, occurred = s.e_mask[rows], s.e_occurred[rows]
    hits = event_hits(s, p, rows, as_of)
    n_ec = len(_EC_MASK)
    out[:n_ec] = hits.sum(axis=0)
    # A state is on if its latest start is later than its latest end (or there is no end).
    latest_start = np.where((mask[:, None] & _ST_START) != 0, occurred[:, None], _LOWEST)
    latest_end = np.where((mask[:, None] & _ST_END) != 0, occurred[:, None], _LOWEST)
    if len(occurred):
        starts, ends = latest_start.max(axis=0), latest_end.max(axis=0)
        out[n_ec : n_ec + len(_ST_START)] = (starts > _LOWEST) & (starts > ends)
    first = n_ec + len(_ST_START)
    hits = referral_hits(s, p, h, as_of)
    out[first:-1] = hits.sum(axis=0)
    out[-1] = h.received.max() if h.received.size else np.nan
    return out


# -- the feature row -----------------------------------------------------------
def targets(s: StoreSnapshot, refs: list[dict], referral_children: list[dict]) -> list[Target]:
    """The (referral, child) rows in the query's order: referral id, then person id."""
    by_id = {r["referral_id"]: r for r in refs}
    n_children: dict[str, int] = {}
    for row in referral_children:
        n_children[row["referral_id"]] = n_children.get(row["referral_id"], 0) + 1
    rows = [
        Target(
            referral_id=row["referral_id"],
            person_id=row["person_id"],
            child=s.person.get(row["person_id"], -1),
            as_of=_us(by_id[row["referral_id"]]["received_at"]),
            referral=by_id[row["referral_id"]],
            n_children=n_children[row["referral_id"]],
        )
        for row in referral_children
        if row["referral_id"] in by_id
    ]
    return sorted(rows, key=lambda t: (t.referral_id, t.person_id))


def _us(moment) -> int:
    if isinstance(moment, pd.Timestamp):
        return int(moment.as_unit("us").asm8.astype(np.int64))
    return int(np.datetime64(pd.Timestamp(moment), "us").astype(np.int64))


# Where each part of a row goes in X (FEATURE_NAMES order), computed once.
_F = {name: j for j, name in enumerate(d.FEATURE_NAMES)}


def _at(names) -> np.ndarray:
    return np.array([_F[n] for n in names], dtype=np.int64)


def _src(names) -> np.ndarray:
    return np.array([_COL[n] for n in names], dtype=np.int64)


_CHILD_AT, _CHILD_SRC = _at([f"child_{n}" for n in d.CHILD_COUNTERS]), _src(d.CHILD_COUNTERS)
_ADULT_MAX_AT = _at([f"adults_{n}_max" for n in d.ADULT_COUNTERS])
_ADULT_SUM_AT = _at([f"adults_{n}_sum" for n in d.ADULT_COUNTERS])
_ADULT_SRC = _src(d.ADULT_COUNTERS)
_SIB_AT, _SIB_SRC = _at([f"siblings_{n}_sum" for n in d.SIBLING_COUNTERS]), _src(d.SIBLING_COUNTERS)


# Each group measure: (column of X, measure, member role codes, joined within (days), window days).
def _role_table(roles) -> np.ndarray:
    """Membership of a role code (one more code for "no role") as a lookup table."""
    table = np.zeros(len(MEMBER_ROLES) + 1, dtype=bool)
    table[[MEMBER_ROLES.index(r) for r in roles]] = True
    return table


# Each household group measured: (role table, joined within (days), its measures as
# (column of X, measure, window days)); groups measured together are selected once.
_GROUPS = [
    (
        _role_table(d.MEMBERSHIPS[name].roles),
        d.WINDOWS.get(d.MEMBERSHIPS[name].joined_within or "ever"),
        [
            (
                _F[g.name],
                g.measure,
                d.WINDOWS.get(g.window or "ever"),
                g.counter and _COL[g.counter],
            )
            for g in d.GROUP_MEASURES
            if g.membership == name
        ],
    )
    for name in dict.fromkeys(g.membership for g in d.GROUP_MEASURES)
]
# Each referral flag as (column of X, referrals column, category or None for yes/no).
_FLAG_AT = [(_F[name], col, value) for f in d.REFERRAL_FLAGS for name, col, value in f.flags()]
# ...split, so a request sets a category's flag by one look-up: {column: {category: column of X}}
_CATEGORY_AT: dict[str, dict[str, int]] = {}
for _j, _col, _value in _FLAG_AT:
    if _value is not None:
        _CATEGORY_AT.setdefault(_col, {})[_value] = _j
_YES_NO_AT = np.array([j for j, _, value in _FLAG_AT if value is None], dtype=np.int64)
_YES_NO_COLUMNS = [col for _, col, value in _FLAG_AT if value is None]
# Features that are NULL (NaN) when nothing is there to measure; the rest default to 0.
_NULLABLE_AT = _at(
    [m.name for m in d.CHILD_MEASURES]
    + [g.name for g in d.GROUP_MEASURES if g.measure in d.NULLABLE_MEASURES]
)
TEXT_COLUMNS = ("referral_id", "person_id", "sex", "ethnicity", "disability")


def evaluate(
    s: StoreSnapshot,
    refs: list[dict],
    referral_children: list[dict],
    named: list[dict] | None = None,
) -> dict[str, np.ndarray]:
    """The feature query's columns for checked records (:func:`features.inputs.check_referrals`).

    ``named``: the referrals' named adults (:func:`features.inputs.check_named_adults`);
    a referral given none keeps the snapshot's (``mast link``'s), or names no one.

    Returns
    -------
    dict
        Keys and protected columns by name, as DuckDB's ``fetchnumpy`` returns
        the query, and ``"X"``: the features as one float matrix in
        ``FEATURE_NAMES`` order.
    """
    extras = Extras(s, refs, referral_children)
    # Siblings on one referral share their adults and each other: each person's
    # history and counters are worked out once per as_of.
    histories: dict[tuple[int, int], History] = {}
    cache: dict[tuple[int, int], np.ndarray] = {}

    def hist(p: int, as_of: int) -> History:
        if (p, as_of) not in histories:
            histories[(p, as_of)] = history(s, p, as_of, extras)
        return histories[(p, as_of)]

    def counters(p: int, as_of: int) -> np.ndarray:
        if (p, as_of) not in cache:
            cache[(p, as_of)] = person_counters(s, p, as_of, hist(p, as_of))
        return cache[(p, as_of)]

    given = named_groups(named or [], s.person)
    rows = targets(s, refs, referral_children)
    X = np.zeros((len(rows), len(d.FEATURE_NAMES)))
    X[:, _NULLABLE_AT] = np.nan
    cols: dict[str, list] = {
        name: [] for name in (*TEXT_COLUMNS, "received_at", "imd_decile", "age_years")
    }
    for i, t in enumerate(rows):
        group = given.get(t.referral_id) or s.named.get(t.referral_id, NO_ONE_NAMED)
        _named(group, t.as_of, counters, X[i])
        for name, value in _row(s, t, counters, hist, X[i]).items():
            cols[name].append(value)
    out: dict[str, np.ndarray] = {
        name: np.asarray(cols[name], dtype=object) for name in TEXT_COLUMNS
    }
    out["received_at"] = np.asarray(cols["received_at"], dtype=np.int64).astype("datetime64[us]")
    out["imd_decile"] = np.asarray(cols["imd_decile"], dtype=float)
    out["age_years"] = np.asarray(cols["age_years"], dtype=float)
    out["X"] = X
    return out


def _row(s: StoreSnapshot, t: Target, counters, hist, x: np.ndarray) -> dict:
    """Fill ``x`` (one row of X) for target ``t``; return its keys and protected columns."""
    c, as_of, r = t.child, t.as_of, t.referral
    known = c >= 0
    hh = household(s, c, as_of)
    imd = s.imd_decile[hh.homes]
    row = {
        "referral_id": t.referral_id,
        "person_id": t.person_id,
        "received_at": as_of,
        "sex": s.sex[c] if known else None,
        "ethnicity": s.ethnicity[c] if known else None,
        "disability": s.disability[c] if known else None,
        "imd_decile": np.nanmin(imd) if np.isfinite(imd).any() else np.nan,
        "age_years": np.nan,
    }
    for col, at in _CATEGORY_AT.items():
        if r[col] in at:
            x[at[r[col]]] = 1.0
    x[_YES_NO_AT] = [bool(r[col]) for col in _YES_NO_COLUMNS]
    concerns = np.array([bool(r[col]) for col in v.CONCERN_COLUMNS])
    x[_F["referral_n_concerns"]] = concerns.sum()
    x[_F["referral_n_children"]] = t.n_children
    if not known:
        return row
    dob = int(s.dob[c])
    days = whole_days(dob, as_of)
    row["age_years"] = days / d.DAYS_PER_YEAR
    own = counters(c, as_of)
    x[_CHILD_AT] = own[_CHILD_SRC]
    for m in d.CHILD_MEASURES:
        x[_F[m.name]] = _child_measure(m.measure, dob, own, as_of)
    h = hist(c, as_of)
    same = (h.concerns & concerns[None, :]).any(axis=1)
    for sc in d.SAME_CONCERN_COUNTERS:
        days = d.WINDOWS[sc.window]
        hit = same if days is None else same & (h.received >= as_of - days * US_PER_DAY)
        x[_F[f"child_{sc.name}"]] = hit.sum()
    _group_events(s, hh, as_of, x)
    _groups(s, hh, as_of, dob, counters, x)
    _adults(s, hh, as_of, dob, counters, x)
    _siblings(hh, as_of, counters, x)
    return row


def _child_measure(measure: str, dob: int, own: np.ndarray, as_of: int) -> float:
    """A :class:`features.definitions.ChildMeasure` (NaN when there is nothing to measure)."""
    if measure == "age_months":
        return whole_months(dob, as_of)
    last = own[-1]  # the latest earlier referral's received_at (NaN if none)
    return whole_days(int(last), as_of) if np.isfinite(last) else np.nan


def _groups(s: StoreSnapshot, hh: Household, as_of: int, dob: int, counters, x) -> None:
    """The :data:`features.definitions.GROUP_MEASURES`, each over its group of ``hh``.

    An empty group leaves 0 (a count, a flag) or NaN (the rest), as the SQL's
    LEFT JOIN and COALESCE do.
    """
    for roles, joined_days, measures in _GROUPS:
        keep = roles[hh.roles]
        if joined_days is not None:
            keep &= hh.starts >= as_of - joined_days * US_PER_DAY
        people, starts = hh.members[keep], hh.starts[keep]
        for j, measure, window_days, counter in measures:
            if measure == "count":
                x[j] = len(people)
            elif not len(people):
                continue
            elif measure == "joined_within":
                x[j] = float((starts >= as_of - window_days * US_PER_DAY).any())
            elif measure == "most":
                x[j] = max(counters(int(p), as_of)[counter] for p in people)
            elif measure == "days_since_newest_joined":
                x[j] = whole_days(starts, as_of).min()
            else:
                ages = np.floor(whole_days(s.dob[people], dob) / d.DAYS_PER_YEAR)
                x[j] = ages.min() if measure == "youngest_age_at_birth" else ages.max()


_EVENT_INDEX = {c.name: k for k, c in enumerate(d.EVENT_COUNTERS)}
# Each group event counter: (column of X, counter index, member role codes, joined within (days)).
_GROUP_EVENTS = [
    (
        _F[g.name],
        _EVENT_INDEX[g.counter],
        np.array([MEMBER_ROLES.index(r) for r in d.MEMBERSHIPS[g.membership].roles]),
        d.WINDOWS.get(d.MEMBERSHIPS[g.membership].joined_within or "ever"),
    )
    for g in d.GROUP_EVENT_COUNTERS
]


def _group_events(s: StoreSnapshot, hh: Household, as_of: int, x) -> None:
    """:data:`features.definitions.GROUP_EVENT_COUNTERS`: distinct moments across the group."""
    for j, k, roles, joined_days in _GROUP_EVENTS:
        keep = np.isin(hh.roles, roles)
        if joined_days is not None:
            keep &= hh.starts >= as_of - joined_days * US_PER_DAY
        moments: set[int] = set()
        for p in hh.members[keep]:
            rows = visible_events(s, int(p), as_of)
            moments.update(s.e_occurred[rows[event_hits(s, int(p), rows, as_of)[:, k]]].tolist())
        x[j] = len(moments)


def _adults(s: StoreSnapshot, hh: Household, as_of: int, dob: int, counters, x) -> None:
    """The household-adult features; with no adult they stay 0 (or NULL), as the SQL's LEFT JOIN."""
    adult = _IS_ADULT[hh.roles]
    people = hh.members[adult]
    if not len(people):
        return
    values = np.vstack([counters(int(p), as_of) for p in people])
    adult_values = values[:, _ADULT_SRC]
    x[_ADULT_MAX_AT] = adult_values.max(axis=0)
    x[_ADULT_SUM_AT] = adult_values.sum(axis=0)


_NAMED_AT = _at(d.NAMED_ADULT_NAMES)
_NAMED_MAX_AT = _at([f"named_adults_{n}_max" for n in d.NAMED_ADULT_COUNTERS])
_NAMED_SUM_AT = _at([f"named_adults_{n}_sum" for n in d.NAMED_ADULT_COUNTERS])
_NAMED_SRC = _src(d.NAMED_ADULT_COUNTERS)


def _named(group: NamedGroup, as_of: int, counters, x) -> None:
    """The named-adult family (``features.sql.named_ctes``): missing if anyone went unsearched."""
    if group.unsearched:
        x[_NAMED_AT] = np.nan
        return
    x[_F[d.NAMED_FOUND]] = group.found
    x[_F[d.NAMED_NOT_FOUND]] = group.not_found
    if not len(group.people):
        return
    values = np.vstack([counters(int(p), as_of) for p in group.people])[:, _NAMED_SRC]
    x[_NAMED_MAX_AT] = values.max(axis=0)
    x[_NAMED_SUM_AT] = values.sum(axis=0)


def _siblings(hh: Household, as_of: int, counters, x) -> None:
    people = hh.members[np.isin(hh.roles, _SIBLING)]
    if not len(people):
        return
    values = np.vstack([counters(int(p), as_of) for p in people])
    x[_SIB_AT] = values[:, _SIB_SRC].sum(axis=0)
