"""Benchmark the feature engine: DuckDB SQL against a straightforward pandas build.

Three measurements, in one run:

1. **Ratio.**  The same features, built by :func:`features.build_features`
   (DuckDB) and by :func:`pandas_features` (a straightforward pandas
   implementation generated from the same definitions: merge, filter, group
   by), on the same simulated local authority.  The two tables are checked
   equal before the ratio is printed.
2. **National scale.**  About 1,000,000 (referral, child) rows over about
   50,000,000 agency events, from a contract-shaped generator written in SQL
   (the simulator is not built for a national year), on 2 threads with a
   memory limit; wall time and peak resident memory.
   The same national build on Spark (:class:`features.SparkEngine`: the same
   SQL translated by sqlglot, local, 2 cores), side by side, its time (and the
   Parquet copy of the store it reads) recorded as measured, and its table
   checked equal to DuckDB's.
3. **On demand.**  One referral built through the serving path against that
   national store, p50 and p95 over repeated calls, by both engines: the
   DuckDB SQL over the narrowed store and the in-memory
   :class:`features.StoreSnapshot` the scoring service uses (with its load
   time and size), side by side.

Run it under the heavy-job lock::

    flock /tmp/mast-heavy.lock /work/venv/bin/python benchmarks/bench_features.py

``--scale 0.1`` runs a tenth of the national size (quick check);
``--skip-spark`` leaves Spark out (it needs the ``spark`` extra and Java 17).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features import (  # noqa: E402
    FeatureTable,
    MemoryEngine,
    SQLEngine,
    StoreSnapshot,
    Targets,
    build_features,
)
from features import definitions as d  # noqa: E402
from features.named_adults import ensure_named_adults  # noqa: E402
from store import create_schema, write_tables  # noqa: E402
from store import vocabulary as v  # noqa: E402
from store.database import create_lookup_indexes  # noqa: E402
from store.identities import IDENTITY_DDL  # noqa: E402

# ---------------------------------------------------------------------------
# A straightforward pandas implementation, generated from the same definitions.
# ---------------------------------------------------------------------------


def _window_mask(when: pd.Series, as_of: pd.Series, window: str) -> pd.Series:
    days = d.WINDOWS.get(window)
    if days is None:
        return pd.Series(True, index=when.index)
    return when >= as_of - pd.Timedelta(days=days)


def _event_mask(e: pd.DataFrame, flt: d.EventFilter) -> pd.Series:
    m = e["event_type"].isin(flt.event_types)
    if flt.agencies:
        m &= e["agency"].isin(flt.agencies)
    if flt.roles:
        m &= e["role"].isin(flt.roles)
    if flt.exclude_roles:
        m &= ~e["role"].isin(flt.exclude_roles) | e["role"].isna()
    if flt.min_severity is not None:
        m &= e["severity"].fillna(0) >= flt.min_severity
    if flt.age_limit == "adult":
        m &= e["occurred_at"] < e["date_of_birth"] + pd.DateOffset(years=d.ADULT_YEARS)
    elif flt.age_limit == "non_mobile":
        m &= e["occurred_at"] < e["date_of_birth"] + pd.Timedelta(days=d.NON_MOBILE_DAYS)
    return m


def _active(m: pd.DataFrame, as_of: pd.Series) -> pd.Series:
    ended = m["end_date"].notna() & (m["end_date"] < as_of)
    ended &= m["end_recorded_at"].notna() & (m["end_recorded_at"] < as_of)
    return (m["recorded_at"] < as_of) & (m["start_date"] <= as_of) & ~ended


def _whole_days(start: pd.Series, end: pd.Series) -> pd.Series:
    return np.floor((end - start) / pd.Timedelta(days=1))


def pandas_features(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every feature of ``X`` with pandas merges and group-bys (no SQL)."""
    refs = t["referrals"]
    targets = t["referral_children"].merge(refs, on="referral_id")
    targets = targets.rename(columns={"received_at": "as_of"})
    targets["n_children"] = targets.groupby("referral_id")["person_id"].transform("size")
    people = t["people"][["person_id", "date_of_birth"]]
    mem = t["household_members"]
    times = targets[["person_id", "as_of"]].drop_duplicates()
    homes = times.merge(mem, on="person_id")
    homes = homes[_active(homes, homes["as_of"])][["person_id", "as_of", "household_id"]]
    homes = homes.drop_duplicates()
    others = homes.merge(mem, on="household_id", suffixes=("", "_m"))
    others = others[
        (others["person_id_m"] != others["person_id"]) & _active(others, others["as_of"])
    ]
    members = (
        others.groupby(["person_id", "as_of", "person_id_m"])
        .agg(role=("role", "min"), start_date=("start_date", "max"))
        .reset_index()
        .rename(columns={"person_id": "child_id", "person_id_m": "member_id"})
    )
    # The adults named on each referral (issue #20): the found ones' store persons.
    named = t.get(
        "named", pd.DataFrame(columns=["referral_id", "adult_number", "status", "person_id"])
    )
    ref_times = targets[["referral_id", "as_of"]].drop_duplicates()
    named = named.merge(ref_times, on="referral_id")
    found = named[(named["status"] == "found") & named["person_id"].notna()]
    found = found[["referral_id", "as_of", "person_id"]].drop_duplicates()
    pt = pd.concat(
        [
            times,
            members[["member_id", "as_of"]].rename(columns={"member_id": "person_id"}),
            found[["person_id", "as_of"]],
        ]
    ).drop_duplicates()
    pt = pt.merge(people, on="person_id")
    keys = ["person_id", "as_of"]
    # Events per person and as_of.
    e = pt.merge(t["agency_events"], on="person_id")
    e = e[e["recorded_at"] < e["as_of"]]
    cols = {}
    for c in d.EVENT_COUNTERS:
        cols[c.name] = (
            _event_mask(e, c.filter) & _window_mask(e["occurred_at"], e["as_of"], c.window)
        ).astype(int)
    for s in d.EVENT_STATES:
        is_start = (e["agency"] == s.agency) & (e["event_type"] == s.start)
        is_end = (e["agency"] == s.agency) & (e["event_type"] == s.end)
        cols[f"{s.name}__start"] = e["occurred_at"].where(is_start)
        cols[f"{s.name}__end"] = e["occurred_at"].where(is_end)
    ev = pd.concat([e[keys], pd.DataFrame(cols, index=e.index)], axis=1)
    agg = {c.name: "sum" for c in d.EVENT_COUNTERS}
    agg |= {f"{s.name}__{k}": "max" for s in d.EVENT_STATES for k in ("start", "end")}
    ev = ev.groupby(keys).agg(agg).reset_index()
    for s in d.EVENT_STATES:
        start, end = ev.pop(f"{s.name}__start"), ev.pop(f"{s.name}__end")
        ev[s.name] = (start.notna() & (end.isna() | (start > end))).astype(int)
    # Referral history per person and as_of.
    h = pt.merge(t["referral_children"], on="person_id").merge(refs, on="referral_id")
    h = h[h["received_at"] < h["as_of"]]
    h = h.merge(t["screening_decisions"], on="referral_id", how="left")
    late = h["decided_at"].isna() | (h["decided_at"] >= h["as_of"])
    h.loc[late, ["decision", "closure_reason"]] = None
    rcols = {}
    for c in d.REFERRAL_COUNTERS:
        m = _window_mask(h["received_at"], h["as_of"], c.window)
        if c.sources:
            m &= h["source"].isin(c.sources)
        if c.decision:
            m &= h["decision"] == c.decision
        if c.closure_reason:
            m &= h["closure_reason"] == c.closure_reason
        if c.age_limit == "adult":
            m &= h["received_at"] < h["date_of_birth"] + pd.DateOffset(years=d.ADULT_YEARS)
        rcols[c.name] = m.astype(int)
    rh = pd.concat([h[keys], pd.DataFrame(rcols, index=h.index)], axis=1)
    rh = rh.groupby(keys).sum().reset_index()
    last = h.groupby(keys)["received_at"].max().rename("last_received_at").reset_index()
    pf = (
        pt.merge(ev, on=keys, how="left")
        .merge(rh, on=keys, how="left")
        .merge(last, on=keys, how="left")
    )
    counter_names = [c.name for c in [*d.EVENT_COUNTERS, *d.EVENT_STATES, *d.REFERRAL_COUNTERS]]
    pf[counter_names] = pf[counter_names].fillna(0)
    # Same concern.
    cc = list(v.CONCERN_COLUMNS)
    sc = targets[["referral_id", "person_id", "as_of", *cc]].merge(h, on=keys, suffixes=("", "_h"))
    same = np.zeros(len(sc), dtype=bool)
    for c in cc:
        same |= sc[c].to_numpy() & sc[f"{c}_h"].to_numpy()
    sc["same_concern_ever"] = same.astype(int)
    sc["same_concern_12m"] = (same & _window_mask(sc["received_at"], sc["as_of"], "12m")).astype(
        int
    )
    sc = (
        sc.groupby(["referral_id", "person_id"])[["same_concern_ever", "same_concern_12m"]]
        .sum()
        .reset_index()
    )
    # Adults and siblings.
    mm = members.merge(pf, left_on=["member_id", "as_of"], right_on=keys, suffixes=("", "_pf"))
    mm = mm.merge(
        people.rename(columns={"person_id": "child_id", "date_of_birth": "child_dob"}),
        on="child_id",
    )
    adults = mm[mm["role"].isin(v.ADULT_ROLES)].copy()
    for w in d.NEW_ADULT_WINDOWS:
        adults[f"household_new_adult_{w}"] = (
            adults["start_date"] >= adults["as_of"] - pd.Timedelta(days=d.WINDOWS[w])
        ).astype(int)
    adults["household_days_since_adult_joined"] = _whole_days(adults["start_date"], adults["as_of"])
    age = np.floor(_whole_days(adults["date_of_birth"], adults["child_dob"]) / d.DAYS_PER_YEAR)
    adults["parent_age"] = age.where(adults["role"] == "parent")
    joined = adults["start_date"] >= adults["as_of"] - pd.Timedelta(days=365)
    for n in d.NEW_ADULT_COUNTERS:
        adults[f"new_adults_{n}_max"] = adults[n].where(joined, 0)
    aspec = {"household_n_adults": ("member_id", "size")}
    aspec |= {
        f"household_new_adult_{w}": (f"household_new_adult_{w}", "max") for w in d.NEW_ADULT_WINDOWS
    }
    aspec["household_days_since_adult_joined"] = ("household_days_since_adult_joined", "min")
    aspec["parent_age_at_birth_min"] = ("parent_age", "min")
    aspec["parent_age_at_birth_max"] = ("parent_age", "max")
    for n in d.ADULT_COUNTERS:
        aspec[f"adults_{n}_max"] = (n, "max")
        aspec[f"adults_{n}_sum"] = (n, "sum")
    for n in d.NEW_ADULT_COUNTERS:
        aspec[f"new_adults_{n}_max"] = (f"new_adults_{n}_max", "max")
    a = adults.groupby(["child_id", "as_of"]).agg(**aspec).reset_index()
    # Counters across a group, each incident (moment) once.
    for g in d.GROUP_EVENT_COUNTERS:
        m, c = d.MEMBERSHIPS[g.membership], d.COUNTERS[g.counter]
        grp = mm[mm["role"].isin(m.roles)]
        if m.joined_within:
            grp = grp[
                grp["start_date"] >= grp["as_of"] - pd.Timedelta(days=d.WINDOWS[m.joined_within])
            ]
        ev = grp[["child_id", "as_of", "member_id", "date_of_birth"]].merge(
            t["agency_events"], left_on="member_id", right_on="person_id"
        )
        ev = ev[_event_mask(ev, c.filter) & (ev["recorded_at"] < ev["as_of"])]
        ev = ev[_window_mask(ev["occurred_at"], ev["as_of"], c.window)]
        n = ev.groupby(["child_id", "as_of"])["occurred_at"].nunique().rename(g.name)
        a = a.merge(n.reset_index(), on=["child_id", "as_of"], how="left")
    nf = found.merge(pf, on=keys)
    nspec = {}
    for n in d.NAMED_ADULT_COUNTERS:
        nspec[f"named_adults_{n}_max"] = (n, "max")
        nspec[f"named_adults_{n}_sum"] = (n, "sum")
    nf = nf.groupby("referral_id").agg(**nspec).reset_index()
    status = named.drop_duplicates(["referral_id", "adult_number", "status"])
    ns = (
        pd.DataFrame(
            {
                d.NAMED_FOUND: status[status["status"] == "found"].groupby("referral_id").size(),
                d.NAMED_NOT_FOUND: status[~status["status"].isin(["found", "not_searched"])]
                .groupby("referral_id")
                .size(),
                "unsearched": status[status["status"] == "not_searched"]
                .groupby("referral_id")
                .size(),
            }
        )
        .rename_axis("referral_id")
        .reset_index()
    )
    sibs = mm[mm["role"] == "child"]
    sspec = {"household_n_siblings": ("member_id", "size")}
    sspec |= {f"siblings_{n}_sum": (n, "sum") for n in d.SIBLING_COUNTERS}
    s = sibs.groupby(["child_id", "as_of"]).agg(**sspec).reset_index()
    # Assemble.
    out = targets.merge(people, on="person_id", how="left")
    out = out.merge(pf.drop(columns=["date_of_birth"]), on=keys, how="left")
    out = out.merge(a, left_on=keys, right_on=["child_id", "as_of"], how="left").drop(
        columns="child_id"
    )
    out = out.merge(s, left_on=keys, right_on=["child_id", "as_of"], how="left").drop(
        columns="child_id"
    )
    out = out.merge(sc, on=["referral_id", "person_id"], how="left")
    out = out.merge(nf, on="referral_id", how="left").merge(ns, on="referral_id", how="left")
    X = {}
    born, as_of = out["date_of_birth"], out["as_of"]
    X["child_age_months"] = (
        (as_of.dt.year - born.dt.year) * 12
        + as_of.dt.month
        - born.dt.month
        - (as_of.dt.day < born.dt.day)
    ).astype(float)
    X["child_days_since_last_referral"] = _whole_days(out["last_received_at"], out["as_of"])
    for w in ("12m", "ever"):
        X[f"child_prior_referrals_same_concern_{w}"] = out[f"same_concern_{w}"]
    for src in v.REFERRAL_SOURCES:
        X[f"referral_source_{src}"] = (out["source"] == src).astype(int)
    for rel in v.REFERRER_RELATIONSHIPS:
        X[f"referrer_{rel}"] = (out["referrer_relationship"] == rel).astype(int)
    for c in cc:
        X[f"referral_{c}"] = out[c].astype(int)
    X["referral_n_concerns"] = out[cc].sum(axis=1)
    X["referral_n_children"] = out["n_children"]
    for col in ["household_n_adults", *[f"household_new_adult_{w}" for w in d.NEW_ADULT_WINDOWS]]:
        X[col] = out[col]
    for col in [
        "household_days_since_adult_joined",
        "parent_age_at_birth_min",
        "parent_age_at_birth_max",
    ]:
        X[col] = out[col]
    X["household_n_siblings"] = out["household_n_siblings"]
    for g in d.GROUP_EVENT_COUNTERS:
        X[g.name] = out[g.name].fillna(0)
    for n in d.CHILD_COUNTERS:
        X[f"child_{n}"] = out[n]
    for n in d.ADULT_COUNTERS:
        X[f"adults_{n}_max"] = out[f"adults_{n}_max"]
        X[f"adults_{n}_sum"] = out[f"adults_{n}_sum"]
    for n in d.NEW_ADULT_COUNTERS:
        X[f"new_adults_{n}_max"] = out[f"new_adults_{n}_max"]
    for n in d.SIBLING_COUNTERS:
        X[f"siblings_{n}_sum"] = out[f"siblings_{n}_sum"]
    nullable = {
        "child_days_since_last_referral",
        "household_days_since_adult_joined",
        "parent_age_at_birth_min",
        "parent_age_at_birth_max",
    }
    for col in X:
        if col not in nullable:
            X[col] = X[col].fillna(0)
    for n in d.NAMED_ADULT_NAMES:
        X[n] = out[n].fillna(0).where(out["unsearched"].isna())
    X = pd.DataFrame(X, index=out.index)[d.FEATURE_NAMES].astype("float64")
    X = pd.concat([out[["referral_id", "person_id"]], X], axis=1)
    return X.sort_values(["referral_id", "person_id"]).reset_index(drop=True)


