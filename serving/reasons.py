"""Turning SHAP contributions into reasons a screener can read and check.

A reason is one feature's contribution to one child's score, described in
plain language by the feature catalogue and backed by the records that make
up the feature.  Reasons that *lower* the score are returned beside those
that raise it, so the screener sees both sides and not a one-sided case.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FieldReason:
    """One categorical field of the referral, given as one reason.

    The model sees a field such as the referral's source as one 0/1 column
    per category.  Listed one by one, the columns that are 0 give reasons
    such as "not referred by the police lowers the score", which tell a
    screener little.  SHAP contributions add up, so the field's reason is the
    sum over its columns: the effect of the source being what it is.
    """

    name: str
    members: tuple[str, ...]  # the one-hot features, in catalogue order
    values: tuple[str, ...]  # the category each member stands for
    specs: tuple[Any, ...]  # each member's catalogue entry

    def value(self, row: Mapping[str, Any]) -> str | None:
        """The category set in ``row`` (feature -> value), or None if none is."""
        for member, category in zip(self.members, self.values, strict=True):
            if row[member] == 1:
                return category
        return None

    def member(self, value: str | None) -> str | None:
        """The feature standing for category ``value``."""
        return dict(zip(self.values, self.members, strict=True)).get(value)

    def describe(self, value: str | None) -> str:
        if value is None:
            return f"{self.name.replace('_', ' ')}: not recorded"
        return str(self.specs[self.values.index(value)].describe(1))


class ReasonSpace:
    """What a reason is about: one feature, or one categorical field of the referral.

    Built once per model from its feature names and the catalogue: flags of
    the referral that share one source column (``record["column"]``, e.g.
    ``source``) are one field.  Concern flags each have their own column, so
    they stay separate: a referral can raise several concerns.
    ``combine`` turns per-feature contributions into per-reason ones with
    one matrix product, so it costs nothing per request.
    """

    def __init__(self, feature_names, catalogue: Mapping[str, Any]):
        by_column: dict[str, list[str]] = {}
        for name in feature_names:
            spec = catalogue.get(name)
            record = getattr(spec, "record", {}) or {}
            if getattr(spec, "aggregate", None) == "flag" and record.get("table") == "referral":
                by_column.setdefault(record["column"], []).append(name)
        grouped = {m: col for col, ms in by_column.items() if len(ms) > 1 for m in ms}
        names: list[str] = []
        seen: set[str] = set()
        self.fields: dict[str, FieldReason] = {}
        for name in feature_names:
            col = grouped.get(name)
            if col is None:
                names.append(name)
            elif col not in seen:
                seen.add(col)
                members = tuple(by_column[col])
                specs = tuple(catalogue[m] for m in members)
                # Named by its columns' shared prefix: referral_source_* -> referral_source.
                field_name = os.path.commonprefix(members).rsplit("_", 1)[0]
                self.fields[field_name] = FieldReason(
                    field_name, members, tuple(str(sp.record["value"]) for sp in specs), specs
                )
                names.append(field_name)
        self.names = names
        self.order = name_order(names)
        position = {n: j for j, n in enumerate(names)}
        position |= {m: position[f.name] for f in self.fields.values() for m in f.members}
        self.matrix = np.zeros((len(feature_names), len(names)))
        for i, name in enumerate(feature_names):
            self.matrix[i, position[name]] = 1.0
        self.describers = {**catalogue, **self.fields}

    def combine(self, contributions: np.ndarray) -> np.ndarray:
        """Per-reason contributions from per-feature ones (rows are children)."""
        return np.asarray(contributions, dtype=float) @ self.matrix

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Each reason's value: the feature's, or the field's category."""
        out = {n: row[n] for n in self.names if n not in self.fields}
        out |= {name: f.value(row) for name, f in self.fields.items()}
        return out

    def evidence_feature(self, reason: str, values: Mapping[str, Any]) -> str | None:
        """The feature whose records back ``reason`` (a field: its set member)."""
        field = self.fields.get(reason)
        return reason if field is None else field.member(values[reason])


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
