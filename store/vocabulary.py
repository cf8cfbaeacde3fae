"""The controlled vocabularies of the multi-agency data contract.

One place defines every category a local authority's extract may use, so
that the contract checks, the simulator, the feature SQL and the reports all
speak the same language.  Adding a value here is a contract change: bump
``CONTRACT_VERSION`` and record it in ``docs/data-contract.md``.
"""

from __future__ import annotations

# 1.1.0 added the agency identity tables (store/identities.py); 1.2.0 the
# people.*_detail columns and store_loads; 1.3.0 the optional table
# referral_named_adults (store/identities.py).  See docs/data-contract.md.
CONTRACT_VERSION = "1.3.0"
# Earlier versions whose stores are upgraded in place (store.database._MIGRATIONS).
COMPATIBLE_CONTRACT_VERSIONS = ("1.0.0", "1.1.0", "1.2.0")

NOT_RECORDED = "Not recorded"

# Protected characteristics.  Values are shown to governance boards as they
# stand, so they are human-readable; "Not recorded" is always a group of its own.
SEXES = ("Female", "Male", NOT_RECORDED)
# ONS high-level ethnic groups (England and Wales census), plus "Not recorded".
ETHNICITIES = ("White", "Mixed", "Asian", "Black", "Other", NOT_RECORDED)
DISABILITIES = ("Yes", "No", NOT_RECORDED)

HOUSEHOLD_ROLES = ("child", "parent", "partner", "relative", "other_adult")
ADULT_ROLES = ("parent", "partner", "relative", "other_adult")

REFERRAL_SOURCES = (
    "police",
    "school",
    "health",
    "family",
    "friend_or_neighbour",
    "self",
    "anonymous",
    "la_service",
    "other",
)

# Who the referrer is to the child.  Free text is not allowed: a short list
# keeps "referred by a grandparent" countable across agencies.
REFERRER_RELATIONSHIPS = (
    "grandparent",
    "parent",
    "other_relative",
    "neighbour",
    "friend",
    "child_self",
    "teacher",
    "police_officer",
    "health_visitor",
    "gp",
    "midwife",
    "ed_clinician",
    "social_worker",
    "housing_officer",
    "other_professional",
    "unknown",
)

# Who an adult named by the referrer is to the child's household (issue #20):
# code -> the words a screener reads.  A short list, so that "the mother's new
# partner" is countable; anything else is "other".
# What the search for a named adult found, as of the referral (named_adult_links.status):
# found (at or above the governance threshold), only a possible match, not found;
# and not searched (never linked), which makes the named-adult features missing.
NAMED_ADULT_STATUSES = ("found", "possible", "not_found", "not_searched")
NAMED_ADULT_RELATIONSHIPS = {
    "mothers_new_partner": "mother's new partner",
    "fathers_new_partner": "father's new partner",
    "parents_former_partner": "a parent's former partner",
    "visitor": "visitor",
    "not_living_at_address": "not living at the address",
    "relative": "relative",
    "other": "other",
}
# Whether, as the referrer says, the named adult lives at the child's address.
LIVES_AT_ADDRESS = ("yes", "no", "unknown")
# What a referrer may say of a named adult (only the name is required).
NAMED_ADULT_FIELDS = (
    "name",
    "date_of_birth",
    "date_of_birth_approximate",
    "postcode",
    "address",
    "relationship",
    "lives_at_address",
)

# Concern categories on a referral.  Each is a boolean column ``concern_<name>``
# on the ``referrals`` table; a referral carries at least one.
CONCERNS = (
    "neglect",
    "physical_abuse",
    "sexual_abuse",
    "emotional_abuse",
    "domestic_abuse",
    "parental_substance_misuse",
    "parental_mental_health",
    "other",
)
CONCERN_COLUMNS = tuple(f"concern_{c}" for c in CONCERNS)

DECISIONS = ("no_further_action", "early_help", "assessment", "strategy_discussion")
CLOSURE_REASONS = (
    "no_concerns_substantiated",
    "malicious",
    "family_declined_support",
    "signposted",
    "other",
)

AGENCIES = (
    "police",
    "health",
    "education",
    "housing",
    "probation",
    "adult_mental_health",
    "substance_misuse",
    "children_social_care",
)

# Who may hold images of an injury (the referral's optional ``images_held_by``):
# an agency, the referrer, a family member, or someone else.
IMAGE_HOLDERS = (*AGENCIES, "referrer", "family_member", "other")

# Event types each agency may record.  The statutory steps are events of
# children's social care, so the chronology holds them beside everything else.
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "police": (
        "domestic_incident",
        "violent_offence",
        "other_offence",
        "arrest",
        "restraining_order",
        "missing_episode",
    ),
    "health": (
        "ed_attendance",
        "injury",
        "missed_appointment",
        "service_declined",
        "birth",
    ),
    "education": ("school_absence", "exclusion", "service_declined"),
    "housing": ("address_move", "homelessness_application", "eviction"),
    "probation": ("supervision_start", "supervision_end"),
    "adult_mental_health": ("mh_contact", "mh_crisis", "service_declined"),
    "substance_misuse": ("treatment_start", "treatment_end", "service_declined"),
    "children_social_care": (
        "assessment",
        "early_help_start",
        "service_declined",
        "section47_enquiry",
        "initial_child_protection_conference",
        "cp_plan_start",
        "cp_plan_end",
        "looked_after_start",
        "looked_after_end",
        "serious_incident",
    ),
}
ALL_EVENT_TYPES = tuple(sorted({t for types in EVENT_TYPES.values() for t in types}))

# What a child's chronology lists beside agency events: the referrals about the
# child and the screening decisions on them (their `event_type` there).
CHRONOLOGY_REFERRAL = "referral"
CHRONOLOGY_DECISION = "screening_decision"
assert not {CHRONOLOGY_REFERRAL, CHRONOLOGY_DECISION} & set(ALL_EVENT_TYPES)

# The part a person played in an event, where that applies (police incidents).
EVENT_ROLES = ("victim", "perpetrator", "witness", "subject")

# Severity where it applies (injuries, offences): 1 minor, 2 moderate, 3 serious.
SEVERITIES = (1, 2, 3)

# Audit groupings derived from the contract (never model inputs by default).
AGE_BANDS = ("under 1", "1-4", "5-9", "10-14", "15-17")
_AGE_BAND_EDGES = (1, 5, 10, 15)  # lower bounds, in whole years, of bands after the first
DEPRIVATION_QUINTILES = ("1 (most deprived)", "2", "3", "4", "5 (least deprived)", NOT_RECORDED)


def age_band(age_years: float) -> str:
    """The audit age band of a child aged ``age_years`` (whole or fractional years)."""
    if age_years != age_years:  # NaN
        return NOT_RECORDED
    band = sum(age_years >= edge for edge in _AGE_BAND_EDGES)
    return AGE_BANDS[band]


def deprivation_quintile(imd_decile) -> str:
    """IMD quintile label from a decile (1 = most deprived); missing is "Not recorded"."""
    if imd_decile is None or imd_decile != imd_decile:
        return NOT_RECORDED
    return DEPRIVATION_QUINTILES[(int(imd_decile) - 1) // 2]
