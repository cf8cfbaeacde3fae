"""Charts for the governance report, as inline base64 PNG.

The report must be one self-contained file a board member can open anywhere
(or print), so every figure is embedded as a data URI rather than linked.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from audit.fairness_audit import LensResult

PLAIN = {
    "selection_rate": "Flag rate",
    "fpr": "False-positive rate",
    "fnr": "False-negative rate",
    "tpr": "True-positive rate",
    "precision": "Precision",
}
LENS_SHORT = {
    "tool_vs_proxy": "Tool vs proxy label",
    "tool_vs_harm": "Tool vs true harm",
    "human_vs_proxy": "Screeners vs proxy label",
    "human_vs_harm": "Screeners vs true harm",
}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _err(est: dict[str, Any]) -> tuple[float, float, float] | None:
    v, lo, hi = est.get("value"), est.get("ci_low"), est.get("ci_high")
    if v is None:
        return None
    lo = v if lo is None else lo
    hi = v if hi is None else hi
    return v, max(v - lo, 0.0), max(hi - v, 0.0)


def group_rates_figure(
    lens: LensResult, attribute: str, metrics=("selection_rate", "fpr", "fnr")
) -> str:
    """Dot-and-interval chart per group: flag rate and error rates.

    Groups too small to conclude from are drawn hollow and grey, so they are
    visible without inviting a conclusion.
    """
    groups = lens.groups[attribute]
    names = list(groups)
    height = max(1.8, 0.32 * len(names) + 1.0)
    fig, axes = plt.subplots(1, len(metrics), figsize=(10, height), sharey=True)
    for ax, m in zip(axes, metrics, strict=True):
        for i, g in enumerate(names):
            e = _err(groups[g].get(m, {}))
            if e is None:
                continue
            small = groups[g]["too_small"]
            ax.errorbar(
                e[0],
                i,
                xerr=[[e[1]], [e[2]]],
                fmt="o",
                color="#999999" if small else "#1f5a96",
                mfc="white" if small else "#1f5a96",
                capsize=3,
            )
        overall = lens.overall.get(m, {}).get("value")
        if overall is not None:
            ax.axvline(overall, color="#c0392b", lw=1, ls="--")
        ax.set_title(PLAIN.get(m, m), fontsize=10)
        ax.set_xlim(left=0)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(names)))
    axes[0].set_yticklabels(
        [f"{g} (n={groups[g]['n']:,})" + (" *" if groups[g]["too_small"] else "") for g in names],
        fontsize=8,
    )
    axes[0].invert_yaxis()
    return _png(fig)


def calibration_figure(lens: LensResult, attribute: str) -> str | None:
    """Observed against predicted rate by score band, one line per group."""
    groups = lens.groups[attribute]
    if not any("calibration" in e for e in groups.values()):
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    top = 0.05
    for g, e in groups.items():
        if e["too_small"] or "calibration" not in e:
            continue
        pts = [
            (row["predicted"], row["observed"]["value"])
            for row in e["calibration"]
            if row["n"] >= 10 and row["predicted"] is not None
        ]
        if not pts:
            continue
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker="o", ms=3, lw=1.2, label=g)
        top = max(top, max(xs), max(ys))
    ax.plot([0, top], [0, top], color="black", lw=0.8, ls=":", label="perfect")
    ax.set_xlabel("Predicted rate (mean probability in the score band)")
    ax.set_ylabel("Observed rate")
    from audit.plain import attribute_label

    ax.set_title(f"Calibration by {attribute_label(attribute)}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return _png(fig)


def lenses_figure(lenses: dict[str, LensResult], metric: str = "fpr") -> str | None:
    """Largest gap between groups in one metric, by attribute, under each lens."""
    shown = [k for k in LENS_SHORT if k in lenses]
    if not shown:
        return None
    attrs = list(lenses[shown[0]].groups)
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(attrs) * len(shown) / 2 + 1.5))
    width = 0.8 / len(shown)
    colours = ["#1f5a96", "#6aa84f", "#e69138", "#a64d79"]
    for k, lens_name in enumerate(shown):
        for i, attr in enumerate(attrs):
            gap = lenses[lens_name].disparities.get(attr, {}).get("largest_gap", {}).get(metric)
            if not gap:
                continue
            e = _err(gap["difference"])
            if e is None:
                continue
            ax.barh(
                i + k * width,
                e[0],
                height=width,
                xerr=[[e[1]], [e[2]]],
                color=colours[k],
                label=LENS_SHORT[lens_name] if i == 0 else None,
                capsize=2,
            )
    ax.set_yticks([i + 0.4 - width / 2 for i in range(len(attrs))])
    from audit.plain import attribute_label

    ax.set_yticklabels([attribute_label(a).capitalize() for a in attrs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"Largest gap between groups in {PLAIN.get(metric, metric).lower()}")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _wrap(text: str, width: int = 48) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def shap_figure(rows: list[dict[str, Any]], top: int = 15) -> str | None:
    """Horizontal bars of mean |SHAP value| for the most influential features."""
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: -float(r["importance"]))[:top]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1))
    names = [_wrap(r.get("label", r["feature"])) for r in rows]
    ax.barh(names, [float(r["importance"]) for r in rows], color="#1f5a96")
    ax.invert_yaxis()
    ax.set_xlabel("Average influence on the score (mean |SHAP value|)")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
