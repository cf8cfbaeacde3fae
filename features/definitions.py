"""Every feature, defined once, as data.

The SQL (:mod:`features.sql`), the catalogue (:mod:`features.catalogue`) and
the evidence look-up (:mod:`features.evidence`) are all generated from the
specs below, so a feature cannot be computed one way and explained another.

A feature is built from one of a few kinds of *counter*, each evaluated per
(person, ``as_of``) and then exposed for one or more *subjects*: the child
on the referral, the household's adults (per adult, then the maximum and the
sum), or the child's siblings (summed).

Windows are in days, not calendar months, so that every engine (DuckDB now,
Spark later) and the plain-Python reference agree to the day: 3 months is 91
days, 6 months 182, 12 months 365, 24 months 730.  A window is measured on
when a thing happened (``occurred_at``; for referrals ``received_at``), and a
record only counts if it was also *recorded* strictly before ``as_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from features import wording

# The wording lives in features.wording; these names stay importable from here.
from features.wording import (  # noqa: F401
    _DESCRIBERS,
    _GAP_WHY,
    _READERS,
    _SOURCE_WORDS,
    _WHO_REFERRED_WHY,
    GROUP_WORDS,
    REFERRER_LABELS,
    SOURCE_LABELS,
    WINDOW_WORDS,
    _concern_words,
    _describe_count,
    _referrer_words,
    age_words,
    ago_words,
    singular,
)
from store import vocabulary as v

# Windows in days; None is "ever".
WINDOWS: dict[str, int | None] = {"3m": 91, "6m": 182, "12m": 365, "24m": 730, "ever": None}
# An infant under this many days old cannot move about on their own, so an
# injury to them is a distinct, serious signal (NSPCC "non-mobile infant").
NON_MOBILE_DAYS = 182
ADULT_YEARS = 18
DAYS_PER_YEAR = 365.25
# Only to word a span of days ("2 months ago", ``ago_words``); ages are whole
# calendar months (``child_age_months``).
DAYS_PER_MONTH = DAYS_PER_YEAR / 12

SUBJECTS = ("child", "household_adults", "siblings", "referral", "named_adults")
MEMBERSHIP_SOURCES = ("household", "named")


@dataclass(frozen=True)
class Membership:
    """A group of people around the child that features are about, as of the referral.

    Everyone is found the same way: the other members of the child's active
    homes as of ``as_of`` (each member's role is the lowest of their current
    memberships, their start the latest), kept if their role is one of
    ``roles`` and, with ``joined_within``, if they joined within that window.
    Every engine, and the evidence look-ups of each, derive the group from
    this declaration, so "the household's adults" has one meaning.
    ``relationship`` is how a member is listed beside their records (default:
    their role).

    ``source`` says where the group comes from: ``"household"`` (the above)
    or ``"named"``, the adults the referrer names on the referral who were
    *found* in the linked records as of it (a match at or above the
    governance threshold; a ``possible`` match never counts), read from the
    store's ``named_adult_links`` (written by ``mast link``) or, for a new
    referral, from the service's search.  A named group has no roles.
    """

    name: str
    roles: tuple[str, ...]
    relationship: str | None = None
    joined_within: str | None = None
    source: str = "household"

    def __post_init__(self):
        if self.source not in MEMBERSHIP_SOURCES:
            raise ValueError(f"unknown membership source {self.source!r}: {MEMBERSHIP_SOURCES}")
        if (self.source == "named") == bool(self.roles):
            raise ValueError(f"{self.name}: a household group has roles, a named group none")
        for role in self.roles:
            cat(role, v.HOUSEHOLD_ROLES)
        if self.joined_within is not None and WINDOWS.get(self.joined_within) is None:
            raise ValueError(f"joined_within must be a window in days, not {self.joined_within!r}")


def _memberships() -> dict[str, Membership]:
    adults = tuple(v.ADULT_ROLES)
    groups = [
        Membership("household_adults", adults),
        # The "new partner whose domestic-abuse history nobody looked up".
        Membership("new_household_adults", adults, joined_within="12m"),
        Membership("household_parents", (cat("parent", v.HOUSEHOLD_ROLES),)),
        Membership("siblings", (cat("child", v.HOUSEHOLD_ROLES),), relationship="sibling"),
        # Issue #20: the adults the referrer names, found in the linked records.
        Membership("named_adults", (), relationship="named by the referrer", source="named"),
    ]
    return {m.name: m for m in groups}


# What a feature's value records.  The proxy label (a plan or care) follows
# the front door's own decisions, so a model fed those decisions can learn to
# repeat them: e.g. that a family referral, or an earlier closure, makes a
# child safer.  Every feature says which it is, in the catalogue.
HAPPENED = "what happened"
DECIDED = "what was decided"
NATURES = (HAPPENED, DECIDED)


def cat(value: str, allowed) -> str:
    """Return ``value`` after checking it is in the contract's vocabulary.

    Every category the SQL mentions passes through here, so a typo fails at
    import rather than silently counting nothing.
    """
    if value not in allowed:
        raise ValueError(f"{value!r} is not in the MAST vocabulary {tuple(allowed)}")
    return value


def _agencies_of(event_type: str) -> tuple[str, ...]:
    return tuple(a for a, types in v.EVENT_TYPES.items() if event_type in types)


class _Worded:
    """A counter's ``what``: the plural noun phrase it counts, from :mod:`features.wording`."""

    @property
    def what(self) -> str:
        return wording.counter_what(self)


