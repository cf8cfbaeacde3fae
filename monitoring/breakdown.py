"""Flags, statutory triggers and overrides by team and by group, over the monitored period.

The issue asks for "statutory triggers and overrides by team and group".
Teams and who referred are properties of a *referral*: counted once per
referral.  Ethnicity, sex, age band, disability and deprivation are
properties of a *child*: counted once per child on a scored referral, each
with their referral's flag, triggers and override (as the fairness audit
counts them).  The groups are read from the store beside the features and
are never model inputs.

Choices, where the issue is silent:

- Rates carry a 95% Wilson interval, as the monthly flag rate does.
- A group with fewer than the policy's ``min_group`` referrals (or
  children) is folded into one line per attribute: "too few to conclude".
- "Statutory rules met" counts the referrals whose score view recorded at
  least one triggered rule; referrals scored without the rules evaluated
  (an older service) are left out of that rate's denominator and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring.compute import wilson_interval
from store import vocabulary

# Attribute -> the unit it is counted in.
REFERRAL_ATTRIBUTES = ("team", "source_group")
CHILD_ATTRIBUTES = ("ethnicity", "sex", "age_band", "disability", "deprivation_quintile")
ATTRIBUTES = (*REFERRAL_ATTRIBUTES, *CHILD_ATTRIBUTES)
_ORDERS = {
    "age_band": list(vocabulary.AGE_BANDS),
    "deprivation_quintile": list(vocabulary.DEPRIVATION_QUINTILES),
}


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its 95% Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.k, self.n)

    def words(self) -> str:
        """ "12 in 100 (95% interval 7 to 19; 12 of 100)", or "none to count"."""
        if self.n == 0:
            return "none to count"
        lo, hi = (max(0.0, round(100 * x)) for x in self.interval)  # never "-0"
        return (
            f"{100 * self.value:.0f} in 100 (95% interval {lo:.0f} to {hi:.0f}; "
            f"{self.k:,} of {self.n:,})"
        )


@dataclass(frozen=True)
class GroupRow:
    """One group's figures over the monitored period."""

    attribute: str
    group: str
    unit: str  # "referrals" or "children"
    n: int
    flagged: Rate
    triggered: Rate
    not_evaluated: int
    overridden: Rate
    folded: tuple[str, ...] = ()  # the groups folded into this line, if it is one


def _row(attribute: str, group: str, unit: str, g: pd.DataFrame, folded=()) -> GroupRow:
    evaluated = g["statutory_evaluated"].to_numpy(dtype=bool)
    return GroupRow(
        attribute=attribute,
        group=group,
        unit=unit,
        n=len(g),
        flagged=Rate(int(g["flag"].sum()), len(g)),
        triggered=Rate(int(g.loc[evaluated, "statutory_triggered"].sum()), int(evaluated.sum())),
        not_evaluated=int((~evaluated).sum()),
        overridden=Rate(int(g["overridden"].sum()), len(g)),
        folded=tuple(folded),
    )


def group_breakdown(scored: pd.DataFrame, min_group: int) -> dict[str, list[GroupRow]]:
    """Rows per attribute, largest group first, small groups folded into one last line.

    Parameters
    ----------
    scored
        One row per (referral, child) as :func:`monitoring.monitor_periods`
        takes it, with also ``team``, ``source_group``, the child's groups
        (:data:`CHILD_ATTRIBUTES`), ``statutory_triggered`` and
        ``statutory_evaluated`` (the referral's).  Missing attributes are
        skipped.
    min_group
        Groups with fewer rows (in their unit) are folded.
    """
    if min_group < 1:
        raise ValueError(f"min_group must be at least 1, got {min_group}")
    referrals = scored.drop_duplicates("referral_id")
    out: dict[str, list[GroupRow]] = {}
    for attribute in ATTRIBUTES:
        if attribute not in scored.columns:
            continue
        unit, frame = (
            ("referrals", referrals) if attribute in REFERRAL_ATTRIBUTES else ("children", scored)
        )
        values = frame[attribute].astype("object").where(frame[attribute].notna(), "Not recorded")
        sizes = values.value_counts()
        order = _ORDERS.get(attribute)
        if order is not None:  # age and deprivation read in their own order, not by size
            sizes = sizes.reindex(
                sorted(sizes.index, key=lambda g: (order.index(g) if g in order else len(order), g))
            )
        big = [g for g in sizes.index if sizes[g] >= min_group]
        small = sorted(str(g) for g in sizes.index if sizes[g] < min_group)
        rows = [_row(attribute, str(g), unit, frame[values == g]) for g in big]
        if small:
            rows.append(
                _row(attribute, "", unit, frame[values.isin(small).to_numpy()], folded=small)
            )
        out[attribute] = rows
    return out


def statutory_columns(views: pd.DataFrame) -> pd.DataFrame:
    """Per referral: whether any score view recorded a triggered rule, and whether any evaluated them.

    ``views`` has ``referral_id`` and, where the service recorded them, a
    ``statutory`` list per view (absent or missing: not evaluated).
    """
    if "statutory" not in views.columns:
        ids = pd.unique(views["referral_id"])
        return pd.DataFrame(
            {"statutory_triggered": False, "statutory_evaluated": False}, index=ids
        ).rename_axis("referral_id")
    evaluated = views["statutory"].map(lambda s: isinstance(s, list | tuple))
    triggered = views["statutory"].map(lambda s: isinstance(s, list | tuple) and len(s) > 0)
    return (
        pd.DataFrame(
            {
                "referral_id": views["referral_id"].to_numpy(),
                "statutory_triggered": triggered.to_numpy(dtype=bool),
                "statutory_evaluated": evaluated.to_numpy(dtype=bool),
            }
        )
        .groupby("referral_id")
        .any()
    )


def first_team(views: pd.DataFrame, no_team: str) -> pd.Series:
    """The team of whoever was first shown each referral's score (``no_team`` if none recorded)."""
    ordered = views.sort_values("seq").drop_duplicates("referral_id", keep="first")
    team = ordered["team"] if "team" in ordered.columns else pd.Series(np.nan, index=ordered.index)
    return pd.Series(
        team.astype("object").where(team.notna(), no_team).to_numpy(),
        index=ordered["referral_id"].to_numpy(),
        name="team",
    )
