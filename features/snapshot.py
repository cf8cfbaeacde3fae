"""The store held in memory, indexed by person, for on-demand features.

The scoring service computes features for one referral at a time.  Asking
DuckDB for them costs tens of milliseconds of fixed overhead (planning,
operator set-up, copying a few dozen rows in and out), far more than the
arithmetic.  A :class:`StoreSnapshot` reads the store once, at start-up,
into numpy arrays grouped by person (compressed sparse rows), so a referral's
records are found by slicing instead of querying.

What may differ between engines is kept out of numpy.  Each record is
classified once, at load, **by DuckDB into the very predicate bits the
feature query classifies it into** (:func:`features.sql.event_classes`,
:func:`features.sql.referral_classes`: which event types, agencies, roles
and severities a counter looks at; a referral counter's sources, decision
and closure reason), and the bounds the age limits compare with (18th
birthday, the end of the non-mobile months) are computed by the same SQL
date arithmetic.  :mod:`features.ondemand` then only applies what depends on
``as_of`` or on the person: "recorded before", the windows, the age limits
and household membership, all plain comparisons of microsecond timestamps.

The snapshot is the store as it was when loaded.  The service opens the
store read-only, so nothing can change under it; reload to see new data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from features import definitions as d
from features.sql import DUCKDB, event_classes, predicate_mask, referral_classes
from store import vocabulary as v

# "No value" for a timestamp held as int64 microseconds: later than anything,
# so "x < as_of" is false for it, as SQL's NULL comparison is.
NEVER = np.iinfo(np.int64).max
US_PER_DAY = 86_400_000_000

Progress = Callable[[str, float, float], None]


def _offsets(owner: np.ndarray, n: int) -> np.ndarray:
    """CSR offsets: rows of owner ``i`` are ``offsets[i]:offsets[i + 1]`` (rows sorted by owner)."""
    return np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=n))]).astype(np.int64)


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
    non_mobile_until: np.ndarray  # date of birth + NON_MOBILE_DAYS (as the SQL computes it)
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
                {_us(DUCKDB.plus_years("date_of_birth", d.ADULT_YEARS))} AS adult_at,
                {_us(DUCKDB.plus_days("date_of_birth", d.NON_MOBILE_DAYS))} AS non_mobile_until,
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
        # Big tables come back as integers only: row positions (from the same
        # ORDER BY as the id lists above) and vocabulary codes, never one Python
        # string per row, so a national store fits in memory.
        m = con.execute(
            f"""WITH {_POSITIONS}
            SELECT pp.i AS person, hp.i AS household, {_case("m.role", MEMBER_ROLES)} AS role,
                {_us("m.start_date")} AS start_at,
                COALESCE({_us("m.end_date")}, {NEVER}) AS end_at,
                {_us("m.recorded_at")} AS recorded_at,
                COALESCE({_us("m.end_recorded_at")}, {NEVER}) AS end_recorded_at
            FROM household_members m
            JOIN pp ON pp.person_id = m.person_id
            JOIN hp ON hp.household_id = m.household_id
            ORDER BY pp.i, hp.i, m.start_date, m.recorded_at"""
        ).fetchnumpy()
        _check_count(con, "household_members", len(m["person"]))
        m_person = np.asarray(m["person"], dtype=np.int64)
        m_household = np.asarray(m["household"], dtype=np.int64)
        h_rows = np.argsort(m_household, kind="stable")
        step(2)
        concerns = ", ".join(f"r.{c}" for c in v.CONCERN_COLUMNS)
        r = con.execute(
            f"""SELECT r.referral_id, {_us("r.received_at")} AS received_at,
                {_case("r.source", v.REFERRAL_SOURCES)} AS source, {concerns},
                COALESCE({_us("dd.decided_at")}, {NEVER}) AS decided_at,
                {_case("dd.decision", v.DECISIONS)} AS decision,
                {_case("dd.closure_reason", v.CLOSURE_REASONS)} AS closure_reason
            FROM referrals r LEFT JOIN screening_decisions dd USING (referral_id)
            ORDER BY r.referral_id"""
        ).fetchnumpy()
        referral_ids = np.asarray(r["referral_id"], dtype=object)
        referral = {rid: i for i, rid in enumerate(referral_ids)}
        rc = con.execute(
            f"""WITH {_POSITIONS}
            SELECT h.person, h.referral, {predicate_mask(referral_classes())} AS mask
            FROM (
              SELECT pp.i AS person, rp.i AS referral, r.source, r.received_at, p.date_of_birth,
                dd.decision, dd.closure_reason
              FROM referral_children rc
              JOIN pp ON pp.person_id = rc.person_id
              JOIN rp ON rp.referral_id = rc.referral_id
              JOIN referrals r ON r.referral_id = rc.referral_id
              JOIN people p ON p.person_id = rc.person_id
              LEFT JOIN screening_decisions dd ON dd.referral_id = rc.referral_id
            ) h
            ORDER BY h.person, h.referral"""
        ).fetchnumpy()
        _check_count(con, "referral_children", len(rc["person"]))
        rc_person = np.asarray(rc["person"], dtype=np.int64)
        step(3)
        kind = " ".join(
            f"WHEN e.agency = '{a}' AND e.event_type = '{t}' THEN {k}"
            for k, (a, t) in enumerate(EVENT_KINDS)
        )
        e = con.execute(
            f"""WITH {_POSITIONS}
            SELECT pp.i AS person, {_us("e.occurred_at")} AS occurred_at,
                {_us("e.recorded_at")} AS recorded_at, {predicate_mask(event_classes())} AS mask,
                CASE {kind} ELSE -1 END AS kind, {_case("e.role", v.EVENT_ROLES)} AS role,
                COALESCE(e.severity, -1) AS severity
            FROM agency_events e
            JOIN pp ON pp.person_id = e.person_id
            JOIN people p ON p.person_id = e.person_id
            ORDER BY pp.i, e.recorded_at, e.event_id"""
        ).fetchnumpy()
        _check_count(con, "agency_events", len(e["person"]))
        e_person = np.asarray(e["person"], dtype=np.int64)
        e_kind = np.asarray(e["kind"], dtype=np.int16)
        step(4)
        n_people = len(person_ids)
        snap = cls(
            person=person,
            person_ids=person_ids,
            dob=np.asarray(p["dob"], dtype=np.int64),
            adult_at=np.asarray(p["adult_at"], dtype=np.int64),
            non_mobile_until=np.asarray(p["non_mobile_until"], dtype=np.int64),
            sex=_objects(p["sex"]),
            ethnicity=_objects(p["ethnicity"]),
            disability=_objects(p["disability"]),
            household=household,
            household_ids=household_ids,
            imd_decile=imd,
            m_offsets=_offsets(m_person, n_people),
            m_person=m_person,
            m_household=m_household,
            m_role=np.asarray(m["role"], dtype=np.int16),
            m_start=np.asarray(m["start_at"], dtype=np.int64),
            m_end=np.asarray(m["end_at"], dtype=np.int64),
            m_recorded=np.asarray(m["recorded_at"], dtype=np.int64),
            m_end_recorded=np.asarray(m["end_recorded_at"], dtype=np.int64),
            h_offsets=_offsets(m_household[h_rows], len(household_ids)),
            h_rows=h_rows,
            referral=referral,
            referral_ids=referral_ids,
            r_received=np.asarray(r["received_at"], dtype=np.int64),
            r_source=np.asarray(r["source"], dtype=np.int16),
            r_concerns=np.column_stack(
                [np.asarray(r[c], dtype=bool) for c in v.CONCERN_COLUMNS]
            ).reshape(len(referral_ids), len(v.CONCERN_COLUMNS)),
            r_decided=np.asarray(r["decided_at"], dtype=np.int64),
            r_decision=np.asarray(r["decision"], dtype=np.int16),
            r_closure=np.asarray(r["closure_reason"], dtype=np.int16),
            rc_offsets=_offsets(rc_person, n_people),
            rc_referral=np.asarray(rc["referral"], dtype=np.int64),
            rc_mask=np.asarray(rc["mask"], dtype=np.int64),
            e_offsets=_offsets(e_person, n_people),
            e_occurred=np.asarray(e["occurred_at"], dtype=np.int64),
            e_recorded=np.asarray(e["recorded_at"], dtype=np.int64),
            e_mask=np.asarray(e["mask"], dtype=np.int64),
            e_kind=e_kind,
            e_role=np.asarray(e["role"], dtype=np.int8),
            e_severity=np.asarray(e["severity"], dtype=np.int8),
        )
        step(5)
        return snap


# Household roles in alphabetical order, so the smallest code is SQL's MIN(role).
MEMBER_ROLES = tuple(sorted(v.HOUSEHOLD_ROLES))
EVENT_KINDS = tuple((a, t) for a, types in v.EVENT_TYPES.items() for t in types)


# Row positions of people, households and referrals in id order, as the id
# lists the snapshot holds (both come from ORDER BY on the id).
_POSITIONS = """pp AS (SELECT person_id, row_number() OVER (ORDER BY person_id) - 1 AS i FROM people),
    hp AS (SELECT household_id, row_number() OVER (ORDER BY household_id) - 1 AS i FROM households),
    rp AS (SELECT referral_id, row_number() OVER (ORDER BY referral_id) - 1 AS i FROM referrals)"""


def _case(col: str, vocabulary) -> str:
    """SQL giving the position of ``col`` in ``vocabulary``, -1 for NULL (or unknown)."""
    whens = " ".join(f"WHEN '{x}' THEN {i}" for i, x in enumerate(vocabulary))
    return f"CASE {col} {whens} ELSE -1 END"


def _check_count(con, table: str, loaded: int) -> None:
    """Every row must have found its person, household and referral (the contract's keys)."""
    stored = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if stored != loaded:
        raise ValueError(
            f"{table}: {stored - loaded} row(s) refer to a person, household or referral "
            "that is not in the store; run `mast load` to check the store against the contract"
        )


def _objects(col) -> np.ndarray:
    """A fetched column as an object array with None for missing values."""
    if isinstance(col, np.ma.MaskedArray):
        out = np.ma.getdata(col).astype(object)
        out[np.ma.getmaskarray(col)] = None
        return out
    return np.asarray(col, dtype=object)
