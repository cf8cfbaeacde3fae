"""The board's report's practice section: the front door's own work, in plain English.

:func:`records.practice.practice_figures` counts by month and team; this
module turns that frame into what a lay board member reads: a few sentences
for the whole period, then a table by month and one by team, with rates as
"X in 100" and small numbers folded.

Choices, where the issue is silent:

- A rate is shown as "X in 100" only when it rests on at least
  :data:`MIN_RATE_BASE` referrals; below that it is shown as "k of n", since
  "50 in 100" from 1 of 2 reads as a finding it is not.
- Teams with fewer than :data:`MIN_TEAM_DECISIONS` decisions in the period
  are folded into one line ("Other teams"), as small groups are in the rest
  of the report; the month table shows the latest :data:`MONTHS_SHOWN`
  months and folds the earlier ones into one line.
- A figure MAST cannot count yet is "not recorded", never 0; a column with
  nothing recorded in the whole period is left out, and a sentence says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

MIN_RATE_BASE = 10
MIN_TEAM_DECISIONS = 10
MONTHS_SHOWN = 12
NOT_RECORDED = "not recorded"

# (column heading, how the cell is made): a count, or a rate of one measure over another.
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("Referrals decided", "decisions", None),
    ("Met a statutory rule", "rules_triggered", None),
    ("… of which closed", "triggered_closed", None),
    ("… closed with a manager's reason", "triggered_closed_with_reason", "triggered_closed"),
    ("Strategy discussions recorded", "strategy_recorded", None),
    ("… held in time", "strategy_in_time", "strategy_recorded"),
    ("… with police, health and social care", "strategy_three_agencies", "strategy_recorded"),
    ("Closed as malicious", "closed_malicious", None),
    ("Closed after the family declined support", "closed_declined", None),
    ("Referred again within 12 months of a no-further-action closure", "re_referrals", None),
    ("Referrer told the outcome", "referrer_told", "decisions"),
    ("Partner escalations raised", "escalations_raised", None),
    ("… answered", "escalations_answered", "escalations_raised"),
)


def in_100(k: float, n: float) -> str:
    """``k`` of ``n`` as "X in 100" (or "k of n" when ``n`` is small; "none to count" at 0)."""
    if pd.isna(k) or pd.isna(n):
        return NOT_RECORDED
    k, n = int(k), int(n)
    if n == 0:
        return "none to count"
    if n < MIN_RATE_BASE:
        return f"{k} of {n}"
    return f"{round(100 * k / n)} in 100"


def _count(v: Any) -> str:
    return NOT_RECORDED if pd.isna(v) else f"{int(v):,}"


def _cells(row: pd.Series, columns=COLUMNS) -> list[str]:
    return [
        _count(row[measure]) if base is None else in_100(row[measure], row[base])
        for _, measure, base in columns
    ]


def _sum(frame: pd.DataFrame) -> pd.Series:
    """Column totals that stay missing where every value is missing (not recorded, not 0)."""
    return frame.apply(lambda c: c.sum() if c.notna().any() else pd.NA)


def _month_label(month: str) -> str:
    from records.practice import month_label

    return month_label(month)


def _span(first: str, last: str) -> str:
    """``January 2025 to March 2025``, or one month's name."""
    if first == last:
        return _month_label(first)
    return f"{_month_label(first)} to {_month_label(last)}"


def _headlines(total: pd.Series) -> list[str]:
    """The sentences a lay member reads first, for the whole period."""
    lines = [f"{_count(total['decisions'])} referrals were decided in MAST."]
    trig, closed = total["rules_triggered"], total["triggered_closed"]
    lines.append(
        f"{_count(trig)} met a statutory rule (the law and local procedure, whatever the score). "
        + (
            f"{_count(closed)} of them were closed all the same, "
            f"{_count(total['triggered_closed_with_reason'])} with a manager's recorded reason."
            if closed
            else "None of them was closed."
        )
    )
    if pd.isna(total["strategy_recorded"]):
        lines.append("No strategy discussion has been recorded in MAST yet.")
    else:
        n = total["strategy_recorded"]
        lines.append(
            f"Of {_count(n)} strategy discussions recorded, "
            f"{in_100(total['strategy_in_time'], n)} were held within the local timescale and "
            f"{in_100(total['strategy_three_agencies'], n)} had police, health and children's "
            "social care taking part, as Working Together requires."
        )
    lines.append(
        f"{_count(total['closed_malicious'])} referrals were closed as malicious and "
        f"{_count(total['closed_declined'])} after the family declined support; "
        f"{_count(total['re_referrals'])} referrals were about a child referred again within 12 "
        "months of a no-further-action closure."
    )
    if not pd.isna(total["referrer_told"]):
        lines.append(
            f"The referrer was told the outcome for {in_100(total['referrer_told'], total['decisions'])} "
            "referrals decided."
        )
    if not pd.isna(total["escalations_raised"]):
        lines.append(
            f"Partner agencies raised {_count(total['escalations_raised'])} escalations; "
            f"{_count(total['escalations_answered'])} have been answered."
        )
    return lines


