"""What the tool adds to the screeners: incremental catch, union catch and their cost.

A flag that only repeats what the screeners already do adds nothing; a flag
that reaches the referrals the screeners closed is the point of the tool.
From a predictions table (one row per referral and child, as training writes
``evaluation/test_predictions.parquet``) this module works out, per referral:

*incremental catch*
    of the referrals with the outcome (ground-truth harm, and separately the
    proxy label) that the screeners closed (no further action, including
    "malicious", or early help), the share the flag would have sent to a
    multi-agency review;
*union catch*
    of the referrals with the outcome, the share caught by the screeners (a
    strategy discussion) or by the flag;
*extra reviews per 1,000 referrals*
    flagged referrals the screeners did not already send to a strategy
    discussion, per 1,000 referrals;
*closed as malicious, harmed*
    of the referrals the screeners closed as malicious, the share with the
    outcome, by who referred.

A referral counts as having the outcome when any of its children has it,
and as flagged when the tool flagged it (``flag`` is the referral's flag).
Intervals are Wilson score intervals: referrals are independent units here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

CLOSED = ("no_further_action", "early_help")
REVIEW = "strategy_discussion"
LABELS = {"harm": "y_harm", "proxy": "y_true"}
LABEL_WORDS = {
    "harm": "harm (simulation ground truth)",
    "proxy": "a child protection plan or care within 24 months (the proxy label)",
}
REQUIRED = ("referral_id", "flag", "y_true", "screener_decision")


def _rate(k: int, n: int, confidence: float) -> dict[str, Any]:
    if n == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "k": 0, "n": 0}
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return {
        "value": k / n,
        "ci_low": float(ci.low),
        "ci_high": float(ci.high),
        "k": int(k),
        "n": int(n),
    }


def per_referral(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per referral: flag, outcomes (any child), decision, closure, who referred."""
    missing = [c for c in REQUIRED if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"what the tool adds: the predictions lack column(s) {missing}; they come from "
            "training (training/front_door.py)"
        )
    p = predictions.copy()
    agg: dict[str, tuple[str, str]] = {
        "flag": ("flag", "max"),
        "y_true": ("y_true", "max"),
        "screener_decision": ("screener_decision", "first"),
    }
    if "y_harm" in p.columns and p["y_harm"].notna().any():
        p["y_harm"] = pd.to_numeric(p["y_harm"], errors="coerce")
        agg["y_harm"] = ("y_harm", "max")
    for col in ("closure_reason", "source_group", "referral_source"):
        if col in p.columns:
            agg[col] = (col, "first")
    return p.groupby("referral_id", sort=True).agg(**agg)


def what_the_tool_adds(predictions: pd.DataFrame, confidence: float = 0.95) -> dict[str, Any]:
    """The figures above, per label, with intervals and counts.

    Raises
    ------
    ValueError
        Naming the columns the table lacks.
    """
    ref = per_referral(predictions)
    n = len(ref)
    flag = ref["flag"].astype(int).to_numpy() == 1
    decision = ref["screener_decision"]
    closed = decision.isin(CLOSED).to_numpy()
    review = (decision == REVIEW).to_numpy()
    out: dict[str, Any] = {"n_referrals": n, "labels": {}}
    for label, col in LABELS.items():
        if col not in ref.columns:
            continue
        pos = ref[col].to_numpy(dtype=float) == 1
        entry = {
            "words": LABEL_WORDS[label],
            "n_with_outcome": int(pos.sum()),
            "screeners_catch": _rate(int((pos & review).sum()), int(pos.sum()), confidence),
            "tool_catch": _rate(int((pos & flag).sum()), int(pos.sum()), confidence),
            "incremental_catch": _rate(
                int((pos & closed & flag).sum()), int((pos & closed).sum()), confidence
            ),
            "union_catch": _rate(int((pos & (flag | review)).sum()), int(pos.sum()), confidence),
        }
        if "closure_reason" in ref.columns:
            mal = (ref["closure_reason"] == "malicious").to_numpy()
            entry["closed_malicious_with_outcome"] = _rate(
                int((mal & pos).sum()), int(mal.sum()), confidence
            )
            if "source_group" in ref.columns:
                entry["closed_malicious_with_outcome_by_source"] = {
                    str(g): _rate(
                        int((mal & pos & (ref["source_group"] == g).to_numpy()).sum()),
                        int((mal & (ref["source_group"] == g).to_numpy()).sum()),
                        confidence,
                    )
                    for g in sorted(ref.loc[mal, "source_group"].dropna().unique())
                }
        out["labels"][label] = entry
    out["extra_reviews_per_1000"] = float(1000 * (flag & ~review).sum() / n) if n else None
    out["flag_rate"] = float(flag.mean()) if n else None
    out["screeners_review_rate"] = float(review.mean()) if n else None
    return out


