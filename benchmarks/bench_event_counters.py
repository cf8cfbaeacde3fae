"""Benchmark formulations of the feature query's event counters, and the build without them.

The event counters (33 counts and 4 state flags per person and ``as_of``,
``features.sql._event_ctes``) are the largest single part of the feature
query, so they were the first suspect when the build missed 10x over pandas.
This script measures, in one run, whether another DuckDB formulation of them
is much faster, and what the whole build would cost if they were free:

1. **Formulations.**  Over one (person, ``as_of``) table ``pt``, built once:
   the current CTEs (generated from :mod:`features.sql`); the counters packed
   as 15-bit fields of BIGINT words, one ``SUM`` per word, with the 12-month
   counters in the same join ("packed"); the same grouped by an integer key of
   ``pt`` ("packed, integer key"; the key is given for free here); and a bucket
   design, each event ASOF-joined to the next ``as_of`` of its person, summed
   per bucket, then running sums over the buckets by window ("ASOF + window").
   Every result is materialised (``CREATE TEMP TABLE``; under ``SELECT
   count(*)`` DuckDB drops the aggregates nobody reads) and checked equal to
   the current one on every row before anything is printed.  Packed fields are
   only right while no count reaches 2**15; the check is what vouches for it.
2. **Whole build.**  :func:`features.sql.feature_query`, fetched as the build
   fetches it, against the same query reading its event counters from tables
   computed beforehand (the event part free), checked equal.
3. **Budget** (``--pandas``).  ``bench_features.pandas_features`` on the same
   tables, best of 3: 10x over it is the target the whole build is held to.

Everything is timed interleaved, best of ``--repeats``, on 2 threads.  Run it
under the heavy-job lock::

    flock /tmp/mast-heavy.lock /work/venv/bin/python benchmarks/bench_event_counters.py --pandas

The store (``--store``, default ``mast-data/ratio-0.05.duckdb``) is generated
with ``bench_features.generate_national`` at scale 0.05 if it is missing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_features import generate_national, pandas_features  # noqa: E402

from features import definitions as d  # noqa: E402
from features import sql as S  # noqa: E402

TABLES = tuple(dict.fromkeys(S.STORE_RELATIONS.values()))  # what the feature query reads
FIELD_BITS, PER_WORD = 15, 4  # a counter per 15-bit field, 4 fields per BIGINT word

CLASSES = S.event_classes()
BIT = {key: k for k, (key, _) in enumerate(CLASSES)}
EVER = [c for c in d.EVENT_COUNTERS if d.WINDOWS[c.window] is None]
WINDOWED = [c for c in d.EVENT_COUNTERS if d.WINDOWS[c.window] is not None]
if {c.window for c in WINDOWED} != {"12m"}:
    raise SystemExit("the packed variants fold one window, 12m; the definitions now have others")
OUTPUTS = [c.name for c in d.EVENT_COUNTERS] + [s.name for s in d.EVENT_STATES]


def _mask(keys) -> int:
    return sum(1 << BIT[k] for k in set(keys))


EVER_BITS = _mask(S.event_class_key(c) for c in EVER)
WIN_BITS = _mask(S.event_class_key(c) for c in WINDOWED)
STATE_BITS = _mask(f"{s.name}:{k}" for s in d.EVENT_STATES for k in ("start", "end"))

# ---------------------------------------------------------------------------
# The formulations, each a query over the tables and pt returning
# (person_id, as_of, one column per counter and state flag).
# ---------------------------------------------------------------------------


def current() -> str:
    """The feature query's own event CTEs, joined to ``pt`` as ``person_feats`` does."""
    ctes, owner = S._event_ctes(S.DUCKDB)
    states = []
    for s in d.EVENT_STATES:
        a = f"{owner[s.name + '__start']}.{s.name}__start"
        b = f"{owner[s.name + '__end']}.{s.name}__end"
        states.append(
            f"CASE WHEN {a} IS NOT NULL AND ({b} IS NULL OR {a} > {b}) THEN 1 ELSE 0 END AS {s.name}"
        )
    joins = " ".join(
        f"LEFT JOIN {g} ON {g}.person_id = pt.person_id AND {g}.as_of = pt.as_of"
        for g in dict.fromkeys(owner.values())
    )
    cols = [f"{owner[c.name]}.{c.name}" for c in d.EVENT_COUNTERS] + states
    select = f"SELECT pt.person_id, pt.as_of, {', '.join(cols)} FROM pt {joins}"
    return S.with_ctes(ctes, select).format(**S.STORE_RELATIONS)


