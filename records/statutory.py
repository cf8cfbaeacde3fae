"""Statutory triggers: the law and local procedure, evaluated on every referral whatever its score.

A referral alleging physical injury or sexual abuse, an injury to a baby who
is not yet mobile, images of injury held elsewhere, a third referral about a
child in 12 months, or a referral soon after a no-further-action closure each
calls for a step that does not depend on MAST's model: a strategy discussion,
a child protection medical considered, the images requested, a manager's
review before closure.  The national review into the murders of Arthur
Labinjo-Hughes and Star Hobson found those steps skipped when a referral
looked unremarkable; a rule that fires on the referral's facts alone cannot
be argued away by a low score.

Governance owns the rules file (``records/statutory_rules.toml``).  It is
versioned, and its SHA-256 is recorded with every decision taken under it,
as the flag policy's version is logged with every model.  The conditions a
rule may name are the fixed set :data:`CONDITIONS` below, so a rules file
can re-word, re-group or re-parameterise the rules but cannot run code.

:func:`evaluate` is pure: it takes the referral's facts and each child's
earlier referrals and decisions, keeps only what was recorded strictly
before the referral was received (no hindsight), and returns the rules that
fire with their wording in plain English.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from store import vocabulary as v

DEFAULT_RULES_FILE = Path(__file__).with_name("statutory_rules.toml")
LOCAL_TIME = ZoneInfo("Europe/London")

# What a triggered rule asks for, in words a screener reads.
REQUIREMENTS = {
    "strategy_discussion": "a strategy discussion (children's social care, health and police as a minimum)",
    "cp_medical_considered": "a child protection medical considered, with the reason recorded",
    "images_requested": "the images requested",
    "images_receipt_recorded": "receipt of the images recorded",
    "manager_review_before_closure": "a manager's review before the referral is closed",
}
# Requirements that make closing the referral need a manager's recorded reason.
# Every requirement does: a strategy discussion, a medical or images cannot
# follow a closure, and a manager's review is the requirement itself.
CLOSURE_NEEDS_MANAGER = frozenset(REQUIREMENTS)

# Who may hold images of an injury (the ``images_held_by`` field).
IMAGE_HOLDERS = v.IMAGE_HOLDERS
IMAGE_HOLDER_LABELS = {
    "police": "the police",
    "health": "a health service",
    "education": "the school",
    "housing": "the housing service",
    "probation": "the probation service",
    "adult_mental_health": "an adult mental health service",
    "substance_misuse": "a substance misuse service",
    "children_social_care": "children's social care",
    "referrer": "the referrer",
    "family_member": "a family member",
    "other": "someone outside children's social care",
}
assert set(IMAGE_HOLDER_LABELS) == set(IMAGE_HOLDERS)

NO_FURTHER_ACTION = v.DECISIONS[0]


@dataclass(frozen=True)
class Parameters:
    """The thresholds the conditions use (``[parameters]`` of the rules file)."""

    non_mobile_under_months: int = 6
    repeat_referral_count: int = 3
    repeat_window_months: int = 12
    after_closure_days: int = 30

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"statutory rules: parameters.{f.name} must be a whole number of at least 1, got {value!r}"
                )
        if self.repeat_referral_count < 2:
            raise ValueError(
                "statutory rules: parameters.repeat_referral_count must be at least 2 "
                f"(this referral and an earlier one), got {self.repeat_referral_count}"
            )


@dataclass(frozen=True)
class ReferralFacts:
    """What the rules read from the referral itself.

    ``None`` means the extract or client did not say (an old extract): the
    rule that needs the field cannot fire on it, and the page must not
    present that as reassurance.
    """

    referral_id: str
    received_at: datetime
    concerns: frozenset[str] = frozenset()
    injury_alleged: bool | None = None
    images_held_by: str | None = None
    non_mobile_child: bool | None = None

    def __post_init__(self) -> None:
        unknown = set(self.concerns) - set(v.CONCERNS)
        if unknown:
            raise ValueError(f"concerns: unknown concern(s) {sorted(unknown)}")
        if self.images_held_by is not None and self.images_held_by not in IMAGE_HOLDERS:
            raise ValueError(
                f"images_held_by: {self.images_held_by!r} is not one of {', '.join(IMAGE_HOLDERS)}"
            )


@dataclass(frozen=True)
class PriorReferral:
    """An earlier referral about the child."""

    referral_id: str
    received_at: datetime


@dataclass(frozen=True)
class PriorDecision:
    """The screening decision on an earlier referral about the child."""

    referral_id: str
    decided_at: datetime
    decision: str


@dataclass(frozen=True)
class ChildHistory:
    """One child on the referral: date of birth and earlier referrals and decisions.

    The caller may pass everything it knows; :func:`evaluate` keeps only
    what was recorded strictly before the referral was received.
    """

    person_id: str
    date_of_birth: date | None = None
    referrals: tuple[PriorReferral, ...] = ()
    decisions: tuple[PriorDecision, ...] = ()


@dataclass(frozen=True)
class Rule:
    """One rule of the file."""

    id: str
    title: str
    when_any: tuple[str, ...]
    requires: tuple[str, ...]
    wording: str


@dataclass(frozen=True)
class StatutoryRules:
    """The rules file as loaded: its version and content hash go into the trail."""

    version: str
    sha256: str
    rules: tuple[Rule, ...]
    parameters: Parameters = field(default_factory=Parameters)
    description: str = ""

    def log(self) -> dict[str, str]:
        """What a decision records about the rules in force."""
        return {"version": self.version, "sha256": self.sha256}


@dataclass(frozen=True)
class Triggered:
    """A rule that fired on a referral, with what it asks for in plain English."""

    rule_id: str
    title: str
    text: str
    requires: tuple[str, ...]
    children: tuple[str, ...] = ()

    @property
    def requirements(self) -> tuple[str, ...]:
        return tuple(REQUIREMENTS[r] for r in self.requires)

    @property
    def closure_needs_manager(self) -> bool:
        return bool(CLOSURE_NEEDS_MANAGER & set(self.requires))

    def as_dict(self) -> dict:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "text": self.text,
            "requires": list(self.requires),
            "requirements": list(self.requirements),
            "children": list(self.children),
        }


# --------------------------------------------------------------------------- conditions


def local_time(moment: datetime) -> datetime:
    """Naive local time in England (the data contract's convention); an offset is converted."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(LOCAL_TIME).replace(tzinfo=None)
    return moment


def whole_months(born: date, on: date) -> int:
    """Whole calendar months completed from ``born`` to ``on``; negative before birth (unborn)."""
    months = (on.year - born.year) * 12 + (on.month - born.month)
    if on.day < born.day:
        months -= 1
    return months


def months_before(moment: datetime, months: int) -> datetime:
    """The same clock time ``months`` calendar months earlier (day clipped to the month's end)."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    day = min(moment.day, _days_in_month(year, month))
    return moment.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _infants(referral: ReferralFacts, children: Sequence[ChildHistory], p: Parameters) -> tuple:
    at = local_time(referral.received_at).date()
    return tuple(
        c.person_id
        for c in children
        if c.date_of_birth is not None
        and 0 <= whole_months(_as_date(c.date_of_birth), at) < p.non_mobile_under_months
    )


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _injury(referral: ReferralFacts) -> bool:
    return referral.injury_alleged is True or "physical_abuse" in referral.concerns


Outcome = tuple[bool, tuple[str, ...]]
Condition = Callable[[ReferralFacts, Sequence[ChildHistory], Parameters], Outcome]


def _non_mobile_infant_injury(referral, children, p) -> Outcome:
    if not _injury(referral):
        return False, ()
    infants = _infants(referral, children, p)
    return bool(infants) or referral.non_mobile_child is True, infants


def _repeat_referrals(referral, children, p) -> Outcome:
    at = local_time(referral.received_at)
    since = months_before(at, p.repeat_window_months)
    hits = []
    for child in children:
        earlier = {
            r.referral_id
            for r in child.referrals
            if r.referral_id != referral.referral_id and since <= local_time(r.received_at) < at
        }
        if len(earlier) >= p.repeat_referral_count - 1:
            hits.append(child.person_id)
    return bool(hits), tuple(hits)


def _after_nfa_closure(referral, children, p) -> Outcome:
    at = local_time(referral.received_at)
    since = at - timedelta(days=p.after_closure_days)
    hits = [
        child.person_id
        for child in children
        if any(
            d.decision == NO_FURTHER_ACTION
            and d.referral_id != referral.referral_id
            and since <= local_time(d.decided_at) < at
            for d in child.decisions
        )
    ]
    return bool(hits), tuple(hits)


def _concern(name: str) -> Condition:
    return lambda referral, children, p: (name in referral.concerns, ())


CONDITIONS: dict[str, Condition] = {
    "injury_alleged": lambda r, c, p: (r.injury_alleged is True, ()),
    **{f"concern_{name}": _concern(name) for name in v.CONCERNS},
    "non_mobile_infant_injury": _non_mobile_infant_injury,
    "images_held": lambda r, c, p: (r.images_held_by is not None, ()),
    "repeat_referrals": _repeat_referrals,
    "after_nfa_closure": _after_nfa_closure,
}


# --------------------------------------------------------------------------- loading


def _rule(raw: dict, where: str) -> Rule:
    known = {"id", "title", "when_any", "requires", "wording"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    missing = known - set(raw)
    if missing:
        raise ValueError(f"{where}: missing field(s) {sorted(missing)}")
    bad = [c for c in raw["when_any"] if c not in CONDITIONS]
    if bad or not raw["when_any"]:
        raise ValueError(
            f"{where} ({raw['id']!r}): when_any must list conditions from {sorted(CONDITIONS)}; got {bad or 'none'}"
        )
    bad = [r for r in raw["requires"] if r not in REQUIREMENTS]
    if bad or not raw["requires"]:
        raise ValueError(
            f"{where} ({raw['id']!r}): requires must list steps from {sorted(REQUIREMENTS)}; got {bad or 'none'}"
        )
    return Rule(
        id=str(raw["id"]),
        title=str(raw["title"]),
        when_any=tuple(raw["when_any"]),
        requires=tuple(raw["requires"]),
        wording=str(raw["wording"]).strip(),
    )


def parse_rules(text: str, where: str = "statutory rules") -> StatutoryRules:
    """Parse a rules file's text; every mistake is a ``ValueError`` naming the place."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{where}: not valid TOML: {err}") from err
    unknown = set(raw) - {"rules", "parameters", "rule"}
    if unknown:
        raise ValueError(f"{where}: unknown table(s) {sorted(unknown)}")
    head = raw.get("rules", {})
    version = str(head.get("version", "")).strip()
    if not version:
        raise ValueError(f"{where}: rules.version is required")
    try:
        parameters = Parameters(**raw.get("parameters", {}))
    except TypeError as err:
        raise ValueError(f"{where}: unknown parameter ({err})") from err
    rules = tuple(_rule(r, f"{where}, rule {i + 1}") for i, r in enumerate(raw.get("rule", [])))
    if not rules:
        raise ValueError(f"{where}: no [[rule]] entries")
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{where}: rule ids must be unique, got {ids}")
    return StatutoryRules(
        version=version,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        rules=rules,
        parameters=parameters,
        description=str(head.get("description", "")),
    )


def load_rules(path: str | Path | None = None) -> StatutoryRules:
    """Read the rules file (default: the one shipped beside this module)."""
    path = Path(path) if path is not None else DEFAULT_RULES_FILE
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"statutory rules file not found: {path}") from err
    return parse_rules(text, str(path))


