"""What group-aware thresholds would change: reported to the board, never applied.

fairlearn's ``ThresholdOptimizer`` picks a threshold per group so that the
false-positive rates are equal across groups.  Using a protected
characteristic to set a child's threshold is a policy choice (and in England
raises Equality Act questions), so MAST never does it silently: it shows the
board what would change and what it would cost in recall, and the board
decides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator, ClassifierMixin

from store.vocabulary import NOT_RECORDED


class _ScoreAsEstimator(ClassifierMixin, BaseEstimator):
    """An already-fitted "model" whose prediction is the score column itself.

    ThresholdOptimizer post-processes an estimator; the audit only has the
    scores, so this wraps them (``prefit=True``, ``predict_method="predict"``).
    """

    def fit(self, X, y):  # pragma: no cover - never called with prefit=True
        self.classes_ = np.array([0, 1])
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict(self, X):
        return np.asarray(X, dtype=float)[:, 0]


def _rates(y: np.ndarray, flag: np.ndarray) -> dict[str, float]:
    pos, neg = y == 1, y == 0
    return {
        "selection_rate": float(flag.mean()),
        "tpr": float(flag[pos].mean()) if pos.any() else float("nan"),
        "fpr": float(flag[neg].mean()) if neg.any() else float("nan"),
    }


def threshold_mitigation(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_score: np.ndarray,
    groups: np.ndarray,
    *,
    attribute: str,
    random_state: int,
    min_group_size: int = 50,
    constraints: str = "false_positive_rate_parity",
    objective: str = "balanced_accuracy_score",
) -> dict[str, Any]:
    """Compare the current flag with fairlearn's group-threshold alternative.

    Groups smaller than ``min_group_size`` (and "Not recorded") are pooled
    into one "Other or not recorded" group for the optimiser, because a
    threshold fitted to a handful of children would be noise; they are
    still reported.

    Returns
    -------
    dict
        ``attribute``, ``constraints``, ``objective``, ``before``/``after``
        overall rates, ``recall_cost`` (after minus before recall; negative
        means fewer children with the outcome are flagged), and ``by_group``
        before/after rates.  On failure, ``error`` says why.
    """
    groups = np.asarray(groups, dtype=object)
    sizes = pd.Series(groups).value_counts()
    pooled = np.where(
        np.isin(groups, sizes[sizes >= min_group_size].index) & (groups != NOT_RECORDED),
        groups,
        "Other or not recorded",
    )
    result: dict[str, Any] = {
        "attribute": attribute,
        "constraints": constraints,
        "objective": objective,
        "applied": False,
        "note": (
            "For information only. Group-specific thresholds would treat children "
            "differently by a protected characteristic; MAST never applies them."
        ),
    }
    try:
        optimiser = ThresholdOptimizer(
            estimator=_ScoreAsEstimator(),
            constraints=constraints,
            objective=objective,
            prefit=True,
            predict_method="predict",
        )
        X = pd.DataFrame({"score": y_score})
        optimiser.fit(X, y_true.astype(int), sensitive_features=pooled)
        after = np.asarray(
            optimiser.predict(X, sensitive_features=pooled, random_state=random_state),
            dtype=float,
        )
    except Exception as err:
        result["error"] = f"{type(err).__name__}: {err}"
        result["equal_fpr_same_capacity"] = equal_fpr_thresholds(y_true, y_pred, y_score, pooled)
        return result
    result["before"] = _rates(y_true, y_pred)
    result["after"] = _rates(y_true, after)
    result["recall_cost"] = result["after"]["tpr"] - result["before"]["tpr"]
    result["flag_rate_change"] = (
        result["after"]["selection_rate"] - result["before"]["selection_rate"]
    )
    by_group = {}
    for g in sorted(set(pooled), key=lambda x: (x == "Other or not recorded", x)):
        inside = pooled == g
        by_group[g] = {
            "n": int(inside.sum()),
            "before": _rates(y_true[inside], y_pred[inside]),
            "after": _rates(y_true[inside], after[inside]),
        }
    result["by_group"] = by_group
    result["equal_fpr_same_capacity"] = equal_fpr_thresholds(y_true, y_pred, y_score, pooled)
    return result


def equal_fpr_thresholds(
    y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray, groups: np.ndarray
) -> dict[str, Any]:
    """Per-group thresholds giving every group the tool's current overall FPR.

    ThresholdOptimizer chooses its own operating point, so its flag rate can
    differ a lot from the capacity governance set.  This deterministic
    alternative keeps the overall false-positive rate (and so roughly the
    flag rate) where it is and only moves it between groups: each group's
    threshold is its ``k``-th highest score among children without the
    outcome, ``k = round(FPR x negatives)``.  The recall change is then the
    price of equal false-positive rates at the same workload.
    """
    target = float(y_pred[y_true == 0].mean()) if (y_true == 0).any() else 0.0
    after = np.zeros_like(y_pred, dtype=float)
    thresholds: dict[str, float | None] = {}
    for g in sorted(set(groups), key=lambda x: (x == "Other or not recorded", x)):
        inside = groups == g
        neg = np.sort(y_score[inside & (y_true == 0)])[::-1]
        k = int(round(target * len(neg)))
        if k == 0:
            thresholds[g] = None
            continue
        t = float(neg[k - 1])
        thresholds[g] = t
        after[inside] = (y_score[inside] >= t).astype(float)
    out: dict[str, Any] = {
        "target_fpr": target,
        "thresholds": thresholds,
        "before": _rates(y_true, y_pred),
        "after": _rates(y_true, after),
    }
    out["recall_cost"] = out["after"]["tpr"] - out["before"]["tpr"]
    out["flag_rate_change"] = out["after"]["selection_rate"] - out["before"]["selection_rate"]
    out["by_group"] = {
        g: {
            "n": int((groups == g).sum()),
            "before": _rates(y_true[groups == g], y_pred[groups == g]),
            "after": _rates(y_true[groups == g], after[groups == g]),
        }
        for g in thresholds
    }
    return out
