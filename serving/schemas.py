"""The request and response models of the scoring service.

Every model forbids unknown fields, so a typo in a client (``"concern"`` for
``"concerns"``) is a 422 naming the field rather than a silently ignored
value.  Categories come from :mod:`store.vocabulary` so the API speaks the
data contract's words and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from store import vocabulary as v

ADVISORY_NOTICE = (
    "Advisory only: this score is decision support for the MASH screener. It does not "
    "replace professional judgement, and a person always makes and records the decision."
)

# Every moment the service reads must lie in this range: outside it, converting
# to store time (or any offset arithmetic) overflows Python's datetime, and no
# referral, chronology or decision of children's social care is dated there.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC)


def in_sane_range(moment: datetime) -> datetime:
    """``moment`` if it lies between 1900 and 2100 (naive moments read as UTC), else an error.

    Compared as UTC without converting, so even ``0001-01-01T00:00+01:00``
    (an instant before year 1 in UTC) is refused rather than overflowing.
    """
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    offset = aware.utcoffset()
    # Shift the bounds, not the moment: the moment may not survive the shift.
    naive = aware.replace(tzinfo=None)
    lo = EARLIEST.replace(tzinfo=None) + offset
    hi = LATEST.replace(tzinfo=None) + offset
    if not lo <= naive <= hi:
        raise ValueError(
            f"{moment.isoformat()[:40]} is outside the dates this service accepts "
            "(1 January 1900 to 31 December 2100)"
        )
    return moment


SaneDatetime = Annotated[datetime, AfterValidator(in_sane_range)]

# Enums built from the vocabulary: the OpenAPI schema then lists the allowed
# values, and the fuzzer and clients see exactly the contract's categories.
Source = StrEnum("Source", {s: s for s in v.REFERRAL_SOURCES})
ReferrerRelationship = StrEnum("ReferrerRelationship", {r: r for r in v.REFERRER_RELATIONSHIPS})
Concern = StrEnum("Concern", {c: c for c in v.CONCERNS})

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ReferralContent(_Strict):
    """What a referral says: fixed the first time MAST receives its id (records/register.py)."""

    received_at: SaneDatetime = Field(
        ...,
        description="When the MASH received the referral (1900-2100); features are computed as of it.",
    )
    source: Source
    referrer_relationship: ReferrerRelationship
    concerns: list[Concern] = Field(..., min_length=1, max_length=len(v.CONCERNS))
    children: list[str] = Field(
        ...,
        min_length=1,
        max_length=20,
        description="The person_id of each child the referral is about.",
    )

    @field_validator("children")
    @classmethod
    def _children_are_ids(cls, children: list[str]) -> list[str]:
        import re

        for pid in children:
            if not re.match(_ID_PATTERN, pid):
                raise ValueError(f"person_id {pid!r} is not a valid id")
        if len(set(children)) != len(children):
            raise ValueError("a child is listed more than once")
        return children

    @field_validator("concerns")
    @classmethod
    def _concerns_unique(cls, concerns: list[Concern]) -> list[Concern]:
        if len(set(concerns)) != len(concerns):
            raise ValueError("a concern is listed more than once")
        return concerns


class ReferralIn(_ReferralContent):
    """A referral as the MASH receives it; household and history come from the store.

    The first time MAST receives a ``referral_id`` its content is fixed:
    the same content again is scored the same; other content is refused
    (409) unless recorded as an amendment.
    """

    referral_id: str = Field(..., pattern=_ID_PATTERN, description="The referral's id.")


class EvidenceRecord(_Strict):
    """One record behind a reason: what happened, to whom, when, when it was known."""

    record: str = Field(..., description="agency_event, referral, household_member, ...")
    agency: str | None
    event_type: str
    person_id: str
    relationship: str
    occurred_at: datetime | None
    recorded_at: datetime | None
    detail: str | None


class Reason(_Strict):
    """One feature's share of the score, in plain language, with its records.

    A categorical field of the referral (its ``referral_source``, its
    ``referrer``) is one reason, not one per category: its
    contribution is the sum over the field's one-hot columns, and its value
    is the category.
    """

    feature: str = Field(
        ...,
        description="The feature (see the catalogue), or the referral's field "
        "('referral_source', 'referrer').",
    )
    text: str = Field(..., description="The reason in plain language.")
    direction: str = Field(..., description="'raises' or 'lowers' the score.")
    contribution: float = Field(
        ..., description="SHAP contribution in raw-margin (log-odds) units."
    )
    value: float | int | str | bool | None
    records: list[EvidenceRecord]
    records_total: int | None = Field(
        ...,
        description="How many records lie behind it in all (null when records were not asked for).",
    )


class NotFound(_Strict):
    """Something the records MAST holds do not show: unknown, never reassurance."""

    feature: str = Field(..., description="The feature (see the catalogue) that found no record.")
    text: str = Field(
        ...,
        description="In plain language, with the date MAST holds that agency's records to.",
    )


class ChildScore(_Strict):
    person_id: str
    probability: float = Field(..., description="Calibrated probability.")
    score: int = Field(..., ge=1, le=20)
    flag: bool = Field(..., description="Whether this child's score meets the review threshold.")
    reasons_for: list[Reason] = Field(..., description="The strongest reasons raising the score.")
    reasons_against: list[Reason] = Field(
        ...,
        description="The strongest reasons lowering the score: never who referred, an "
        "earlier decision, or a count of zero.",
    )
    not_found: list[NotFound] = Field(
        default_factory=list,
        description="Not found in the records MAST holds: unknowns the model would "
        "otherwise have read as lowering the score.",
    )
    base_value: float = Field(..., description="The model's raw margin before any feature.")
    raw_margin: float
    features: dict[str, float | None] | None = Field(
        None,
        description="With ?features=true: each feature's value as the model saw it "
        "(name -> value; null where the model took it as missing), as in the feature catalogue.",
    )


class ScoreOut(_Strict):
    request_id: str
    referral_id: str
    advisory_notice: str = ADVISORY_NOTICE
    highest_score: int
    multi_agency_review_recommended: bool
    recommendation: str = Field(..., description="The recommendation in words.")
    children: list[ChildScore]
    model_name: str
    model_version: str
    policy_version: str
    scored_at: datetime
    referral_version: int = Field(
        1, description="Which version of the referral this is (an amendment makes a new one)."
    )
    referral_flagged: bool | None = Field(
        None,
        description="The referral's flag: the highest of every version's and every score "
        "shown. Once flagged, it stays flagged until a manager records an override.",
    )


class AmendmentIn(_ReferralContent):
    """A corrected version of a referral's content: a separate, audited action.

    Every earlier version is kept.  A screener must say why; a manager
    should.  ``amendment_id`` is chosen by the client, so that a retried
    request is never recorded twice.
    """

    amendment_id: str = Field(
        ..., pattern=r"^[A-Za-z0-9._:-]{8,128}$", description="Client-chosen id; a replay gets 409."
    )
    reason: str | None = Field(None, max_length=20_000, description="Why the content is corrected.")

    def referral(self, referral_id: str) -> ReferralIn:
        """The amended content as the referral it scores as."""
        return ReferralIn(
            referral_id=referral_id, **self.model_dump(exclude={"amendment_id", "reason"})
        )


class ChronologyEntry(_Strict):
    occurred_at: datetime
    recorded_at: datetime
    agency: str
    event_type: str = Field(
        ...,
        description="What happened: the agency event's type, or 'referral' / 'screening_decision' "
        "for the child's own referrals and the decisions on them.",
    )
    detail: str | None
    person_id: str
    relationship: str = Field(..., description="Who it concerns, relative to the child.")
    late: bool = Field(..., description="Recorded more than the late threshold after it occurred.")
    days_to_record: int


class ChronologyPerson(_Strict):
    """Someone whose records are in the chronology, and how they relate to the child."""

    person_id: str
    relationship: str = Field(
        ..., description="'child' (the subject), an adult's household role, or 'sibling'."
    )
    joined: datetime | None = Field(
        None, description="When the adult joined the child's household."
    )
    left: datetime | None = Field(
        None, description="When the adult left, as known then (null: still living with the child)."
    )
    lives_with_child: bool = Field(
        True, description="Whether, as known at the cut-off, they lived with the child."
    )


class ChronologyOut(_Strict):
    person_id: str
    referral_id: str | None = Field(
        None, description="The referral the chronology was opened for (its purpose)."
    )
    as_of: datetime = Field(
        ..., description="The cut-off: what was recorded before it is in entries."
    )
    late_after_days: int
    household_ids: list[str]
    people: list[ChronologyPerson] = Field(
        ...,
        description="The child, every adult who lived with the child at any time in the 24 "
        "months before the cut-off, and the siblings named on the referral.",
    )
    entries: list[ChronologyEntry] = Field(
        ..., description="What was on record before the cut-off."
    )
    recorded_since: list[ChronologyEntry] = Field(
        [],
        description="Recorded since this referral: the same people's records entered after the "
        "cut-off (hindsight, kept apart).",
    )
    advisory_notice: str = ADVISORY_NOTICE


class ModelOut(_Strict):
    model_name: str
    model_version: str
    alias: str
    run_id: str | None
    policy: dict[str, Any]
    gate: dict[str, str]
    feature_names: list[str]
    loaded_at: datetime
    advisory_notice: str = ADVISORY_NOTICE


class HealthOut(_Strict):
    status: str
    model_version: str | None
    store: str
    advisory_notice: str = ADVISORY_NOTICE


class Problem(_Strict):
    """The body of every 4xx: what was wrong, and where."""

    detail: str | list[Any]
