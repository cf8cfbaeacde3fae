"""Backtest, then deploy: choose a model, test its recipe year by year, refit it on recent data.

The strict temporal evaluation (``train | gap | calibration | gap | test``)
stays the backtest the board reads first.  This module adds what a real
deployment needs after it:

1. **Choice.**  LightGBM or the AFST-style L1 logistic regression, chosen on
   the calibration period (never the test period): the simpler, more
   transparent model unless LightGBM ranks referrals clearly better there
   (:func:`choose_model`).
2. **The deployment recipe.**  Fit on every referral whose label window has
   closed except the latest ``calibration_months``, calibrate on those latest
   months, then score from the day the snapshot ends (one label gap later):
   :func:`deployment_window`.
3. **A rolling-origin backtest of that recipe.**  The same recipe placed at
   successive earlier origins, each tested on the year its model would have
   scored (:func:`rolling_origins`), so the board sees whether the figures are
   stable from year to year.

Hyper-parameters (LightGBM's and the number of trees; the logistic model's
``C``) are those the strict evaluation selected; each fold and the deployed
model refit the weights and the calibrator on their own windows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.splits import Periods, _gap

Bounds = tuple[pd.Timestamp, pd.Timestamp]
CHOICES = ("lightgbm", "l1_logistic")
CHOICE_LABELS = {
    "lightgbm": "LightGBM gradient-boosted trees",
    "l1_logistic": "L1 logistic regression (AFST-style)",
}


@dataclass(frozen=True)
class Window:
    """Where one fit of the recipe learns, calibrates and (in a backtest) is tested.

    Half-open ``[start, end)`` intervals of ``received_at``; ``test`` is None
    for the deployed model, whose test is the future.
    """

    name: str
    train: Bounds
    calibration: Bounds
    test: Bounds | None = None

    def masks(self, received_at: np.ndarray) -> dict[str, np.ndarray]:
        """Row masks for each part of the window."""
        at = pd.to_datetime(pd.Series(received_at)).to_numpy()
        out = {}
        for part in ("train", "calibration", "test"):
            bounds = getattr(self, part)
            if bounds is not None:
                start, end = (np.datetime64(b) for b in bounds)
                out[part] = (at >= start) & (at < end)
        return out

    def as_params(self) -> dict[str, str]:
        out = {}
        for part in ("train", "calibration", "test"):
            bounds = getattr(self, part)
            if bounds is not None:
                out[f"{self.name}.{part}"] = f"{bounds[0].date()} to {bounds[1].date()}"
        return out


def deployment_window(periods: Periods, calibration_months: int) -> Window:
    """The deployed model's window: everything closed, the latest months for calibration.

    Every referral received before ``periods.test_end`` has a closed label
    window (plus the recording allowance) by the snapshot's end.  The latest
    ``calibration_months`` of them calibrate; all before train.
    """
    cal_end = periods.test_end
    cal_start = cal_end - pd.DateOffset(months=calibration_months)
    return Window("deploy", (periods.train_start, cal_start), (cal_start, cal_end))


def rolling_origins(
    periods: Periods, n_folds: int, calibration_months: int, min_train_months: int
) -> list[Window]:
    """The deployment recipe placed at successive origins, latest test year first.

    Fold ``k`` is tested on the year ending ``k`` test periods before the
    strict test period ends; its model may use only labels closed by that
    year's start (one label gap before it), exactly as the deployed model
    uses only labels closed by the snapshot's end.  Folds stop when the
    training window would be shorter than ``min_train_months``.
    """
    months = (
        (periods.test_end.year - periods.test_start.year) * 12
        + periods.test_end.month
        - periods.test_start.month
    )
    folds = []
    for k in range(n_folds):
        test_start = periods.test_start - pd.DateOffset(months=months * k)
        test_end = periods.test_end - pd.DateOffset(months=months * k)
        cal_end = _gap(test_start, periods.gap_months, periods.gap_days, -1)
        cal_start = cal_end - pd.DateOffset(months=calibration_months)
        if cal_start < periods.train_start + pd.DateOffset(months=min_train_months):
            break
        folds.append(
            Window(
                f"fold{k + 1}",
                (periods.train_start, cal_start),
                (cal_start, cal_end),
                (test_start, test_end),
            )
        )
    return folds


@dataclass(frozen=True)
class Selection:
    """Which model is deployed and why, in words a board member can read."""

    chosen: str
    reason: str
    calibration_auc: dict[str, float]
    min_auc_gain: float

    def tags(self) -> dict[str, str]:
        return {
            "deployed_model": self.chosen,
            "selection_reason": self.reason,
            **{f"selection_auc_{k}": f"{v:.3f}" for k, v in self.calibration_auc.items()},
        }


def choose_model(
    calibration_auc: dict[str, float], min_auc_gain: float, period_text: str
) -> Selection:
    """LightGBM only if it ranks the calibration period clearly better than the logistic model.

    The logistic regression is preferred on a tie: its weights can be read
    and its behaviour is easier to explain to a family or a tribunal.  The
    calibration period also chose LightGBM's trees (early stopping), which
    flatters LightGBM there, so asking it for a margin is the cautious side.

    Parameters
    ----------
    calibration_auc
        ``{"lightgbm": auc, "l1_logistic": auc}`` on the calibration period.
    min_auc_gain
        How much higher LightGBM's AUC must be for it to be chosen.
    """
    missing = [k for k in CHOICES if k not in calibration_auc]
    if missing:
        raise ValueError(f"calibration_auc: missing {missing}")
    if min_auc_gain < 0:
        raise ValueError(f"min_auc_gain must be >= 0, got {min_auc_gain}")
    lgb, l1 = calibration_auc["lightgbm"], calibration_auc["l1_logistic"]
    gain = lgb - l1
    chosen = "lightgbm" if gain >= min_auc_gain else "l1_logistic"
    verdict = (
        f"at least the {min_auc_gain:.3f} needed to prefer the less transparent model"
        if chosen == "lightgbm"
        else f"less than the {min_auc_gain:.3f} needed to prefer the less transparent model"
    )
    reason = (
        f"On the calibration period ({period_text}) LightGBM ranked referrals with AUC {lgb:.3f} "
        f"and the L1 logistic regression with {l1:.3f}: a difference of {gain:+.3f}, {verdict}. "
        f"Deployed: {CHOICE_LABELS[chosen]}."
    )
    return Selection(chosen, reason, {k: float(calibration_auc[k]) for k in CHOICES}, min_auc_gain)


def refit_lightgbm(X, y, names, params: dict, n_trees: int):
    """LightGBM with fixed hyper-parameters and exactly ``n_trees`` trees (no early stopping)."""
    import lightgbm as lgb

    ds = lgb.Dataset(X, label=y, feature_name=names, params={"verbose": -1})
    return lgb.train(params, ds, num_boost_round=int(n_trees))