# ---------------------------------------------------------------------------
# A national-sized, contract-shaped store, generated in SQL.
# ---------------------------------------------------------------------------


def _u(expr: str, salt: int, seed: int) -> str:
    """A deterministic uniform [0, 1) from a hash (no global random state)."""
    return f"((hash({expr}, {salt}, {seed}) % 1000000007) / 1000000007.0)"


def generate_national(path: Path, scale: float, random_state: int) -> dict[str, int]:
    """Write a store with ~1M*scale referral-child rows and ~50M*scale events.

    Households of two adults and two children, a third of them joined later
    by a partner, a fifth losing an adult; referrals about one or both
    children; events spread evenly over people and written sorted by
    ``person_id``; every table sorted by its lookup key and given the lookup
    indexes, as ``store.write_tables`` (so ``mast simulate``, ``mast load``)
    leaves a store.
    """
    s = random_state
    n_hh = int(500_000 * scale)
    n_ref = int(620_000 * scale)
    n_ev = int(50_000_000 * scale)
    slots = 5
    n_people = n_hh * slots
    con = duckdb.connect(str(path))
    create_schema(con)
    con.execute("SET preserve_insertion_order = true")
    pid = "'P' || lpad(CAST({} AS VARCHAR), 10, '0')"
    hid = "'H' || lpad(CAST({} AS VARCHAR), 9, '0')"
    con.execute(
        f"""INSERT INTO households SELECT {hid.format("i")},
        CASE WHEN {_u("i", 1, s)} < 0.05 THEN NULL ELSE 1 + CAST(floor({_u("i", 2, s)} * 10) AS INTEGER) END,
        'E09000001' FROM range({n_hh}) r(i)"""
    )
    sexes = "['Female', 'Male', 'Not recorded']"
    eths = "['White', 'Mixed', 'Asian', 'Black', 'Other', 'Not recorded']"
    dis = "['Yes', 'No', 'Not recorded']"
    con.execute(
        f"""INSERT INTO people (person_id, date_of_birth, sex, ethnicity, disability)
        SELECT {pid.format("i")},
        CASE WHEN i % {slots} IN (2, 3)
             THEN DATE '2005-01-01' + CAST(floor({_u("i", 3, s)} * 6900) AS INTEGER)
             ELSE DATE '1965-01-01' + CAST(floor({_u("i", 3, s)} * 11000) AS INTEGER) END,
        {sexes}[1 + CAST(floor({_u("i", 4, s)} * 3) AS INTEGER)],
        {eths}[1 + CAST(floor({_u("i", 5, s)} * 6) AS INTEGER)],
        {dis}[1 + CAST(floor({_u("i", 6, s)} * 3) AS INTEGER)]
        FROM range({n_people}) r(i)"""
    )
    roles = "['parent', 'parent', 'child', 'child', 'partner']"
    con.execute(
        f"""INSERT INTO household_members
        SELECT person_id, household_id, role, start_date,
               CASE WHEN leaves THEN start_date + CAST(200 + floor({_u("i", 7, s)} * 1500) AS INTEGER) END,
               start_date + to_seconds(CAST(floor({_u("i", 8, s)} * 86400 * 40) AS BIGINT)),
               CASE WHEN leaves THEN start_date + CAST(200 + floor({_u("i", 7, s)} * 1500) AS INTEGER)
                    + to_seconds(CAST(floor({_u("i", 9, s)} * 86400 * 90) AS BIGINT)) END
        FROM (
          SELECT i, {pid.format("i")} AS person_id, {hid.format(f"i // {slots}")} AS household_id,
            {roles}[1 + i % {slots}] AS role,
            CASE WHEN i % {slots} = 4 THEN DATE '2016-01-01' + CAST(floor({_u("i", 10, s)} * 3000) AS INTEGER)
                 ELSE DATE '2008-01-01' + CAST(floor({_u("i", 10, s)} * 1500) AS INTEGER) END AS start_date,
            (i % {slots} IN (1, 4) AND {_u("i", 11, s)} < 0.2) AS leaves
          FROM range({n_people}) r(i)
          WHERE i % {slots} <> 4 OR {_u("i", 12, s)} < 0.33
        )"""
    )
    sources = "[" + ", ".join(f"'{x}'" for x in v.REFERRAL_SOURCES) + "]"
    rels = "[" + ", ".join(f"'{x}'" for x in v.REFERRER_RELATIONSHIPS) + "]"
    concerns = ", ".join(
        f"({_u('i', 20 + k, s)} < 0.25 OR {k} = CAST(floor({_u('i', 19, s)} * {len(v.CONCERNS)}) AS INTEGER))"
        for k in range(len(v.CONCERNS))
    )
    con.execute(
        f"""INSERT INTO referrals (referral_id, received_at, source, referrer_relationship,
            {", ".join(v.CONCERN_COLUMNS)})
        SELECT 'R' || lpad(CAST(i AS VARCHAR), 9, '0'),
        TIMESTAMP '2019-01-01' + to_seconds(CAST(floor({_u("i", 13, s)} * 86400 * 365 * 5) AS BIGINT)),
        {sources}[1 + CAST(floor({_u("i", 14, s)} * {len(v.REFERRAL_SOURCES)}) AS INTEGER)],
        {rels}[1 + CAST(floor({_u("i", 15, s)} * {len(v.REFERRER_RELATIONSHIPS)}) AS INTEGER)],
        {concerns}
        FROM range({n_ref}) r(i)"""
    )
    # Referrals concentrate on a fifth of households, so children have histories.
    hot = max(1, n_hh // 5)
    con.execute(
        f"""INSERT INTO referral_children
        SELECT 'R' || lpad(CAST(i AS VARCHAR), 9, '0'), {pid.format(f"(CAST(floor({_u('i', 16, s)} * {hot}) AS BIGINT) * 7919 % {n_hh}) * {slots} + 2 + k")}
        FROM range({n_ref}) r(i), range(2) c(k)
        WHERE k = 0 OR {_u("i", 17, s)} < 0.62
        ORDER BY 2, 1"""
    )
    # Adults named on referrals (issue #20), as `mast link` leaves them: about one
    # referral in eight names one adult (a quarter of those two), half of them
    # found to be someone in the store, the rest possible matches or not found.
    for table in ("referral_named_adults", "named_adult_links"):
        con.execute(f"CREATE TABLE {table} ({IDENTITY_DDL[table]})")
    con.execute(
        f"""INSERT INTO referral_named_adults (referral_id, adult_number, name,
            date_of_birth_approximate, relationship, lives_at_address)
        SELECT 'R' || lpad(CAST(i AS VARCHAR), 9, '0'), n, 'Named adult', FALSE, 'visitor', 'no'
        FROM range({n_ref}) r(i), range(1, 3) a(n)
        WHERE {_u("i", 50, s)} < 0.12 AND (n = 1 OR {_u("i", 51, s)} < 0.25)
        ORDER BY 1, 2"""
    )
    con.execute(
        f"""INSERT INTO named_adult_links (referral_id, adult_number, status, person_id,
            rule_version, run_id, resolved_at)
        SELECT referral_id, adult_number, st,
          CASE WHEN st = 'found' THEN {pid.format(f"CAST(floor({_u('referral_id || adult_number', 53, s)} * {n_people}) AS BIGINT)")} END,
          'bench', 'bench', TIMESTAMP '2026-01-01'
        FROM (SELECT referral_id, adult_number,
          CASE WHEN {_u("referral_id || adult_number", 52, s)} < 0.5 THEN 'found'
               WHEN {_u("referral_id || adult_number", 52, s)} < 0.75 THEN 'possible'
               ELSE 'not_found' END AS st FROM referral_named_adults)"""
    )
    decisions = "[" + ", ".join(f"'{x}'" for x in v.DECISIONS) + "]"
    reasons = "[" + ", ".join(f"'{x}'" for x in v.CLOSURE_REASONS) + "]"
    con.execute(
        f"""INSERT INTO screening_decisions
        SELECT referral_id, received_at + to_seconds(CAST(3600 + floor({_u("referral_id", 18, s)} * 86400 * 20) AS BIGINT)),
          dec, CASE WHEN dec = 'no_further_action' THEN {reasons}[1 + CAST(floor({_u("referral_id", 30, s)} * 5) AS INTEGER)] END
        FROM (SELECT referral_id, received_at,
          {decisions}[1 + CAST(floor({_u("referral_id", 31, s)} * 4) AS INTEGER)] AS dec FROM referrals)"""
    )
    pairs = [(a, t) for a, types in v.EVENT_TYPES.items() for t in types]
    agencies = "[" + ", ".join(f"'{a}'" for a, _ in pairs) + "]"
    types = "[" + ", ".join(f"'{t}'" for _, t in pairs) + "]"
    role_list = "[" + ", ".join(f"'{r}'" for r in v.EVENT_ROLES) + "]"
    con.execute(
        f"""INSERT INTO agency_events
        SELECT 'E' || CAST(j AS VARCHAR), {pid.format(f"j * {n_people} // {n_ev}")},
          {agencies}[k], {types}[k], occ,
          occ + to_seconds(CAST(CASE WHEN {_u("j", 41, s)} < 0.7 THEN floor({_u("j", 42, s)} * 86400 * 3)
                                    ELSE floor({_u("j", 42, s)} * 86400 * 120) END AS BIGINT)),
          CASE WHEN {agencies}[k] = 'police' THEN {role_list}[1 + CAST(floor({_u("j", 43, s)} * 4) AS INTEGER)] END,
          CASE WHEN {types}[k] IN ('injury', 'violent_offence') THEN 1 + CAST(floor({_u("j", 44, s)} * 3) AS INTEGER) END
        FROM (SELECT j, 1 + CAST(floor({_u("j", 45, s)} * {len(pairs)}) AS INTEGER) AS k,
          TIMESTAMP '2010-01-01' + to_seconds(CAST(floor({_u("j", 46, s)} * 86400 * 365 * 14) AS BIGINT)) AS occ
          FROM range({n_ev}) r(j))"""
    )
    # Every table is now sorted by its lookup key, as write_tables leaves it.
    create_lookup_indexes(con)
    counts = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("people", "household_members", "referral_children", "agency_events")
    }
    con.close()
    return counts