def _left_out(frame: pd.DataFrame) -> list[str]:
    """A sentence for each column left out that :func:`records.practice.practice_notes` does not explain."""
    from records.practice import NOT_RECORDED_YET, REVIEW_MEASURES, optional_kind

    out = []
    if frame["strategy_recorded"].isna().all():
        out.append(
            "No strategy discussion has been recorded in MAST in this period, so the columns on "
            f"them are left out ({REVIEW_MEASURES['strategy_in_time']}; "
            f"{REVIEW_MEASURES['strategy_three_agencies']})."
        )
    for measure, label in NOT_RECORDED_YET.items():
        if frame[measure].isna().all() and optional_kind(measure) is not None:
            out.append(f"No record of {label} in this period, so that column is left out.")
    return out


def practice_section(frame: pd.DataFrame, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The template's view of :func:`records.practice.practice_figures`.

    Parameters
    ----------
    frame
        Indexed by ``month`` and ``team``, one column per measure.
    notes
        Plain sentences on figures not recorded (:func:`records.practice.practice_notes`);
        a sentence is added for each column left out for want of any record.

    Returns
    -------
    dict
        ``period``, ``headlines``, ``columns``, ``months`` and ``teams``
        (each a list of ``{"name", "cells", "folded"}``) and ``notes``.
    """
    if frame.empty:
        return {"empty": True, "notes": list(notes)}
    # A column MAST cannot fill at all is left out (the notes say why), not shown as blanks.
    columns = [c for c in COLUMNS if frame[c[1]].notna().any()]
    by_month = frame.groupby(level="month").apply(_sum).sort_index()
    by_team = frame.groupby(level="team").apply(_sum)
    months = [
        {"name": _month_label(m), "cells": _cells(r, columns), "folded": False}
        for m, r in by_month.iterrows()
    ]
    if len(months) > MONTHS_SHOWN:
        earlier = by_month.iloc[: len(months) - MONTHS_SHOWN]
        months = [
            {
                "name": f"Earlier months ({_span(earlier.index[0], earlier.index[-1])})",
                "cells": _cells(_sum(earlier), columns),
                "folded": True,
            },
            *months[-MONTHS_SHOWN:],
        ]
    big = by_team[by_team["decisions"].fillna(0) >= MIN_TEAM_DECISIONS].sort_index()
    small = by_team.drop(big.index)
    teams = [{"name": t, "cells": _cells(r, columns), "folded": False} for t, r in big.iterrows()]
    if len(small):
        teams.append(
            {
                "name": f"Other teams ({len(small)} with fewer than {MIN_TEAM_DECISIONS} "
                f"decisions each: {', '.join(map(str, small.index))})",
                "cells": _cells(_sum(small), columns),
                "folded": True,
            }
        )
    first, last = by_month.index[0], by_month.index[-1]
    return {
        "empty": False,
        "period": _span(first, last),
        "headlines": _headlines(_sum(frame)),
        "columns": [c[0] for c in columns],
        "months": months,
        "teams": teams,
        "notes": [*notes, *_left_out(frame)],
        "min_rate_base": MIN_RATE_BASE,
    }


def practice_from_records(url: str | None) -> dict[str, Any]:
    """The section from a decision record (a records database URL; ``None``: the default)."""
    import records
    from records.practice import practice_notes, practice_report

    store = records.RecordsStore(url, must_exist=True)
    try:
        frame = practice_report(store)
    finally:
        store.close()
    return practice_section(frame, practice_notes())
