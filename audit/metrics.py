"""Point estimates per group, computed with fairlearn's MetricFrame.

fairlearn is the reference implementation a statistician reviewing the
audit will recognise, so the headline figures come from ``MetricFrame``.
fairlearn's own rate functions return 0 when a rate is undefined (a group
with no positives has no TPR); a board must not read that as "the tool
misses every case", and each of them runs scikit-learn's input validation,
which dominated the audit's run time.  So the error rates here are small
weighted numpy functions that return NaN when undefined; the tests check
them against fairlearn's and scikit-learn's on data where both are defined.  The bootstrap in
:mod:`audit.bootstrap` recomputes the same quantities with weights, and the
tests check the two agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.metrics import roc_auc_score


def _has(y: np.ndarray, value: int, sample_weight=None) -> bool:
    y = np.asarray(y)
    inside = y == value
    if sample_weight is not None:
        inside &= np.asarray(sample_weight) > 0
    return bool(inside.any())


def n_rows(y_true, y_pred, sample_weight) -> float:
    """Number of rows (children) in the group: the sum of the cell weights."""
    return float(np.sum(sample_weight))


def base_rate(y_true, y_pred, sample_weight) -> float:
    """Share of the group with the outcome (the label's prevalence)."""
    return float(np.average(y_true, weights=sample_weight))


def flag_rate(y_true, y_pred, sample_weight) -> float:
    """Share of the group the tool flagged (fairlearn's selection rate)."""
    return float(selection_rate(y_true, y_pred, sample_weight=sample_weight))


def _weighted_rate(hit, among, sample_weight) -> float:
    """sum(w * hit * among) / sum(w * among); NaN when nobody is ``among``."""
    w = np.asarray(sample_weight, dtype=float) * np.asarray(among, dtype=float)
    den = w.sum()
    return float((w * np.asarray(hit, dtype=float)).sum() / den) if den > 0 else np.nan


def tpr(y_true, y_pred, sample_weight) -> float:
    """Of the children with the outcome, the share the tool flagged (recall)."""
    return _weighted_rate(y_pred, np.asarray(y_true) == 1, sample_weight)


def fnr(y_true, y_pred, sample_weight) -> float:
    """Of the children with the outcome, the share the tool did not flag."""
    return _weighted_rate(np.asarray(y_pred) == 0, np.asarray(y_true) == 1, sample_weight)


def fpr(y_true, y_pred, sample_weight) -> float:
    """Of the children without the outcome, the share the tool flagged."""
    return _weighted_rate(y_pred, np.asarray(y_true) == 0, sample_weight)


def precision(y_true, y_pred, sample_weight) -> float:
    """Of the flagged children, the share with the outcome."""
    return _weighted_rate(y_true, np.asarray(y_pred) == 1, sample_weight)


def auc(y_true, y_pred, y_score, sample_weight) -> float:
    """Ranking quality of the score within the group; NaN with one class only."""
    if not (_has(y_true, 0, sample_weight) and _has(y_true, 1, sample_weight)):
        return np.nan
    return float(roc_auc_score(y_true, y_score, sample_weight=sample_weight))


def mean_prob(y_true, y_pred, y_prob, sample_weight) -> float:
    """Average predicted probability in the group."""
    return float(np.average(y_prob, weights=sample_weight))


def calibration_gap(y_true, y_pred, y_prob, sample_weight) -> float:
    """Observed rate minus mean predicted probability (calibration in the large)."""
    return float(np.average(np.asarray(y_true) - np.asarray(y_prob), weights=sample_weight))


def ece(y_true, y_pred, y_prob, band, sample_weight) -> float:
    """Expected calibration error over score bands: sum_b (n_b/n)|observed_b - predicted_b|."""
    y_true, y_prob, band, w = map(np.asarray, (y_true, y_prob, band, sample_weight))
    total = 0.0
    for b in np.unique(band):
        inband = band == b
        total += abs(float(np.sum(w[inband] * (y_true[inband] - y_prob[inband]))))
    return total / float(np.sum(w))


def point_estimates(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: np.ndarray,
    *,
    y_score: np.ndarray | None = None,
    y_prob: np.ndarray | None = None,
    bands: np.ndarray | None = None,
    name: str = "group",
) -> tuple[pd.DataFrame, pd.Series]:
    """Per-group and overall metrics from ``MetricFrame``.

    ``MetricFrame`` converts every argument element by element for every
    group and metric, which takes minutes on a 40,000-row test period.  The
    count-based metrics depend only on (group, label, flag, band), so the
    rows are first collapsed into those cells with a ``sample_weight`` (the
    number of rows in the cell) and the cell's mean probability: the same
    figures, exactly, from a few dozen rows.  AUC needs every distinct score,
    is computed apart (see :mod:`audit.fairness_audit`); ``y_score`` here adds it
    through a second frame, for callers that want fairlearn's value.

    Returns
    -------
    (by_group, overall)
        ``by_group`` is indexed by group label, one column per metric
        (``n``, ``base_rate``, ``selection_rate``, ``tpr``, ``fnr``, ``fpr``,
        ``precision``, and ``auc``/``mean_prob``/``calibration_gap``/``ece``
        when a score/probability is given).
    """
    cells = pd.DataFrame(
        {
            "group": np.asarray(groups, dtype=object),
            "y": np.asarray(y_true, dtype=float),
            "f": np.asarray(y_pred, dtype=float),
            "band": np.zeros(len(y_true), dtype=np.int64) if bands is None else bands,
            "prob": np.zeros(len(y_true)) if y_prob is None else y_prob,
        }
    )
    agg = (
        cells.groupby(["group", "y", "f", "band"], sort=False)
        .agg(w=("y", "size"), prob=("prob", "mean"))
        .reset_index()
    )
    w = agg["w"].to_numpy(dtype=float)
    metrics = {
        "n": n_rows,
        "base_rate": base_rate,
        "selection_rate": flag_rate,
        "tpr": tpr,
        "fnr": fnr,
        "fpr": fpr,
        "precision": precision,
    }
    params: dict[str, dict[str, np.ndarray]] = {m: {"sample_weight": w} for m in metrics}
    if y_prob is not None:
        prob = agg["prob"].to_numpy()
        metrics.update(mean_prob=mean_prob, calibration_gap=calibration_gap, ece=ece)
        params["mean_prob"] = {"y_prob": prob, "sample_weight": w}
        params["calibration_gap"] = {"y_prob": prob, "sample_weight": w}
        params["ece"] = {"y_prob": prob, "band": agg["band"].to_numpy(), "sample_weight": w}
    frame = MetricFrame(
        metrics=metrics,
        y_true=agg["y"].to_numpy(),
        y_pred=agg["f"].to_numpy(),
        sensitive_features=pd.Series(agg["group"].to_numpy(), name=name),
        sample_params=params,
    )
    by_group = frame.by_group.astype(float)
    overall = frame.overall.astype(float)
    if y_score is not None:
        auc_frame = MetricFrame(
            metrics={"auc": auc},
            y_true=np.asarray(y_true, dtype=float),
            y_pred=np.asarray(y_pred, dtype=float),
            sensitive_features=pd.Series(np.asarray(groups, dtype=object), name=name),
            sample_params={"auc": {"y_score": y_score, "sample_weight": np.ones(len(y_true))}},
        )
        by_group["auc"] = auc_frame.by_group["auc"].astype(float)
        overall["auc"] = float(auc_frame.overall["auc"])
    by_group.index = by_group.index.astype(str)
    return by_group, overall
