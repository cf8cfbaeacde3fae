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
and closure reason; an event's bits are those DuckDB gives its distinct
combination of agency, event type, role and severity), and the bounds the
age limits compare with (18th
birthday, the end of the non-mobile months) are computed by the same SQL
date arithmetic.  :mod:`features.ondemand` then only applies what depends on
``as_of`` or on the person: "recorded before", the windows, the age limits
and household membership, all plain comparisons of microsecond timestamps.

The snapshot is the store as it was when loaded; nothing changes under it.
The service loads a fresh one when the store changes, and merges in what
MAST received and decided since (:mod:`serving.live`).
Loading reads the big tables a range of people at a time into arrays of
their final size, so it needs little more memory than the snapshot; it
refuses a store whose rows point at a missing person, household or referral.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from features import definitions as d
from features.sql import DUCKDB, event_classes, predicate_mask, referral_classes
from store import vocabulary as v
from store.contract import REFERENCES

# "No value" for a timestamp held as int64 microseconds: later than anything,
# so "x < as_of" is false for it, as SQL's NULL comparison is.
NEVER = np.iinfo(np.int64).max
US_PER_DAY = 86_400_000_000

Progress = Callable[[str, float, float], None]


def _offsets(owner: np.ndarray, n: int) -> np.ndarray:
    """CSR offsets: rows of owner ``i`` are ``offsets[i]:offsets[i + 1]`` (rows sorted by owner)."""
    return _cumulative(np.bincount(owner, minlength=n))


