"""A deployed logistic model explains itself like LightGBM: contributions add up to the margin."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import LogisticScorer
from training.pipeline import _logistic


def test_contributions_plus_intercept_equal_the_margin_with_missing_values():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    X[rng.random(X.shape) < 0.2] = np.nan  # indicators for every column
    y = (np.nan_to_num(X[:, 0]) + rng.normal(size=400) > 0).astype(int)
    names = ["a", "b", "c", "d"]
    scorer = LogisticScorer(_logistic(X, y, 1.0, 0), names)
    frame = pd.DataFrame(X[:50], columns=names)
    contrib, base = scorer.contributions(frame)
    assert list(contrib.columns) == names
    np.testing.assert_allclose(contrib.sum(axis=1) + base, scorer.raw_margin(frame), atol=1e-9)
    # The feature that drives the label drives the contributions.
    assert contrib.abs().mean().idxmax() == "a"
