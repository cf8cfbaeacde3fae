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


# What each counter counts, a plural noun phrase, by counter name without its
# window ("missed_appointments_12m" -> "missed_appointments").  Earlier referrals
# from one source family read "referrals " + _SOURCE_WORDS[source].
COUNTER_WHAT = {
    "missed_appointments": "missed health appointments",
    "school_absences": "school absences recorded",
    "services_declined": "services declined",
    "address_moves": "address moves",
    "ed_attendances": "emergency-department attendances",
    "injuries": "injuries recorded by health",
    "injuries_serious": "moderate or serious injuries",
    "injuries_non_mobile": "injuries while a non-mobile infant (under {non_mobile_days} days old)",
    "missing_episodes": "missing-person episodes",
    "section47_enquiries": "section 47 enquiries",
    "cp_conferences": "initial child protection conferences",
    "cp_plans": "child protection plans started",
    "looked_after": "periods looked after started",
    "csc_events": "children's social care records",
    "da_victim": "police domestic-abuse incidents as victim",
    "da_perpetrator": "police domestic-abuse incidents as perpetrator",
    "violent_offences": "violent offences (not as victim or witness)",
    "arrests": "arrests",
    "restraining_orders": "restraining orders",
    "probation_supervisions": "probation supervisions started",
    "mh_contacts": "adult mental-health contacts",
    "mh_crises": "adult mental-health crises",
    "substance_treatments": "substance-misuse treatments started",
    "childhood_csc_events": "children's social care records from their own childhood",
    # States: "currently " + these.
    "cp_plan_current": "subject to a child protection plan",
    "looked_after_current": "looked after",
    "probation_current": "under probation supervision",
    "substance_treatment_current": "in substance-misuse treatment",
    # Earlier referrals.
    "prior_referrals": "referrals",
    "prior_nfa": "referrals closed with no further action",
    "prior_malicious": "referrals closed as malicious",
    "prior_family_declined": "referrals closed because the family declined support",
    "prior_early_help": "referrals sent to early help",
    "prior_assessments": "referrals that led to an assessment",
    "prior_strategy": "referrals that led to a strategy discussion",
    "childhood_referrals": "referrals about them in their own childhood",
    "prior_referrals_same_concern": "earlier referrals about the same kind of concern",
}
_WINDOW_SUFFIX = re.compile(r"_(3m|6m|12m|24m|ever)$")


def counter_what(counter) -> str:
    """What ``counter`` counts, as a plural noun phrase ("police domestic-abuse incidents ...")."""
    from features.definitions import NON_MOBILE_DAYS

    if getattr(counter, "kind", "") == "referrals" and counter.sources:
        return "referrals " + " or ".join(_SOURCE_WORDS[x] for x in counter.sources)
    phrase = COUNTER_WHAT[_WINDOW_SUFFIX.sub("", counter.name)]
    return phrase.format(non_mobile_days=NON_MOBILE_DAYS)


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


# ---------------------------------------------------------------------------
# A feature's sentences: its definition (the catalogue), its unit (how a value
# reads: the noun after the number, or a flag's words when set) and a flag's
# words when not set.  features.definitions builds each FeatureSpec's structure
# and takes its words from here.
# ---------------------------------------------------------------------------
def _words(definition: str, unit: str, absent: str = "") -> dict[str, str]:
    return {"definition": definition, "unit": unit, "absent": absent}


def counter_phrase(counter) -> str:
    """What a counter counts, with its window: "arrests ever", "currently looked after"."""
    if counter.kind == "state":
        return f"currently {counter.what}"
    return f"{counter.what} {WINDOW_WORDS[counter.window]}"


def child_counter_words(counter) -> dict[str, str]:
    """The child's own count (or state) of ``counter``."""
    phrase = counter_phrase(counter)
    absent = f"not {phrase}" if counter.kind == "state" else ""
    return _words(f"The child: {phrase}", phrase, absent)


_ADULT_AGGREGATE_WORDS = {"max": "most for any one adult", "sum": "all adults together"}


def adult_counter_words(counter, aggregate: str) -> dict[str, str]:
    """The household's adults' ``counter``, their ``aggregate`` ("max" or "sum")."""
    phrase = counter_phrase(counter)
    words = _ADULT_AGGREGATE_WORDS[aggregate]
    if counter.kind == "state":
        unit = (
            f"adult(s) {phrase}" if aggregate == "sum" else f"an adult in the household is {phrase}"
        )
        absent = f"no adult in the household is {phrase}"
    else:
        unit, absent = f"{phrase} ({words} in the household)", ""
    return _words(f"The household's adults as of the referral, {words}: {phrase}", unit, absent)


