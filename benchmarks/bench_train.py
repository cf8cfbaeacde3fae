"""Benchmark the whole of ``mast train`` on about 200,000 referral-child rows.

Builds (once, cached) a simulated local authority large enough to give about
200,000 (referral, child) rows over 10 observed years, then runs exactly what
``mast train`` runs (features, labels and split, tuning, calibration,
baselines, evaluation with bootstrap intervals, SHAP on a sample, MLflow
logging and registration, audit and gate), timing every stage.  It prints
each stage's time as a share of the 5-minute budget issue 4 sets for the
whole run, and the total against the budget as a ratio.

The simulation that makes the store is not part of ``mast train`` and is
timed separately.  Run it under the heavy-job lock::

    flock /tmp/mast-heavy.lock /work/venv/bin/python benchmarks/bench_train.py

``--n-children`` sets the size (default about 200,000 rows); ``--store``
where the store is cached; ``--tracking-uri`` where the run goes (a
temporary SQLite store by default, so the benchmark never touches
``mlflow/mlflow.db``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from settings import DEFAULT_RANDOM_STATE  # noqa: E402

BUDGET_SECONDS = 300.0


def _make_store(path: Path, n_children: int, years: int, random_state: int) -> None:
    from store import connect, set_meta, write_tables
    from synthetic import SimulationConfig, simulate

    t = time.perf_counter()
    world = simulate(
        SimulationConfig(n_children=n_children, years=years, random_state=random_state)
    )
    tmp = path.with_suffix(".tmp.duckdb")
    tmp.unlink(missing_ok=True)
    con = connect(tmp)
    write_tables(con, world.tables, truth=world.truth, replace=True)
    set_meta(con, "bench_train", f"{n_children}:{years}:{random_state}")
    con.close()
    os.replace(tmp, path)
    print(
        f"simulated {n_children:,} children over {years} years in {time.perf_counter() - t:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-children", type=int, default=330_000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--random-state", "--seed", dest="random_state", type=int, default=DEFAULT_RANDOM_STATE)
    parser.add_argument("--store", type=Path, default=ROOT / "mast-data" / "bench-train.duckdb")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()

    from store import connect, get_meta

    key = f"{args.n_children}:{args.years}:{args.random_state}"
    if args.store.exists():
        con = connect(args.store, read_only=True)
        have = get_meta(con, "bench_train")
        con.close()
        if have != key:
            args.store.unlink()
    if not args.store.exists():
        args.store.parent.mkdir(parents=True, exist_ok=True)
        _make_store(args.store, args.n_children, args.years, args.random_state)

    from training import TrainConfig, train

    cfg = TrainConfig.from_toml(args.config)
    tmpdir = tempfile.mkdtemp(prefix="bench-train-mlflow-")
    uri = args.tracking_uri or f"sqlite:///{tmpdir}/mlflow.db"
    t = time.perf_counter()
    result = train(args.store, cfg, tracking_uri=uri)
    total = time.perf_counter() - t
    rows = sum(c["rows"] for c in result.period_counts.values())
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    print()
    print(
        f"mast train on {args.store.name}: features built for {result.feature_rows:,} "
        f"referral-child rows; {rows:,} in the three periods (the rest are burn-in and gaps)"
    )
    for p, c in result.period_counts.items():
        print(
            f"  {p:<12} {c['rows']:>9,} rows  {c['referrals']:>9,} referrals  {c['positives']:>7,} positive"
        )
    print(
        f"  config: tuning {result.tuning_summary}; "
        f"bootstrap {cfg.evaluation.n_bootstrap}; SHAP sample {cfg.evaluation.shap_sample}; "
        f"{cfg.num_threads} threads"
    )
    print()
    print(f"{'stage':<22}{'seconds':>10}{'share of 5-min budget':>24}")
    for stage, secs in result.timings.items():
        print(f"{stage:<22}{secs:>10.1f}{secs / BUDGET_SECONDS:>23.2f}x")
    print(f"{'total (wall)':<22}{total:>10.1f}{total / BUDGET_SECONDS:>23.2f}x")
    verdict = "within" if total <= BUDGET_SECONDS else "OVER"
    print(
        f"\nwhole run / budget = {total:.0f} s / {BUDGET_SECONDS:.0f} s = {total / BUDGET_SECONDS:.2f} "
        f"({verdict} budget); peak RSS {peak_gb:.1f} GB"
    )
    cmp = result.comparison
    auc = cmp[(cmp.metric == "auc")].pivot(index="model", columns="label", values="value")
    print("\ntest-period AUC (proxy / harm):")
    print(auc.round(3).to_string())


if __name__ == "__main__":
    main()
