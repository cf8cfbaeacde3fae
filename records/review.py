"""The strategy-discussion record: who took part, what each agency shared, the outcome, the actions.

A MASH manager's phone call with a police officer "did not constitute a
strategy meeting" (the national review).  Working Together to Safeguard
Children 2023 says a strategy discussion involves, as a minimum, children's
social care, health and the police.  So a review recorded as complete
without those three needs a manager's recorded reason, and a review not held
within the local timescale shows as overdue.

This module holds the request model and the pure rules; the store appends a
review to the hash-chained trail (:meth:`records.store.RecordsStore.record_review`).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator

from records.models import RecordId, Text, _Strict
from records.rules import RuleViolation
from records.statutory import local_time as _england

REQUIRED_AGENCIES = ("children_social_care", "police", "health")
OPTIONAL_AGENCIES = (
    "education",
    "referrer",
    "domestic_abuse_service",
    "mental_health_service",
    "substance_misuse_service",
)
AGENCY_LABELS = {
    "children_social_care": "children's social care",
    "police": "the police",
    "health": "health",
    "education": "education",
    "referrer": "the referrer",
    "domestic_abuse_service": "a domestic-abuse service",
    "mental_health_service": "a mental-health service",
    "substance_misuse_service": "a substance-misuse service",
}
Agency = Literal[REQUIRED_AGENCIES + OPTIONAL_AGENCIES]
DEFAULT_WORKING_DAYS = 1
# The local timescale, a setting: MAST_REVIEW_WORKING_DAYS (default 1 working day).
WORKING_DAYS_ENV = "MAST_REVIEW_WORKING_DAYS"


class Participant(_Strict):
    """Someone who took part, and for which agency."""

    agency: Agency
    name: Text
    role: Text | None = None


class Shared(_Strict):
    """What one agency shared."""

    agency: Agency
    summary: Text


class Outcome(_Strict):
    """The decisions a strategy discussion must reach, each with its rationale."""

    section_47: bool = Field(description="Whether a section 47 enquiry is to be made.")
    section_47_rationale: Text
    cp_medical: bool = Field(description="Whether a child protection medical is to be arranged.")
    cp_medical_rationale: Text


class Action(_Strict):
    """An agreed action and who owns it."""

    action: Text
    owner: Text
    due: date | None = None


class StrategyDiscussionIn(_Strict):
    """A strategy discussion / multi-agency review, as recorded."""

    review_id: RecordId
    held_at: datetime = Field(description="When it was held (no offset: England local time).")
    participants: list[Participant] = Field(min_length=1, max_length=50)
    shared: list[Shared] = Field(default_factory=list, max_length=50)
    outcome: Outcome
    actions: list[Action] = Field(default_factory=list, max_length=100)
    missing_agencies_reason: Text | None = Field(
        None,
        description="A manager's reason for completing it without children's social care, "
        "health and the police.",
    )

    @model_validator(mode="after")
    def _shared_by_participants(self) -> StrategyDiscussionIn:
        present = {p.agency for p in self.participants}
        for s in self.shared:
            if s.agency not in present:
                raise ValueError(
                    f"shared: {AGENCY_LABELS[s.agency]} shared information but is not listed as taking part"
                )
        return self

    def missing_agencies(self) -> tuple[str, ...]:
        present = {p.agency for p in self.participants}
        return tuple(a for a in REQUIRED_AGENCIES if a not in present)


def check_review(body: StrategyDiscussionIn, role: str) -> None:
    """Refuse a review without the three required agencies unless a manager gives the reason."""
    missing = body.missing_agencies()
    if not missing:
        return
    words = ", ".join(AGENCY_LABELS[a] for a in missing)
    if body.missing_agencies_reason is None:
        raise RuleViolation(
            "review_needs_required_agencies",
            f"a strategy discussion involves, as a minimum, children's social care, health and the "
            f"police; {words} did not take part, so it can only be recorded with a manager's reason "
            "(missing_agencies_reason)",
            field="participants",
        )
    if role != "manager":
        raise RuleViolation(
            "manager_only",
            f"only a manager can record a strategy discussion without {words}",
            status=403,
            field="missing_agencies_reason",
        )


def local_time(value: str | datetime) -> datetime:
    """A trail time (UTC text) or a datetime as naive England local time (no offset: already local)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return _england(value)


def review_due(
    opened_at: datetime, working_days: int = DEFAULT_WORKING_DAYS, holidays=()
) -> datetime:
    """When a review opened at ``opened_at`` is due: the same clock time ``working_days`` working days later.

    Working days are Monday to Friday, less ``holidays`` (dates; the
    service passes England and Wales bank holidays, :func:`due_in_england`).  A referral
    decided on Friday at 16:00 with a one-working-day timescale is due on
    Monday at 16:00.
    """
    if working_days < 1:
        raise ValueError(f"working_days must be at least 1, got {working_days}")
    off = set(holidays)
    day, left = opened_at.date(), working_days
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in off:
            left -= 1
    return datetime.combine(day, opened_at.time())


def is_overdue(
    opened_at: datetime,
    held_at: datetime | None,
    now: datetime,
    working_days: int = DEFAULT_WORKING_DAYS,
    holidays=(),
) -> bool:
    """Overdue: not held by the due time (held late, or still not held and now past it)."""
    due = review_due(opened_at, working_days, holidays)
    return (held_at if held_at is not None else now) > due


def working_days_setting() -> int:
    """The local timescale for a strategy discussion, in working days (``MAST_REVIEW_WORKING_DAYS``).

    One setting for every review: the issue's default (1 working day) is the
    one for a flagged or triggered referral, and a strategy discussion on any
    referral is held at least as promptly.
    """
    raw = os.environ.get(WORKING_DAYS_ENV, "").strip()
    if not raw:
        return DEFAULT_WORKING_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if days < 1:
        raise ValueError(
            f"{WORKING_DAYS_ENV} must be a whole number of working days of at least 1, got {raw!r}"
        )
    return days


@lru_cache(maxsize=64)
def _bank_holidays_of(year: int) -> frozenset[date]:
    import holidays  # static tables shipped with the package: no network

    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=[year]))


def england_bank_holidays(start: date, end: date) -> frozenset[date]:
    """The bank holidays of England and Wales from ``start`` to ``end`` (the ``holidays`` package)."""
    days: set[date] = set()
    for year in range(start.year, end.year + 1):
        days |= _bank_holidays_of(year)
    return frozenset(d for d in days if start <= d <= end)


def due_in_england(opened_at: datetime, working_days: int | None = None) -> datetime:
    """:func:`review_due` with England and Wales bank holidays and the local setting."""
    days = working_days_setting() if working_days is None else working_days
    # Generous span: each working day is at most a week away even at Christmas.
    off = england_bank_holidays(opened_at.date(), opened_at.date() + timedelta(days=7 * days + 14))
    return review_due(opened_at, days, off)
