"""Draw docs/figures/deploy-timeline.png: the strict evaluation, the backtest folds, the deployed model.

Run from the repository root: ``.venv/bin/python docs/figures/deploy_timeline.py``.
The periods are computed by the same functions ``mast train`` uses, for the
demo's 10-year store (referrals from April 2015 to March 2025) with the
default configuration.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

from training.deploy import deployment_window, rolling_origins
from training.splits import plan_periods

COLOURS = {"train": "#4c72b0", "calibration": "#dd8452", "test": "#55a868", "scores": "#c44e52"}


def main(out: Path = Path(__file__).with_name("deploy-timeline.png")) -> Path:
    p = plan_periods(pd.Timestamp("2015-04-01"), pd.Timestamp("2025-03-31"), 24, 6, 12, 12, 12, 30)
    rows = [
        (
            "strict evaluation\n(the board's figures)",
            {
                "train": (p.train_start, p.train_end),
                "calibration": (p.calibration_start, p.calibration_end),
                "test": (p.test_start, p.test_end),
            },
        )
    ]
    for f in rolling_origins(p, 3, 12, 12):
        rows.append(
            (
                f"backtest {f.name[-1]}",
                {"train": f.train, "calibration": f.calibration, "test": f.test},
            )
        )
    w = deployment_window(p, 12)
    rows.append(
        (
            "deployed model",
            {
                "train": w.train,
                "calibration": w.calibration,
                "scores": (p.data_end, p.data_end + pd.DateOffset(months=12)),
            },
        )
    )
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for i, (name, parts) in enumerate(rows[::-1]):
        for part, (a, b) in parts.items():
            ax.barh(i, (b - a).days, left=mdates.date2num(a), color=COLOURS[part], height=0.6)
        ax.text(
            mdates.date2num(pd.Timestamp("2015-01-01")),
            i,
            name,
            ha="right",
            va="center",
            fontsize=8,
        )
    ax.axvline(mdates.date2num(p.data_end), color="k", lw=1, ls="--")
    ax.text(mdates.date2num(p.data_end), -0.75, " end of the data", fontsize=8)
    ax.xaxis_date()
    ax.set_yticks([])
    ax.set_xlim(
        mdates.date2num(pd.Timestamp("2015-01-01")), mdates.date2num(pd.Timestamp("2026-06-01"))
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    ax.legend(
        handles,
        ["fitted on", "calibrated on", "tested on", "scores new referrals"],
        fontsize=8,
        loc="lower left",
        ncol=4,
        bbox_to_anchor=(0, -0.35),
    )
    ax.set_title(
        "Backtest, then deploy: received dates of the referrals each fit uses (10-year store)"
    )
    fig.subplots_adjust(left=0.2, bottom=0.25)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(main())