@dataclass(frozen=True)
class EventFilter:
    """Which ``agency_events`` rows a counter looks at.

    ``age_limit`` restricts to events that happened while the person was
    younger than a threshold: ``"adult"`` (under 18, their own childhood) or
    ``"non_mobile"`` (under ``NON_MOBILE_DAYS`` days old).
    """

    event_types: tuple[str, ...]
    agencies: tuple[str, ...] | None = None
    roles: tuple[str, ...] | None = None
    exclude_roles: tuple[str, ...] | None = None
    min_severity: int | None = None
    age_limit: str | None = None

    def __post_init__(self):
        for t in self.event_types:
            cat(t, v.ALL_EVENT_TYPES)
        for a in self.agencies or ():
            cat(a, v.AGENCIES)
        for r in (self.roles or ()) + (self.exclude_roles or ()):
            cat(r, v.EVENT_ROLES)
        if self.age_limit not in (None, "adult", "non_mobile"):
            raise ValueError(f"unknown age_limit {self.age_limit!r}")

    @property
    def source_agencies(self) -> tuple[str, ...]:
        if self.agencies:
            return self.agencies
        return tuple(dict.fromkeys(a for t in self.event_types for a in _agencies_of(t)))


@dataclass(frozen=True)
class EventCounter(_Worded):
    """Count of a person's agency events matching ``filter`` within ``window``."""

    name: str
    filter: EventFilter
    window: str
    kind: str = "count"


@dataclass(frozen=True)
class EventState(_Worded):
    """1 if the latest ``start`` event has no later ``end`` event (e.g. a current CP plan)."""

    name: str
    agency: str
    start: str
    end: str
    window: str = "current"
    kind: str = "state"

    def __post_init__(self):
        cat(self.agency, v.AGENCIES)
        cat(self.start, v.EVENT_TYPES[self.agency])
        cat(self.end, v.EVENT_TYPES[self.agency])


@dataclass(frozen=True)
class ReferralCounter(_Worded):
    """Count of a person's prior referrals (as a child on them) matching the filter.

    A decision only counts if it was made (``decided_at``) before ``as_of``.
    """

    name: str
    window: str
    sources: tuple[str, ...] | None = None
    decision: str | None = None
    closure_reason: str | None = None
    age_limit: str | None = None  # "adult": received before their 18th birthday
    kind: str = "referrals"

    def __post_init__(self):
        for s in self.sources or ():
            cat(s, v.REFERRAL_SOURCES)
        if self.decision:
            cat(self.decision, v.DECISIONS)
        if self.closure_reason:
            cat(self.closure_reason, v.CLOSURE_REASONS)


@dataclass(frozen=True)
class SameConcernCounter(_Worded):
    """Count of the child's prior referrals sharing a concern category with *this* referral.

    The one counter that depends on the referral being scored (its concerns)
    and not only on the person and ``as_of``: every engine evaluates it per
    (referral, child), from this declaration (the window; "prior" as in
    :class:`ReferralCounter`: received strictly before ``as_of``).  A repeat
    of the same worry is a pattern screeners look for, so it may only raise
    risk (monotone).
    """

    name: str
    window: str
    kind: str = "same_concern"

    def __post_init__(self):
        if self.window not in WINDOWS:
            raise ValueError(f"unknown window {self.window!r}")


MEMBERSHIPS: dict[str, Membership] = _memberships()


@dataclass(frozen=True)
class GroupMeasure:
    """A number about a household group as a whole.

    ``measure`` is one of :data:`GROUP_MEASURE_KINDS`: how many members
    (0 if none), whether any joined within ``window`` (0 or 1), whole days
    since the newest joined, or the youngest or oldest member's age in whole
    years when the child was born (missing if none); or, from their records,
    ``"most"``: the largest value of the per-person ``counter`` among the
    members (0 if none), e.g. the most domestic-abuse incidents as
    perpetrator of any adult who joined the household in the last 12 months.  Every engine derives
    the value from this declaration and the group's :class:`Membership`.
    """

    name: str
    membership: str
    measure: str
    window: str | None = None
    # With measure "most": the per-person counter whose largest value among the members is taken.
    counter: str | None = None

    def __post_init__(self):
        if (self.measure == "most") != (self.counter is not None):
            raise ValueError(f"{self.name}: a counter goes with 'most' and only with it")
        if self.measure not in GROUP_MEASURE_KINDS:
            raise ValueError(f"unknown measure {self.measure!r}: one of {GROUP_MEASURE_KINDS}")
        if self.membership not in MEMBERSHIPS:
            raise ValueError(f"unknown membership {self.membership!r}")
        if (self.measure == "joined_within") != (self.window is not None):
            raise ValueError(f"{self.name}: a window goes with 'joined_within' and only with it")


