"""Versioned proxy labels, computed from the store's own records.

The default label follows AFST's "placement within two years" in English
terms: the child becomes the subject of a child protection plan, or starts to
be looked after, within 24 months of the referral.  "Re-referred within 12
months" is offered as an alternative.

Window: an outcome counts when it *occurred* strictly after the referral's
``received_at`` and no later than ``received_at`` plus the horizon (calendar
months).  ``occurred_at`` is used, not ``recorded_at``, because the label is
about what happened to the child, not when a system caught up.  Recording
delay is handled by the splits instead: every period's labels must be
complete, with a recording allowance, before the next period begins (see
:mod:`training.splits`).

Labels are never computed from the simulator's ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from store.vocabulary import EVENT_TYPES

_CSC = "children_social_care"


@dataclass(frozen=True)
class LabelDefinition:
    """A proxy label: what counts as the outcome, and over what horizon."""

    name: str
    version: str
    kind: str  # "agency_event" or "re_referral"
    horizon_months: int
    description: str
    event_types: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"


LABELS: dict[str, LabelDefinition] = {
    "cp_or_looked_after_24m": LabelDefinition(
        name="cp_or_looked_after_24m",
        version="1",
        kind="agency_event",
        horizon_months=24,
        description=(
            "The child becomes the subject of a child protection plan or starts to be looked "
            "after within 24 months of the referral (occurred_at in (received_at, received_at + 24 months])."
        ),
        event_types=("cp_plan_start", "looked_after_start"),
    ),
    "re_referred_12m": LabelDefinition(
        name="re_referred_12m",
        version="1",
        kind="re_referral",
        horizon_months=12,
        description=(
            "The child is the subject of another referral received within 12 months "
            "(received_at in (received_at, received_at + 12 months])."
        ),
    ),
}

for _d in LABELS.values():
    assert set(_d.event_types) <= set(EVENT_TYPES[_CSC]), _d.name


def get_label(name: str) -> LabelDefinition:
    """The label definition called ``name``; an unknown name is a ``ValueError`` naming ``label.name``, so a typo in the TOML fails before any work."""
    if name not in LABELS:
        raise ValueError(f"label.name: unknown label {name!r}; choose one of {sorted(LABELS)}")
    return LABELS[name]


def compute_labels(
    con: duckdb.DuckDBPyConnection, keys: pd.DataFrame, definition: LabelDefinition
) -> np.ndarray:
    """The proxy label (0/1) for each (referral_id, person_id, received_at) row of ``keys``."""
    for col in ("referral_id", "person_id", "received_at"):
        if col not in keys.columns:
            raise ValueError(f"keys: missing column {col!r}")
    frame = keys[["referral_id", "person_id", "received_at"]].reset_index(drop=True).copy()
    frame["_row"] = np.arange(len(frame), dtype=np.int64)
    frame["received_at"] = pd.to_datetime(frame["received_at"])
    h = int(definition.horizon_months)
    con.register("_label_keys", frame)
    try:
        if definition.kind == "agency_event":
            types = ", ".join(f"'{t}'" for t in definition.event_types)
            sql = f"""
                SELECT k._row, count(e.event_id) > 0 AS y
                FROM _label_keys k
                LEFT JOIN agency_events e
                  ON e.person_id = k.person_id
                 AND e.agency = '{_CSC}'
                 AND e.event_type IN ({types})
                 AND e.occurred_at > k.received_at
                 AND e.occurred_at <= k.received_at + INTERVAL {h} MONTH
                GROUP BY k._row
            """
        elif definition.kind == "re_referral":
            sql = f"""
                SELECT k._row, count(r.referral_id) > 0 AS y
                FROM _label_keys k
                LEFT JOIN (
                    SELECT rc.person_id, r.referral_id, r.received_at
                    FROM referral_children rc JOIN referrals r USING (referral_id)
                ) r
                  ON r.person_id = k.person_id
                 AND r.referral_id <> k.referral_id
                 AND r.received_at > k.received_at
                 AND r.received_at <= k.received_at + INTERVAL {h} MONTH
                GROUP BY k._row
            """
        else:
            raise ValueError(f"label kind {definition.kind!r} is not known")
        out = con.execute(sql).df().sort_values("_row")
    finally:
        con.unregister("_label_keys")
    return out["y"].to_numpy(dtype=np.int64)