# ---------------------------------------------------------------------------


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _best_of(repeats: int, build):
    """``build()``'s result and its best wall time over ``repeats`` calls.

    Both implementations are timed the same way, so one-off costs (first
    imports, cold caches, page faults) count for neither.
    """
    times, result = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = build()
        times.append(time.perf_counter() - t0)
    return result, min(times)


def _print_ratio(t_pandas: float, t_duck: float, repeats: int) -> None:
    print(
        f"  pandas {t_pandas:8.2f} s | DuckDB {t_duck:8.2f} s | DuckDB is {t_pandas / t_duck:5.1f}x faster"
        f" (best of {repeats} each)"
    )


def ratio_run(n_children: int, random_state: int, repeats: int = 3) -> None:
    import synthetic

    world = synthetic.simulate(
        synthetic.SimulationConfig(n_children=n_children, years=5, random_state=random_state)
    )
    con = duckdb.connect()
    create_schema(con)
    write_tables(con, world.tables)
    table, t_duck = _best_of(repeats, lambda: build_features(con))
    frame, t_pandas = _best_of(repeats, lambda: pandas_features(world.tables))
    got = table.to_frame()[["referral_id", "person_id", *d.FEATURE_NAMES]]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), frame, check_dtype=False)
    print(
        f"ratio run: simulated LA of {n_children:,} children, {len(world.tables['agency_events']):,} events, "
        f"{len(table):,} referral-child rows x {len(d.FEATURE_NAMES)} features (tables agree)"
    )
    _print_ratio(t_pandas, t_duck, repeats)