@dataclass(frozen=True)
class GroupEventCounter:
    """A counter's events across a household group, each incident once.

    One police incident is recorded once for each person involved (as
    victim, perpetrator, witness); counted per adult and summed it would
    count twice.  Here an incident is the counter's event at one moment
    (``occurred_at``): events of the group's members at the same moment are
    one.  ``counter`` names an :class:`EventCounter` (its filter and window;
    no age limit, which is about one person).  The feature is named
    ``household_<counter>``; every engine, the evidence, the catalogue and
    the reference derive it from this declaration.
    """

    counter: str
    membership: str = "household_adults"

    @property
    def name(self) -> str:
        return f"household_{self.counter}"


GROUP_MEASURE_KINDS = (
    "count",
    "joined_within",
    "days_since_newest_joined",
    "youngest_age_at_birth",
    "oldest_age_at_birth",
    "most",
)
# Missing (not 0) when the group is empty.
NULLABLE_MEASURES = ("days_since_newest_joined", "youngest_age_at_birth", "oldest_age_at_birth")


@dataclass(frozen=True)
class ReferralFlags:
    """One flag per category of a field of the referral being scored (generated one-hots).

    With ``column``, the flag ``prefix + value`` is 1 when that referrals
    column equals ``value`` (who referred); without, each value names a
    yes/no column of its own (the concern columns).  Every engine derives
    the flags from this declaration.
    """

    prefix: str
    values: tuple[str, ...]
    column: str | None = None

    def flags(self) -> list[tuple[str, str, str | None]]:
        """(feature name, referrals column, category or None for a yes/no column)."""
        if self.column is None:
            return [(self.prefix + x, x, None) for x in self.values]
        return [(self.prefix + x, self.column, x) for x in self.values]


CHILD_MEASURE_KINDS = ("age_months", "days_since_last_referral")


@dataclass(frozen=True)
class ChildMeasure:
    """A number about the child on the referral, from their date of birth or referral history.

    ``measure`` is one of :data:`CHILD_MEASURE_KINDS`: their age in whole
    calendar months at ``as_of``, or whole days since their latest referral
    received strictly before ``as_of``.  Both are missing (not 0) when there
    is nothing to measure (an unknown child; no earlier referral): an absence
    of records is never shown as reassurance.  Every engine derives the value
    from this declaration.
    """

    name: str
    measure: str

    def __post_init__(self):
        if self.measure not in CHILD_MEASURE_KINDS:
            raise ValueError(f"unknown measure {self.measure!r}: one of {CHILD_MEASURE_KINDS}")


CHILD_MEASURES: list[ChildMeasure] = [
    ChildMeasure("child_age_months", "age_months"),
    ChildMeasure("child_days_since_last_referral", "days_since_last_referral"),
]

GROUP_MEASURES: list[GroupMeasure] = [
    GroupMeasure("household_n_adults", "household_adults", "count"),
    *[
        GroupMeasure(f"household_new_adult_{w}", "household_adults", "joined_within", w)
        for w in ("3m", "6m", "12m")
    ],
    GroupMeasure(
        "household_days_since_adult_joined", "household_adults", "days_since_newest_joined"
    ),
    GroupMeasure("parent_age_at_birth_min", "household_parents", "youngest_age_at_birth"),
    GroupMeasure("parent_age_at_birth_max", "household_parents", "oldest_age_at_birth"),
    GroupMeasure("household_n_siblings", "siblings", "count"),
    # The "new partner whose domestic-abuse history nobody looked up".
    *[
        GroupMeasure(f"new_adults_{n}_max", "new_household_adults", "most", counter=n)
        for n in ("da_perpetrator_ever", "violent_offences_ever")
    ],
]

# Counted across a group, each incident once (none yet: add one here, with its
# EventCounter in EVENT_COUNTERS).
GROUP_EVENT_COUNTERS: list[GroupEventCounter] = []

REFERRAL_FLAGS: list[ReferralFlags] = [
    ReferralFlags("referral_source_", tuple(v.REFERRAL_SOURCES), "source"),
    ReferralFlags("referrer_", tuple(v.REFERRER_RELATIONSHIPS), "referrer_relationship"),
    ReferralFlags("referral_", tuple(v.CONCERN_COLUMNS)),
]


def _ev(*types, **kw) -> EventFilter:
    return EventFilter(event_types=tuple(types), **kw)


_POLICE = (cat("police", v.AGENCIES),)
_CSC = cat("children_social_care", v.AGENCIES)
_DECLINED = _ev("service_declined")
_DA = "domestic_incident"


def _windows(name, flt, windows):
    return [EventCounter(f"{name}_{w}", flt, w) for w in windows]