def metrics(added: dict[str, Any], prefix: str = "added") -> dict[str, float]:
    """Flat MLflow metrics (``added.harm.incremental_catch`` ...), finite values only."""
    out: dict[str, float] = {}
    for label, entry in added.get("labels", {}).items():
        for key in ("incremental_catch", "union_catch", "screeners_catch", "tool_catch"):
            est = entry[key]
            for part in ("value", "ci_low", "ci_high"):
                if est[part] is not None:
                    suffix = "" if part == "value" else f"_{part}"
                    out[f"{prefix}.{label}.{key}{suffix}"] = float(est[part])
        mal = entry.get("closed_malicious_with_outcome")
        if mal and mal["value"] is not None:
            out[f"{prefix}.{label}.closed_malicious_with_outcome"] = float(mal["value"])
    if added.get("extra_reviews_per_1000") is not None:
        out[f"{prefix}.extra_reviews_per_1000"] = float(added["extra_reviews_per_1000"])
    return {k: v for k, v in out.items() if np.isfinite(v)}


def _pct(est: dict[str, Any]) -> str:
    return f"{est['value']:.0%}"


def _ci(est: dict[str, Any]) -> str:
    return f"{est['ci_low']:.0%} to {est['ci_high']:.0%}"


_GROUP_WORDS = {
    "family": "family members",
    "friend_or_neighbour": "friends or neighbours",
    "anonymous": "anonymous referrers",
    "self": "the child or family themselves",
    "professional": "professionals",
}


def sentences(added: dict[str, Any]) -> list[str]:
    """Plain sentences for the first page of the board's report."""
    lines: list[str] = []
    for label in ("harm", "proxy"):
        e = added.get("labels", {}).get(label)
        if not e:
            continue
        inc, uni, scr = e["incremental_catch"], e["union_catch"], e["screeners_catch"]
        if inc["value"] is not None:
            lines.append(
                f"Of the {inc['n']:,} test-period referrals with {e['words']} that the screeners "
                f"closed (no further action, malicious or early help), the flag would have sent "
                f"{inc['k']:,} ({_pct(inc)}, 95% interval {_ci(inc)}) to a multi-agency review."
            )
        if uni["value"] is not None and scr["value"] is not None:
            lines.append(
                f"Of all {uni['n']:,} referrals with {e['words']}, the screeners' strategy "
                f"discussions reached {_pct(scr)}; the screeners or the flag together would have "
                f"reached {_pct(uni)}."
            )
        by = e.get("closed_malicious_with_outcome_by_source", {})
        parts = [
            f"{_pct(est)} of {est['n']:,} from {_GROUP_WORDS.get(g, g.replace('_', ' '))}"
            for g, est in by.items()
            if est["value"] is not None
        ]
        if parts and label == "harm":
            lines.append(
                "Of the referrals the screeners closed as malicious, these had harm: "
                + "; ".join(parts)
                + "."
            )
    extra = added.get("extra_reviews_per_1000")
    if extra is not None:
        lines.append(
            f"The cost: about {extra:.0f} extra multi-agency reviews per 1,000 referrals "
            "(flagged referrals the screeners did not already send to a strategy discussion)."
        )
    return lines
