"""Dates typed as day, month and year in separate boxes, so every browser shows them in UK order.

A browser's own date picker (``<input type="date">``, ``datetime-local``)
lays its date out in the order of the *browser's* language, whatever the
page says: a Chromium set to US English (the default of many machines, and
of headless Chromium) shows ``10/01/2026, 10:00 AM`` for 1 October.  A
screener reading that as 10 January is a real risk, so the page asks for
the day, the month and the year in boxes of their own, labelled, in that
order, and the time on the 24-hour clock (the GOV.UK Design System's
"date input" pattern).  :func:`date_from_parts` puts them together as the
ISO text the API's models read; :func:`date_parts` gives the boxes' values
back to the template, as typed (so a refused form shows what was typed).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

PARTS = ("day", "month", "year")
_TIME = re.compile(r"^(\d{1,2})[:.]?(\d{2})(?:[:.](\d{2}))?$")
MONTHS = (
    "January February March April May June July August September October November December"
).split()


class DateError(ValueError):
    """Date boxes that do not make a date; ``message`` names the field and what to do."""


def _typed(params: dict[str, list[str]], key: str) -> str:
    values = params.get(key) or []
    return values[0].strip() if values else ""


def typed_any(params: dict[str, list[str]], name: str, with_time: bool = False) -> bool:
    """Whether any of ``name``'s boxes holds something."""
    keys = [*PARTS, "time"] if with_time else list(PARTS)
    return any(_typed(params, f"{name}_{k}") for k in keys)


def date_from_parts(
    params: dict[str, list[str]], name: str, label: str, with_time: bool = False
) -> str | None:
    """``name``'s boxes as ISO text (``2026-10-01`` or ``2026-10-01T10:00``), or ``None`` if all are empty.

    Without any box, the single field ``name`` (ISO text, as in an address
    or an API client's form) is used as it is.

    Raises
    ------
    DateError
        A box is missing or not a number, or the boxes make no date or time.
    """
    if not typed_any(params, name, with_time):
        return _typed(params, name) or None
    day, month, year = (_typed(params, f"{name}_{k}") for k in PARTS)
    missing = [k for k, x in zip(PARTS, (day, month, year), strict=True) if not x]
    if missing:
        raise DateError(f"{label}: give the {' and the '.join(missing)} as well.")
    if not (day.isdigit() and month.isdigit() and year.isdigit()):
        raise DateError(f"{label}: give the day, month and year as numbers, e.g. 23 7 2026.")
    if len(year) != 4:
        raise DateError(f"{label}: give the year in full, e.g. 2026.")
    try:
        when = date(int(year), int(month), int(day))
    except ValueError:
        month_words = MONTHS[int(month) - 1] if 1 <= int(month) <= 12 else f"month {month}"
        raise DateError(f"{label}: there is no {int(day)} {month_words} {year}.") from None
    if not with_time:
        return when.isoformat()
    time = _typed(params, f"{name}_time")
    if not time:
        raise DateError(f"{label}: give the time as well, on the 24-hour clock, e.g. 14:30.")
    m = _TIME.match(time)
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
        raise DateError(f"{label}: give the time on the 24-hour clock, e.g. 14:30.")
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    text = f"{when.isoformat()}T{hour:02d}:{minute:02d}"
    return f"{text}:{second:02d}" if second else text


def date_parts(
    params: dict[str, list[str]] | None, name: str, default: Any = None
) -> dict[str, str]:
    """The boxes' values for ``name``: as typed, else split from the single ISO field, else ``default``.

    ``default`` (a date, datetime or ISO text) fills boxes nothing was typed
    in, e.g. "now" for when a meeting was held; a refused form shows what
    was typed instead.
    """
    params = params or {}
    if typed_any(params, name, with_time=True):
        return {k: _typed(params, f"{name}_{k}") for k in (*PARTS, "time")}
    return parts_of(_typed(params, name) or default)


def parts_of(value: Any) -> dict[str, str]:
    """A date or time (or its ISO text) as the boxes' values; empty boxes for nothing or nonsense."""
    empty = {"day": "", "month": "", "year": "", "time": ""}
    if value is None or value == "":
        return empty
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return empty
    out = {"day": str(value.day), "month": str(value.month), "year": f"{value.year:04d}"}
    if isinstance(value, datetime):
        seconds = f":{value.second:02d}" if value.second else ""
        out["time"] = f"{value.hour:02d}:{value.minute:02d}{seconds}"
    else:
        out["time"] = ""
    return out