# ---------------------------------------------------------------------------
# Per-person event counters (computed once per person and as_of).
# ---------------------------------------------------------------------------
EVENT_COUNTERS: list[EventCounter] = [
    # Pattern of closure and health.
    *_windows(
        "missed_appointments",
        _ev("missed_appointment"),
        ("12m", "ever"),
    ),
    *_windows("school_absences", _ev("school_absence"), ("12m", "ever")),
    *_windows("services_declined", _DECLINED, ("12m", "ever")),
    *_windows("address_moves", _ev("address_move"), ("12m",)),
    *_windows("ed_attendances", _ev("ed_attendance"), ("12m", "ever")),
    *_windows("injuries", _ev("injury"), ("12m", "ever")),
    EventCounter(
        "injuries_serious_ever",
        _ev("injury", min_severity=2),
        "ever",
    ),
    EventCounter(
        "injuries_non_mobile_ever",
        _ev("injury", age_limit="non_mobile"),
        "ever",
    ),
    EventCounter("missing_episodes_ever", _ev("missing_episode"), "ever"),
    # Statutory history (children's social care events).
    *_windows("section47_enquiries", _ev("section47_enquiry"), ("12m", "ever")),
    EventCounter(
        "cp_conferences_ever",
        _ev("initial_child_protection_conference"),
        "ever",
    ),
    EventCounter("cp_plans_ever", _ev("cp_plan_start"), "ever"),
    EventCounter("looked_after_ever", _ev("looked_after_start"), "ever"),
    EventCounter(
        "csc_events_ever",
        _ev(*v.EVENT_TYPES[_CSC], agencies=(_CSC,)),
        "ever",
    ),
    # Adults: police, probation, mental health, substance misuse.
    *_windows(
        "da_victim",
        _ev(_DA, agencies=_POLICE, roles=("victim",)),
        ("12m", "ever"),
    ),
    *_windows(
        "da_perpetrator",
        _ev(_DA, agencies=_POLICE, roles=("perpetrator",)),
        ("12m", "ever"),
    ),
    EventCounter(
        "violent_offences_ever",
        _ev("violent_offence", exclude_roles=("victim", "witness")),
        "ever",
    ),
    EventCounter("arrests_ever", _ev("arrest"), "ever"),
    EventCounter("restraining_orders_ever", _ev("restraining_order"), "ever"),
    EventCounter(
        "probation_supervisions_ever",
        _ev("supervision_start"),
        "ever",
    ),
    *_windows("mh_contacts", _ev("mh_contact"), ("12m", "ever")),
    EventCounter("mh_crises_ever", _ev("mh_crisis"), "ever"),
    EventCounter(
        "substance_treatments_ever",
        _ev("treatment_start"),
        "ever",
    ),
    EventCounter(
        "childhood_csc_events",
        _ev(*v.EVENT_TYPES[_CSC], agencies=(_CSC,), age_limit="adult"),
        "ever",
    ),
]

EVENT_STATES: list[EventState] = [
    EventState(
        "cp_plan_current",
        _CSC,
        "cp_plan_start",
        "cp_plan_end",
    ),
    EventState("looked_after_current", _CSC, "looked_after_start", "looked_after_end"),
    EventState(
        "probation_current",
        "probation",
        "supervision_start",
        "supervision_end",
    ),
    EventState(
        "substance_treatment_current",
        "substance_misuse",
        "treatment_start",
        "treatment_end",
    ),
]

REFERRAL_SOURCE_FAMILIES = ("family", "police", "school", "health", "anonymous")
REFERRAL_COUNTERS: list[ReferralCounter] = [
    *[ReferralCounter(f"prior_referrals_{w}", w) for w in WINDOWS],
    *[
        ReferralCounter(f"prior_referrals_{s}_{w}", w, sources=(s,))
        for s in REFERRAL_SOURCE_FAMILIES
        for w in WINDOWS
    ],
    *[
        ReferralCounter(
            f"prior_nfa_{w}",
            w,
            decision="no_further_action",
        )
        for w in ("12m", "ever")
    ],
    ReferralCounter("prior_malicious_ever", "ever", closure_reason="malicious"),
    ReferralCounter(
        "prior_family_declined_ever",
        "ever",
        closure_reason="family_declined_support",
    ),
    ReferralCounter("prior_early_help_ever", "ever", decision="early_help"),
    ReferralCounter(
        "prior_assessments_ever",
        "ever",
        decision="assessment",
    ),
    ReferralCounter(
        "prior_strategy_ever",
        "ever",
        decision="strategy_discussion",
    ),
    ReferralCounter(
        "childhood_referrals",
        "ever",
        age_limit="adult",
    ),
]

# Counted for the child on the referral, per (referral, child).
SAME_CONCERN_COUNTERS: list[SameConcernCounter] = [
    SameConcernCounter(f"prior_referrals_same_concern_{w}", w) for w in ("12m", "ever")
]

COUNTERS = {c.name: c for c in [*EVENT_COUNTERS, *EVENT_STATES, *REFERRAL_COUNTERS]}
assert len(COUNTERS) == len(EVENT_COUNTERS) + len(EVENT_STATES) + len(REFERRAL_COUNTERS)
# Every counter is worded (features.wording.COUNTER_WHAT): a missing phrase fails at import.
assert all(c.what for c in [*COUNTERS.values(), *SAME_CONCERN_COUNTERS])