def floor_query(n_counts: int = 0) -> str:
    """A lower bound on the feature build: what any join-based SQL design has to do.

    Households as of each referral, then every relevant person's events
    joined to their ``as_of`` (recorded before it) and grouped per (person,
    ``as_of``), returning ``COUNT(*)`` and ``n_counts`` more counts of every
    joined row.  No record classes, no referral history, no adults' and
    siblings' aggregates, no 161-column projection, no ordering.  With
    ``n_counts=0`` its time bounds what the whole build could reach.

    The rows are returned, not counted: under ``SELECT count(*)`` DuckDB drops
    aggregates nobody reads (an earlier version of this floor measured only
    the join that way while claiming to count 40 ways).
    """
    from features.sql import STORE_RELATIONS, household_ctes, with_ctes

    counts = "".join(
        f", COUNT(CASE WHEN e.severity = {i % 4} AND e.occurred_at >= pt.as_of - INTERVAL '{30 * i}' DAY "
        f"THEN 1 END) AS c{i}"
        for i in range(n_counts)
    )
    ctes = [
        *household_ctes(),
        (
            "pt",
            "SELECT person_id, as_of FROM child_times UNION SELECT member_id, as_of FROM members_asof",
        ),
    ]
    body = f"""SELECT pt.person_id, pt.as_of, COUNT(*) AS n_events{counts}
        FROM pt JOIN {{events}} e ON e.person_id = pt.person_id AND e.recorded_at < pt.as_of
        GROUP BY pt.person_id, pt.as_of"""
    return with_ctes(ctes, body).format(**STORE_RELATIONS)


