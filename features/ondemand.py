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
    US_PER_DAY,
    StoreSnapshot,
    event_bits,
    referral_bits,
)
from store import vocabulary as v

# -- the definitions, compiled to arrays once ---------------------------------
_BIT = {key: k for k, (key, _) in enumerate(event_bits())}
_EC_MASK = np.array([1 << _BIT[repr(c.filter)] for c in d.EVENT_COUNTERS], dtype=np.int64)
_EC_DAYS = [d.WINDOWS[c.window] for c in d.EVENT_COUNTERS]
_ST_START = [1 << _BIT[f"{s.name}:start"] for s in d.EVENT_STATES]
_ST_END = [1 << _BIT[f"{s.name}:end"] for s in d.EVENT_STATES]
_RC_MASK = np.array([1 << k for k in range(len(referral_bits()))], dtype=np.int64)
_RC_DAYS = [d.WINDOWS[c.window] for c in d.REFERRAL_COUNTERS]
_RC_DECIDED = np.array([bool(c.decision or c.closure_reason) for c in d.REFERRAL_COUNTERS])
COUNTER_NAMES = [c.name for c in [*d.EVENT_COUNTERS, *d.EVENT_STATES, *d.REFERRAL_COUNTERS]]
_COL = {name: i for i, name in enumerate(COUNTER_NAMES)}
_ADULT = np.array([MEMBER_ROLES.index(r) for r in v.ADULT_ROLES])
_CHILD = MEMBER_ROLES.index("child")
_PARENT = MEMBER_ROLES.index("parent")
_LOWEST = np.iinfo(np.int64).min


def _thresholds(as_of: int, days: list[int | None]) -> np.ndarray:
    """``as_of - N days`` per counter; "ever" lets everything through."""
    return np.array([_LOWEST if n is None else as_of - n * US_PER_DAY for n in days])


def whole_days(start, end):
    """SQL's ``FLOOR(microseconds between / 86400000000.0)``, for int64 microseconds."""
    return np.floor((np.asarray(end, dtype=np.int64) - start) / float(US_PER_DAY))


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


def _active(s: StoreSnapshot, rows: np.ndarray, as_of: int) -> np.ndarray:
    ended = (s.m_end[rows] < as_of) & (s.m_end_recorded[rows] < as_of)
    return (s.m_recorded[rows] < as_of) & (s.m_start[rows] <= as_of) & ~ended


def household(s: StoreSnapshot, child: int, as_of: int) -> Household:
    """``features.sql.household_ctes`` for one child: homes, then their other members."""
    if child < 0:
        empty = np.empty(0, dtype=np.int64)
        return Household(empty, empty, empty, empty)
    own = np.arange(s.m_offsets[child], s.m_offsets[child + 1])
    homes = np.unique(s.m_household[own[_active(s, own, as_of)]])
    rows = np.concatenate(
        [s.h_rows[s.h_offsets[h] : s.h_offsets[h + 1]] for h in homes] or [np.empty(0, np.int64)]
    ).astype(np.int64)
    rows = rows[(s.m_person[rows] != child) & _active(s, rows, as_of)]
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
    referral: list  # referral ids
    source: list
    decision: list  # as stored (None without a decision), visible or not
    closure: list


class Extras:
    """New referrals of the batch that are not in the store, as history rows per person.

    The SQL path inserts them beside the store's referrals, so a batch of new
    referrals sees its own earlier members; so does this.
    """

    def __init__(self, s: StoreSnapshot, refs: list[dict], kids: list[dict]):
        self.rows: dict[int, list[tuple]] = {}
        by_id = {r["referral_id"]: r for r in refs if r["referral_id"] not in s.referral}
        if not by_id:
            return
        for kid in kids:
            r = by_id.get(kid["referral_id"])
            p = s.person.get(kid["person_id"], -1)
            if r is None or p < 0:
                continue
            received = _us(r["received_at"])
            concerns = np.array([bool(r[c]) for c in v.CONCERN_COLUMNS])
            mask = _new_referral_mask(r["source"], received, int(s.adult_at[p]))
            self.rows.setdefault(p, []).append(
                (received, concerns, mask, r["referral_id"], r["source"])
            )

    def for_person(self, p: int) -> list[tuple]:
        return self.rows.get(p, [])


def _new_referral_mask(source: str, received: int, adult_at: int) -> int:
    """The static referral bits of a referral with no decision (it is not in the store)."""
    mask = 0
    for k, c in enumerate(d.REFERRAL_COUNTERS):
        ok = (not c.sources or source in c.sources) and not (c.decision or c.closure_reason)
        if c.age_limit == "adult":
            ok = ok and received < adult_at
        if ok:
            mask |= 1 << k
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
    ids = list(s.referral_ids[ref])
    source = [v.REFERRAL_SOURCES[i] for i in s.r_source[ref]]
    decision = [v.DECISIONS[i] if i >= 0 else None for i in s.r_decision[ref]]
    closure = [v.CLOSURE_REASONS[i] if i >= 0 else None for i in s.r_closure[ref]]
    extra = [x for x in extras.for_person(p) if x[0] < as_of]
    if extra:
        received = np.concatenate([received, [x[0] for x in extra]])
        concerns = np.vstack([concerns, [x[1] for x in extra]])
        mask = np.concatenate([mask, [x[2] for x in extra]])
        decided = np.concatenate([decided, [NEVER] * len(extra)])
        ids += [x[3] for x in extra]
        source += [x[4] for x in extra]
        decision += [None] * len(extra)
        closure += [None] * len(extra)
    return History(received, concerns, mask, decided, ids, source, decision, closure)