# Which counters each subject exposes.
CHILD_COUNTERS = [
    *[c.name for c in REFERRAL_COUNTERS if c.name != "childhood_referrals"],
    "section47_enquiries_12m",
    "section47_enquiries_ever",
    "cp_conferences_ever",
    "cp_plans_ever",
    "cp_plan_current",
    "looked_after_ever",
    "looked_after_current",
    "missed_appointments_12m",
    "missed_appointments_ever",
    "school_absences_12m",
    "school_absences_ever",
    "services_declined_12m",
    "services_declined_ever",
    "address_moves_12m",
    "ed_attendances_12m",
    "ed_attendances_ever",
    "injuries_12m",
    "injuries_ever",
    "injuries_serious_ever",
    "injuries_non_mobile_ever",
    "missing_episodes_ever",
]
ADULT_COUNTERS = [
    "da_victim_12m",
    "da_victim_ever",
    "da_perpetrator_12m",
    "da_perpetrator_ever",
    "violent_offences_ever",
    "arrests_ever",
    "restraining_orders_ever",
    "probation_supervisions_ever",
    "probation_current",
    "mh_contacts_12m",
    "mh_contacts_ever",
    "mh_crises_ever",
    "substance_treatments_ever",
    "substance_treatment_current",
    "childhood_csc_events",
    "childhood_referrals",
    "services_declined_12m",
    "missed_appointments_12m",
    "address_moves_12m",
]
SIBLING_COUNTERS = [
    "prior_referrals_ever",
    "prior_referrals_12m",
    "section47_enquiries_ever",
    "cp_plans_ever",
    "cp_plan_current",
    "looked_after_ever",
    "injuries_ever",
    "csc_events_ever",
]
# The adult counters also reported for adults who joined in the last 12 months
# (declared in GROUP_MEASURES, measure "most").
NEW_ADULT_COUNTERS = [g.counter for g in GROUP_MEASURES if g.measure == "most"]
NEW_ADULT_WINDOWS = ("3m", "6m", "12m")


# ---------------------------------------------------------------------------
# The public feature specs.
# ---------------------------------------------------------------------------
EVIDENCE_TABLES = (
    "agency_events",
    "referrals",
    "household_members",
    "people",
    "referral",
    "referral_children",
)


@dataclass(frozen=True)
class EvidenceSource:
    """Which records lie behind a feature's value: typed, shared by every engine.

    ``table`` is where they are (``agency_events``, earlier ``referrals``,
    ``household_members``; or ``people``, the ``referral`` being scored, its
    ``referral_children``, which have no records behind them beyond the
    referral or the child) and ``subject`` whose they are (a subject or a
    :data:`MEMBERSHIPS` group).  The rest narrow them as the counter does: the
    counter's name and window, its filters, a group joined within so many
    days, "the same concern as this referral", "each incident once", or the
    referral's own field and value (a flag).  Both evidence look-ups (SQL and
    the snapshot's) read these fields, so a value and its records agree.

    Build one with :meth:`of`, which keeps the order its fields were given in,
    so the catalogue's JSON (:meth:`as_dict`) lists them as written.
    """

    table: str
    subject: str = "child"
    counter: str | None = None
    window_days: int | None = None
    sources: tuple[str, ...] = ()
    decision: str | None = None
    closure_reason: str | None = None
    agencies: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    exclude_roles: tuple[str, ...] = ()
    min_severity: int | None = None
    age_limit: str | None = None
    joined_within_days: int | None = None
    same_concern: bool = False
    each_incident_once: bool = False
    column: str | None = None
    value: str | bool | None = None
    # The fields given, in order (what as_dict lists); not part of equality.
    given: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self):
        if self.table not in EVIDENCE_TABLES:
            raise ValueError(f"unknown evidence table {self.table!r}: one of {EVIDENCE_TABLES}")
        if self.counter is not None and self.table not in ("agency_events", "referrals"):
            raise ValueError(f"a counter's records are events or referrals, not {self.table!r}")

    @classmethod
    def of(cls, **given) -> EvidenceSource:
        """An evidence source from keyword fields (lists become tuples), remembering their order."""
        known = {f.name for f in fields(cls)} - {"given"}
        unknown = set(given) - known
        if unknown:
            raise ValueError(f"unknown evidence field(s) {sorted(unknown)}")
        typed = {k: tuple(x) if isinstance(x, list) else x for k, x in given.items()}
        return cls(**typed, given=tuple(given))

    def with_(self, **more) -> EvidenceSource:
        """This source with fields added or changed (e.g. a subject)."""
        return EvidenceSource.of(**{**self.as_dict(), **more})

    def as_dict(self) -> dict:
        """The fields given, in order, as JSON-ready values (tuples as lists)."""
        out = {}
        for k in self.given or ("table", "subject"):
            x = getattr(self, k)
            out[k] = list(x) if isinstance(x, tuple) else x
        return out

    # Read-only mapping access, for code written against the old ``record`` dict.
    def get(self, key: str, default=None):
        return getattr(self, key) if key in (self.given or ("table", "subject")) else default

    def __getitem__(self, key: str):
        if key not in (self.given or ("table", "subject")):
            raise KeyError(key)
        return getattr(self, key)


_NO_EVIDENCE = EvidenceSource("referral", "referral")


def evidence_of(spec) -> EvidenceSource:
    """``spec``'s evidence source, for any object that may carry one.

    A :class:`FeatureSpec`'s own; a ``record`` dict (a spec-like object built
    elsewhere) checked and typed; for anything else (a reason about a field
    of the referral) the referral itself, which no record count lies behind.
    """
    record = getattr(spec, "record", None)
    if isinstance(record, EvidenceSource):
        return record
    if isinstance(record, dict) and record:
        return EvidenceSource.of(**record)
    return _NO_EVIDENCE