def ratio_generated(scale: float, random_state: int, workdir: Path, repeats: int = 3) -> None:
    """The ratio again on the national generator at ``scale`` (more history per child)."""
    path = workdir / "ratio.duckdb"
    generate_national(path, scale, random_state)
    con = duckdb.connect(str(path), read_only=True)
    tables = {
        t: con.execute(f"SELECT * FROM {t}").df()
        for t in (
            "people",
            "households",
            "household_members",
            "referrals",
            "referral_children",
            "screening_decisions",
            "agency_events",
        )
    }
    tables["named"] = con.execute(f"SELECT * FROM {ensure_named_adults(con)}").df()
    table, t_duck = _best_of(repeats, lambda: build_features(con))
    frame, t_pandas = _best_of(repeats, lambda: pandas_features(tables))
    got = table.to_frame()[["referral_id", "person_id", *d.FEATURE_NAMES]]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), frame, check_dtype=False)
    print(
        f"ratio run (generator, scale {scale}): {len(tables['agency_events']):,} events, "
        f"{len(table):,} referral-child rows (tables agree)"
    )
    _print_ratio(t_pandas, t_duck, repeats)
    t_floor = {}
    for n_counts in (0, 40):
        floor_sql = floor_query(n_counts)
        floor, t_floor[n_counts] = _best_of(
            repeats, lambda q=floor_sql: con.execute(q).fetchnumpy()
        )
        assert len(floor) == 3 + n_counts, "the floor must return its counts"
    print(
        f"  DuckDB floor: households + events joined to (person, as_of) and grouped, one count "
        f"{t_floor[0]:.2f} s = {t_pandas / t_floor[0]:.1f}x pandas; with 40 counts of every "
        f"joined row {t_floor[40]:.2f} s"
    )
    print(
        f"  10x needs the whole build in {t_pandas / 10:.2f} s: the floor leaves "
        f"{t_pandas / 10 - t_floor[0]:.2f} s for the counters and everything else, which now "
        f"take {t_duck - t_floor[0]:.2f} s"
    )
    con.close()