def visible_events(s: StoreSnapshot, p: int, as_of: int) -> np.ndarray:
    """Rows of the person's agency events recorded strictly before ``as_of``."""
    lo, hi = s.e_offsets[p], s.e_offsets[p + 1]
    rows = np.arange(lo, hi)
    return rows[s.e_recorded[lo:hi] < as_of]


def person_counters(s: StoreSnapshot, p: int, as_of: int, extras: Extras) -> np.ndarray:
    """Every per-person counter (``COUNTER_NAMES`` order) and, last, the latest referral time."""
    out = np.zeros(len(COUNTER_NAMES) + 1)
    rows = visible_events(s, p, as_of)
    mask, occurred = s.e_mask[rows], s.e_occurred[rows]
    hits = (mask[:, None] & _EC_MASK[None, :]) != 0
    hits &= occurred[:, None] >= _thresholds(as_of, _EC_DAYS)[None, :]
    n_ec = len(_EC_MASK)
    out[:n_ec] = hits.sum(axis=0)
    for k, (start_bit, end_bit) in enumerate(zip(_ST_START, _ST_END, strict=True)):
        starts = occurred[(mask & start_bit) != 0]
        ends = occurred[(mask & end_bit) != 0]
        out[n_ec + k] = float(starts.size > 0 and (ends.size == 0 or starts.max() > ends.max()))
    h = history(s, p, as_of, extras)
    first = n_ec + len(_ST_START)
    hits = (h.mask[:, None] & _RC_MASK[None, :]) != 0
    hits &= h.received[:, None] >= _thresholds(as_of, _RC_DAYS)[None, :]
    hits &= ~_RC_DECIDED[None, :] | (h.decided < as_of)[:, None]
    out[first:-1] = hits.sum(axis=0)
    out[-1] = h.received.max() if h.received.size else np.nan
    return out


# -- the feature row -----------------------------------------------------------
def targets(s: StoreSnapshot, refs: list[dict], kids: list[dict]) -> list[Target]:
    """The (referral, child) rows in the query's order: referral id, then person id."""
    by_id = {r["referral_id"]: r for r in refs}
    n_children: dict[str, int] = {}
    for kid in kids:
        n_children[kid["referral_id"]] = n_children.get(kid["referral_id"], 0) + 1
    rows = [
        Target(
            referral_id=kid["referral_id"],
            person_id=kid["person_id"],
            child=s.person.get(kid["person_id"], -1),
            as_of=_us(by_id[kid["referral_id"]]["received_at"]),
            referral=by_id[kid["referral_id"]],
            n_children=n_children[kid["referral_id"]],
        )
        for kid in kids
        if kid["referral_id"] in by_id
    ]
    return sorted(rows, key=lambda t: (t.referral_id, t.person_id))


def _us(moment) -> int:
    if isinstance(moment, pd.Timestamp):
        return int(moment.as_unit("us").asm8.astype(np.int64))
    return int(np.datetime64(pd.Timestamp(moment), "us").astype(np.int64))


def evaluate(s: StoreSnapshot, refs: list[dict], kids: list[dict]) -> dict[str, np.ndarray]:
    """The feature query's columns for checked records (:func:`features.inputs.check_referrals`).

    Returns
    -------
    dict
        Column name to array, as DuckDB's ``fetchnumpy`` returns the query.
    """
    extras = Extras(s, refs, kids)
    cache: dict[tuple[int, int], np.ndarray] = {}

    def counters(p: int, as_of: int) -> np.ndarray:
        key = (p, as_of)
        if key not in cache:
            cache[key] = person_counters(s, p, as_of, extras)
        return cache[key]

    rows = targets(s, refs, kids)
    cols: dict[str, list] = {
        name: []
        for name in (
            "referral_id",
            "person_id",
            "received_at",
            "sex",
            "ethnicity",
            "disability",
            "imd_decile",
            "age_years",
            *d.FEATURE_NAMES,
        )
    }
    for t in rows:
        for name, value in _row(s, t, counters, extras).items():
            cols[name].append(value)
    text = ("referral_id", "person_id", "sex", "ethnicity", "disability")
    out = {name: np.asarray(cols[name], dtype=object) for name in text}
    out["received_at"] = np.asarray(cols["received_at"], dtype="datetime64[us]")
    for name, values in cols.items():
        if name not in out:
            out[name] = np.asarray(values, dtype=float)
    return out


