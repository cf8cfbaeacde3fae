"""Turning SHAP contributions into reasons a screener can read and check.

A reason is one feature's contribution to one child's score, described in
plain language by the feature catalogue and backed by the records that make
up the feature.  Reasons that *lower* the score are returned beside those
that raise it, so the screener sees both sides and not a one-sided case.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from features import evidence_of

# Contributions smaller than this (in log-odds) move the probability by well
# under a tenth of a percentage point: not worth a screener's attention.
MIN_CONTRIBUTION = 1e-3


def plain_value(value: Any) -> float | int | str | bool | None:
    """A feature value as a JSON scalar (numpy types and NaN made plain)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def describe(catalogue: Mapping[str, Any], feature: str, value: Any) -> str:
    """The catalogue's plain-language description of ``feature`` at ``value``."""
    entry = catalogue.get(feature)
    if entry is None:
        return f"{feature} = {plain_value(value)}"
    return str(entry.describe(value))


def rank_reasons(
    contributions,
    top: int,
    min_contribution: float = MIN_CONTRIBUTION,
    names=None,
    order: np.ndarray | None = None,
) -> tuple[list[str], list[str]]:
    """The features that raise and that lower the score most, strongest first.

    ``contributions`` is a Series indexed by feature, or an array with
    ``names`` (and, optionally, ``order``: ``names``' alphabetical order, which
    the service works out once).  Ties are broken by feature name so the same
    inputs always give the same reasons in the same order.
    """
    if names is None:
        names = list(contributions.index)
    c = np.asarray(contributions, dtype=float)
    if order is None:
        order = name_order(names)
    c_sorted = c[order]
    up = order[np.argsort(-c_sorted, kind="stable")]
    down = order[np.argsort(c_sorted, kind="stable")]
    raising = [names[i] for i in up if c[i] > min_contribution][:top]
    lowering = [names[i] for i in down if c[i] < -min_contribution][:top]
    return raising, lowering


def name_order(names) -> np.ndarray:
    """Positions of ``names`` in alphabetical order (the tie-break of :func:`rank_reasons`)."""
    return np.argsort(np.asarray(names, dtype=object), kind="stable")


@dataclass(frozen=True)
class FieldReason:
    """One categorical field of the referral, given as one reason.

    The model sees a field such as the referral's source as one 0/1 column
    per category.  Listed one by one, the columns that are 0 give reasons
    such as "not referred by the police lowers the score", which tell a
    screener little.  SHAP contributions add up, so the field's reason is the
    sum over its columns: the effect of the source being what it is.
    """

    name: str
    members: tuple[str, ...]  # the one-hot features, in catalogue order
    values: tuple[str, ...]  # the category each member stands for
    specs: tuple[Any, ...]  # each member's catalogue entry

    def value(self, row: Mapping[str, Any]) -> str | None:
        """The category set in ``row`` (feature -> value), or None if none is."""
        for member, category in zip(self.members, self.values, strict=True):
            if row[member] == 1:
                return category
        return None

    def member(self, value: str | None) -> str | None:
        """The feature standing for category ``value``."""
        return dict(zip(self.values, self.members, strict=True)).get(value)

    def describe(self, value: str | None) -> str:
        if value is None:
            return f"{self.name.replace('_', ' ')}: not recorded"
        return str(self.specs[self.values.index(value)].describe(1))


