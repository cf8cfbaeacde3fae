"""`mast simulate`'s defaults make a store `mast train` accepts."""

from __future__ import annotations

import inspect

import pandas as pd

from mast.commands.simulate import simulate
from training import TrainConfig
from training.labels import get_label
from training.splits import plan_periods


def _default(name: str):
    return inspect.signature(simulate).parameters[name].default.default


def test_default_years_are_enough_for_the_default_training_periods():
    cfg = TrainConfig.from_toml()
    start = pd.Timestamp(_default("start"))
    # Referrals start a little after the window opens and the snapshot ends a
    # little before its end: allow a month at each end.
    first = start + pd.DateOffset(months=1)
    end = start + pd.DateOffset(years=_default("years")) - pd.DateOffset(months=1)
    periods = plan_periods(
        first,
        end,
        get_label(cfg.label.name).horizon_months,
        cfg.split.burn_in_months,
        cfg.split.test_months,
        cfg.split.calibration_months,
        cfg.split.min_train_months,
        cfg.split.recording_allowance_days,
    )
    assert periods.train_end > periods.train_start