def _row(s: StoreSnapshot, t: Target, counters, extras: Extras) -> dict:
    c, as_of, r = t.child, t.as_of, t.referral
    known = c >= 0
    dob = int(s.dob[c]) if known else None
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
        "age_years": whole_days(dob, as_of) / d.DAYS_PER_YEAR if known else np.nan,
    }
    x: dict[str, float] = {}
    x["child_age_months"] = np.floor(whole_days(dob, as_of) / d.DAYS_PER_MONTH) if known else np.nan
    own = counters(c, as_of) if known else np.zeros(len(COUNTER_NAMES) + 1)
    if known:
        x["child_days_since_last_referral"] = (
            whole_days(own[-1], as_of) if np.isfinite(own[-1]) else np.nan
        )
    else:
        x["child_days_since_last_referral"] = np.nan
    same_ever = same_12m = 0
    if known:
        h = history(s, c, as_of, extras)
        this = np.array([bool(r[col]) for col in v.CONCERN_COLUMNS])
        same = (h.concerns & this[None, :]).any(axis=1)
        same_ever = int(same.sum())
        same_12m = int((same & (h.received >= as_of - d.WINDOWS["12m"] * US_PER_DAY)).sum())
    x["child_prior_referrals_same_concern_12m"] = same_12m
    x["child_prior_referrals_same_concern_ever"] = same_ever
    for src in v.REFERRAL_SOURCES:
        x[f"referral_source_{src}"] = float(r["source"] == src)
    for rel in v.REFERRER_RELATIONSHIPS:
        x[f"referrer_{rel}"] = float(r["referrer_relationship"] == rel)
    for col in v.CONCERN_COLUMNS:
        x[f"referral_{col}"] = float(bool(r[col]))
    x["referral_n_concerns"] = float(sum(bool(r[col]) for col in v.CONCERN_COLUMNS))
    x["referral_n_children"] = float(t.n_children)
    x.update(_adult_features(s, hh, as_of, dob, counters))
    x.update(_sibling_features(hh, as_of, counters))
    for name in d.CHILD_COUNTERS:
        x[f"child_{name}"] = own[_COL[name]]
    row.update({name: x[name] for name in d.FEATURE_NAMES})
    return row


def _adult_features(s: StoreSnapshot, hh: Household, as_of: int, dob, counters) -> dict:
    adult = np.isin(hh.roles, _ADULT)
    people, roles, starts = hh.members[adult], hh.roles[adult], hh.starts[adult]
    x: dict[str, float] = {"household_n_adults": float(len(people))}
    if not len(people) or dob is None:
        # No adult row: the SQL's LEFT JOIN leaves counts at 0 and the rest NULL.
        x.update({f"household_new_adult_{w}": 0.0 for w in d.NEW_ADULT_WINDOWS})
        x["household_n_adults"] = 0.0
        for name in ("household_days_since_adult_joined", "parent_age_at_birth_min"):
            x[name] = np.nan
        x["parent_age_at_birth_max"] = np.nan
        x.update({f"adults_{n}_{a}": 0.0 for n in d.ADULT_COUNTERS for a in ("max", "sum")})
        x.update({f"new_adults_{n}_max": 0.0 for n in d.NEW_ADULT_COUNTERS})
        return x
    for w in d.NEW_ADULT_WINDOWS:
        x[f"household_new_adult_{w}"] = float((starts >= as_of - d.WINDOWS[w] * US_PER_DAY).any())
    x["household_days_since_adult_joined"] = float(whole_days(starts, as_of).min())
    parents = people[roles == _PARENT]
    ages = np.floor(whole_days(s.dob[parents], dob) / d.DAYS_PER_YEAR)
    x["parent_age_at_birth_min"] = float(ages.min()) if ages.size else np.nan
    x["parent_age_at_birth_max"] = float(ages.max()) if ages.size else np.nan
    values = np.vstack([counters(int(p), as_of) for p in people])
    for n in d.ADULT_COUNTERS:
        col = values[:, _COL[n]]
        x[f"adults_{n}_max"] = float(col.max())
        x[f"adults_{n}_sum"] = float(col.sum())
    joined = starts >= as_of - d.WINDOWS["12m"] * US_PER_DAY
    for n in d.NEW_ADULT_COUNTERS:
        x[f"new_adults_{n}_max"] = float(np.where(joined, values[:, _COL[n]], 0).max())
    return x


def _sibling_features(hh: Household, as_of: int, counters) -> dict:
    people = hh.members[hh.roles == _CHILD]
    x: dict[str, float] = {"household_n_siblings": float(len(people))}
    if not len(people):
        x.update({f"siblings_{n}_sum": 0.0 for n in d.SIBLING_COUNTERS})
        return x
    values = np.vstack([counters(int(p), as_of) for p in people])
    for n in d.SIBLING_COUNTERS:
        x[f"siblings_{n}_sum"] = float(values[:, _COL[n]].sum())
    return x