@dataclass(frozen=True)
class FeatureSpec:
    """One column of ``X``, with what the screener-facing text needs.

    ``record`` says which records lie behind the value (see
    :func:`features.evidence`), as an :class:`EvidenceSource`; a dict given
    here is checked and made one.
    """

    name: str
    definition: str
    agency: str
    window: str
    subject: str
    family: str
    unit: str  # how a value reads: the noun after the number (a flag: the words when set)
    aggregate: str  # "value", "max", "sum" or "flag"
    record: EvidenceSource = _NO_EVIDENCE
    # A flag's words when it is not set.  "not " + unit reads wrongly more
    # often than not ("not an adult joined ..."), and screeners read these.
    absent: str = ""
    # Whether the value records what happened to the child and household, or
    # what a front door or social care *decided* (a referral's source, a
    # closure, a plan).  A decision is not proof of what happened: see NATURES.
    nature: str = HAPPENED
    # True when the feature says who referred (this referral or earlier ones).
    about_referrer: bool = False
    # +1: the model may only ever raise risk as this value grows (LightGBM
    # monotone constraint; a non-negative L1-logistic coefficient).
    monotone: int = 0
    # Why the constrained model (the default) leaves this feature out; "" if it is an input.
    excluded_why: str = ""
    # How a number reads to a person: "" (a count), "age" (months as
    # "14 years 8 months") or "ago" (days as "15 years ago").
    reads_as: str = ""

    def __post_init__(self):
        if isinstance(self.record, dict):
            object.__setattr__(self, "record", EvidenceSource.of(**self.record))

    def describe(self, value) -> str:
        """The value in plain language, e.g. "3 referrals in the last 12 months from family members"."""
        if value is None or value != value:
            return f"{self.definition}: none on record"
        if self.reads_as:
            return _READERS[self.reads_as](self, float(value))
        return _DESCRIBERS.get(self.aggregate, _describe_count)(self, value)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "definition": self.definition,
            "agency": self.agency,
            "window": self.window,
            "subject": self.subject,
            "family": self.family,
            "aggregate": self.aggregate,
            "record": self.record.as_dict(),
            "absent": self.absent,
            "nature": self.nature,
            "about_referrer": self.about_referrer,
            "monotone": self.monotone,
            "excluded_why": self.excluded_why,
        }


def _agency_of(counter) -> str:
    if isinstance(counter, ReferralCounter):
        return _CSC
    if isinstance(counter, EventState):
        return counter.agency
    return ", ".join(counter.filter.source_agencies)


def _family_of(name: str) -> str:
    if name.startswith(("prior_", "childhood_referrals")):
        return "referral history"
    if name.startswith(("section47", "cp_", "looked_after", "csc_", "childhood_csc")):
        return "statutory history"
    if name.startswith(("da_", "violent", "arrests", "restraining", "probation")):
        return "police and probation"
    if name.startswith(("mh_", "substance")):
        return "health of adults"
    return "pattern of closure and health"


def _record(counter) -> EvidenceSource:
    if isinstance(counter, ReferralCounter):
        return EvidenceSource.of(
            table="referrals",
            counter=counter.name,
            window_days=WINDOWS.get(counter.window),
            sources=counter.sources or (),
            decision=counter.decision,
            closure_reason=counter.closure_reason,
        )
    if isinstance(counter, EventState):
        return EvidenceSource.of(
            table="agency_events",
            counter=counter.name,
            window_days=None,
            agencies=(counter.agency,),
            event_types=(counter.start, counter.end),
        )
    f = counter.filter
    return EvidenceSource.of(
        table="agency_events",
        counter=counter.name,
        window_days=WINDOWS[counter.window],
        agencies=f.source_agencies,
        event_types=f.event_types,
        roles=f.roles or (),
        exclude_roles=f.exclude_roles or (),
        min_severity=f.min_severity,
        age_limit=f.age_limit,
    )


def _classify(counter) -> dict:
    """A counter's nature, whether it is about who referred, and its monotone sign.

    Earlier referrals and their closures are counts that may only raise risk:
    three referrals closed as malicious must never make a fourth look safer.
    Children's social care records (enquiries, conferences, plans, care) are
    decisions too, though not the front door's, and are labelled so.
    """
    if isinstance(counter, ReferralCounter):
        decided = bool(counter.decision or counter.closure_reason or counter.sources)
        return {
            "nature": DECIDED if decided else HAPPENED,
            "about_referrer": bool(counter.sources),
            "monotone": 1,
            "excluded_why": _WHO_REFERRED_WHY if counter.sources else "",
        }
    csc = _agency_of(counter) == _CSC
    return {"nature": DECIDED if csc else HAPPENED, "about_referrer": False, "monotone": 0}