class ReasonSpace:
    """What a reason is about: one feature, or one categorical field of the referral.

    Built once per model from its feature names and the catalogue: flags of
    the referral that share one source column (``record["column"]``, e.g.
    ``source``) are one field.  Concern flags each have their own column, so
    they stay separate: a referral can raise several concerns.
    ``combine`` turns per-feature contributions into per-reason ones with
    one matrix product, so it costs nothing per request.
    """

    def __init__(self, feature_names, catalogue: Mapping[str, Any]):
        by_column: dict[str, list[str]] = {}
        for name in feature_names:
            spec = catalogue.get(name)
            record = evidence_of(spec)
            if getattr(spec, "aggregate", None) == "flag" and record.table == "referral":
                by_column.setdefault(record.column, []).append(name)
        grouped = {m: col for col, ms in by_column.items() if len(ms) > 1 for m in ms}
        names: list[str] = []
        seen: set[str] = set()
        self.fields: dict[str, FieldReason] = {}
        for name in feature_names:
            col = grouped.get(name)
            if col is None:
                names.append(name)
            elif col not in seen:
                seen.add(col)
                members = tuple(by_column[col])
                specs = tuple(catalogue[m] for m in members)
                # Named by its columns' shared prefix: referral_source_* -> referral_source.
                field_name = os.path.commonprefix(members).rsplit("_", 1)[0]
                self.fields[field_name] = FieldReason(
                    field_name, members, tuple(str(evidence_of(sp).value) for sp in specs), specs
                )
                names.append(field_name)
        self.names = names
        self.order = name_order(names)
        position = {n: j for j, n in enumerate(names)}
        position |= {m: position[f.name] for f in self.fields.values() for m in f.members}
        self.matrix = np.zeros((len(feature_names), len(names)))
        for i, name in enumerate(feature_names):
            self.matrix[i, position[name]] = 1.0
        self.describers = {**catalogue, **self.fields}

    def combine(self, contributions: np.ndarray) -> np.ndarray:
        """Per-reason contributions from per-feature ones (rows are children)."""
        return np.asarray(contributions, dtype=float) @ self.matrix

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Each reason's value: the feature's, or the field's category."""
        out = {n: row[n] for n in self.names if n not in self.fields}
        out |= {name: f.value(row) for name, f in self.fields.items()}
        return out

    def evidence_feature(self, reason: str, values: Mapping[str, Any]) -> str | None:
        """The feature whose records back ``reason`` (a field: its set member)."""
        field = self.fields.get(reason)
        return reason if field is None else field.member(values[reason])


def build_reasons(
    features: list[str],
    contributions: Mapping[str, float],
    values: Mapping[str, Any],
    catalogue: Mapping[str, Any],
    records_for: Callable[[str], tuple[list[dict], int] | None],
    max_records: int,
) -> list[dict]:
    """One reason per feature, in the order given, each with its records.

    ``records_for`` gives the first ``max_records`` records and how many
    there are in all; ``None`` means the records were not asked for, and
    ``records_total`` is then ``None`` rather than a misleading 0.
    """
    reasons = []
    for feature in features:
        c = float(contributions[feature])
        found = records_for(feature)
        records, total = (None, None) if found is None else found
        reasons.append(
            {
                "feature": feature,
                "text": describe(catalogue, feature, values[feature]),
                "direction": "raises" if c > 0 else "lowers",
                "contribution": c,
                "value": plain_value(values[feature]),
                "records": [] if records is None else records[:max_records],
                "records_total": total,
            }
        )
    return reasons


# ---------------------------------------------------------------------------
# Which reasons a person sees (issue #14): never blame the referrer, never read
# silence as safety.
# ---------------------------------------------------------------------------
def is_silent(value: Any) -> bool:
    """A value that records nothing: missing, zero, false, or a field not recorded."""
    if value is None or isinstance(value, str):
        return value is None
    v = float(value)
    return v != v or v == 0


def _is_record_count(spec: Any) -> bool:
    """A count of records (events, referrals): a low value is an absence of records."""
    return (
        getattr(spec, "aggregate", None) in ("value", "max", "sum")
        and not getattr(spec, "reads_as", "")
        and evidence_of(spec).table in ("agency_events", "referrals")
    )


def may_lower(spec: Any) -> bool:
    """Whether a reason about ``spec`` may be shown as *lowering* the score.

    Never who referred (this referral's source or referrer, earlier
    referrals by source), never what a front door or social care decided
    (an earlier closure is not evidence of safety), never anything about
    the adults a referrer named (found or not, or their records), and never
    a count of records: a low count is the absence of records, which goes
    in the "not found" list instead.
    """
    if isinstance(spec, FieldReason):
        return not any(getattr(s, "about_referrer", False) for s in spec.specs)
    if spec is None or getattr(spec, "about_referrer", False):
        return False
    if evidence_of(spec).subject == "named_adults":
        # Whether MAST found a named adult, or found few records of theirs, is
        # no evidence of safety (serving.named_reasons words it as unknown).
        return False
    if getattr(spec, "nature", "what happened") != "what happened":
        return False
    return not _is_record_count(spec)


