"""The request and response models of the scoring service.

Every model forbids unknown fields, so a typo in a client (``"concern"`` for
``"concerns"``) is a 422 naming the field rather than a silently ignored
value.  Categories come from :mod:`store.vocabulary` so the API speaks the
data contract's words and nothing else.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
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
ImageHolder = StrEnum("ImageHolder", {h: h for h in v.IMAGE_HOLDERS})
NamedAdultRelationship = StrEnum(
    "NamedAdultRelationship", {r: r for r in v.NAMED_ADULT_RELATIONSHIPS}
)
LivesAtAddress = StrEnum("LivesAtAddress", {r: r for r in v.LIVES_AT_ADDRESS})

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NamedAdultIn(_Strict):
    """An adult the referrer names: only the name is required (issue #20).

    MAST searches the linked agency records for the adult and shows what it
    finds, with the match probability; an adult it cannot find is shown as
    *not found in the records MAST holds*, never as having no history.
    """

    name: str = Field(
        ..., min_length=1, max_length=200, description="The adult's name as the referrer gave it."
    )
    date_of_birth: date | None = Field(None, description="If the referrer knows it.")
    date_of_birth_approximate: bool = Field(
        False, description="True when the date of birth is a guess (e.g. only the year)."
    )
    postcode: str | None = Field(None, max_length=10)
    address: str | None = Field(None, max_length=300)
    relationship: NamedAdultRelationship = Field(
        ...,
        description="Who the adult is to the household: "
        + "; ".join(f"{k} = {w}" for k, w in v.NAMED_ADULT_RELATIONSHIPS.items()),
    )
    lives_at_address: LivesAtAddress = Field(
        LivesAtAddress.unknown, description="Whether the referrer says the adult lives there."
    )

    @field_validator("name")
    @classmethod
    def _name_has_letters(cls, name: str) -> str:
        name = " ".join(name.split())
        if not any(c.isalpha() for c in name):
            raise ValueError("a name needs at least one letter")
        return name

    @field_validator("date_of_birth")
    @classmethod
    def _dob_sane(cls, dob: date | None) -> date | None:
        if dob is not None and not date(1900, 1, 1) <= dob <= date(2100, 12, 31):
            raise ValueError(f"{dob.isoformat()} is outside 1900 to 2100")
        return dob

    @field_validator("postcode", "address")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return " ".join(value.split()) or None if value is not None else None


def check_named_adults(adults: Any) -> Any:
    """Plain-English errors for the commonest mistakes in ``named_adults``; pydantic checks the rest."""
    if not isinstance(adults, list):
        return adults
    fields = set(NamedAdultIn.model_fields)
    for i, adult in enumerate(adults, start=1):
        where = f"named adult {i}"
        if not isinstance(adult, dict):
            raise ValueError(f"{where}: expected the adult's details (name, relationship, ...)")
        unknown = sorted(set(adult) - fields)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
        name = adult.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: the name is missing (give the name the referrer used)")
        relationship = adult.get("relationship")
        if relationship not in v.NAMED_ADULT_RELATIONSHIPS:
            allowed = ", ".join(f"{k} ({w})" for k, w in v.NAMED_ADULT_RELATIONSHIPS.items())
            raise ValueError(
                f"{where} ({name.strip()}): relationship {relationship!r} is not one of {allowed}"
            )
        lives = adult.get("lives_at_address", "unknown")
        if lives not in v.LIVES_AT_ADDRESS:
            raise ValueError(
                f"{where} ({name.strip()}): lives_at_address must be yes, no or unknown, "
                f"not {lives!r}"
            )
        dob = adult.get("date_of_birth")
        if isinstance(dob, str) and dob.strip():
            try:
                date.fromisoformat(dob.strip())
            except ValueError:
                raise ValueError(
                    f"{where} ({name.strip()}): date_of_birth {dob!r} is not a date "
                    "(write it as YYYY-MM-DD; leave it out if not known)"
                ) from None
    return adults


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
    # Statutory-trigger facts (records/statutory.py): optional; null means "not said", never "no".
    injury_alleged: bool | None = Field(
        None, description="An allegation or sign of physical injury (bruising included)."
    )
    images_held_by: ImageHolder | None = Field(
        None, description="Who holds photographs or other images of the injury, if anyone."
    )
    non_mobile_child: bool | None = Field(
        None,
        description="A child on the referral is not independently mobile "
        "(a child under 6 months is taken to be so from the date of birth).",
    )
    named_adults: list[NamedAdultIn] = Field(
        default_factory=list,
        max_length=10,
        description="Adults the referrer names (a new partner, a visitor): searched for in the "
        "linked agency records.",
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

    @field_validator("named_adults", mode="before")
    @classmethod
    def _named_adults_plain(cls, adults: Any) -> Any:
        """Name the adult (1 = first) and the field at fault, in words a screener can act on."""
        return check_named_adults(adults)

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


class StatutoryTrigger(_Strict):
    """A statutory or local-procedure rule the referral meets: the law, not a prediction."""

    rule_id: str
    title: str
    text: str = Field(..., description="What the rule asks for, in plain English.")
    requires: list[str]
    requirements: list[str] = Field(..., description="Each required step in words.")
    children: list[str] = Field(..., description="The children it concerns, where it names them.")


class NamedAdultMatch(_Strict):
    """A linked person a named adult may be, with the fields that agree and disagree."""

    person_key: str = Field(..., description="MAST's id of the linked person (this linkage run).")
    match_probability: float
    agreeing_fields: list[str]
    disagreeing_fields: list[str]


class NamedAdultOut(_Strict):
    """What MAST found for one adult the referrer named."""

    name: str
    relationship: str = Field(..., description="Who the referrer says they are, in words.")
    lives_at_address: str
    status: str = Field(
        ...,
        description="'found' (matched at or above the governance threshold), 'possible' (only "
        "weaker matches, for a person to judge), 'not_found' (not found in the records MAST "
        "holds), or 'not_searched' (the records have not been linked).",
    )
    text: str = Field(..., description="What was found, in plain English.")
    match_probability: float | None = None
    person_key: str | None = None
    matches: list[NamedAdultMatch] = Field(default_factory=list)
    history: list[str] = Field(
        default_factory=list,
        description="The matched person's records before the referral, summarised in words.",
    )
    records_total: int = 0


class ScoreOut(_Strict):
    request_id: str
    referral_id: str
    advisory_notice: str = ADVISORY_NOTICE
    # Before the model's flag: the triggers do not depend on the score.
    statutory_triggers: list[StatutoryTrigger] = Field(
        default_factory=list,
        description="Statutory triggers met whatever the score (records/statutory_rules.toml).",
    )
    statutory_rules_version: str | None = None
    statutory_rules_sha256: str | None = None
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
    named_adults: list[NamedAdultOut] = Field(
        default_factory=list,
        description="The adults the referrer named, and what the linked records hold on each.",
    )
    named_adults_counted: list[str] = Field(
        default_factory=list,
        description="The named adults as the named-adult feature family counts them, in the "
        "catalogue's words: how many were found and not found in the records MAST holds, and "
        "what the found adults' records before the referral hold (empty when none was named "
        "or MAST could not search). A model trained on this family weighs them in the score.",
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
    named_adults: list[NamedAdultOut] = Field(
        default_factory=list,
        description="The adults named on the referral; their records are among the entries.",
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