def _counter_specs() -> list[FeatureSpec]:
    specs = []
    for name in CHILD_COUNTERS:
        c = COUNTERS[name]
        specs.append(
            FeatureSpec(
                name=f"child_{name}",
                agency=_agency_of(c),
                window=c.window,
                subject="child",
                family=_family_of(name),
                aggregate="flag" if c.kind == "state" else "value",
                record=_record(c).with_(subject="child"),
                **wording.child_counter_words(c),
                **_classify(c),
            )
        )
    for name in ADULT_COUNTERS:
        c = COUNTERS[name]
        for agg in ("max", "sum"):
            specs.append(
                FeatureSpec(
                    name=f"adults_{name}_{agg}",
                    agency=_agency_of(c),
                    window=c.window,
                    subject="household_adults",
                    family=_family_of(name),
                    aggregate="flag" if (c.kind == "state" and agg == "max") else agg,
                    record=_record(c).with_(subject="household_adults"),
                    **wording.adult_counter_words(c, agg),
                    **_classify(c),
                )
            )
    for g in GROUP_MEASURES:
        if g.measure != "most":
            continue
        c = COUNTERS[g.counter]
        specs.append(
            FeatureSpec(
                name=g.name,
                agency=_agency_of(c),
                window=c.window,
                subject="household_adults",
                family="household",
                aggregate="max",
                record=_record(c).with_(
                    subject=g.membership,
                    joined_within_days=WINDOWS[MEMBERSHIPS[g.membership].joined_within],
                ),
                **wording.new_adult_counter_words(c),
                **_classify(c),
            )
        )
    for name in SIBLING_COUNTERS:
        c = COUNTERS[name]
        specs.append(
            FeatureSpec(
                name=f"siblings_{name}_sum",
                agency=_agency_of(c),
                window=c.window,
                subject="siblings",
                family="siblings",
                aggregate="sum",
                record=_record(c).with_(subject="siblings"),
                **wording.sibling_counter_words(c),
                **_classify(c),
            )
        )
    for g in GROUP_EVENT_COUNTERS:
        c = COUNTERS[g.counter]
        if not isinstance(c, EventCounter) or c.filter.age_limit is not None:
            raise ValueError(f"{g.name}: an event counter without an age limit is needed")
        specs.append(
            FeatureSpec(
                name=g.name,
                agency=_agency_of(c),
                window=c.window,
                subject=g.membership,
                family=_family_of(g.counter),
                aggregate="value",
                record=_record(c).with_(subject=g.membership, each_incident_once=True),
                **wording.group_event_words(c, g.membership),
                **_classify(c),
            )
        )
    return specs


def _member_record(subject: str, **extra) -> EvidenceSource:
    return EvidenceSource.of(table="household_members", subject=subject, **extra)


_HOUSEHOLD_AGENCIES = "housing, children_social_care"


def _fixed(name: str, agency: str, window: str, subject: str, family: str, **kw) -> FeatureSpec:
    """A feature whose words do not vary (:data:`features.wording.FIXED_WORDS`)."""
    return FeatureSpec(
        name=name,
        agency=agency,
        window=window,
        subject=subject,
        family=family,
        **wording.FIXED_WORDS[name],
        **kw,
    )


def _referral_flag_specs() -> list[FeatureSpec]:
    """The generated one-hots of :data:`REFERRAL_FLAGS`; who referred is a decision."""
    specs = []
    for family in REFERRAL_FLAGS:
        for name, col, value in family.flags():
            who = family.column is not None
            specs.append(
                FeatureSpec(
                    name=name,
                    agency=_CSC,
                    window="this referral",
                    subject="referral",
                    family="the referral",
                    aggregate="flag",
                    record=EvidenceSource.of(
                        table="referral",
                        subject="referral",
                        column=col,
                        value=True if value is None else value,
                    ),
                    nature=DECIDED if who else HAPPENED,
                    about_referrer=who,
                    excluded_why=_WHO_REFERRED_WHY if who else "",
                    **wording.referral_flag_words(col, value),
                )
            )
    return specs


