"""The store held in memory, indexed by person, for on-demand features.

The scoring service computes features for one referral at a time.  Asking
DuckDB for them costs tens of milliseconds of fixed overhead (planning,
operator set-up, copying a few dozen rows in and out), far more than the
arithmetic.  A :class:`StoreSnapshot` reads the store once, at start-up,
into numpy arrays grouped by person (compressed sparse rows), so a referral's
records are found by slicing instead of querying.

What may differ between engines is kept out of numpy.  Every *static*
predicate of the feature definitions (which event types, agencies, roles,
severities a counter looks at, "in their own childhood", "as a non-mobile
infant"; a referral counter's sources, decision and closure reason) is
evaluated here, once per record, **by DuckDB with the very SQL predicates the
feature query uses** (:func:`features.sql.event_predicate`,
:func:`features.sql.referral_predicate`), and stored as one bit per
predicate.  :mod:`features.ondemand` then only applies what depends on
``as_of``: "recorded before", the windows and household membership, which are
plain comparisons of microsecond timestamps.

The snapshot is the store as it was when loaded.  The service opens the
store read-only, so nothing can change under it; reload to see new data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from features import definitions as d
from features.sql import event_predicate, referral_predicate
from store import vocabulary as v

# "No value" for a timestamp held as int64 microseconds: later than anything,
# so "x < as_of" is false for it, as SQL's NULL comparison is.
NEVER = np.iinfo(np.int64).max
US_PER_DAY = 86_400_000_000

Progress = Callable[[str, float, float], None]


def _code(values, vocabulary) -> np.ndarray:
    """Codes of ``values`` in ``vocabulary`` (-1 for None or unknown)."""
    lookup = {x: i for i, x in enumerate(vocabulary)}
    return np.fromiter((lookup.get(x, -1) for x in values), dtype=np.int16, count=len(values))


def _offsets(owner: np.ndarray, n: int) -> np.ndarray:
    """CSR offsets: rows of owner ``i`` are ``offsets[i]:offsets[i + 1]`` (rows sorted by owner)."""
    return np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=n))]).astype(np.int64)


def event_bits() -> list[tuple[str, str]]:
    """Each static event predicate as (key, SQL over ``e`` and ``p``), in bit order.

    One bit per distinct counter filter, and a start and an end bit per state.
    """
    bits: dict[str, str] = {}
    for c in d.EVENT_COUNTERS:
        bits.setdefault(repr(c.filter), event_predicate(c.filter, dob="p.date_of_birth"))
    for s in d.EVENT_STATES:
        for kind, etype in (("start", s.start), ("end", s.end)):
            bits[f"{s.name}:{kind}"] = f"e.agency = '{s.agency}' AND e.event_type = '{etype}'"
    if len(bits) > 63:
        raise ValueError(f"{len(bits)} static event predicates do not fit one int64 mask")
    return list(bits.items())


def referral_bits() -> list[tuple[str, str]]:
    """Each referral counter's static predicate (no window) as (counter name, SQL over ``h``)."""
    out = []
    for c in d.REFERRAL_COUNTERS:
        static = d.ReferralCounter(
            name=c.name,
            window="ever",
            what=c.what,
            sources=c.sources,
            decision=c.decision,
            closure_reason=c.closure_reason,
            age_limit=c.age_limit,
        )
        out.append((c.name, referral_predicate(static)))
    return out


def _mask_sql(predicates: list[tuple[str, str]]) -> str:
    return " + ".join(
        f"(CASE WHEN {sql} THEN {1 << k} ELSE 0 END)::BIGINT"
        for k, (_, sql) in enumerate(predicates)
    )


def _us(col: str) -> str:
    return f"epoch_us(CAST({col} AS TIMESTAMP))"


