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

from audit.bootstrap import ReferralBootstrap, auc_from_level_sums

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
            # Groups are in descending score order; the AUC reads them ascending.
            out["auc"] = float(auc_from_level_sums(pos[::-1], neg[::-1]))
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


def _numeric(values, name: str) -> np.ndarray:
    """``values`` as a float array (missing as NaN), or an error naming ``name``."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected one value per row (1-d), got shape {arr.shape}")
    try:
        return pd.to_numeric(pd.Series(arr), errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected numbers, {err}") from err


def _check_binary(values: np.ndarray, name: str) -> None:
    """Raise naming ``name`` and the first row that is present but neither 0 nor 1."""
    bad = np.flatnonzero(~np.isnan(values) & (values != 0) & (values != 1))
    if bad.size:
        raise ValueError(
            f"{name}: must be 0 or 1 (or missing); row {int(bad[0])} is {float(values[bad[0]])!r} "
            f"({bad.size} such row(s))"
        )


def _check_finite_or_missing(values: np.ndarray, name: str) -> None:
    bad = np.flatnonzero(np.isinf(values))
    if bad.size:
        raise ValueError(f"{name}: row {int(bad[0])} is {float(values[bad[0]])!r}; must be finite")


def validate_predictions(
    referral_id, y_true, y_prob, y_pred, is_probability: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check one evaluation's inputs and return them as arrays.

    A metric computed on misaligned or mislabelled rows is a wrong figure in
    a board report, not a crash, so this refuses them first: every array has
    one entry per row, ``y_true`` and ``y_pred`` are 0/1, ``y_prob`` is
    finite and, for a probability, in [0, 1].  Missing values (NaN) are
    allowed: the caller drops those rows.

    Raises
    ------
    ValueError
        Naming the parameter and the first offending row.
    """
    referral_id = np.asarray(referral_id)
    if referral_id.ndim != 1:
        raise ValueError(f"referral_id: expected one value per row (1-d), got {referral_id.shape}")
    y_true = _numeric(y_true, "y_true")
    y_prob = _numeric(y_prob, "y_prob")
    y_pred = _numeric(y_pred, "y_pred")
    n = len(referral_id)
    for name, arr in (("y_true", y_true), ("y_prob", y_prob), ("y_pred", y_pred)):
        if len(arr) != n:
            raise ValueError(
                f"{name}: has {len(arr)} rows but referral_id has {n}; "
                "every array needs one entry per child row"
            )
    _check_binary(y_true, "y_true")
    _check_binary(y_pred, "y_pred")
    _check_finite_or_missing(y_prob, "y_prob")
    if is_probability:
        bad = np.flatnonzero((y_prob < 0) | (y_prob > 1))
        if bad.size:
            raise ValueError(
                f"y_prob: must be a probability in [0, 1]; row {int(bad[0])} is {float(y_prob[bad[0]])!r}"
            )
    return referral_id, y_true, y_prob, y_pred


def evaluate_predictions(
    referral_id: np.ndarray,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    y_pred: np.ndarray,
    is_probability: bool = True,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    random_state: int = 0,
    bootstrap: ReferralBootstrap | None = None,
) -> dict[str, dict[str, float]]:
    """Point estimate and percentile interval of every metric.

    Parameters
    ----------
    referral_id, y_true, y_prob, y_pred
        One entry per child row.  ``y_true`` is the 0/1 outcome, ``y_prob``
        the child's probability (or, with ``is_probability=False``, any
        ranking score such as the screeners' 0/1 decision) and ``y_pred``
        the referral-level 0/1 flag (equal for every child of a referral).
        Rows where any of them is missing are dropped first (the human
        baseline has no decision for some referrals).
    bootstrap
        A :class:`ReferralBootstrap` built on this ``referral_id`` (shared
        across models to save time); built here when None.

    Returns
    -------
    dict
        ``{metric: {"value", "ci_low", "ci_high"}}``.  A replicate is the
        same draw of referrals for every metric; drawing referral ``r`` k
        times weights each of its children by k.

    Raises
    ------
    ValueError
        Arrays of different lengths, a ``y_true`` or ``y_pred`` other than
        0/1, an infinite ``y_prob`` or (for a probability) one outside
        [0, 1]: the message names the parameter and the first bad row.
    """
    referral_id, y, y_prob, flag = validate_predictions(
        referral_id, y_true, y_prob, y_pred, is_probability
    )
    if bootstrap is not None and len(bootstrap.codes) != len(referral_id):
        raise ValueError(
            f"bootstrap: built on {len(bootstrap.codes)} rows but referral_id has "
            f"{len(referral_id)}"
        )
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
        for chunk in bootstrap.weight_chunks(n_bootstrap, random_state):
            for wr in chunk:
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


def calibration_points(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed against predicted rate in quantile bins (for the calibration figure).

    Rows with a missing ``y_true`` or ``y_prob`` are left out; other bad
    input raises as in :func:`evaluate_predictions`.
    """
    y = _numeric(y_true, "y_true")
    p = _numeric(y_prob, "y_prob")
    if len(y) != len(p):
        raise ValueError(f"y_prob: has {len(p)} rows but y_true has {len(y)}")
    _check_binary(y, "y_true")
    _check_finite_or_missing(p, "y_prob")
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