def _other_specs() -> list[FeatureSpec]:
    """Features that are not per-person counters: the referral itself, the household, ages."""
    s = [
        _fixed(
            "child_age_months",
            _CSC,
            "at referral",
            "child",
            "child",
            aggregate="value",
            record=EvidenceSource.of(table="people", subject="child"),
            reads_as="age",
        ),
        _fixed(
            "child_days_since_last_referral",
            _CSC,
            "ever",
            "child",
            "referral history",
            aggregate="value",
            record=EvidenceSource.of(
                table="referrals",
                counter="prior_referrals_ever",
                subject="child",
                window_days=None,
                sources=(),
            ),
            excluded_why=_GAP_WHY,
            reads_as="ago",
        ),
    ]
    for c in SAME_CONCERN_COUNTERS:
        s.append(
            FeatureSpec(
                name=f"child_{c.name}",
                agency=_CSC,
                window=c.window,
                subject="child",
                family="referral history",
                aggregate="value",
                record=EvidenceSource.of(
                    table="referrals",
                    counter=f"same_concern_{c.window}",
                    subject="child",
                    window_days=WINDOWS[c.window],
                    same_concern=True,
                    sources=(),
                ),
                monotone=1,
                **wording.same_concern_words(c.window),
            )
        )
    s += _referral_flag_specs()
    ref = EvidenceSource.of(table="referral", subject="referral")
    s.append(
        _fixed(
            "referral_n_concerns",
            _CSC,
            "this referral",
            "referral",
            "the referral",
            aggregate="value",
            record=ref,
        )
    )
    s.append(
        _fixed(
            "referral_n_children",
            _CSC,
            "this referral",
            "referral",
            "the referral",
            aggregate="value",
            record=EvidenceSource.of(table="referral_children", subject="referral"),
        )
    )
    s.append(
        _fixed(
            "household_n_adults",
            _HOUSEHOLD_AGENCIES,
            "as of referral",
            "household_adults",
            "household",
            aggregate="value",
            record=_member_record("household_adults"),
        )
    )
    for win in NEW_ADULT_WINDOWS:
        s.append(
            FeatureSpec(
                name=f"household_new_adult_{win}",
                agency=_HOUSEHOLD_AGENCIES,
                window=win,
                subject="household_adults",
                family="household",
                aggregate="flag",
                record=_member_record("household_adults", joined_within_days=WINDOWS[win]),
                **wording.new_adult_flag_words(win),
            )
        )
    s.append(
        _fixed(
            "household_days_since_adult_joined",
            _HOUSEHOLD_AGENCIES,
            "as of referral",
            "household_adults",
            "household",
            aggregate="value",
            record=_member_record("household_adults"),
            reads_as="ago",
        )
    )
    for agg in ("min", "max"):
        s.append(
            FeatureSpec(
                name=f"parent_age_at_birth_{agg}",
                agency="children_social_care",
                window="at birth",
                subject="household_adults",
                family="household",
                aggregate="value",
                record=_member_record("household_parents"),
                **wording.parent_age_words(agg),
            )
        )
    s.append(
        _fixed(
            "household_n_siblings",
            "children_social_care",
            "as of referral",
            "siblings",
            "siblings",
            aggregate="value",
            record=_member_record("siblings"),
        )
    )
    return s


def feature_specs() -> list[FeatureSpec]:
    """All features in ``X`` column order."""
    specs = _other_specs() + _counter_specs() + NAMED_ADULT_SPECS
    names = [s.name for s in specs]
    assert len(set(names)) == len(names), "duplicate feature names"
    return specs


# ---------------------------------------------------------------------------
# Adults named on the referral (issue #20): a family of its own.
# ---------------------------------------------------------------------------
# The adults the referrer names who were *found* in the linked records as of
# the referral (linkage.named; a "possible" match is never the adult), counted
# as the household's adults are, from the same per-person counters (the
# Membership "named_adults", source "named"): columns of ``X`` like any other,
# computed by every engine from this declaration.
# The household adults' police counters, and what else needs no age (a named
# adult's date of birth is the referrer's guess): CSC, mental-health crises, treatment.
NAMED_ADULT_COUNTERS = [
    *(c for c in ADULT_COUNTERS if c.startswith(("da_", "violent_", "arrests", "restraining_"))),
    "csc_events_ever",
    "mh_crises_ever",
    "substance_treatments_ever",
]
NAMED_FOUND = "named_adults_found"
NAMED_NOT_FOUND = "named_adults_not_found"
_NAMED_NOT_FOUND_WHY = (
    "an adult MAST could not find in the records it holds is not evidence either way; "
    "the model must never learn that a missing record makes a child safer"
)


def _named_adult_specs() -> list[FeatureSpec]:
    common = {"subject": "named_adults", "family": "named adults", "agency": "linked records"}
    count = EvidenceSource.of(table="referral", subject="named_adults")
    specs = [
        FeatureSpec(
            name=NAMED_FOUND,
            window="current",
            aggregate="value",
            record=count,
            monotone=1,
            **wording.named_adult_count_words(found=True),
            **common,
        ),
        FeatureSpec(
            name=NAMED_NOT_FOUND,
            window="current",
            aggregate="value",
            record=count,
            excluded_why=_NAMED_NOT_FOUND_WHY,
            **wording.named_adult_count_words(found=False),
            **common,
        ),
    ]
    for name in NAMED_ADULT_COUNTERS:
        c = COUNTERS[name]
        for agg in ("max", "sum"):
            specs.append(
                FeatureSpec(
                    name=f"named_adults_{name}_{agg}",
                    window=c.window,
                    aggregate=agg,
                    record=_record(c).with_(subject="named_adults"),
                    # A named adult's records may only raise risk.
                    monotone=1,
                    nature=_classify(c)["nature"],
                    **wording.named_adult_counter_words(c, agg),
                    **{**common, "agency": _agency_of(c)},
                )
            )
    return specs


NAMED_ADULT_SPECS: list[FeatureSpec] = _named_adult_specs()
NAMED_ADULT_NAMES: list[str] = [s.name for s in NAMED_ADULT_SPECS]


FEATURE_SPECS: list[FeatureSpec] = feature_specs()
FEATURE_NAMES: list[str] = [s.name for s in FEATURE_SPECS]
SPECS_BY_NAME: dict[str, FeatureSpec] = {s.name: s for s in FEATURE_SPECS}
assert {g.name for g in GROUP_MEASURES} <= set(FEATURE_NAMES), "a group measure has no spec"
assert {m.name for m in CHILD_MEASURES} <= set(FEATURE_NAMES), "a child measure has no spec"