_NAMED_AGGREGATE_WORDS = {
    "max": "most for any one adult named by the referrer",
    "sum": "adults named by the referrer, together",
}


def named_adult_counter_words(counter, aggregate: str) -> dict[str, str]:
    """The found named adults' ``counter`` (issue #20), their ``aggregate`` ("max" or "sum")."""
    phrase = counter_phrase(counter)
    words = _NAMED_AGGREGATE_WORDS[aggregate]
    return _words(
        f"Adults named by the referrer and found, {words}: {phrase}", f"{phrase} ({words})"
    )


def named_adult_count_words(found: bool) -> dict[str, str]:
    """How many adults named by the referrer were (not) found in the records MAST holds."""
    where = "found in" if found else "not found in"
    return _words(
        f"Adults named by the referrer and {where} the records MAST holds",
        f"adults named by the referrer {where} the records MAST holds",
    )


def new_adult_counter_words(counter) -> dict[str, str]:
    """The most of ``counter`` for any adult who joined the household in the last 12 months."""
    phrase = counter_phrase(counter)
    return _words(
        f"Adults who joined the household in the last 12 months, most for any one: {phrase}",
        f"{phrase} (an adult who joined the household in the last 12 months)",
    )


def sibling_counter_words(counter) -> dict[str, str]:
    """The child's siblings' ``counter``, summed."""
    phrase = counter_phrase(counter)
    unit = f"sibling(s) {phrase}" if counter.kind == "state" else f"{phrase} (siblings together)"
    return _words(f"The child's siblings in the household, together: {phrase}", unit)


def group_event_words(counter, membership: str) -> dict[str, str]:
    """A group's ``counter``, each incident once."""
    phrase = counter_phrase(counter)
    who = GROUP_WORDS[membership]
    return _words(
        f"The household's {who} as of the referral, each incident once: {phrase}",
        f"{phrase} (involving any of the household's {who}, each incident once)",
    )


def same_concern_words(window: str) -> dict[str, str]:
    """The child's earlier referrals within ``window`` sharing a concern with this one."""
    w = WINDOW_WORDS[window]
    return _words(
        f"The child's prior referrals {w} sharing a concern category with this one",
        f"earlier referrals {w} about the same kind of concern",
    )


def referral_flag_words(column: str, value: str | None) -> dict[str, str]:
    """A flag of the referral being scored: who referred, the referrer, or a concern column."""
    if column == "source":
        label = SOURCE_LABELS[value]
        return _words(
            f"This referral came from source '{value}'",
            f"referred by {label}",
            f"not referred by {label}",
        )
    if column == "referrer_relationship":
        return _words(
            f"The referrer is the child's '{value}'",
            _referrer_words(value, True),
            _referrer_words(value, False),
        )
    concern = column.removeprefix("concern_")
    return _words(
        f"This referral raises a concern of {concern.replace('_', ' ')}",
        f"the referral raises {_concern_words(concern)}",
        f"the referral does not raise {_concern_words(concern)}",
    )


def new_adult_flag_words(window: str) -> dict[str, str]:
    """Whether an adult joined the household within ``window``."""
    w = WINDOW_WORDS[window]
    return _words(
        f"An adult joined the child's household {w}",
        f"an adult joined the household {w}",
        f"no adult joined the household {w}",
    )


def parent_age_words(aggregate: str) -> dict[str, str]:
    """The youngest ("min") or oldest ("max") parent's age when the child was born."""
    which = "youngest" if aggregate == "min" else "oldest"
    return _words(
        f"Age in whole years of the {which} parent in the household when the child was born",
        "years: a parent's age when the child was born",
    )


# The features whose sentences do not vary, by name.
FIXED_WORDS: dict[str, dict[str, str]] = {
    "child_age_months": _words(
        "The child's age in whole months at the referral", "the child is aged"
    ),
    "child_days_since_last_referral": _words(
        "Days since the child's previous referral (missing if none)",
        "the child's previous referral was",
    ),
    "referral_n_concerns": _words(
        "Number of concern categories on this referral", "concern categories on this referral"
    ),
    "referral_n_children": _words(
        "Number of children on this referral", "children on this referral"
    ),
    "household_n_adults": _words(
        "Adults recorded as living in the child's household as of the referral"
        " (a household not yet recorded, as for some newborns, counts 0)",
        "adults recorded in the child's household",
    ),
    "household_days_since_adult_joined": _words(
        "Days since the most recent adult joined the household (missing if none)",
        "the newest adult joined the household",
    ),
    "household_n_siblings": _words(
        "Other children recorded as living in the child's household as of the referral",
        "other children recorded in the child's household",
    ),
}