def choose_reasons(
    space: ReasonSpace,
    contributions,
    values: Mapping[str, Any],
    top: int,
    min_contribution: float = MIN_CONTRIBUTION,
) -> tuple[list[str], list[str]]:
    """:func:`rank_reasons`, keeping only reasons a person may be shown.

    A reason's value must record something (never 0, false or "not
    raised"), and a lowering reason must pass :func:`may_lower`.
    """
    raising, lowering = rank_reasons(
        contributions, len(space.names), min_contribution, names=space.names, order=space.order
    )
    d = space.describers
    raising = [r for r in raising if not is_silent(values[r])]
    lowering = [r for r in lowering if not is_silent(values[r]) and may_lower(d.get(r))]
    return _distinct(raising, d, values)[:top], _distinct(lowering, d, values)[:top]


def _distinct(reasons: list[str], describers, values) -> list[str]:
    """The reasons whose words differ (the youngest and oldest parent can read the same)."""
    seen: set[str] = set()
    out = []
    for r in reasons:
        spec = describers.get(r)
        text = spec.describe(values[r]) if spec is not None else r
        if text not in seen:
            seen.add(text)
            out.append(r)
    return out


# Records each table's absence stands for, in the agencies' own words.
AGENCY_WORDS = {
    "police": "police",
    "health": "health",
    "education": "school",
    "housing": "housing",
    "children_social_care": "children's social care",
    "probation": "probation",
    "adult_mental_health": "adult mental-health",
    "substance_misuse": "substance-misuse",
}


def records_held_to(con) -> dict[str, Any]:
    """The last date MAST holds records for, per agency (and referrals, for social care).

    Read once when the service starts: an absence is only an absence up to here.
    """
    rows = con.execute(
        "SELECT agency, max(recorded_at) FROM agency_events GROUP BY agency"
    ).fetchall()
    out = {str(a): t for a, t in rows if t is not None}
    last_ref = con.execute("SELECT max(received_at) FROM referrals").fetchone()[0]
    if last_ref is not None:
        csc = out.get("children_social_care")
        out["children_social_care"] = last_ref if csc is None else max(csc, last_ref)
    return out


def _uk_date(value: Any) -> str:
    import pandas as pd

    t = pd.Timestamp(value)
    return f"{t.day} {t.strftime('%B %Y')}"


def _whom(spec: Any, values: Mapping[str, Any]) -> str:
    subject = evidence_of(spec).subject
    if subject == "new_household_adults":
        ago = values.get("household_days_since_adult_joined")
        if ago is not None and not (isinstance(ago, float) and ago != ago):
            from features import ago_words

            return f"for the adult who joined the household {ago_words(float(ago))}"
        return "for any adult who joined the household in the last 12 months"
    return {
        "child": "for the child",
        "household_adults": "for any adult in the household",
        "siblings": "for the child's siblings",
        "named_adults": "for the adults the referrer named",
    }.get(subject, "")


def _agencies(spec: Any) -> list[str]:
    record = evidence_of(spec)
    if record.table == "referrals":
        return ["children_social_care"]
    return list(record.agencies)


def _absence(spec: Any, values: Mapping[str, Any]) -> tuple[str, str, str]:
    """(what, whom, window) of a record count, e.g. ("referrals", "for the child", "ever")."""
    from features import counted_what

    what, window = counted_what(spec)
    return what, _whom(spec, values), window


def not_found_text(spec: Any, values: Mapping[str, Any], held_to: Mapping[str, Any]) -> str:
    """One absence, worded as unknown, e.g. "No police domestic-abuse incidents ... found ..."."""
    from features import WINDOW_WORDS

    what, whom, window = _absence(spec, values)
    when = WINDOW_WORDS.get(window, "")
    text = f"No {what} ever found {whom}" if window == "ever" else f"No {what} {when} found {whom}"
    held = [
        f"{AGENCY_WORDS.get(a, a.replace('_', ' '))} records to {_uk_date(held_to[a])}"
        for a in _agencies(spec)
        if a in held_to
    ]
    tail = f"; MAST holds {', '.join(held)}" if held else ""
    return f"{' '.join(text.split())}{tail}. Not known: this is not evidence of safety."


_WIDTH = {"3m": 1, "6m": 2, "12m": 3, "24m": 4, "ever": 5}


