"""Benchmark: the audit's vectorised cluster bootstrap against a naive loop.

The naive way to bootstrap by referral is, per replicate, to draw referral
ids with replacement, build the resampled table and group it with pandas.
The audit instead draws counts per referral and gets every group sum for a
block of replicates from one sparse product.  Both are run here on the same
table for the rate metrics of one lens, and the whole audit is timed.

Usage: python benchmarks/bench_audit.py [--referrals 20000] [--reps 500]
(wrap in `flock /tmp/mast-heavy.lock` on a shared machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit import audit_predictions
from audit.bootstrap import GroupPlan, cluster_weight_chunks
from audit.frame import prepare_frame
from tests.audit.conftest import make_predictions

GROUPS = ["ethnicity", "sex", "age_band", "disability", "deprivation_quintile"]


def naive(frame: pd.DataFrame, reps: int, random_state: int) -> float:
    rng = np.random.default_rng(random_state)
    ids = frame["referral_id"].unique()
    rows_of = frame.groupby("referral_id").indices
    start = time.perf_counter()
    for _ in range(reps):
        drawn = rng.choice(ids, len(ids), replace=True)
        sample = frame.iloc[np.concatenate([rows_of[r] for r in drawn])]
        for col in GROUPS:
            g = sample.assign(
                tp=sample["y_true"] * sample["flag"], fp=(1 - sample["y_true"]) * sample["flag"]
            ).groupby(col)
            sums = g[["y_true", "flag", "tp", "fp"]].sum()
            n = g.size()
            _ = (sums["tp"] / sums["y_true"], sums["fp"] / (n - sums["y_true"]), sums["flag"] / n)
    return (time.perf_counter() - start) / reps


def vectorised(frame: pd.DataFrame, reps: int, random_state: int) -> float:
    prep = prepare_frame(
        frame, y_true="y_true", groups=GROUPS, flag="flag", referral_col="referral_id"
    )
    plans = []
    for col in GROUPS:
        names = sorted(set(prep.groups[col]))
        codes = pd.Categorical(prep.groups[col], categories=names).codes.astype(np.int64)
        plans.append(
            GroupPlan(codes, len(names), prep.clusters, prep.n_clusters, prep.y_true, prep.y_pred)
        )
    start = time.perf_counter()
    for weights in cluster_weight_chunks(prep.n_clusters, reps, random_state):
        for plan in plans:
            plan.rates(weights)
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--referrals", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--naive-reps", type=int, default=20)
    args = parser.parse_args()
    frame = make_predictions(args.referrals, random_state=0)
    print(f"table: {len(frame):,} rows, {frame['referral_id'].nunique():,} referrals")
    t_naive = naive(frame, args.naive_reps, 0)
    t_vec = vectorised(frame, args.reps, 0)
    print(
        f"{'per replicate (5 attributes, 3 rates)':<40}{'naive loop':>14}{'vectorised':>14}{'ratio':>10}"
    )
    print(f"{'':<40}{1000 * t_naive:>11.1f} ms{1000 * t_vec:>11.2f} ms{t_naive / t_vec:>9.0f}x")
    start = time.perf_counter()
    result = audit_predictions(frame, n_boot=args.reps, random_state=0)
    total = time.perf_counter() - start
    print(
        f"full audit (4 lenses, {len(result.primary.groups)} attributes, {args.reps} replicates, "
        f"mitigation): {total:.1f} s"
    )


if __name__ == "__main__":
    main()
