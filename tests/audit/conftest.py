"""Small predictions tables with known structure for the audit tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from store import vocabulary as vocab


def make_predictions(n_referrals: int = 600, random_state: int = 0) -> pd.DataFrame:
    """A MAST-shaped test_predictions table: 1–3 children per referral.

    Black children get a higher score for the same label (so the tool's FPR
    is higher for them), some ethnicities and deprivation deciles are
    missing, and screeners' decisions and ground-truth harm are present.
    """
    rng = np.random.default_rng(random_state)
    sizes = rng.integers(1, 4, n_referrals)
    referral = np.repeat(np.arange(n_referrals), sizes)
    n = len(referral)
    eth = rng.choice(["White", "Black", "Asian", None], n, p=[0.6, 0.2, 0.15, 0.05])
    sex = rng.choice(["Female", "Male"], n)
    imd = rng.choice(np.r_[np.arange(1, 11), np.nan], n).astype(float)
    age = rng.uniform(0, 18, n)
    latent = rng.normal(0, 1, n)
    y_true = (latent + rng.normal(0, 1, n) > 1.3).astype(int)
    harm = (latent + rng.normal(0, 1, n) > 1.4).astype(float)
    harm[rng.random(n) < 0.1] = np.nan
    raw = latent + 0.8 * (eth == "Black")
    prob = 1 / (1 + np.exp(-(raw - 1.8)))
    score = np.clip(np.ceil(pd.Series(raw).rank(pct=True) * 20), 1, 20).astype(int)
    flag = (score >= 18).astype(int)
    human = (latent + rng.normal(0, 1.2, n) > 1.2).astype(float)
    human[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "referral_id": [f"R{r:05d}" for r in referral],
            "person_id": np.arange(n),
            "received_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(referral, unit="h"),
            "y_true": y_true,
            "y_harm": pd.array(np.where(np.isnan(harm), None, harm), dtype="Float64").astype(
                "Int64"
            ),
            "y_prob": prob,
            "score": score,
            "flag": flag,
            "human_flag": pd.array(np.where(np.isnan(human), None, human), dtype="Float64").astype(
                "Int64"
            ),
            "sex": sex,
            "ethnicity": eth,
            "disability": rng.choice(["Yes", "No", vocab.NOT_RECORDED], n, p=[0.1, 0.8, 0.1]),
            "imd_decile": pd.array(np.where(np.isnan(imd), None, imd), dtype="Float64").astype(
                "Int64"
            ),
            "deprivation_quintile": [vocab.deprivation_quintile(x) for x in imd],
            "age_band": [vocab.age_band(a) for a in age],
        }
    )


@pytest.fixture(scope="session")
def predictions() -> pd.DataFrame:
    return make_predictions()


@pytest.fixture(scope="session")
def audit_result(predictions):
    from audit import audit_predictions

    return audit_predictions(predictions, n_boot=200, random_state=7)
