"""Turning SHAP contributions into reasons a screener can read and check.

A reason is one feature's contribution to one child's score, described in
plain language by the feature catalogue and backed by the records that make
up the feature.  Reasons that *lower* the score are returned beside those
that raise it, so the screener sees both sides and not a one-sided case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

# Contributions smaller than this (in log-odds) move the probability by well
# under a tenth of a percentage point: not worth a screener's attention.
MIN_CONTRIBUTION = 1e-3


def plain_value(value: Any) -> float | int | str | bool | None:
    """A feature value as a JSON scalar (numpy types and NaN made plain)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def describe(catalogue: Mapping[str, Any], feature: str, value: Any) -> str:
    """The catalogue's plain-language description of ``feature`` at ``value``."""
    entry = catalogue.get(feature)
    if entry is None:
        return f"{feature} = {plain_value(value)}"
    return str(entry.describe(value))


def rank_reasons(
    contributions: pd.Series, top: int, min_contribution: float = MIN_CONTRIBUTION
) -> tuple[list[str], list[str]]:
    """The features that raise and that lower the score most, strongest first.

    Ties are broken by feature name so the same inputs always give the same
    reasons in the same order.
    """
    frame = pd.DataFrame({"feature": contributions.index, "c": contributions.to_numpy(float)})
    raising = frame[frame["c"] > min_contribution].sort_values(
        ["c", "feature"], ascending=[False, True]
    )
    lowering = frame[frame["c"] < -min_contribution].sort_values(
        ["c", "feature"], ascending=[True, True]
    )
    return list(raising["feature"][:top]), list(lowering["feature"][:top])


def build_reasons(
    features: list[str],
    contributions: pd.Series,
    values: pd.Series,
    catalogue: Mapping[str, Any],
    records_for: Callable[[str], list[dict] | None],
    max_records: int,
) -> list[dict]:
    """One reason per feature, in the order given, each with its records.

    ``records_for`` returning ``None`` means the records were not asked for:
    ``records_total`` is then ``None`` rather than a misleading 0.
    """
    reasons = []
    for feature in features:
        c = float(contributions[feature])
        records = records_for(feature)
        reasons.append(
            {
                "feature": feature,
                "text": describe(catalogue, feature, values[feature]),
                "direction": "raises" if c > 0 else "lowers",
                "contribution": c,
                "value": plain_value(values[feature]),
                "records": [] if records is None else records[:max_records],
                "records_total": None if records is None else len(records),
            }
        )
    return reasons


def batched_evidence_sql(features: list[str]) -> str:
    """One query listing the records behind every feature in ``features``.

    ``features.evidence`` answers for one feature at a time, and each call
    re-derives the child's household from the store (~30 ms); a referral's
    reasons need up to 30 of them.  This unions the same per-feature record
    selections (built by the same functions, so the same predicates and the
    same household) over one shared set of household CTEs.  Each row carries
    ``_reason``, the position of its feature in ``features``; within a
    feature, rows are ordered as ``features.evidence`` orders them.

    The query takes two parameters, ``referral_id`` and ``person_id`` (one
    child), and its relations are formatted like ``features.evidence``'s.
    """
    from features import definitions as d
    from features.evidence import _subject_sql, evidence_body
    from features.sql import DUCKDB, household_ctes, with_ctes

    subjects: dict[str, str] = {}
    bodies = []
    for i, feature in enumerate(features):
        spec = d.SPECS_BY_NAME.get(feature)
        if spec is None:
            raise ValueError(f"Unknown feature {feature!r}: see features.catalogue()")
        table = spec.record.get("table")
        body = evidence_body(spec)
        if table in ("agency_events", "referrals", "household_members"):
            # Each feature's subject (the child, the adults, ...) gets its own CTE.
            subject = spec.record.get("subject", "child")
            if subject == "referral":
                subject = "child"
            name = subjects.setdefault(subject, f"subject_{subject}")
            if body.count("CROSS JOIN subject s") != 1:
                raise RuntimeError(f"Cannot batch the evidence query of {feature!r}")
            body = body.replace("CROSS JOIN subject s", f"CROSS JOIN {name} s")
        bodies.append(f"SELECT {i} AS _reason, * FROM ({body})")
    filt = "WHERE rc.referral_id = ? AND rc.person_id = ?"
    ctes = household_ctes(DUCKDB, chunk_filter=filt) + [
        (name, _subject_sql(subject)) for subject, name in subjects.items()
    ]
    select = (
        "SELECT * FROM (\n"
        + "\nUNION ALL\n".join(bodies)
        + "\n) ORDER BY _reason, occurred_at, recorded_at, person_id"
    )
    return with_ctes(ctes, select)
