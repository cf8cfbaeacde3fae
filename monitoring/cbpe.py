"""Performance estimated before the outcomes are known, from calibrated probabilities.

The idea of NannyML's confidence-based performance estimation (CBPE): if the
probabilities are calibrated, a referral with probability 0.3 is, in
expectation, 0.3 of a positive and 0.7 of a negative.  Summing those
expected counts along the ranking gives the expected ROC curve and hence an
expected AUC, and the mean probability among flagged referrals is the
expected share of flags that will turn out to have the outcome.

NannyML itself is not used: its releases pin an older pandas than MAST's
and it sends usage statistics unless told not to.  This is the part MAST
needs, tested against a simulation of the labels.

The estimate is only as good as the calibration: when inputs drift, the
estimate and the realised figure can part, which is why the monitor reports
both once outcomes arrive.
"""

from __future__ import annotations

import numpy as np


def expected_auc(y_prob: np.ndarray, y_score: np.ndarray | None = None) -> float:
    """Expected AUC of ``y_score`` when each row is positive with probability ``y_prob``.

    Ties in ``y_score`` count a half, as in the realised AUC.  The ratio of
    expectations (expected correctly ordered pairs over expected pairs), as
    CBPE computes it; it matches the mean realised AUC closely once there are
    more than a few dozen positives.
    """
    p = np.asarray(y_prob, dtype=float)
    s = p if y_score is None else np.asarray(y_score, dtype=float)
    if p.shape != s.shape:
        raise ValueError("y_prob and y_score: different lengths")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValueError("y_prob: every value must be a probability in [0, 1]")
    _, group = np.unique(-s, return_inverse=True)
    pos = np.bincount(group, weights=p)
    neg = np.bincount(group, weights=1 - p)
    P, N = pos.sum(), neg.sum()
    # Pairs of a row with itself are not pairs: remove each row's own p(1-p).
    self_pairs = np.bincount(group, weights=p * (1 - p))
    neg_below = N - np.cumsum(neg)
    correct = (pos * neg_below).sum() + 0.5 * ((pos * neg).sum() - self_pairs.sum())
    pairs = P * N - (p * (1 - p)).sum()
    return float(correct / pairs) if pairs > 0 else float("nan")


def referral_probability(child_prob: np.ndarray, referral_id: np.ndarray) -> dict:
    """Probability that at least one child of each referral has the outcome.

    Children of one referral are treated as independent, which overstates it
    a little when siblings' outcomes go together.
    """
    import pandas as pd

    log_none = pd.Series(np.log1p(-np.minimum(np.asarray(child_prob, float), 1 - 1e-12)))
    return (1 - np.exp(log_none.groupby(np.asarray(referral_id)).sum())).to_dict()


def expected_flag_metrics(referral_prob: np.ndarray, flag: np.ndarray) -> dict[str, float]:
    """Expected precision (share of flags with the outcome) and recall of referral flags."""
    p = np.asarray(referral_prob, dtype=float)
    f = np.asarray(flag).astype(bool)
    total = p.sum()
    return {
        "expected_precision": float(p[f].mean()) if f.any() else float("nan"),
        "expected_recall": float(p[f].sum() / total) if total > 0 else float("nan"),
        "expected_positive_rate": float(p.mean()) if p.size else float("nan"),
    }