@lru_cache(maxsize=1)
def default_rules() -> StatutoryRules:
    """The shipped rules, read once per process."""
    return load_rules()


# --------------------------------------------------------------------------- evaluation


def _children_words(ids: Iterable[str]) -> str:
    ids = list(ids)
    if not ids:
        return "a child on this referral"
    if len(ids) == 1:
        return f"child {ids[0]}"
    return "children " + ", ".join(ids[:-1]) + f" and {ids[-1]}"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ... 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _text(rule: Rule, referral: ReferralFacts, children: tuple[str, ...], p: Parameters) -> str:
    holder = IMAGE_HOLDER_LABELS.get(referral.images_held_by or "", "someone else")
    values = {
        "children": _children_words(children),
        "images_held_by": holder,
        "repeat_referral_ordinal": ordinal(p.repeat_referral_count),
        **{f.name: getattr(p, f.name) for f in fields(p)},
    }
    try:
        return rule.wording.format(**values)
    except (KeyError, IndexError, ValueError):
        return rule.wording


def evaluate(
    referral: ReferralFacts,
    children: Sequence[ChildHistory],
    rules: StatutoryRules | None = None,
) -> tuple[Triggered, ...]:
    """The rules that fire on ``referral``, in the file's order.

    Parameters
    ----------
    referral
        The referral's own facts.
    children
        Each child on the referral, with earlier referrals and decisions.
        Only those strictly before ``referral.received_at`` count, and never
        the referral itself, so passing a whole history cannot leak the future.
    rules
        The rules in force (default: :func:`default_rules`).
    """
    rules = rules or default_rules()
    p = rules.parameters
    fired = []
    for rule in rules.rules:
        hit, who = False, []
        for name in rule.when_any:
            ok, ids = CONDITIONS[name](referral, children, p)
            if ok:
                hit = True
                who += [i for i in ids if i not in who]
        if hit:
            ids = tuple(who)
            fired.append(
                Triggered(
                    rule_id=rule.id,
                    title=rule.title,
                    text=_text(rule, referral, ids, p),
                    requires=rule.requires,
                    children=ids,
                )
            )
    return tuple(fired)
