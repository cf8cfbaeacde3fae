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


def upper_ventile_edges(values: np.ndarray) -> np.ndarray:
    """The 19 cut points such that scores ``s`` and above hold at most ``(21 - s) * 5 %`` of ``values``.

    Interpolated ventiles put *about* 5 % in each score, but the count at or
    above a cut is a whole number of rows and can exceed its share by one:
    101 of 1,008 referrals is 10.02 %, and a 10 % capacity that may never be
    exceeded then falls back to score 20 alone (5 %).  Here each cut is a
    value of ``values`` (the next higher one where tied values straddle the
    share), so a capacity that is a multiple of 5 % is met as closely as
    whole rows allow and never exceeded, on the values the cuts were fixed on.

    Parameters
    ----------
    values
        One value per referral (its highest child's raw margin) in the
        calibration period.
    """
    a = np.sort(np.asarray(values, dtype=float))
    a = a[np.isfinite(a)]
    n = a.size
    if n == 0:
        raise ValueError("values: no finite values to cut into ventiles")
    above = np.nextafter(a[-1], np.inf)  # a cut no value reaches
    edges = []
    for s in range(2, N_SCORES + 1):
        k = (n * (N_SCORES + 1 - s)) // N_SCORES  # rows allowed at score s or above
        if k == 0:
            edges.append(above)
            continue
        cut = a[n - k]
        if k < n and a[n - k - 1] == cut:  # ties straddle the share: the next value up
            higher = a[a > cut]
            cut = higher[0] if higher.size else above
        edges.append(cut)
    return np.maximum.accumulate(np.array(edges))


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
