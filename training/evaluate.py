"""Test-period evaluation with bootstrap confidence intervals resampled by referral.

Units.  Discrimination and calibration (AUC, average precision, Brier score,
calibration curve) are per child row, from the child's probability.  Figures
at the flag threshold (flag rate, precision, recall) are per referral,
because the flag is a decision about a referral: a referral is flagged when
its highest child score reaches the threshold, and it is positive when any of
its children has the outcome.

Intervals.  Children of one referral share a household and a history, so
rows are not independent.  Every bootstrap replicate draws referrals with
replacement and keeps all of each drawn referral's children; the child and
referral figures of one replicate come from the same draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

CHILD_METRICS = ("auc", "average_precision", "brier")
REFERRAL_METRICS = ("flag_rate", "precision", "recall")
METRICS = CHILD_METRICS + REFERRAL_METRICS


class _Ranked:
    """Rows grouped by distinct score once, so each replicate is a few bincounts.

    A bootstrap replicate is a weight per row (how often its referral was
    drawn); AUC and average precision with weights need only the per-score
    sums of positive and negative weight, in score order.
    """

    def __init__(self, y: np.ndarray, p: np.ndarray):
        self.y = y.astype(float)
        self.p = p
        uniq, inverse = np.unique(-p, return_inverse=True)  # descending score
        self.group = inverse
        self.n_groups = len(uniq)

    def metrics(self, w: np.ndarray, is_probability: bool) -> dict[str, float]:
        pos = np.bincount(self.group, weights=w * self.y, minlength=self.n_groups)
        tot = np.bincount(self.group, weights=w, minlength=self.n_groups)
        neg = tot - pos
        P, N = pos.sum(), neg.sum()
        out = {"auc": np.nan, "average_precision": np.nan, "brier": np.nan}
        if P > 0 and N > 0:
            # Descending order: a positive beats every negative in a later (lower) group.
            neg_below = N - np.cumsum(neg)
            out["auc"] = float((pos * (neg_below + 0.5 * neg)).sum() / (P * N))
            tp, fp = np.cumsum(pos), np.cumsum(neg)
            precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
            out["average_precision"] = float((pos / P * precision).sum())
        if is_probability and w.sum() > 0:
            out["brier"] = float((w * (self.p - self.y) ** 2).sum() / w.sum())
        return out


def _referral_metrics(y: np.ndarray, flag: np.ndarray, w: np.ndarray) -> dict[str, float]:
    n = w.sum()
    n_flag, n_pos = (w * flag).sum(), (w * y).sum()
    tp = (w * (flag & y)).sum()
    return {
        "flag_rate": float(n_flag / n) if n else np.nan,
        "precision": float(tp / n_flag) if n_flag else np.nan,
        "recall": float(tp / n_pos) if n_pos else np.nan,
    }


class ReferralBootstrap:
    """Precomputed referral grouping, shared by every model evaluated on one period."""

    def __init__(self, referral_id: np.ndarray):
        ref = pd.Series(np.asarray(referral_id))
        codes, uniques = pd.factorize(ref, sort=False)
        self.codes = codes
        self.n_referrals = len(uniques)
        order = np.argsort(codes, kind="stable")
        self.order = order
        self.counts = np.bincount(codes, minlength=self.n_referrals)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])

    def draws(self, n_boot: int, random_state: int) -> list[np.ndarray]:
        rng = np.random.default_rng(random_state)
        return [rng.integers(0, self.n_referrals, self.n_referrals) for _ in range(n_boot)]

    def referral_weights(self, referral_draw: np.ndarray) -> np.ndarray:
        """How many times each referral was drawn."""
        return np.bincount(referral_draw, minlength=self.n_referrals).astype(float)

    def rows(self, referral_draw: np.ndarray) -> np.ndarray:
        """Row indices of every child of every drawn referral (with repeats)."""
        lengths = self.counts[referral_draw]
        starts = self.starts[referral_draw]
        total = int(lengths.sum())
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return self.order[np.arange(total) + offsets]


def evaluate_predictions(
    referral_id: np.ndarray,
    y: np.ndarray,
    y_prob: np.ndarray,
    flag: np.ndarray,
    is_probability: bool = True,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    random_state: int = 0,
    bootstrap: ReferralBootstrap | None = None,
) -> dict[str, dict[str, float]]:
    """Point estimate and percentile interval of every metric.

    Parameters
    ----------
    referral_id, y, y_prob, flag
        One entry per child row; ``flag`` is the referral-level flag (equal
        for every child of a referral).  Rows where ``y`` or ``y_prob`` is
        missing are dropped first (the human baseline has no decision for
        some referrals; a store without ground truth has no harm label).

    Returns
    -------
    dict
        ``{metric: {"value", "ci_low", "ci_high"}}``.  A replicate is the
        same draw of referrals for every metric; drawing referral ``r`` k
        times weights each of its children by k.
    """
    referral_id = np.asarray(referral_id)
    y = pd.to_numeric(pd.Series(y), errors="coerce").to_numpy(dtype=float)
    y_prob = pd.to_numeric(pd.Series(y_prob), errors="coerce").to_numpy(dtype=float)
    flag = pd.to_numeric(pd.Series(flag), errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(y) & np.isfinite(y_prob) & np.isfinite(flag)
    if not keep.all():
        referral_id, y, y_prob, flag = referral_id[keep], y[keep], y_prob[keep], flag[keep]
        bootstrap = None
    y = y.astype(np.int64)
    flag = flag.astype(bool)
    if bootstrap is None:
        bootstrap = ReferralBootstrap(referral_id)
    codes = bootstrap.codes
    ref_pos = np.zeros(bootstrap.n_referrals, dtype=bool)
    np.logical_or.at(ref_pos, codes, y.astype(bool))
    ref_flag = np.zeros(bootstrap.n_referrals, dtype=bool)
    np.logical_or.at(ref_flag, codes, flag)
    ranked = _Ranked(y, y_prob)

    ones = np.ones(bootstrap.n_referrals)
    point = {
        **ranked.metrics(ones[codes], is_probability),
        **_referral_metrics(ref_pos, ref_flag, ones),
    }
    reps = {m: [] for m in METRICS}
    if bootstrap.n_referrals:
        for draw in bootstrap.draws(n_bootstrap, random_state):
            wr = bootstrap.referral_weights(draw)
            both = {
                **ranked.metrics(wr[codes], is_probability),
                **_referral_metrics(ref_pos, ref_flag, wr),
            }
            for m, val in both.items():
                reps[m].append(val)
    alpha = (1 - confidence) / 2
    out = {}
    for m in METRICS:
        arr = np.asarray(reps[m], dtype=float)
        arr = arr[np.isfinite(arr)]
        lo, hi = np.quantile(arr, [alpha, 1 - alpha]) if arr.size else (np.nan, np.nan)
        out[m] = {"value": point[m], "ci_low": float(lo), "ci_high": float(hi)}
    out["n_rows"] = {"value": float(len(y)), "ci_low": np.nan, "ci_high": np.nan}
    out["n_referrals"] = {
        "value": float(bootstrap.n_referrals),
        "ci_low": np.nan,
        "ci_high": np.nan,
    }
    return out


def calibration_points(y: np.ndarray, y_prob: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed against predicted rate in quantile bins (for the calibration figure)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(y_prob, dtype=float)
    keep = np.isfinite(y) & np.isfinite(p)
    y, p = y[keep], p[keep]
    if len(np.unique(y)) < 2:
        return pd.DataFrame(columns=["predicted", "observed"])
    observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    return pd.DataFrame({"predicted": predicted, "observed": observed})


def comparison_frame(results: dict[str, dict[str, dict[str, dict[str, float]]]]) -> pd.DataFrame:
    """Long table: model × label × metric with value and interval."""
    rows = []
    for model, by_label in results.items():
        for label, metrics in by_label.items():
            for metric, v in metrics.items():
                rows.append({"model": model, "label": label, "metric": metric, **v})
    return pd.DataFrame(rows)
