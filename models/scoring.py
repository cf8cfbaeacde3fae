"""The 1–20 score: ventiles of the calibration period's referral scores.

AFST shows screeners a score from 1 to 20 rather than a probability: each
step holds about 5 % of the referrals the model was calibrated on (a
referral's value is its highest child's), so "18" means "in the top 15 % of
referrals of the latest closed period", and a flag capacity of 10 % is
scores 19–20 (see :meth:`models.estimators.Scorer.fit_scores`).  The cut
points are fixed at training time and stored with the model, so a score means
the same thing on every day the model is in use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

N_SCORES = 20


def ventile_edges(train_values: np.ndarray) -> np.ndarray:
    """The 19 cut points between scores, from the training-period values.

    Parameters
    ----------
    train_values
        The model's raw score (margin) for every training-period row.  A
        monotone transform of the probability gives the same ordering and no
        isotonic ties, so scores stay as even as the data allow.
    """
    values = np.asarray(train_values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("train_values: no finite values to cut into ventiles")
    qs = np.arange(1, N_SCORES) / N_SCORES
    return np.quantile(values, qs, method="linear")


def to_score(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Map raw scores to integers 1–20 with the stored cut points.

    A value equal to a cut point goes to the higher score, so the top of the
    training distribution reaches 20.  Non-finite values (a missing margin)
    raise: a child must never silently get the lowest score.
    """
    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"values: row {bad} is not a finite score")
    edges = np.asarray(edges, dtype=float)
    if edges.shape != (N_SCORES - 1,):
        raise ValueError(f"edges: expected {N_SCORES - 1} cut points, got shape {edges.shape}")
    return (1 + np.searchsorted(edges, values, side="right")).astype(np.int64)


def referral_max(referral_id: pd.Series | np.ndarray, values: np.ndarray) -> pd.Series:
    """The referral's score: the highest among its children, one value per row.

    A referral is about a household; the child most at risk decides whether
    it is reviewed, so every child row carries its referral's maximum.
    """
    frame = pd.DataFrame({"referral_id": np.asarray(referral_id), "v": np.asarray(values)})
    return frame.groupby("referral_id", sort=False)["v"].transform("max")