def _jvm_peak_gb(spark) -> float:
    """Peak resident memory of Spark's JVM (Linux ``VmHWM``), which the Python RSS leaves out."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def spark_run(con, duck: pd.DataFrame, elapsed_duck: float, workdir: Path, memory: str) -> None:
    """The national build on Spark beside DuckDB's, checked equal to it."""
    from features import SparkEngine, spark_session

    t0 = time.perf_counter()
    spark = spark_session(cores=2, driver_memory=memory, shuffle_partitions=8)
    spark.sparkContext.setLogLevel("ERROR")
    start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = SparkEngine(con, spark, workdir=workdir / "spark")
    copy_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        table = engine.features()
        elapsed = time.perf_counter() - t0
        peak = _jvm_peak_gb(spark)
        pd.testing.assert_frame_equal(table.to_frame(), duck)
    finally:
        engine.close()
        spark.stop()
    print(
        f"national build on Spark (local, 2 cores, driver {memory}): session {start_s:.0f} s, "
        f"store copied to Parquet in {copy_s:.0f} s, features in {elapsed:.1f} s; "
        f"JVM peak RSS {peak:.2f} GB; table equal to DuckDB's"
    )
    print(f"  {'engine':<34}{'build s':>9}{'vs DuckDB':>11}")
    print(f"  {'DuckDB (2 threads)':<34}{elapsed_duck:9.1f}{1.0:10.1f}x")
    print(f"  {'Spark (local[2])':<34}{elapsed:9.1f}{elapsed / elapsed_duck:10.1f}x")
    print(
        f"  {'Spark incl. Parquet copy':<34}{elapsed + copy_s:9.1f}"
        f"{(elapsed + copy_s) / elapsed_duck:10.1f}x"
    )


