"""Every word a screener or board member reads about a feature, in one module.

The definitions (:mod:`features.definitions`) say what is counted; this
module says how it reads: the windows ("in the last 12 months"), who
referred ("a family member"), concerns, singular nouns for a count of one,
ages and spans of time, and the reasons a feature is kept out of the
constrained model.  Keeping the wording apart means a change of phrasing
never touches a definition, and one place answers "what will the screener see".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from features.definitions import FeatureSpec


WINDOW_WORDS = {
    "3m": "in the last 3 months",
    "6m": "in the last 6 months",
    "12m": "in the last 12 months",
    "24m": "in the last 24 months",
    "ever": "ever",
}


_WHO_REFERRED_WHY = (
    "who referred: the screeners' lean against some referrers is in the label, "
    "so the model would learn it"
)
_GAP_WHY = (
    "missing when there is no earlier referral, so an earlier referral could lower "
    "the score through it; recency is in the 3-, 6- and 12-month counts"
)


_SOURCE_WORDS = {
    "family": "from family members",
    "police": "from the police",
    "school": "from schools",
    "health": "from health",
    "anonymous": "made anonymously",
}


def _num(value) -> str:
    f = float(value)
    return str(int(f)) if f.is_integer() else f"{f:.1f}"


# The counted noun of each unit, plural to singular, so that 1 reads "1 referral".
_SINGULAR = {
    "absences": "absence",
    "adults": "adult",
    "appointments": "appointment",
    "arrests": "arrest",
    "attendances": "attendance",
    "categories": "category",
    "children": "child",
    "conferences": "conference",
    "contacts": "contact",
    "crises": "crisis",
    "days": "day",
    "enquiries": "enquiry",
    "episodes": "episode",
    "incidents": "incident",
    "injuries": "injury",
    "months": "month",
    "moves": "move",
    "offences": "offence",
    "orders": "order",
    "periods": "period",
    "plans": "plan",
    "records": "record",
    "referrals": "referral",
    "services": "service",
    "supervisions": "supervision",
    "treatments": "treatment",
    "years": "year",
}
_PLURAL_NOUN = re.compile(r"\b(" + "|".join(_SINGULAR) + r")\b(?!')")


def singular(unit: str) -> str:
    """``unit`` with its first counted noun made singular ("children on this referral" -> "child ...")."""
    return _PLURAL_NOUN.sub(lambda m: _SINGULAR[m.group(1)], unit, count=1)


def _describe_count(spec: FeatureSpec, value) -> str:
    unit = singular(spec.unit) if float(value) == 1 else spec.unit
    return f"{_num(value)} {unit}"


def _describe_flag(spec: FeatureSpec, value) -> str:
    return spec.unit if float(value) >= 1 else (spec.absent or f"not {spec.unit}")


_DESCRIBERS = {"flag": _describe_flag}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def age_words(months: float) -> str:
    """An age in whole months as a person says it: "14 years 8 months", "5 months"."""
    m = max(int(months), 0)
    years, rest = divmod(m, 12)
    if years == 0:
        return _plural(rest, "month")
    return _plural(years, "year") + (f" {_plural(rest, 'month')}" if rest else "")


def ago_words(days: float) -> str:
    """A span of days as a person says it: "3 days ago", "2 months ago", "15 years ago".

    Years and months under two years ("1 year 3 months ago"); whole years beyond.
    """
    from features.definitions import DAYS_PER_MONTH, DAYS_PER_YEAR

    d = max(int(days), 0)
    if d == 0:
        return "today"
    if d < 31:
        return _plural(d, "day") + " ago"
    months = int(d // DAYS_PER_MONTH)
    if months < 12:
        return _plural(max(months, 1), "month") + " ago"
    if months < 24:
        rest = months - 12
        return "1 year" + (f" {_plural(rest, 'month')}" if rest else "") + " ago"
    return _plural(int(d // DAYS_PER_YEAR), "year") + " ago"


_READERS = {
    "age": lambda spec, v: f"{spec.unit} {age_words(v)}",
    "ago": lambda spec, v: f"{spec.unit} {ago_words(v)}",
}


# How a referral's source and referrer read in a sentence ("referred by ...").
SOURCE_LABELS = {
    "police": "the police",
    "school": "a school",
    "health": "a health service",
    "family": "a family member",
    "friend_or_neighbour": "a friend or neighbour",
    "self": "the child or family themselves",
    "anonymous": "an anonymous referrer",
    "la_service": "a local authority service",
    "other": "another source",
}
REFERRER_LABELS = {
    "grandparent": "the child's grandparent",
    "parent": "the child's parent",
    "other_relative": "another relative",
    "neighbour": "a neighbour",
    "friend": "a friend",
    "child_self": "the child",
    "teacher": "a teacher",
    "police_officer": "a police officer",
    "health_visitor": "a health visitor",
    "gp": "a GP",
    "midwife": "a midwife",
    "ed_clinician": "an emergency-department clinician",
    "social_worker": "a social worker",
    "housing_officer": "a housing officer",
    "other_professional": "another professional",
    "unknown": "unknown",
}


def _referrer_words(relationship: str, present: bool) -> str:
    if relationship == "unknown":
        return "who referred is not known" if present else "who referred is known"
    return f"the referrer is {'' if present else 'not '}{REFERRER_LABELS[relationship]}"


def _concern_words(concern: str) -> str:
    return "another concern" if concern == "other" else f"a concern of {concern.replace('_', ' ')}"


# A household group (features.definitions.MEMBERSHIPS) in a sentence.
GROUP_WORDS = {
    "household_adults": "adults",
    "new_household_adults": "adults who joined in the last 12 months",
    "household_parents": "parents",
    "siblings": "other children",
}
