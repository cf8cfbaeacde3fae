import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models import FlagPolicy, LightGBMScorer, resolve_policy


@pytest.fixture(scope="session")
def fitted_scorer():
    """A small fitted LightGBM scorer on a synthetic frame with NaNs."""
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame(
        {
            "child_prior_referrals_12m": rng.poisson(1.0, n).astype(float),
            "adults_da_perpetrator_ever_max": rng.poisson(0.5, n).astype(float),
            "child_age_months": rng.integers(0, 216, n).astype(float),
            "noise": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        }
    )
    logit = -2 + 0.8 * X["child_prior_referrals_12m"] + 0.6 * X["adults_da_perpetrator_ever_max"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "verbose": -1,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "seed": 0,
    }
    booster = lgb.train(params, lgb.Dataset(X.to_numpy(), y, feature_name=list(X.columns)), 40)
    s = LightGBMScorer(booster, list(X.columns))
    s.fit_calibration(X.iloc[:1500], y[:1500])
    s.fit_scores(X.iloc[1500:])
    s.policy = resolve_policy(FlagPolicy(version="test"), s.score(X))
    return s, X, y