@dataclass
class StoreSnapshot:
    """The contract tables as numpy arrays, grouped by person; see the module docstring.

    Build with :meth:`load`.  Ids map to row positions through ``person``,
    ``household`` and ``referral``; per-person rows of members, referral
    history and events are ``X_offsets[i]:X_offsets[i + 1]``.
    """

    person: dict[str, int]
    person_ids: np.ndarray
    dob: np.ndarray  # int64 microseconds, midnight
    adult_at: np.ndarray  # date of birth + 18 years (as the SQL computes it)
    sex: np.ndarray
    ethnicity: np.ndarray
    disability: np.ndarray
    household: dict[str, int]
    household_ids: np.ndarray
    imd_decile: np.ndarray  # float, NaN if not recorded
    # household_members, sorted by person; by_household orders them by household.
    m_offsets: np.ndarray
    m_person: np.ndarray
    m_household: np.ndarray
    m_role: np.ndarray  # code in sorted(HOUSEHOLD_ROLES): min code = alphabetically first
    m_start: np.ndarray
    m_end: np.ndarray
    m_recorded: np.ndarray
    m_end_recorded: np.ndarray
    h_offsets: np.ndarray
    h_rows: np.ndarray
    # referrals, by position.
    referral: dict[str, int]
    referral_ids: np.ndarray
    r_received: np.ndarray
    r_source: np.ndarray
    r_concerns: np.ndarray  # bool, (n, len(CONCERN_COLUMNS))
    r_decided: np.ndarray  # NEVER without a decision
    r_decision: np.ndarray
    r_closure: np.ndarray
    # referral_children, sorted by person, with the static referral-counter bits.
    rc_offsets: np.ndarray
    rc_referral: np.ndarray
    rc_mask: np.ndarray
    # agency_events, sorted by person.
    e_offsets: np.ndarray
    e_occurred: np.ndarray
    e_recorded: np.ndarray
    e_mask: np.ndarray
    e_kind: np.ndarray  # code in EVENT_KINDS: (agency, event_type)
    e_role: np.ndarray  # code in EVENT_ROLES, -1 if none
    e_severity: np.ndarray  # -1 if none
    content_hash: str | None = None

    @property
    def n_events(self) -> int:
        return len(self.e_occurred)

    def nbytes(self) -> int:
        """Bytes held by the arrays (ids and dicts not included)."""
        return sum(x.nbytes for x in vars(self).values() if isinstance(x, np.ndarray))

    @classmethod
    def load(cls, con, progress: Progress | None = None) -> StoreSnapshot:
        """Read the store behind ``con`` into memory.

        Parameters
        ----------
        con
            A DuckDB connection to a MAST store (read-only is enough).
        progress
            Optional ``progress(step, completed, total)`` callable.
        """
        steps = 5

        def step(i: int) -> None:
            if progress:
                progress("snapshot", i, steps)

        step(0)
        p = con.execute(
            f"""SELECT person_id, {_us("date_of_birth")} AS dob,
                {_us(f"date_of_birth + INTERVAL '{d.ADULT_YEARS}' YEAR")} AS adult_at,
                sex, ethnicity, disability
            FROM people ORDER BY person_id"""
        ).fetchnumpy()
        person_ids = np.asarray(p["person_id"], dtype=object)
        person = {pid: i for i, pid in enumerate(person_ids)}
        hh = con.execute(
            "SELECT household_id, imd_decile FROM households ORDER BY household_id"
        ).fetchnumpy()
        household_ids = np.asarray(hh["household_id"], dtype=object)
        household = {h: i for i, h in enumerate(household_ids)}
        imd = np.ma.filled(np.ma.asarray(hh["imd_decile"], dtype=float), np.nan)
        step(1)
        m = con.execute(
            f"""SELECT person_id, household_id, role, {_us("start_date")} AS start_at,
                COALESCE({_us("end_date")}, {NEVER}) AS end_at, {_us("recorded_at")} AS recorded_at,
                COALESCE({_us("end_recorded_at")}, {NEVER}) AS end_recorded_at
            FROM household_members ORDER BY person_id, household_id, start_date, recorded_at"""
        ).fetchnumpy()
        m_person = _index(person, m["person_id"], "household_members.person_id")
        m_household = _index(household, m["household_id"], "household_members.household_id")
        h_rows = np.argsort(m_household, kind="stable")
        step(2)
        concerns = ", ".join(v.CONCERN_COLUMNS)
        r = con.execute(
            f"""SELECT r.referral_id, {_us("r.received_at")} AS received_at, r.source, {concerns},
                COALESCE({_us("dd.decided_at")}, {NEVER}) AS decided_at, dd.decision, dd.closure_reason
            FROM referrals r LEFT JOIN screening_decisions dd USING (referral_id)
            ORDER BY r.referral_id"""
        ).fetchnumpy()
        referral_ids = np.asarray(r["referral_id"], dtype=object)
        referral = {rid: i for i, rid in enumerate(referral_ids)}
        rc = con.execute(
            f"""SELECT h.person_id, h.referral_id, {_mask_sql(referral_bits())} AS mask
            FROM (
              SELECT rc.person_id, rc.referral_id, r.source, r.received_at, p.date_of_birth,
                dd.decision, dd.closure_reason
              FROM referral_children rc
              JOIN referrals r ON r.referral_id = rc.referral_id
              JOIN people p ON p.person_id = rc.person_id
              LEFT JOIN screening_decisions dd ON dd.referral_id = rc.referral_id
            ) h
            ORDER BY h.person_id, h.referral_id"""
        ).fetchnumpy()
        rc_person = _index(person, rc["person_id"], "referral_children.person_id")
        step(3)
        e = con.execute(
            f"""SELECT e.person_id, {_us("e.occurred_at")} AS occurred_at,
                {_us("e.recorded_at")} AS recorded_at, {_mask_sql(event_bits())} AS mask,
                e.agency, e.event_type, e.role, COALESCE(e.severity, -1) AS severity
            FROM agency_events e JOIN people p ON p.person_id = e.person_id
            ORDER BY e.person_id, e.recorded_at, e.event_id"""
        ).fetchnumpy()
        e_person = _index(person, e["person_id"], "agency_events.person_id")
        kinds = {k: i for i, k in enumerate(EVENT_KINDS)}
        e_kind = np.fromiter(
            (kinds[(a, t)] for a, t in zip(e["agency"], e["event_type"], strict=True)),
            dtype=np.int16,
            count=len(e_person),
        )
        step(4)
        n_people = len(person_ids)
        snap = cls(
            person=person,
            person_ids=person_ids,
            dob=np.asarray(p["dob"], dtype=np.int64),
            adult_at=np.asarray(p["adult_at"], dtype=np.int64),
            sex=_objects(p["sex"]),
            ethnicity=_objects(p["ethnicity"]),
            disability=_objects(p["disability"]),
            household=household,
            household_ids=household_ids,
            imd_decile=imd,
            m_offsets=_offsets(m_person, n_people),
            m_person=m_person,
            m_household=m_household,
            m_role=_code(m["role"], MEMBER_ROLES),
            m_start=np.asarray(m["start_at"], dtype=np.int64),
            m_end=np.asarray(m["end_at"], dtype=np.int64),
            m_recorded=np.asarray(m["recorded_at"], dtype=np.int64),
            m_end_recorded=np.asarray(m["end_recorded_at"], dtype=np.int64),
            h_offsets=_offsets(m_household[h_rows], len(household_ids)),
            h_rows=h_rows,
            referral=referral,
            referral_ids=referral_ids,
            r_received=np.asarray(r["received_at"], dtype=np.int64),
            r_source=_code(r["source"], v.REFERRAL_SOURCES),
            r_concerns=np.column_stack(
                [np.asarray(r[c], dtype=bool) for c in v.CONCERN_COLUMNS]
            ).reshape(len(referral_ids), len(v.CONCERN_COLUMNS)),
            r_decided=np.asarray(r["decided_at"], dtype=np.int64),
            r_decision=_code(_objects(r["decision"]), v.DECISIONS),
            r_closure=_code(_objects(r["closure_reason"]), v.CLOSURE_REASONS),
            rc_offsets=_offsets(rc_person, n_people),
            rc_referral=_index(referral, rc["referral_id"], "referral_children.referral_id"),
            rc_mask=np.asarray(rc["mask"], dtype=np.int64),
            e_offsets=_offsets(e_person, n_people),
            e_occurred=np.asarray(e["occurred_at"], dtype=np.int64),
            e_recorded=np.asarray(e["recorded_at"], dtype=np.int64),
            e_mask=np.asarray(e["mask"], dtype=np.int64),
            e_kind=e_kind,
            e_role=_code(_objects(e["role"]), v.EVENT_ROLES).astype(np.int8),
            e_severity=np.asarray(e["severity"], dtype=np.int8),
        )
        step(5)
        return snap


# Household roles in alphabetical order, so the smallest code is SQL's MIN(role).
MEMBER_ROLES = tuple(sorted(v.HOUSEHOLD_ROLES))
EVENT_KINDS = tuple((a, t) for a, types in v.EVENT_TYPES.items() for t in types)


def _objects(col) -> np.ndarray:
    """A fetched column as an object array with None for missing values."""
    if isinstance(col, np.ma.MaskedArray):
        out = np.ma.getdata(col).astype(object)
        out[np.ma.getmaskarray(col)] = None
        return out
    return np.asarray(col, dtype=object)


def _index(lookup: dict[str, int], ids, what: str) -> np.ndarray:
    try:
        return np.fromiter((lookup[i] for i in ids), dtype=np.int64, count=len(ids))
    except KeyError as err:
        raise ValueError(f"{what}: {err.args[0]!r} is not in the store") from err
