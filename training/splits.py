"""Temporal training, calibration and test periods with a label-horizon gap.

No random row-level split exists anywhere in MAST.  The periods come from the
store's own date range and the configuration, working back from the snapshot:

``data_end``
    the latest moment anything in the store was recorded;
``test``
    the last ``test_months`` of referrals whose label window (horizon plus a
    recording allowance) closed before ``data_end``;
``calibration``
    ``calibration_months`` ending one gap before the test period starts;
``training``
    from ``burn_in_months`` after the first referral to one gap before the
    calibration period starts.

The gap is the label horizon plus the recording allowance, so a referral is
in a period only if its whole label window closed before the next period
starts: a model deployed at the start of a period could have known every
label it was trained or calibrated on.  Periods are assigned per referral, so
all children of one referral are always on the same side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

PERIODS = ("train", "calibration", "test")
EXCLUDED = "excluded"


@dataclass(frozen=True)
class Periods:
    """Half-open ``[start, end)`` intervals of ``received_at``."""

    train_start: pd.Timestamp
    train_end: pd.Timestamp
    calibration_start: pd.Timestamp
    calibration_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    data_end: pd.Timestamp
    gap_months: int
    gap_days: int

    def bounds(self, period: str) -> tuple[pd.Timestamp, pd.Timestamp]:
        if period not in PERIODS:
            raise ValueError(f"period must be one of {PERIODS}, got {period!r}")
        return getattr(self, f"{period}_start"), getattr(self, f"{period}_end")

    def as_params(self) -> dict[str, str]:
        return {f"split.{k}": str(v) for k, v in asdict(self).items()}


def _gap(ts: pd.Timestamp, months: int, days: int, sign: int) -> pd.Timestamp:
    if sign > 0:
        return ts + pd.DateOffset(months=months) + pd.Timedelta(days=days)
    return ts - pd.DateOffset(months=months) - pd.Timedelta(days=days)


def plan_periods(
    first_received: pd.Timestamp,
    data_end: pd.Timestamp,
    horizon_months: int,
    burn_in_months: int,
    test_months: int,
    calibration_months: int,
    min_train_months: int,
    recording_allowance_days: int,
) -> Periods:
    """Work the periods out from the store's range; raise if it is too short.

    Raises
    ------
    ValueError
        Naming the parameters to change, when the training period would be
        shorter than ``min_train_months``.
    """
    first_received = pd.Timestamp(first_received)
    data_end = pd.Timestamp(data_end)
    h, a = int(horizon_months), int(recording_allowance_days)
    test_end = _gap(data_end, h, a, -1)
    test_start = test_end - pd.DateOffset(months=test_months)
    calibration_end = _gap(test_start, h, a, -1)
    calibration_start = calibration_end - pd.DateOffset(months=calibration_months)
    train_end = _gap(calibration_start, h, a, -1)
    train_start = first_received + pd.DateOffset(months=burn_in_months)
    if train_end < train_start + pd.DateOffset(months=min_train_months):
        span_years = (data_end - first_received).days / 365.25
        need = burn_in_months + min_train_months + calibration_months + test_months + 3 * h
        raise ValueError(
            f"The store spans {span_years:.1f} years ({first_received.date()} to {data_end.date()}), "
            f"too short for split.min_train_months={min_train_months} with a {h}-month label "
            f"horizon (label.name), split.burn_in_months={burn_in_months}, "
            f"split.calibration_months={calibration_months}, split.test_months={test_months} and "
            f"split.recording_allowance_days={a}: about {need / 12 + 3 * a / 365.25:.1f} years are "
            "needed (three label-horizon gaps). Simulate more years or shorten these parameters."
        )
    return Periods(
        train_start=train_start,
        train_end=train_end,
        calibration_start=calibration_start,
        calibration_end=calibration_end,
        test_start=test_start,
        test_end=test_end,
        data_end=data_end,
        gap_months=h,
        gap_days=a,
    )


def assign_periods(keys: pd.DataFrame, periods: Periods) -> np.ndarray:
    """The period of each row ("train", "calibration", "test" or "excluded").

    The period is decided once per referral and broadcast to its children; a
    referral whose children disagree on ``received_at`` is a data error.
    """
    received = pd.to_datetime(keys["received_at"])
    per_ref = (
        pd.DataFrame(
            {"referral_id": keys["referral_id"].to_numpy(), "received_at": received.to_numpy()}
        )
        .groupby("referral_id", sort=False)["received_at"]
        .agg(["min", "max"])
    )
    bad = per_ref.index[per_ref["min"] != per_ref["max"]]
    if len(bad):
        raise ValueError(f"referral_id {bad[0]!r}: children have different received_at")
    at = per_ref["min"]
    label = pd.Series(EXCLUDED, index=per_ref.index, dtype=object)
    for period in PERIODS:
        start, end = periods.bounds(period)
        label[(at >= start) & (at < end)] = period
    return label.reindex(keys["referral_id"].to_numpy()).to_numpy()


def data_range(con) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First referral and the snapshot's end: the latest thing on record."""
    first = con.execute("SELECT min(received_at) FROM referrals").fetchone()[0]
    if first is None:
        raise ValueError("The store has no referrals: run `mast simulate` or `mast load` first")
    end = con.execute(
        """
        SELECT greatest(
            (SELECT max(received_at) FROM referrals),
            coalesce((SELECT max(recorded_at) FROM agency_events), TIMESTAMP '1900-01-01'),
            coalesce((SELECT max(decided_at) FROM screening_decisions), TIMESTAMP '1900-01-01'))
        """
    ).fetchone()[0]
    return pd.Timestamp(first), pd.Timestamp(end)