def _words(counters, prefix: str) -> tuple[list[str], dict[str, tuple[str, int]]]:
    """Per event, the counters packed into words: counter i in word i // 4 at bit 15 * (i % 4)."""
    cols, where = [], {}
    for j in range(0, len(counters), PER_WORD):
        terms = []
        for i, c in enumerate(counters[j : j + PER_WORD]):
            test = S.DUCKDB.has_bit("e.bits", BIT[S.event_class_key(c)])
            age = S._age_test(c.filter.age_limit, "e.occurred_at", "e")
            test += f" AND {age}" if age else ""
            terms.append(
                f"CASE WHEN {test} THEN CAST({1 << (i * FIELD_BITS)} AS BIGINT) ELSE 0 END"
            )
            where[c.name] = (f"{prefix}{j // PER_WORD}", i * FIELD_BITS)
        cols.append(f"({' + '.join(terms)}) AS {prefix}{j // PER_WORD}")
    return cols, where


EVER_WORDS, EVER_AT = _words(EVER, "w")
WIN_WORDS, WIN_AT = _words(WINDOWED, "v")
N_EVER, N_WIN, N_STATES = len(EVER_WORDS), len(WIN_WORDS), len(d.EVENT_STATES)


def _state_keys() -> list[str]:
    """Per event and state, epoch_us * 2 + is_end: the MAX is even iff the latest start is later."""
    out = []
    for i, s in enumerate(d.EVENT_STATES):
        start, end = BIT[f"{s.name}:start"], BIT[f"{s.name}:end"]
        out.append(
            f"CASE WHEN {S.DUCKDB.has_bit('e.bits', start)} THEN epoch_us(e.occurred_at) * 2 "
            f"WHEN {S.DUCKDB.has_bit('e.bits', end)} THEN epoch_us(e.occurred_at) * 2 + 1 END AS sk{i}"
        )
    return out


def _unpack(at: dict[str, tuple[str, int]], src: str) -> list[str]:
    field = (1 << FIELD_BITS) - 1
    return [f"((CAST({src}.{w} AS BIGINT) >> {sh}) & {field}) AS {n}" for n, (w, sh) in at.items()]


def _flags(src: str) -> list[str]:
    return [
        f"CASE WHEN {src}.sk{i} IS NOT NULL AND {src}.sk{i} % 2 = 0 THEN 1 ELSE 0 END AS {s.name}"
        for i, s in enumerate(d.EVENT_STATES)
    ]


def _classified_events() -> str:
    """CTE ``ec``: each relevant event once, with its class bits, packed words and state keys."""
    adult = S.DUCKDB.plus_years("date_of_birth", d.ADULT_YEARS)
    infant = S.DUCKDB.plus_days("date_of_birth", d.NON_MOBILE_DAYS)
    return f"""ec AS MATERIALIZED (
  SELECT e.person_id, e.recorded_at, e.occurred_at, e.bits, {", ".join(EVER_WORDS + WIN_WORDS + _state_keys())}
  FROM (SELECT e.person_id, e.recorded_at, e.occurred_at, {S.predicate_mask(CLASSES)} AS bits,
          p.adult_at, p.non_mobile_until
        FROM agency_events e JOIN (
          SELECT person_id, {adult} AS adult_at, {infant} AS non_mobile_until FROM people
          WHERE person_id IN (SELECT person_id FROM pt)) p ON p.person_id = e.person_id) e
  WHERE (e.bits & {EVER_BITS | WIN_BITS | STATE_BITS}) <> 0)"""


def packed(int_key: bool = False) -> str:
    """One join of ``ec`` to ``pt``, one GROUP BY, a SUM per word (12-month words by a CASE)."""
    pt, key = ("pt_ids", "pt.pt_id") if int_key else ("pt", "pt.person_id, pt.as_of")
    on = (
        "big.pt_id = pt.pt_id"
        if int_key
        else "big.person_id = pt.person_id AND big.as_of = pt.as_of"
    )
    aggs = [f"SUM(ec.w{j}) AS w{j}" for j in range(N_EVER)]
    aggs += [f"MAX(ec.sk{i}) AS sk{i}" for i in range(N_STATES)]
    aggs += [
        f"SUM(CASE WHEN ec.occurred_at >= pt.since_12m THEN ec.v{j} ELSE 0 END) AS v{j}"
        for j in range(N_WIN)
    ]
    cols = _unpack(EVER_AT, "big") + _unpack(WIN_AT, "big") + _flags("big")
    return f"""WITH {_classified_events()},
big AS (SELECT {key}, {", ".join(aggs)}
  FROM {pt} pt JOIN ec ON ec.person_id = pt.person_id AND ec.recorded_at < pt.as_of
  GROUP BY {key})
SELECT pt.person_id, pt.as_of, {", ".join(cols)} FROM {pt} pt LEFT JOIN big ON {on}"""


