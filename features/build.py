"""Build the point-in-time feature table: one row per (referral, child).

The SQL engine's machinery (:class:`features.engines.SQLEngine`).  For training it
runs the feature SQL over the whole store in chunks of referrals (bounded
memory, real progress).  For serving it registers the new referral's rows,
narrows every input table to the few people that referral concerns (using the
store's sort order on ``person_id`` so DuckDB reads only a handful of row
groups), and runs the *same* SQL text over those narrowed tables.  Narrowing
cannot change a value: every row it drops belongs to someone outside the
child's households.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from features import definitions as d
from features.inputs import REFERRAL_COLUMNS, Rows, as_frames, check_referrals, named_frame
from features.named_adults import NAMED_COLUMNS, ensure_named_adults
from features.snapshot import StoreSnapshot
from features.sql import DUCKDB, NAMED_ADULTS_VIEW, STORE_RELATIONS, feature_query
from store import OPTIONAL_COLUMNS, SCHEMAS, create_schema
from store import vocabulary as v

KEY_COLUMNS = ("referral_id", "person_id", "received_at")
PROTECTED_COLUMNS = (
    "sex",
    "ethnicity",
    "disability",
    "imd_decile",
    "deprivation_quintile",
    "age_band",
)
_REFERRAL_COLUMNS = REFERRAL_COLUMNS

Progress = Callable[[str, float, float], None]


class FeatureTable:
    """Features beside their keys and the protected characteristics kept for audit.

    ``keys``, ``X`` and ``protected`` share one index and row order (sorted by
    ``referral_id`` then ``person_id``).  ``X`` holds model inputs only, all
    float64; protected characteristics are never in it, so a model cannot use
    them unless someone deliberately joins them in.  From the SQL, ``X`` is
    stored feature-major (each column contiguous, pandas' own layout), so
    ``X.to_numpy()`` is Fortran-ordered.

    ``protected`` may be given as a function that builds it: the scoring
    service never reads it, and building a DataFrame costs more than a
    referral's features, so it is only built when first read.
    """

    def __init__(
        self,
        keys: pd.DataFrame,
        X: pd.DataFrame,
        protected: pd.DataFrame | Callable[[], pd.DataFrame],
    ):
        self.keys = keys
        self.X = X
        self._protected = protected

    @property
    def protected(self) -> pd.DataFrame:
        if callable(self._protected):
            self._protected = self._protected()
        return self._protected

    @property
    def feature_names(self) -> list[str]:
        return list(self.X.columns)

    def __len__(self) -> int:
        return len(self.X)

    def to_frame(self) -> pd.DataFrame:
        """Keys, protected characteristics and features side by side (for Parquet)."""
        return pd.concat([self.keys, self.protected, self.X], axis=1)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> FeatureTable:
        """Inverse of :meth:`to_frame`: split a stored table back into its parts."""
        missing = [
            c for c in (*KEY_COLUMNS, *PROTECTED_COLUMNS, *d.FEATURE_NAMES) if c not in frame
        ]
        if missing:
            raise ValueError(f"Not a MAST feature table: missing column(s) {missing[:10]}")
        return cls(
            keys=frame[list(KEY_COLUMNS)],
            X=frame[d.FEATURE_NAMES].astype("float64"),
            protected=frame[list(PROTECTED_COLUMNS)],
        )


def _array(col, dtype=None) -> np.ndarray:
    """A plain numpy array from a fetched column (masked entries become NaN/None)."""
    if isinstance(col, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(col)
        data = np.ma.getdata(col)
        if dtype is float or data.dtype.kind in "fiu":
            out = data.astype("float64")
            out[mask] = np.nan
            return out
        out = data.astype(object)
        out[mask] = None
        return out
    if isinstance(col, pd.Series):
        col = col.to_numpy(dtype="float64", na_value=np.nan) if dtype is float else col.to_numpy()
    return np.asarray(col, dtype="float64") if dtype is float else np.asarray(col)


_X_COLUMNS = pd.Index(d.FEATURE_NAMES)


def _text(values) -> pd.api.extensions.ExtensionArray:
    # Straight from the fetched Python strings: a detour through numpy's
    # fixed-width unicode took 12 ms per column of 50,000 rows.  A None would
    # become <NA> here (it became the text "None" before); none reaches it:
    # ids are checked strings and _protected fills the missing first.
    values = np.asarray(values)
    return pd.array(values if values.dtype == object else values.astype(str), dtype="str")


def _matrix(raw, n: int) -> np.ndarray:
    """X as an (n, features) view of one feature-major buffer, the layout pandas keeps.

    Filling one contiguous row per feature and handing pandas the transpose
    costs one copy, where ``np.column_stack`` took twice the time.
    """
    buf = np.empty((len(d.FEATURE_NAMES), n), dtype="float64")
    for j, name in enumerate(d.FEATURE_NAMES):
        buf[j] = _array(raw[name], float)
    return buf.T


def _split(raw, lazy: bool = False) -> FeatureTable:
    """Keys, X and protected from the query's columns (a DataFrame or fetchnumpy dict).

    Each column is converted once, straight to its final dtype: for one
    referral this runs on every request of the scoring service, which also
    asks for ``protected`` to be built only if read (``lazy``).
    """
    n = len(raw["referral_id"])
    index = pd.RangeIndex(n)
    keys = pd.DataFrame(
        {
            "referral_id": _text(_array(raw["referral_id"])),
            "person_id": _text(_array(raw["person_id"])),
            "received_at": np.asarray(_array(raw["received_at"])).astype("datetime64[us]"),
        },
        index=index,
    )
    if "X" in raw:  # the in-memory engine hands over the matrix itself
        X = raw["X"]
    else:
        X = _matrix(raw, n)
    X = pd.DataFrame(
        X.reshape(n, len(d.FEATURE_NAMES)), columns=_X_COLUMNS, index=index, copy=False
    )
    protected = partial(_protected, raw, index)
    return FeatureTable(keys=keys, X=X, protected=protected if lazy else protected())


def _protected(raw, index: pd.Index) -> pd.DataFrame:
    n = len(index)
    protected = {}
    for col in ("sex", "ethnicity", "disability"):
        values = _array(raw[col]).astype(object)
        values[pd.isna(values)] = v.NOT_RECORDED
        protected[col] = _text(values)
    decile = _array(raw["imd_decile"], float)
    known = ~np.isnan(decile)
    protected["imd_decile"] = pd.arrays.IntegerArray(
        np.where(known, decile, 0).astype("int64"), ~known
    )
    quintile = np.full(n, v.NOT_RECORDED, dtype=object)
    quintile[known] = np.asarray(v.DEPRIVATION_QUINTILES, dtype=object)[
        ((decile[known].astype(int) - 1) // 2)
    ]
    protected["deprivation_quintile"] = _text(quintile)
    ages = _array(raw["age_years"], float)
    # Vectorised store.vocabulary.age_band (tests check they agree).
    band = np.full(n, v.NOT_RECORDED, dtype=object)
    known = ~np.isnan(ages)
    band[known] = np.asarray(v.AGE_BANDS, dtype=object)[
        np.searchsorted(np.asarray(v._AGE_BAND_EDGES, dtype=float), ages[known], side="right")
    ]
    protected["age_band"] = _text(band)
    return pd.DataFrame(protected, index=index)


def _empty_raw(con, relations) -> pd.DataFrame:
    ensure_named_adults(con)
    sql = feature_query(relations, DUCKDB, chunk_filter="WHERE FALSE")
    return con.execute(sql).df()


def _chunk_bounds(con, n_rows: int, chunk_rows: int) -> list[tuple[str, str]]:
    n_chunks = max(1, int(np.ceil(n_rows / max(1, chunk_rows))))
    if n_chunks == 1:
        return []
    ids = con.execute(
        "SELECT DISTINCT referral_id FROM referral_children ORDER BY referral_id"
    ).fetchnumpy()["referral_id"]
    edges = [ids[int(i)] for i in np.linspace(0, len(ids), n_chunks + 1)[1:-1].astype(int)]
    lows = [None, *edges]
    highs = [*edges, None]
    return list(zip(lows, highs, strict=True))


def _store_features(con, progress: Progress | None, chunk_rows: int) -> dict:
    ensure_named_adults(con)
    n_rows = con.execute("SELECT count(*) FROM referral_children").fetchone()[0]
    bounds = _chunk_bounds(con, n_rows, chunk_rows)
    if not bounds:
        if progress:
            progress("features", 0, 1)
        # fetchnumpy, not .df(): half the time for 150 float columns.
        out = con.execute(feature_query(STORE_RELATIONS)).fetchnumpy()
        if progress:
            progress("features", 1, 1)
        return out
    parts = []
    for i, (lo, hi) in enumerate(bounds):
        if progress:
            progress("features", i, len(bounds))
        conds, params = [], []
        if lo is not None:
            conds.append("rc.referral_id >= ?")
            params.append(lo)
        if hi is not None:
            conds.append("rc.referral_id < ?")
            params.append(hi)
        sql = feature_query(STORE_RELATIONS, chunk_filter="WHERE " + " AND ".join(conds))
        parts.append(con.execute(sql, params).fetchnumpy())
    if progress:
        progress("features", len(bounds), len(bounds))
    return {
        name: (np.ma if any(np.ma.isMaskedArray(p[name]) for p in parts) else np).concatenate(
            [p[name] for p in parts]
        )
        for name in parts[0]
    }


def _check_frames(referrals, referral_children) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Checked new referrals as contract-typed frames (see :mod:`features.inputs`)."""
    return as_frames(*check_referrals(referrals, referral_children))


def _quoted(ids) -> str:
    return ", ".join("'" + str(i).replace("'", "''") + "'" for i in ids) or "NULL"


class _OnDemand:
    """A private, single-threaded, in-memory store for one request's rows.

    Serving a referral touches a few dozen records, where DuckDB's fixed cost
    of planning a 150-column query dominates.  So each thread keeps one small
    database with the contract's tables (same names as the store) and the
    feature query *prepared once*; a request replaces the rows and executes
    it.  The SQL text is :func:`features.sql.feature_query`'s, unchanged.
    """

    def __init__(self):
        self.con = duckdb.connect(config={"threads": 1})
        # The plan is made once, on empty tables: optimizers that bake the
        # tables' statistics into it would be wrong for the next request's rows.
        self.con.execute(
            "SET disabled_optimizers = 'statistics_propagation,compressed_materialization'"
        )
        create_schema(self.con)
        cols = ", ".join(_REFERRAL_COLUMNS)
        self.con.execute(
            f"CREATE TABLE target_referrals AS SELECT {cols} FROM referrals WHERE FALSE"
        )
        self.con.execute(
            "CREATE TABLE target_children AS SELECT * FROM referral_children WHERE FALSE"
        )
        self.con.execute(
            f"CREATE TABLE {NAMED_ADULTS_VIEW} (referral_id VARCHAR, adult_number INTEGER, "
            "status VARCHAR, person_id VARCHAR)"
        )
        relations = {"target_referrals": "target_referrals", "target_children": "target_children"}
        self.con.execute("PREPARE mast_features AS " + feature_query(relations))

    def run(self, tables: dict) -> pd.DataFrame:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for name, frames in tables.items():
                con.execute(f"TRUNCATE {name}")
                for frame in frames:
                    if frame.num_rows:
                        con.from_arrow(frame).insert_into(name)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        return con.execute("EXECUTE mast_features").fetchnumpy()


_local = threading.local()


def _on_demand() -> _OnDemand:
    engine = getattr(_local, "engine", None)
    if engine is None:
        engine = _local.engine = _OnDemand()
    return engine


_NULLABLE = {"boolean": "boolean", "Int64": "Int64"}


def _with_optional(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """``frame`` in the contract's column order, optional columns it lacks as typed nulls."""
    schema = SCHEMAS[table]
    missing = {
        c: pd.Series(
            pd.NA, index=frame.index, dtype=_NULLABLE.get(str(schema.columns[c].dtype), "string")
        )
        for c in OPTIONAL_COLUMNS.get(table, ())
        if c not in frame.columns
    }
    return frame.assign(**missing)[list(schema.columns)]


def _arrow(frame: pd.DataFrame):
    return pa.Table.from_pandas(frame, preserve_index=False)


def _narrowed_named(con, refs: pd.DataFrame, named: list[dict]) -> pd.DataFrame:
    """The targets' named adults: those given with them, else the store's (``mast link``'s)."""
    given = named_frame(named)
    ensure_named_adults(con)
    rest = sorted(set(refs["referral_id"]) - set(given["referral_id"]))
    stored = con.execute(
        f"SELECT {', '.join(NAMED_COLUMNS)} FROM {NAMED_ADULTS_VIEW} "
        f"WHERE referral_id IN ({_quoted(rest)})"
    ).df()
    frames = [f for f in (given, stored.astype(given.dtypes.to_dict())) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else given


def _narrowed_tables(
    con, refs: pd.DataFrame, referral_children: pd.DataFrame, named: list[dict] | None = None
) -> dict[str, list]:
    """The store's rows about the people the new referrals concern, and nothing else.

    Every member of every household a target child has ever belonged to is
    kept, which is a superset of anyone a feature can reach, and every store
    person a named adult was found to be.  Returns, per private table, the
    Arrow tables to insert into it.
    """
    named_rows = _narrowed_named(con, refs, named or [])
    cols = {t: ", ".join(SCHEMAS[t].columns) for t in SCHEMAS}
    # Literal filters (not joins or ORs): DuckDB turns a literal IN list into
    # an index scan on the store's lookup indexes (store.LOOKUP_INDEXES), and
    # otherwise into a scan its zone maps can prune on sorted tables.
    homes = sorted(
        r[0]
        for r in con.execute(
            "SELECT DISTINCT household_id FROM household_members "
            f"WHERE person_id IN ({_quoted(sorted(set(referral_children['person_id'])))})"
        ).fetchall()
    )
    mem = con.execute(
        f"SELECT {cols['household_members']} FROM household_members "
        f"WHERE household_id IN ({_quoted(homes)})"
    ).fetch_arrow_table()
    people_ids = sorted(
        set(referral_children["person_id"])
        | set(mem.column("person_id").to_pylist())
        | set(named_rows["person_id"].dropna())
    )
    plist = _quoted(people_ids)
    # One equality filter per person lets the zone maps of the person-sorted
    # agency_events skip all but a few row groups (an IN list would not).
    ev_sql = " UNION ALL ".join(
        f"SELECT {cols['agency_events']} FROM agency_events WHERE person_id = {_quoted([p])}"
        for p in people_ids
    )
    rc = con.execute(
        f"SELECT {cols['referral_children']} FROM referral_children WHERE person_id IN ({plist})"
    ).fetch_arrow_table()
    target_ids = set(refs["referral_id"])
    ids = _quoted(sorted(set(rc.column("referral_id").to_pylist()) | target_ids))
    stored = con.execute(
        f"SELECT {cols['referrals']} FROM referrals WHERE referral_id IN ({ids})"
    ).fetch_arrow_table()
    # History is the store plus any new referral not yet in it, so a batch of
    # new referrals sees its own earlier members, exactly as the store would.
    known = target_ids & set(stored.column("referral_id").to_pylist())
    new_refs = refs[~refs["referral_id"].isin(known)]
    new_children = referral_children[~referral_children["referral_id"].isin(known)]
    return {
        "people": [
            con.execute(
                f"SELECT {cols['people']} FROM people WHERE person_id IN ({plist})"
            ).fetch_arrow_table()
        ],
        "households": [
            con.execute(
                f"SELECT {cols['households']} FROM households WHERE household_id IN ({_quoted(homes)})"
            ).fetch_arrow_table()
        ],
        "household_members": [mem],
        "referrals": [stored, _arrow(_with_optional(new_refs, "referrals"))],
        "referral_children": [rc, _arrow(new_children)],
        "screening_decisions": [
            con.execute(
                f"SELECT {cols['screening_decisions']} FROM screening_decisions WHERE referral_id IN ({ids})"
            ).fetch_arrow_table()
        ],
        "agency_events": [con.execute(ev_sql).fetch_arrow_table()],
        "target_referrals": [_arrow(refs)],
        "target_children": [_arrow(referral_children)],
        NAMED_ADULTS_VIEW: [_arrow(named_rows)],
    }


def build_features(
    con: duckdb.DuckDBPyConnection | None,
    referrals: Rows | None = None,
    referral_children: Rows | None = None,
    progress: Progress | None = None,
    chunk_rows: int = 250_000,
    snapshot: StoreSnapshot | None = None,
) -> FeatureTable:
    """Point-in-time features for each (referral, child): a shorthand for the engines.

    ``build_features(con)`` is ``SQLEngine(con).features()`` (every referral
    in the store); ``build_features(con, referrals, referral_children)`` is
    ``SQLEngine(con).features(Targets(referrals, referral_children))``; with
    ``snapshot=``, the same targets on ``MemoryEngine(snapshot)``.  New code
    names its engine (:mod:`features.engines`); this stays for notebooks and
    the tests that pre-date the engines.

    Returns
    -------
    FeatureTable
        Rows ordered by ``referral_id`` then ``person_id``.
    """
    from features.engines import MemoryEngine, SQLEngine, Targets

    if (referrals is None) != (referral_children is None):
        raise ValueError("Pass both `referrals` and `referral_children`, or neither.")
    if referrals is None:
        if snapshot is not None:
            raise ValueError(
                "`snapshot` serves new referrals only: the training path runs the SQL on `con`."
            )
        return SQLEngine(con, chunk_rows=chunk_rows).features(progress=progress)
    targets = Targets(referrals, referral_children)
    if snapshot is not None:
        return MemoryEngine(snapshot).features(targets)
    if con is None:
        raise ValueError("Pass a store connection `con` or a `snapshot`.")
    return SQLEngine(con, chunk_rows=chunk_rows).features(targets, progress=progress)