def _cumulative(counts: np.ndarray) -> np.ndarray:
    """CSR offsets from the number of rows of each owner."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


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
    # The adults named on stored referrals, as ``mast link`` found them (issue #20).
    named: dict[str, NamedGroup] = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return len(self.e_occurred)

    def nbytes(self) -> int:
        """Bytes held by the arrays (ids and dicts not included)."""
        return sum(x.nbytes for x in vars(self).values() if isinstance(x, np.ndarray))

    @classmethod
    def load(
        cls, con, progress: Progress | None = None, chunk_rows: int | None = None
    ) -> StoreSnapshot:
        """Read the store behind ``con`` into memory.

        The tables grouped by person (household members, referral children
        and, above all, agency events) are read one range of people at a time,
        in the order the snapshot keeps them, into arrays allocated once at
        their final size.  Fetching a whole table and then converting it held
        DuckDB's result, the fetched columns and the converted arrays at once:
        the load peaked at about twice the snapshot.  Now it needs the
        snapshot plus one chunk.  An event's predicate bits are evaluated by
        DuckDB once per distinct (agency, event type, role, severity) and
        looked up by its codes (:class:`_EventMasks`).

        Parameters
        ----------
        con
            A DuckDB connection to a MAST store (read-only is enough).
        progress
            Optional ``progress(step, completed, total)`` callable, in rows read.
        chunk_rows
            About how many rows of a table to fetch at once (default
            :data:`CHUNK_ROWS`): bounds the memory the load needs beyond the
            snapshot itself.  The result does not depend on it.

        Raises
        ------
        ValueError
            If a row refers to a person, household or referral that is not
            in the store, or an id appears twice; the message names the
            table, the field and the key.  Also if events outside the
            vocabulary would be given one another's predicate bits.
        """
        chunk_rows = CHUNK_ROWS if chunk_rows is None else int(chunk_rows)
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        sizes = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _BY_PERSON}
        done, total = 0, 1 + sum(sizes.values())

        def step(rows: int) -> None:
            nonlocal done
            done += rows
            if progress:
                progress("snapshot", done, total)

        step(0)
        p = con.execute(
            f"""SELECT person_id, {_us("date_of_birth")} AS dob,
                {_us(DUCKDB.plus_years("date_of_birth", d.ADULT_YEARS))} AS adult_at,
                {_us(DUCKDB.plus_days("date_of_birth", d.NON_MOBILE_DAYS))} AS non_mobile_until,
                sex, ethnicity, disability
            FROM people ORDER BY person_id"""
        ).fetchnumpy()
        person_ids = np.asarray(p["person_id"], dtype=object)
        person = _index(con, person_ids, "person_id", "people")
        hh = con.execute(
            "SELECT household_id, imd_decile FROM households ORDER BY household_id"
        ).fetchnumpy()
        household_ids = np.asarray(hh["household_id"], dtype=object)
        household = _index(con, household_ids, "household_id", "households")
        imd = np.ma.filled(np.ma.asarray(hh["imd_decile"], dtype=float), np.nan)
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
        # The join above would hide both faults of a decision: one about no
        # referral drops out (refused here), a second one repeats its
        # referral (refused by _index).
        _refuse_dangling(con, "screening_decisions")
        referral = _index(con, referral_ids, "referral_id", "referrals", "screening_decisions")
        step(1)
        # The tables grouped by person come back as integers only: row
        # positions (in the id order of the lists above) and vocabulary codes,
        # never one Python string per row, so a national store fits in memory.
        read = _PersonRanges(con, person_ids, person, chunk_rows, step)
        m, m_offsets = read(
            "household_members",
            sizes["household_members"],
            lambda pp, where: (
                f"""SELECT pp.i AS person, hp.i AS household,
                CAST({_case("m.role", MEMBER_ROLES)} AS SMALLINT) AS role,
                {_us("m.start_date")} AS start_at,
                COALESCE({_us("m.end_date")}, {NEVER}) AS end_at,
                {_us("m.recorded_at")} AS recorded_at,
                COALESCE({_us("m.end_recorded_at")}, {NEVER}) AS end_recorded_at
            FROM household_members m
            JOIN {pp} pp ON pp.person_id = m.person_id
            JOIN ({_HOUSEHOLD_POSITIONS}) hp ON hp.household_id = m.household_id
            WHERE {where("m.person_id")}
            ORDER BY pp.i, hp.i, m.start_date, m.recorded_at"""
            ),
            person=np.int64,
            household=np.int64,
            role=np.int16,
            start_at=np.int64,
            end_at=np.int64,
            recorded_at=np.int64,
            end_recorded_at=np.int64,
        )
        h_rows = np.argsort(m["household"], kind="stable")
        rc, rc_offsets = read(
            "referral_children",
            sizes["referral_children"],
            lambda pp, where: (
                f"""SELECT h.person, h.referral,
                {predicate_mask(referral_classes())} AS mask
            FROM (
              SELECT pp.i AS person, rp.i AS referral, r.source, r.received_at, p.date_of_birth,
                dd.decision, dd.closure_reason
              FROM referral_children rc
              JOIN {pp} pp ON pp.person_id = rc.person_id
              JOIN ({_REFERRAL_POSITIONS}) rp ON rp.referral_id = rc.referral_id
              JOIN referrals r ON r.referral_id = rc.referral_id
              JOIN people p ON p.person_id = rc.person_id
              LEFT JOIN screening_decisions dd ON dd.referral_id = rc.referral_id
              WHERE {where("rc.person_id")}
            ) h
            ORDER BY h.person, h.referral"""
            ),
            referral=np.int64,
            mask=np.int64,
        )
        masks = _EventMasks(con)
        e, e_offsets = read(
            "agency_events",
            sizes["agency_events"],
            lambda pp, where: (
                f"""SELECT pp.i AS person, {_us("e.occurred_at")} AS occurred_at,
                {_us("e.recorded_at")} AS recorded_at, {_EVENT_CODES}
            FROM agency_events e
            JOIN {pp} pp ON pp.person_id = e.person_id
            WHERE {where("e.person_id")}
            ORDER BY pp.i, e.recorded_at, e.event_id"""
            ),
            derive=masks,
            occurred_at=np.int64,
            recorded_at=np.int64,
            mask=np.int64,
            kind=np.int16,
            role=np.int8,
            severity=np.int8,
        )
        return cls(
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
            m_offsets=m_offsets,
            m_person=m["person"],
            m_household=m["household"],
            m_role=m["role"],
            m_start=m["start_at"],
            m_end=m["end_at"],
            m_recorded=m["recorded_at"],
            m_end_recorded=m["end_recorded_at"],
            h_offsets=_offsets(m["household"][h_rows], len(household_ids)),
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
            rc_offsets=rc_offsets,
            rc_referral=rc["referral"],
            rc_mask=rc["mask"],
            e_offsets=e_offsets,
            e_occurred=e["occurred_at"],
            e_recorded=e["recorded_at"],
            e_mask=e["mask"],
            e_kind=e["kind"],
            e_role=e["role"],
            e_severity=e["severity"],
            named=named_groups(_named_rows(con), person),
        )


@dataclass(frozen=True)
class NamedGroup:
    """A referral's named adults (the :class:`~features.definitions.Membership` "named_adults").

    ``people`` are the snapshot rows of the store persons the found adults'
    records belong to (each once; a person not in ``people`` is left out, as
    the SQL's join to ``people`` leaves them out).  ``unsearched``: an adult
    could not be searched for, so the whole family is missing.
    """

    found: int
    not_found: int
    unsearched: bool
    people: np.ndarray


NO_ONE_NAMED = NamedGroup(0, 0, False, np.empty(0, dtype=np.int64))


def named_groups(rows, person: dict[str, int]) -> dict[str, NamedGroup]:
    """:class:`NamedGroup` per referral from (referral_id, adult_number, status, person_id) rows.

    The same rules as ``features.sql.named_ctes``: adults counted once each
    (an adult found to be two store persons has a row per person), a
    ``possible`` match counted with the adults not found.
    """
    from features.sql import FOUND, NOT_SEARCHED

    found: dict[str, set] = {}
    missed: dict[str, set] = {}
    unsearched: set[str] = set()
    people: dict[str, set] = {}
    for r in rows:
        ref, status = r["referral_id"], r["status"]
        found.setdefault(ref, set())
        missed.setdefault(ref, set())
        people.setdefault(ref, set())
        if status == FOUND:
            found[ref].add(r["adult_number"])
            if r["person_id"] is not None and r["person_id"] in person:
                people[ref].add(person[r["person_id"]])
        elif status == NOT_SEARCHED:
            unsearched.add(ref)
        else:
            missed[ref].add(r["adult_number"])
    return {
        ref: NamedGroup(
            len(found[ref]),
            len(missed[ref]),
            ref in unsearched,
            np.array(sorted(people[ref]), dtype=np.int64),
        )
        for ref in found
    }


def _named_rows(con) -> list[dict]:
    from features.named_adults import NAMED_COLUMNS, ensure_named_adults

    view = ensure_named_adults(con)
    got = con.execute(f"SELECT {', '.join(NAMED_COLUMNS)} FROM {view}").fetchall()
    return [dict(zip(NAMED_COLUMNS, row, strict=True)) for row in got]


# Household roles in alphabetical order, so the smallest code is SQL's MIN(role).
MEMBER_ROLES = tuple(sorted(v.HOUSEHOLD_ROLES))
EVENT_KINDS = tuple((a, t) for a, types in v.EVENT_TYPES.items() for t in types)


def _case(col: str, vocabulary) -> str:
    """SQL giving the position of ``col`` in ``vocabulary``, -1 for NULL (or unknown)."""
    whens = " ".join(f"WHEN '{x}' THEN {i}" for i, x in enumerate(vocabulary))
    return f"CASE {col} {whens} ELSE -1 END"


# An event's vocabulary codes: its kind (agency and event type), role and
# severity.  The CASE tests the agency first, then only that agency's types.
_EVENT_CODES = (
    "CAST(CASE e.agency "
    + " ".join(
        f"WHEN '{a}' THEN CASE e.event_type "
        + " ".join(f"WHEN '{t}' THEN {k}" for k, (a2, t) in enumerate(EVENT_KINDS) if a2 == a)
        + " ELSE -1 END"
        for a in dict.fromkeys(a for a, _ in EVENT_KINDS)
    )
    + " ELSE -1 END AS SMALLINT) AS kind, "
    + f"CAST({_case('e.role', v.EVENT_ROLES)} AS TINYINT) AS role, "
    + "CAST(COALESCE(e.severity, -1) AS TINYINT) AS severity"
)


class _EventMasks:
    """Each event's predicate bits, looked up by its codes; the bits evaluated by DuckDB.

    The static event predicates look only at an event's agency, event type,
    role and severity, and a store holds a few dozen distinct combinations
    of them.  DuckDB evaluates the feature query's own predicates
    (:func:`features.sql.event_classes`) once on each combination the store
    holds; every event then takes the bits of its combination by its codes.
    Evaluating forty string predicates on every event instead was most of
    the load's time.  Codes are one-to-one with the combinations for every
    value in the vocabulary; values outside it share code -1, and are
    refused should that merge combinations with different bits.
    """

    def __init__(self, con):
        combos = con.execute(
            f"""SELECT agency, event_type, role, severity, {_EVENT_CODES},
                {predicate_mask(event_classes())} AS mask
            FROM (SELECT DISTINCT agency, event_type, role, severity FROM agency_events) e
            ORDER BY ALL"""
        ).fetchall()
        self.bits = np.zeros((len(EVENT_KINDS) + 1, len(v.EVENT_ROLES) + 1, 256), np.int64)
        known: dict[tuple, tuple] = {}
        for *values, kind, role, severity, mask in combos:
            at = (kind + 1, role + 1, severity + 128)
            if at in known and self.bits[at] != mask:
                raise ValueError(
                    "agency_events: (agency, event_type, role, severity) "
                    f"{known[at]!r} and {tuple(values)!r} are not told apart by the "
                    f"vocabulary; {_CHECK}"
                )
            known[at] = tuple(values)
            self.bits[at] = mask

    def __call__(self, chunk: dict) -> dict:
        kind, role, severity = (np.asarray(chunk[c], np.intp) for c in ("kind", "role", "severity"))
        return {"mask": self.bits[kind + 1, role + 1, severity + 128]}


# How many rows of a table the load fetches at once: what the load needs
# beside the snapshot grows with it, the time hardly.  Loading 10 M events
# (0.36 GB of arrays) peaked at 0.97 / 1.08 / 1.46 GB with chunks of 256 k /
# 1 M / 4 M rows, in 5.5 / 5.6 / 5.1 s (best of three; benchmarks/bench_snapshot.py
# compares with the whole-table load).
CHUNK_ROWS = 1 << 20

# The tables read a range of people at a time.
_BY_PERSON = ("household_members", "referral_children", "agency_events")

# Row positions of households and referrals in id order, as the id lists the
# snapshot holds (both come from ORDER BY on the id).
_HOUSEHOLD_POSITIONS = (
    "SELECT household_id, row_number() OVER (ORDER BY household_id) - 1 AS i FROM households"
)
_REFERRAL_POSITIONS = (
    "SELECT referral_id, row_number() OVER (ORDER BY referral_id) - 1 AS i FROM referrals"
)

_CHECK = "run `mast load` to check the store against the contract"


class _PersonRanges:
    """Reads a table grouped by person, a range of people at a time, into arrays of its size.

    A range is people ``a`` to ``b - 1`` (positions in ``person_ids``), that
    is ids from ``person_ids[a]`` up to, not including, ``person_ids[b]``;
    the ranges cover every string, so each row falls in exactly one and a
    row whose person is missing falls in one and finds no one.  The store is
    written sorted by ``person_id``, so DuckDB's zone maps read only the row
    groups of the range; if it is not, the result is the same, only slower.
    """

    def __init__(self, con, person_ids: np.ndarray, person: dict, chunk_rows: int, step):
        self.con, self.person_ids, self.person = con, person_ids, person
        self.chunk_rows, self.step = chunk_rows, step

    def bounds(self, table: str, size: int) -> list[int]:
        """Range limits: the people at every ``chunk_rows``-th row of the table.

        Every ``chunk_rows``-th row is an even sample of the rows whatever
        their order, so the ranges hold about ``chunk_rows`` rows each (one
        person's rows are never split).
        """
        n = len(self.person_ids)
        if size <= self.chunk_rows:
            return [0, n]
        sample = self.con.execute(
            f"SELECT DISTINCT person_id FROM {table} WHERE rowid % {self.chunk_rows} = 0"
        ).fetchall()
        return sorted({self.person.get(pid, 0) for (pid,) in sample} | {0, n})

    def __call__(
        self,
        table: str,
        size: int,
        query: Callable[..., str],
        derive: Callable[[dict], dict] | None = None,
        **columns,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``columns`` of ``query``'s rows, and the per-person CSR offsets.

        ``query(pp, where)`` is the SELECT for one range: ``pp`` is a
        subquery of the range's people with their positions ``i``;
        ``where(column)`` the SQL condition keeping ``column`` in the range.
        It must return a ``person`` column (the position) and order its rows
        by it first.  ``derive(chunk)`` may add columns computed from the
        fetched ones.
        """
        n = len(self.person_ids)
        out = {c: np.empty(size, dtype=t) for c, t in columns.items()}
        counts = np.zeros(n, dtype=np.int64)
        filled = 0
        bounds = self.bounds(table, size)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):

            def where(col: str, a=a, b=b) -> str:
                limits = [f"{col} >= {_literal(self.person_ids[a])}"] if a > 0 else []
                if b < n:
                    limits.append(f"{col} < {_literal(self.person_ids[b])}")
                return " AND ".join(limits) or "TRUE"

            pp = (
                f"(SELECT person_id, {a} + row_number() OVER (ORDER BY person_id) - 1 AS i "
                f"FROM people WHERE {where('person_id')})"
            )
            chunk = self.con.execute(query(pp, where)).fetchnumpy()
            if derive:
                chunk.update(derive(chunk))
            rows = len(chunk["person"])
            if filled + rows > size:
                raise ValueError(f"{table} changed while the snapshot was loading; load it again")
            for c in columns:
                out[c][filled : filled + rows] = chunk[c]
            counts[a:b] += np.bincount(np.asarray(chunk["person"]) - a, minlength=b - a)
            filled += rows
            del chunk
            self.step(rows)
        if filled != size:
            _refuse_dangling(self.con, table)
            raise ValueError(f"{table} changed while the snapshot was loading; load it again")
        return out, _cumulative(counts)


def _literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _refuse_dangling(con, table: str) -> None:
    """Raise, naming field and key, if a row of ``table`` refers to no row of its parent.

    The snapshot holds rows by their parent's position, so such a row has
    nowhere to go; dropping it silently would change features.
    """
    broken = []
    for child, col, parent, pcol in REFERENCES:
        if child != table:
            continue
        found = con.execute(
            f"""SELECT c.{col}, count(*) OVER () FROM {child} c
            WHERE NOT EXISTS (SELECT 1 FROM {parent} x WHERE x.{pcol} = c.{col})
            ORDER BY c.{col} LIMIT 1"""
        ).fetchone()
        if found:
            broken.append(
                f"{child}.{col} {found[0]!r} is not a {pcol} in {parent} "
                f"({found[1]} row(s) of {child} refer to a missing {pcol})"
            )
    if broken:
        raise ValueError("; ".join(broken) + f"; {_CHECK}")


def _refuse_repeated(con, table: str, field: str) -> None:
    """Raise, naming the key, if ``field`` is not unique in ``table``."""
    found = con.execute(
        f"""SELECT {field}, count(*) FROM {table} GROUP BY {field}
        HAVING count(*) > 1 ORDER BY {field} LIMIT 1"""
    ).fetchone()
    if found:
        raise ValueError(
            f"{table}.{field} {found[0]!r} appears {found[1]} times; it must be unique; {_CHECK}"
        )


def _index(con, ids: np.ndarray, field: str, *tables: str) -> dict[str, int]:
    """Position of every id; refuses an id seen twice (it would shift every position after it)."""
    index = {x: i for i, x in enumerate(ids)}
    if len(index) != len(ids):
        for table in tables:
            _refuse_repeated(con, table, field)
        raise ValueError(f"{'/'.join(tables)}: a {field} appears more than once; {_CHECK}")
    return index


def _objects(col) -> np.ndarray:
    """A fetched column as an object array with None for missing values."""
    if isinstance(col, np.ma.MaskedArray):
        out = np.ma.getdata(col).astype(object)
        out[np.ma.getmaskarray(col)] = None
        return out
    return np.asarray(col, dtype=object)
