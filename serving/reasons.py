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
    contributions,
    top: int,
    min_contribution: float = MIN_CONTRIBUTION,
    names=None,
    order: np.ndarray | None = None,
) -> tuple[list[str], list[str]]:
    """The features that raise and that lower the score most, strongest first.

    ``contributions`` is a Series indexed by feature, or an array with
    ``names`` (and, optionally, ``order``: ``names``' alphabetical order, which
    the service works out once).  Ties are broken by feature name so the same
    inputs always give the same reasons in the same order.
    """
    if names is None:
        names = list(contributions.index)
    c = np.asarray(contributions, dtype=float)
    if order is None:
        order = name_order(names)
    c_sorted = c[order]
    up = order[np.argsort(-c_sorted, kind="stable")]
    down = order[np.argsort(c_sorted, kind="stable")]
    raising = [names[i] for i in up if c[i] > min_contribution][:top]
    lowering = [names[i] for i in down if c[i] < -min_contribution][:top]
    return raising, lowering


def name_order(names) -> np.ndarray:
    """Positions of ``names`` in alphabetical order (the tie-break of :func:`rank_reasons`)."""
    return np.argsort(np.asarray(names, dtype=object), kind="stable")


def build_reasons(
    features: list[str],
    contributions: Mapping[str, float],
    values: Mapping[str, Any],
    catalogue: Mapping[str, Any],
    records_for: Callable[[str], tuple[list[dict], int] | None],
    max_records: int,
) -> list[dict]:
    """One reason per feature, in the order given, each with its records.

    ``records_for`` gives the first ``max_records`` records and how many
    there are in all; ``None`` means the records were not asked for, and
    ``records_total`` is then ``None`` rather than a misleading 0.
    """
    reasons = []
    for feature in features:
        c = float(contributions[feature])
        found = records_for(feature)
        records, total = (None, None) if found is None else found
        reasons.append(
            {
                "feature": feature,
                "text": describe(catalogue, feature, values[feature]),
                "direction": "raises" if c > 0 else "lowers",
                "contribution": c,
                "value": plain_value(values[feature]),
                "records": [] if records is None else records[:max_records],
                "records_total": total,
            }
        )
    return reasons