def national_run(
    scale: float,
    random_state: int,
    repeats: int,
    workdir: Path,
    spark: bool = True,
    spark_memory: str = "6g",
) -> None:
    path = workdir / "national.duckdb"
    t0 = time.perf_counter()
    counts = generate_national(path, scale, random_state)
    print(f"national store generated in {time.perf_counter() - t0:.0f} s: {counts}")
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '6GB'")
    rss0 = _peak_rss_gb()
    t0 = time.perf_counter()
    table: FeatureTable = SQLEngine(con).features()
    elapsed = time.perf_counter() - t0
    print(
        f"national build: {len(table):,} rows x {table.X.shape[1]} features in {elapsed:.1f} s "
        f"(target <= 180 s); peak RSS {_peak_rss_gb():.2f} GB (before build {rss0:.2f} GB; target <= 8 GB)"
    )
    keys = table.keys
    rng = np.random.default_rng(random_state)
    ids = rng.choice(keys["referral_id"].unique(), size=repeats, replace=False)
    if spark:
        spark_run(con, table.to_frame(), elapsed, workdir, spark_memory)
    del table
    refs_all = con.execute(
        "SELECT * FROM referrals WHERE referral_id IN (SELECT unnest(?))", [list(ids)]
    ).df()
    children_all = con.execute(
        "SELECT * FROM referral_children WHERE referral_id IN (SELECT unnest(?))", [list(ids)]
    ).df()

    def timed(engine) -> list[float]:
        times = []
        for rid in ids:
            r = refs_all[refs_all.referral_id == rid]
            k = children_all[children_all.referral_id == rid]
            t0 = time.perf_counter()
            engine.features(Targets(r, k))
            times.append((time.perf_counter() - t0) * 1000)
        return times

    first = refs_all.referral_id[0]
    sql_engine = SQLEngine(con)
    sql_engine.features(Targets(refs_all.iloc[:1], children_all[children_all.referral_id == first]))
    sql_times = timed(sql_engine)
    rss0 = _peak_rss_gb()
    t0 = time.perf_counter()
    snapshot = StoreSnapshot.load(con)
    load_s = time.perf_counter() - t0
    print(
        f"store snapshot for on-demand builds: {snapshot.n_events:,} events loaded in {load_s:.1f} s, "
        f"{snapshot.nbytes() / 1e9:.2f} GB of arrays (peak RSS {rss0:.2f} -> {_peak_rss_gb():.2f} GB)"
    )
    mem_times = timed(MemoryEngine(snapshot))
    # The two engines agree on every sampled referral (the tests check this exhaustively).
    for rid in ids[:20]:
        r = refs_all[refs_all.referral_id == rid]
        k = children_all[children_all.referral_id == rid]
        pd.testing.assert_frame_equal(
            build_features(None, r, k, snapshot=snapshot).to_frame(),
            build_features(con, r, k).to_frame(),
        )

    def q(times):
        return statistics.median(times), statistics.quantiles(times, n=20)[18]

    (s50, s95), (m50, m95) = q(sql_times), q(mem_times)
    print(
        f"on demand, one referral against the national store ({repeats} calls; target p50 <= 50 ms):"
    )
    print(f"  {'engine':<34}{'p50 ms':>9}{'p95 ms':>9}")
    print(f"  {'DuckDB SQL (narrowed store)':<34}{s50:9.2f}{s95:9.2f}")
    print(f"  {'in memory (StoreSnapshot)':<34}{m50:9.2f}{m95:9.2f}")
    print(
        f"  in memory is {s50 / m50:.1f}x faster at p50; target met: {'yes' if m50 <= 50 else 'NO'}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the national size")
    parser.add_argument(
        "--ratio-children", type=int, default=30_000, help="simulated LA size for the ratio"
    )
    parser.add_argument("--repeats", type=int, default=200, help="on-demand calls to time")
    parser.add_argument("--random-state", type=int, default=7)
    parser.add_argument(
        "--ratio-scale", type=float, default=0.05, help="generator scale for the second ratio run"
    )
    parser.add_argument(
        "--ratio-repeats",
        type=int,
        default=3,
        help="time each implementation this often, keep the best",
    )
    parser.add_argument("--skip-national", action="store_true")
    parser.add_argument("--skip-ratio", action="store_true")
    parser.add_argument("--skip-spark", action="store_true", help="leave the Spark build out")
    parser.add_argument("--spark-memory", default="6g", help="Spark driver memory")
    args = parser.parse_args(argv)
    if not args.skip_ratio:
        ratio_run(args.ratio_children, args.random_state, args.ratio_repeats)
        with tempfile.TemporaryDirectory(prefix="mast-bench-") as tmp:
            ratio_generated(args.ratio_scale, args.random_state, Path(tmp), args.ratio_repeats)
    if not args.skip_national:
        with tempfile.TemporaryDirectory(prefix="mast-bench-") as tmp:
            national_run(
                args.scale,
                args.random_state,
                args.repeats,
                Path(tmp),
                spark=not args.skip_spark,
                spark_memory=args.spark_memory,
            )


if __name__ == "__main__":
    main()
