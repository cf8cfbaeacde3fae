"""Backtest, then deploy: the windows, the rolling origins and the choice of model."""

from __future__ import annotations

import pandas as pd
import pytest

from training.deploy import choose_model, deployment_window, rolling_origins
from training.splits import plan_periods


@pytest.fixture
def periods():
    # A 10-year store with the default periods.
    return plan_periods(
        pd.Timestamp("2015-04-01"), pd.Timestamp("2025-03-31"), 24, 6, 12, 12, 12, 30
    )


def test_three_test_years_fit_a_ten_year_store_latest_first(periods):
    folds = rolling_origins(periods, 5, 12, 12)
    assert len(folds) == 3  # a fourth would leave less than 12 months to train on
    assert folds[0].test == (periods.test_start, periods.test_end)
    for a, b in zip(folds, folds[1:], strict=False):
        assert b.test[1] == a.test[0]  # successive years, no overlap
    for f in folds:
        # Only labels closed by the test year's start: one full gap before it.
        gap_start = f.test[0] - pd.DateOffset(months=periods.gap_months)
        assert gap_start - pd.Timedelta(days=periods.gap_days) == f.calibration[1]
        assert f.train[1] == f.calibration[0]
        assert f.train[1] - f.train[0] >= pd.Timedelta(days=365)


def test_the_deployed_model_calibrates_on_the_latest_closed_year(periods):
    w = deployment_window(periods, 12)
    assert w.calibration == (periods.test_start, periods.test_end)
    assert w.train == (periods.train_start, periods.test_start)
    assert w.test is None


def test_the_window_masks_are_half_open(periods):
    w = deployment_window(periods, 12)
    at = pd.to_datetime(
        [periods.test_start - pd.Timedelta(seconds=1), periods.test_start, periods.test_end]
    ).to_numpy()
    m = w.masks(at)
    assert m["train"].tolist() == [True, False, False]
    assert m["calibration"].tolist() == [False, True, False]


def test_logistic_unless_lightgbm_is_clearly_better():
    assert choose_model({"lightgbm": 0.70, "l1_logistic": 0.695}, 0.01, "p").chosen == "l1_logistic"
    assert choose_model({"lightgbm": 0.71, "l1_logistic": 0.70}, 0.01, "p").chosen == "lightgbm"
    s = choose_model({"lightgbm": 0.654, "l1_logistic": 0.663}, 0.01, "2019 to 2020")
    assert s.chosen == "l1_logistic"
    assert "0.654" in s.reason and "0.663" in s.reason and "2019 to 2020" in s.reason
    assert s.tags()["deployed_model"] == "l1_logistic"
    with pytest.raises(ValueError, match="missing"):
        choose_model({"lightgbm": 0.7}, 0.01, "p")