def asof_window() -> str:
    """Each event summed into the bucket of its person's next ``as_of``; running sums over buckets."""
    bucket = [f"SUM(ec.w{j}) AS w{j}" for j in range(N_EVER)]
    bucket += [f"MAX(ec.sk{i}) AS sk{i}" for i in range(N_STATES)]
    running = [f"SUM(bk.w{j}) OVER w AS w{j}" for j in range(N_EVER)]
    running += [f"MAX(bk.sk{i}) OVER w AS sk{i}" for i in range(N_STATES)]
    band = [f"SUM(ec.v{j}) AS v{j}" for j in range(N_WIN)]
    cols = _unpack(EVER_AT, "cum") + _unpack(WIN_AT, "w12") + _flags("cum")
    return f"""WITH {_classified_events()},
bk AS (SELECT pt.person_id, pt.as_of, {", ".join(bucket)}
  FROM ec ASOF JOIN pt ON ec.person_id = pt.person_id AND ec.recorded_at < pt.as_of
  WHERE (ec.bits & {EVER_BITS | STATE_BITS}) <> 0
  GROUP BY pt.person_id, pt.as_of),
cum AS (SELECT pt.person_id, pt.as_of, {", ".join(running)}
  FROM pt LEFT JOIN bk ON bk.person_id = pt.person_id AND bk.as_of = pt.as_of
  WINDOW w AS (PARTITION BY pt.person_id ORDER BY pt.as_of ROWS UNBOUNDED PRECEDING)),
w12 AS (SELECT pt.person_id, pt.as_of, {", ".join(band)}
  FROM pt JOIN ec ON ec.person_id = pt.person_id AND ec.recorded_at < pt.as_of
    AND ec.occurred_at >= pt.since_12m
  WHERE (ec.bits & {WIN_BITS}) <> 0
  GROUP BY pt.person_id, pt.as_of)
SELECT cum.person_id, cum.as_of, {", ".join(cols)}
FROM cum LEFT JOIN w12 ON w12.person_id = cum.person_id AND w12.as_of = cum.as_of"""


# ---------------------------------------------------------------------------


def load(store: Path) -> duckdb.DuckDBPyConnection:
    """The store's tables in memory, and ``pt`` (and ``pt_ids``) built once, as the query builds it."""
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f"ATTACH '{store}' AS s (READ_ONLY)")
    for t in TABLES:
        con.execute(f"CREATE TABLE main.{t} AS SELECT * FROM s.{t}")
    con.execute("DETACH s")
    ctes = S.feature_ctes()
    upto = ctes[: [n for n, _ in ctes].index("pt") + 1]
    con.execute(
        "CREATE TABLE pt AS " + S.with_ctes(upto, "SELECT * FROM pt").format(**S.STORE_RELATIONS)
    )
    con.execute(
        "CREATE TABLE pt_ids AS SELECT CAST(row_number() OVER (ORDER BY person_id, as_of) - 1 AS INTEGER)"
        " AS pt_id, * FROM pt"
    )
    return con


def materialise(con, sql: str, name: str = "o") -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")


def check_counters(con, name: str, n_pt: int) -> None:
    """Table ``o`` equals ``ref`` on every (person_id, as_of) and output column (NULL as 0)."""
    rows, keys = con.execute(
        "SELECT count(*), count(DISTINCT (person_id, as_of)) FROM o"
    ).fetchone()
    differ = " OR ".join(f"COALESCE(a.{c}, 0) IS DISTINCT FROM COALESCE(b.{c}, 0)" for c in OUTPUTS)
    bad = con.execute(
        f"SELECT count(*) FROM ref a FULL JOIN o b USING (person_id, as_of)"
        f" WHERE a.as_of IS NULL OR b.person_id IS NULL OR {differ}"
    ).fetchone()[0]
    if rows != n_pt or keys != n_pt or bad:
        raise SystemExit(
            f"{name}: {rows:,} rows, {keys:,} keys, {bad:,} differing from the current (pt has {n_pt:,})"
        )


def check_same_table(con, a: str, b: str, name: str) -> int:
    diff = sum(
        con.execute(
            f"SELECT count(*) FROM (SELECT * FROM {x} EXCEPT ALL SELECT * FROM {y})"
        ).fetchone()[0]
        for x, y in ((a, b), (b, a))
    )
    if diff:
        raise SystemExit(f"{name}: {diff:,} rows differ from the current build")
    return con.execute(f"SELECT count(*) FROM {a}").fetchone()[0]