def not_found(
    space: ReasonSpace,
    contributions,
    values: Mapping[str, Any],
    held_to: Mapping[str, Any],
    top: int,
    min_contribution: float = MIN_CONTRIBUTION,
) -> list[dict]:
    """What the records MAST holds do not show, as unknowns, never as reassurance.

    The record counts that are zero and that the model read as lowering the
    score (the silences it would otherwise have offered as reasons), the
    strongest first.  One line per thing looked for: "none ever" stands for
    "none in the last 3 months" too, and an adults' count "most for any one"
    reads as "all together".  Never about who referred.
    """
    c = np.asarray(contributions, dtype=float)
    d = space.describers
    chosen: dict[tuple[str, str], tuple[str, Any]] = {}
    for j in np.argsort(c, kind="stable"):
        name = space.names[j]
        if c[j] >= -min_contribution:
            break
        spec = d.get(name)
        if isinstance(spec, FieldReason) or not _is_record_count(spec):
            continue
        if getattr(spec, "about_referrer", False) or not is_silent(values[name]):
            continue
        what, whom, window = _absence(spec, values)
        key = (what, whom)
        if key not in chosen or _WIDTH.get(window, 0) > _WIDTH.get(
            _absence(chosen[key][1], values)[2], 0
        ):
            chosen[key] = (name, spec)
    out = [
        {"feature": name, "text": not_found_text(spec, values, held_to)}
        for name, spec in chosen.values()
    ]
    return out[:top]


# The store's codes as a person reads them (reasons' records, the page).
CODE_WORDS = {
    # agencies (some are also referral sources: who_referred words those)
    "police": "police",
    "health": "health",
    "housing": "housing",
    "probation": "probation",
    "children_social_care": "children's social care",
    "adult_mental_health": "adult mental health",
    "substance_misuse": "substance-misuse service",
    "education": "school",
    # events
    "domestic_incident": "domestic-abuse incident",
    "violent_offence": "violent offence",
    "other_offence": "other offence",
    "restraining_order": "restraining order",
    "missing_episode": "missing-person episode",
    "ed_attendance": "emergency-department attendance",
    "missed_appointment": "missed health appointment",
    "service_declined": "service declined",
    "school_absence": "school absence",
    "address_move": "change of address",
    "homelessness_application": "homelessness application",
    "supervision_start": "probation supervision started",
    "supervision_end": "probation supervision ended",
    "mh_contact": "mental-health contact",
    "mh_crisis": "mental-health crisis",
    "treatment_start": "substance-misuse treatment started",
    "treatment_end": "substance-misuse treatment ended",
    "early_help_start": "early help started",
    "section47_enquiry": "child protection enquiry (section 47)",
    "initial_child_protection_conference": "initial child protection conference",
    "cp_plan_start": "child protection plan started",
    "cp_plan_end": "child protection plan ended",
    "looked_after_start": "started being looked after",
    "looked_after_end": "stopped being looked after",
    "serious_incident": "serious incident",
    # decisions and closure reasons
    "no_further_action": "no further action",
    "early_help": "early help",
    "strategy_discussion": "strategy discussion (multi-agency review)",
    "no_concerns_substantiated": "no concerns substantiated",
    "family_declined_support": "the family declined support",
    # sources and referrers not in features.definitions' labels
    "friend_or_neighbour": "a friend or neighbour",
    "la_service": "a local authority service",
}


def plain(code: Any) -> str:
    """A store code in words: ``ed_attendance`` -> "emergency-department attendance".

    Who referred reads as in the catalogue ("a family member", "the child's
    grandparent"); anything else unknown loses its underscores.
    """
    from features import REFERRER_LABELS, SOURCE_LABELS

    if code is None:
        return ""
    text = str(code)
    if text.startswith("referral from "):  # an earlier referral, as evidence names it
        return "referral from " + who_referred(text.removeprefix("referral from "))
    if text in CODE_WORDS:
        return CODE_WORDS[text]
    if text in SOURCE_LABELS:
        return SOURCE_LABELS[text]
    if text in REFERRER_LABELS and text != "unknown":
        return REFERRER_LABELS[text]
    return text.replace("_", " ")


_CODE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def plain_text(text: Any) -> str:
    """Free text with every store code in it in words (an evidence record's detail).

    ``"referral R0, decision: no_further_action"`` -> ``"referral R0,
    decision: no further action"``: each ``snake_case`` code through :func:`plain`.
    """
    if text is None:
        return ""
    return _CODE.sub(lambda m: plain(m.group(0)), str(text))


def who_referred(code: Any) -> str:
    """A referral's source or referrer as the catalogue says it ("the police", "a family member")."""
    from features import REFERRER_LABELS, SOURCE_LABELS

    text = "" if code is None else str(code)
    return SOURCE_LABELS.get(text) or REFERRER_LABELS.get(text) or plain(text)
