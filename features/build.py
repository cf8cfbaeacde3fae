"""Build the point-in-time feature table: one row per (referral, child).

Training and serving call the same :func:`build_features`.  For training it
runs the feature SQL over the whole store in chunks of referrals (bounded
memory, real progress).  For serving it registers the new referral's rows,
narrows every input table to the few people that referral concerns (using the
store's sort order on ``person_id`` so DuckDB reads only a handful of row
groups), and runs the *same* SQL text over those narrowed tables.  Narrowing
cannot change a value: every row it drops belongs to someone outside the
child's households.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from features import definitions as d
from features.sql import DUCKDB, STORE_RELATIONS, feature_query
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
_REFERRAL_COLUMNS = (
    "referral_id",
    "received_at",
    "source",
    "referrer_relationship",
    *v.CONCERN_COLUMNS,
)
_counter = itertools.count()

Progress = Callable[[str, float, float], None]


@dataclass
class FeatureTable:
    """Features beside their keys and the protected characteristics kept for audit.

    ``keys``, ``X`` and ``protected`` share one index and row order (sorted by
    ``referral_id`` then ``person_id``).  ``X`` holds model inputs only, all
    float64; protected characteristics are never in it, so a model cannot use
    them unless someone deliberately joins them in.
    """

    keys: pd.DataFrame
    X: pd.DataFrame
    protected: pd.DataFrame

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


def _split(raw: pd.DataFrame) -> FeatureTable:
    raw = raw.reset_index(drop=True)
    keys = raw[list(KEY_COLUMNS)].copy()
    keys["received_at"] = pd.to_datetime(keys["received_at"]).astype("datetime64[us]")
    X = raw[d.FEATURE_NAMES].astype("float64")
    protected = pd.DataFrame(index=raw.index)
    for col in ("sex", "ethnicity", "disability"):
        protected[col] = raw[col].fillna(v.NOT_RECORDED).astype(str)
    protected["imd_decile"] = raw["imd_decile"].astype("Int64")
    protected["deprivation_quintile"] = [
        v.deprivation_quintile(None if pd.isna(x) else x) for x in raw["imd_decile"]
    ]
    ages = raw["age_years"].astype("float64").to_numpy()
    protected["age_band"] = [v.age_band(a) for a in ages]
    return FeatureTable(keys=keys, X=X, protected=protected)


def _empty_raw(con, relations) -> pd.DataFrame:
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


def _store_features(con, progress: Progress | None, chunk_rows: int) -> pd.DataFrame:
    n_rows = con.execute("SELECT count(*) FROM referral_children").fetchone()[0]
    bounds = _chunk_bounds(con, n_rows, chunk_rows)
    if not bounds:
        if progress:
            progress("features", 0, 1)
        out = con.execute(feature_query(STORE_RELATIONS)).df()
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
        parts.append(con.execute(sql, params).df())
    if progress:
        progress("features", len(bounds), len(bounds))
    return pd.concat(parts, ignore_index=True)


def _check_frames(
    referrals: pd.DataFrame, referral_children: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    missing = [c for c in _REFERRAL_COLUMNS if c not in referrals.columns]
    if missing:
        raise ValueError(f"referrals frame is missing column(s) {missing}")
    missing = [c for c in ("referral_id", "person_id") if c not in referral_children.columns]
    if missing:
        raise ValueError(f"referral_children frame is missing column(s) {missing}")
    refs = referrals[list(_REFERRAL_COLUMNS)].copy().reset_index(drop=True)
    refs["referral_id"] = refs["referral_id"].astype(str)
    try:
        refs["received_at"] = pd.to_datetime(refs["received_at"]).astype("datetime64[us]")
    except (ValueError, TypeError) as err:
        raise ValueError(f"referrals.received_at: not a timestamp ({err})") from err
    bad = refs["received_at"].isna()
    if bad.any():
        raise ValueError(f"referrals row {int(np.flatnonzero(bad)[0]) + 1}: received_at is missing")
    for col in v.CONCERN_COLUMNS:
        if refs[col].isna().any():
            raise ValueError(f"referrals.{col}: missing value (True or False expected)")
        refs[col] = refs[col].astype(bool)
    for col, allowed in (
        ("source", v.REFERRAL_SOURCES),
        ("referrer_relationship", v.REFERRER_RELATIONSHIPS),
    ):
        bad = ~refs[col].isin(allowed)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"referrals row {i + 1}, column {col!r}: unknown category {refs[col][i]!r}"
            )
    kids = referral_children[["referral_id", "person_id"]].astype(str).reset_index(drop=True)
    unknown = ~kids["referral_id"].isin(set(refs["referral_id"]))
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise ValueError(
            f"referral_children row {i + 1}: referral_id {kids['referral_id'][i]!r} is not in the referrals frame"
        )
    return refs, kids


def _person_in(ids) -> str:
    return ", ".join("'" + str(i).replace("'", "''") + "'" for i in ids) or "NULL"


def _serving_relations(
    con, refs: pd.DataFrame, kids: pd.DataFrame, tag: str
) -> tuple[dict, list[str]]:
    """Register the frames and views narrowed to the people the new referrals concern."""
    names = {
        k: f"_mast_{k}_{tag}" for k in ("tref", "tkid", "pp", "hh", "mem", "ref", "rc", "dec", "ev")
    }
    con.register(names["tref"], refs)
    con.register(names["tkid"], kids)
    children = sorted(set(kids["person_id"]))
    homes = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT household_id FROM household_members WHERE person_id IN ({_person_in(children)})"
        ).fetchall()
    ]
    mem = con.execute(
        f"SELECT * FROM household_members WHERE household_id IN ({_person_in(homes)}) "
        f"OR person_id IN ({_person_in(children)})"
    ).fetch_arrow_table()
    people_ids = sorted(set(children) | set(mem.column("person_id").to_pylist()))
    plist = _person_in(people_ids)
    # One equality filter per person lets zone maps on the person-sorted events skip
    # all but a few row groups; an IN list would be widened to a min-max range.
    ev_sql = (
        " UNION ALL ".join(
            f"SELECT * FROM agency_events WHERE person_id = '{p.replace(chr(39), chr(39) * 2)}'"
            for p in people_ids
        )
        or "SELECT * FROM agency_events WHERE FALSE"
    )
    frames = {
        "mem": mem,
        "pp": con.execute(f"SELECT * FROM people WHERE person_id IN ({plist})").fetch_arrow_table(),
        "hh": con.execute(
            f"SELECT * FROM households WHERE household_id IN ({_person_in(homes)})"
        ).fetch_arrow_table(),
        "rc": con.execute(
            f"SELECT * FROM referral_children WHERE person_id IN ({plist})"
        ).fetch_arrow_table(),
        "ev": con.execute(ev_sql).fetch_arrow_table(),
    }
    ref_ids = sorted(set(frames["rc"].column("referral_id").to_pylist()))
    rlist = _person_in(ref_ids)
    cols = ", ".join(_REFERRAL_COLUMNS)
    stored = con.execute(
        f"SELECT {cols} FROM referrals WHERE referral_id IN ({rlist})"
    ).fetch_arrow_table()
    frames["dec"] = con.execute(
        f"SELECT * FROM screening_decisions WHERE referral_id IN ({rlist})"
    ).fetch_arrow_table()
    for key, frame in frames.items():
        con.register(names[key], frame)
    con.register(names["ref"] + "_s", stored)
    # History = stored referrals plus any new ones not yet in the store, so a
    # batch of several new referrals sees its own earlier members.
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {names['ref']} AS SELECT {cols} FROM {names['ref']}_s "
        f"UNION ALL SELECT {cols} FROM {names['tref']} WHERE referral_id NOT IN "
        f"(SELECT referral_id FROM referrals)"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {names['rc']}_all AS SELECT referral_id, person_id FROM {names['rc']} "
        f"UNION ALL SELECT referral_id, person_id FROM {names['tkid']} WHERE referral_id NOT IN "
        f"(SELECT referral_id FROM referrals)"
    )
    relations = {
        "target_referrals": names["tref"],
        "target_children": names["tkid"],
        "people": names["pp"],
        "households": names["hh"],
        "members": names["mem"],
        "referrals": names["ref"],
        "referral_children": names["rc"] + "_all",
        "decisions": names["dec"],
        "events": names["ev"],
    }
    registered = [names[k] for k in frames] + [names["tref"], names["tkid"], names["ref"] + "_s"]
    return relations, registered


def build_features(
    con: duckdb.DuckDBPyConnection,
    referrals: pd.DataFrame | None = None,
    referral_children: pd.DataFrame | None = None,
    progress: Progress | None = None,
    chunk_rows: int = 250_000,
) -> FeatureTable:
    """Point-in-time features for each (referral, child), as of the referral's ``received_at``.

    Parameters
    ----------
    con
        A connection to the MAST store.
    referrals, referral_children
        Contract-shaped rows for referrals to score (the serving path), which
        need not be in the store.  Both or neither; with neither, features are
        built for every referral in the store (the training path).
    progress
        Optional ``progress(step, completed, total)`` callable.
    chunk_rows
        Training path only: build this many (referral, child) rows per query,
        which bounds memory on a national-sized store.

    Returns
    -------
    FeatureTable
        Rows ordered by ``referral_id`` then ``person_id``.
    """
    if (referrals is None) != (referral_children is None):
        raise ValueError("Pass both `referrals` and `referral_children`, or neither.")
    if referrals is None:
        raw = _store_features(con, progress, chunk_rows)
        return _split(raw)
    refs, kids = _check_frames(referrals, referral_children)
    if kids.empty:
        return _split(_empty_raw(con, STORE_RELATIONS))
    tag = f"{next(_counter)}"
    relations, registered = _serving_relations(con, refs, kids, tag)
    try:
        if progress:
            progress("features", 0, 1)
        raw = con.execute(feature_query(relations)).df()
        if progress:
            progress("features", 1, 1)
    finally:
        con.execute(f"DROP VIEW IF EXISTS {relations['referrals']}")
        con.execute(f"DROP VIEW IF EXISTS {relations['referral_children']}")
        for name in registered:
            con.unregister(name)
    return _split(raw)