def without_event_part(con) -> str:
    """The feature query with its event counters read from tables computed here, once."""
    ctes, owner = S._event_ctes(S.DUCKDB)
    shared = [(name, body) for name, body in ctes if not name.startswith("ev_agg")]
    free = []
    for name, body in ctes:
        if name.startswith("ev_agg"):
            sql = S.with_ctes([*shared, (name, body)], f"SELECT * FROM {name}")
            materialise(con, sql.format(**S.STORE_RELATIONS), f"pre_{name}")
            free.append((name, f"SELECT * FROM pre_{name}"))
    # feature_ctes looks _event_ctes up at call time: hand it the precomputed tables.
    with mock.patch.object(S, "_event_ctes", lambda dialect: (free, owner)):
        return S.feature_query()


def interleaved(jobs: dict, repeats: int) -> dict[str, list[float]]:
    """Every job once per round, ``repeats`` rounds: drift on a shared machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, job in jobs.items():
            t0 = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - t0)
    return times


def print_table(title: str, names, times: dict[str, list[float]]) -> None:
    base = min(times[names[0]])
    print(f"\n  {title:<48}{'best s':>8}{'median s':>10}  vs {names[0].split(',')[0]}")
    for name in names:
        best, r = min(times[name]), base / min(times[name])
        vs = (
            "reference"
            if name == names[0]
            else f"{max(r, 1 / r):.2f}x {'faster' if r >= 1 else 'slower'}"
        )
        print(f"  {name:<48}{best:8.3f}{statistics.median(times[name]):10.3f}  {vs}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=ROOT / "mast-data" / "ratio-0.05.duckdb")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds, best kept")
    parser.add_argument("--random-state", type=int, default=7, help="to generate a missing store")
    parser.add_argument("--pandas", action="store_true", help="time the pandas baseline too")
    args = parser.parse_args(argv)
    if not args.store.exists():
        args.store.parent.mkdir(parents=True, exist_ok=True)
        partial = args.store.with_name(args.store.name + ".partial")
        partial.unlink(missing_ok=True)
        generate_national(partial, 0.05, args.random_state)
        partial.rename(args.store)  # never a half-written store under the real name
        print(f"generated {args.store} (scale 0.05, random_state {args.random_state})")
    con = load(args.store)
    n_pt, n_events = con.execute(
        "SELECT (SELECT count(*) FROM pt), (SELECT count(*) FROM agency_events)"
    ).fetchone()

    variants = {
        "current _event_ctes (4 families)": current(),
        "packed words, 12m folded into the one join": packed(),
        "packed words, integer pt key (key given)": packed(int_key=True),
        "ASOF buckets + running window sums": asof_window(),
    }
    materialise(con, variants["current _event_ctes (4 families)"], "ref")
    for name, sql in variants.items():
        materialise(con, sql)
        check_counters(con, name, n_pt)
    whole, free = S.feature_query(), without_event_part(con)
    materialise(con, whole, "whole_ref")
    materialise(con, free, "whole_free")
    n_rows = check_same_table(con, "whole_ref", "whole_free", "event part precomputed")

    jobs = {name: (lambda q=sql: materialise(con, q)) for name, sql in variants.items()}
    builds = ["whole build, current", "whole build, event part precomputed (free)"]
    jobs[builds[0]] = lambda: con.execute(whole).fetchnumpy()
    jobs[builds[1]] = lambda: con.execute(free).fetchnumpy()
    times = interleaved(jobs, args.repeats)

    print(
        f"DuckDB {duckdb.__version__}, 2 threads, {args.store.name}: {n_events:,} events, "
        f"{n_pt:,} (person, as_of) rows, {n_rows:,} referral-child rows; interleaved, "
        f"best of {args.repeats}.\nEvery variant checked equal to the current on all {n_pt:,} "
        f"rows x {len(OUTPUTS)} columns; the build without its event part equal to the build."
    )
    print_table("event counters (materialised)", list(variants), times)
    print_table("whole feature query (fetchnumpy)", builds, times)
    full, rest = (min(times[b]) for b in builds)
    print(f"  the event part: {full - rest:.2f} s of {full:.2f} s ({(full - rest) / full:.0%})")
    if args.pandas:
        tables = {t: con.execute(f"SELECT * FROM {t}").df() for t in TABLES}
        t_pandas = min(interleaved({"pandas": lambda: pandas_features(tables)}, 3)["pandas"])
        budget = t_pandas / 10
        print(f"\n  pandas baseline, best of 3: {t_pandas:.2f} s; 10x needs {budget:.3f} s")
        for name, t in zip(builds, (full, rest), strict=True):
            print(
                f"  {name:<48}{t:8.3f} s = {t_pandas / t:4.1f}x pandas, {t / budget:.1f}x the budget"
            )


if __name__ == "__main__":
    main()
