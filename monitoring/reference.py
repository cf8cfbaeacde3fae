"""What "normal" looked like when the deployed model was fitted, saved with the model.

Training writes it to the run as ``monitoring/reference.json``; ``mast
monitor`` reads it back for the champion and compares each month with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.scoring import N_SCORES, referral_max
from monitoring.drift import bin_proportions, reference_edges

REFERENCE_VERSION = 1
MAX_ROWS = 200_000


def score_proportions(referral_scores: np.ndarray) -> list[float]:
    """Share of referrals at each score 1..20."""
    s = np.asarray(referral_scores, dtype=int)
    counts = np.bincount(s, minlength=N_SCORES + 1)[1 : N_SCORES + 1].astype(float)
    return (counts / counts.sum()).tolist() if counts.sum() else counts.tolist()


def build_reference(scorer, X_train: pd.DataFrame, X_cal: pd.DataFrame, ref_cal, y_cal, window):
    """Input bins from the deployed model's training window; scores and flags from its calibration window.

    The score distribution and the flag rate come from the calibration
    window (the latest closed year, scored by the deployed model), because
    that is what the model should produce on today's referrals if nothing
    has changed; the inputs are compared with the data the model learned from.
    """
    rng = np.random.default_rng(0)
    Xt = X_train
    if len(Xt) > MAX_ROWS:
        Xt = Xt.iloc[np.sort(rng.choice(len(Xt), MAX_ROWS, replace=False))]
    features = {}
    for name in scorer.feature_names:
        values = Xt[name].to_numpy(dtype=float)
        edges = reference_edges(values)
        features[name] = {
            "edges": edges,
            "proportions": bin_proportions(values, edges).tolist(),
        }
    out = scorer.predict_referrals(X_cal, ref_cal)
    first = ~pd.Series(ref_cal).duplicated().to_numpy()
    ref_scores = out["referral_score"].to_numpy()[first]
    return {
        "version": REFERENCE_VERSION,
        "training_window": [str(window.train[0].date()), str(window.train[1].date())],
        "calibration_window": [
            str(window.calibration[0].date()),
            str(window.calibration[1].date()),
        ],
        "training_rows": int(len(X_train)),
        "features": features,
        "referral_score_proportions": score_proportions(ref_scores),
        "flag_rate": float(out["referral_flag"].to_numpy()[first].mean()),
        "threshold_score": int(scorer.policy.threshold_score),
        "mean_probability": float(out["probability"].mean()),
        "observed_rate": float(np.mean(y_cal)),
        "referral_observed_rate": float(referral_max(ref_cal, y_cal).to_numpy()[first].mean()),
    }
