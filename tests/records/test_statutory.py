"""Statutory triggers: each fires on the facts that should fire it, and only those.

The table below changes one fact at a time from a referral that fires
nothing; the property test compares :func:`records.statutory.evaluate` with
a reference written independently (pandas offsets and dateutil for the
calendar arithmetic, plain set logic for the rules).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from records import statutory as s
from store import vocabulary as v

AT = datetime(2025, 3, 31, 10, 0)
OLD = date(2019, 6, 1)  # five years old at AT: mobile


def referral(**changes) -> s.ReferralFacts:
    base = s.ReferralFacts(referral_id="R-NOW", received_at=AT, concerns=frozenset({"neglect"}))
    return replace(base, **changes)


def child(dob=OLD, referrals=(), decisions=(), pid="P1") -> s.ChildHistory:
    return s.ChildHistory(
        person_id=pid,
        date_of_birth=dob,
        referrals=tuple(s.PriorReferral(f"R{i}", t) for i, t in enumerate(referrals)),
        decisions=tuple(decisions),
    )


def nfa(at, referral_id="R0", decision="no_further_action"):
    return s.PriorDecision(referral_id, at, decision)


def fired(ref, children) -> set[str]:
    return {t.rule_id for t in s.evaluate(ref, children)}


INJURY = {"physical_injury"}
INFANT = {"physical_injury", "non_mobile_infant_injury"}
DAY = timedelta(days=1)

TABLE = [
    ("nothing", referral(), [child()], set()),
    ("injury alleged", referral(injury_alleged=True), [child()], INJURY),
    ("injury explicitly not alleged", referral(injury_alleged=False), [child()], set()),
    ("injury not said (old extract)", referral(injury_alleged=None), [child()], set()),
    (
        "physical abuse concern",
        referral(concerns=frozenset({"physical_abuse"})),
        [child()],
        INJURY,
    ),
    (
        "sexual abuse concern",
        referral(concerns=frozenset({"sexual_abuse"})),
        [child()],
        {"sexual_abuse"},
    ),
    *[
        (f"{c} concern alone", referral(concerns=frozenset({c})), [child()], set())
        for c in v.CONCERNS
        if c not in ("physical_abuse", "sexual_abuse")
    ],
    ("baby, no injury", referral(), [child(dob=date(2025, 1, 1))], set()),
    (
        "baby 5 months, injury",
        referral(injury_alleged=True),
        [child(dob=date(2024, 11, 1))],
        INFANT,
    ),
    (
        "baby a day short of 6 months, injury",
        referral(injury_alleged=True),
        [child(dob=date(2024, 10, 1))],
        INFANT,
    ),
    (
        "baby exactly 6 months, injury",
        referral(injury_alleged=True),
        [child(dob=date(2024, 9, 30))],
        INJURY,
    ),
    (
        "baby, physical abuse concern",
        referral(concerns=frozenset({"physical_abuse"})),
        [child(dob=date(2025, 2, 1))],
        INFANT,
    ),
    ("unborn child, injury", referral(injury_alleged=True), [child(dob=date(2025, 5, 1))], INJURY),
    (
        "born the day after the referral, injury",
        referral(injury_alleged=True),
        [child(dob=date(2025, 4, 1))],
        INJURY,
    ),
    ("no date of birth, injury", referral(injury_alleged=True), [child(dob=None)], INJURY),
    (
        "said to be non-mobile, injury",
        referral(injury_alleged=True, non_mobile_child=True),
        [child()],
        INFANT,
    ),
    ("said to be non-mobile, no injury", referral(non_mobile_child=True), [child()], set()),
    *[
        (f"images held by {h}", referral(images_held_by=h), [child()], {"images_of_injury"})
        for h in s.IMAGE_HOLDERS
    ],
    ("one earlier referral", referral(), [child(referrals=[AT - 30 * DAY])], set()),
    (
        "two earlier referrals in 12 months",
        referral(),
        [child(referrals=[AT - 30 * DAY, AT - 300 * DAY])],
        {"repeat_referral"},
    ),
    (
        "two earlier, one exactly 12 months before",
        referral(),
        [child(referrals=[AT - 30 * DAY, datetime(2024, 3, 31, 10, 0)])],
        {"repeat_referral"},
    ),
    (
        "two earlier, one 12 months and a minute before",
        referral(),
        [child(referrals=[AT - 30 * DAY, datetime(2024, 3, 31, 9, 59)])],
        set(),
    ),
    (
        "two others, one received after this referral",
        referral(),
        [child(referrals=[AT - 30 * DAY, AT + DAY])],
        set(),
    ),
    (
        "two others, one received at the same moment",
        referral(),
        [child(referrals=[AT - 30 * DAY, AT])],
        set(),
    ),
    (
        "earlier referrals split between two children",
        referral(),
        [child(referrals=[AT - 30 * DAY]), child(referrals=[AT - 40 * DAY], pid="P2")],
        set(),
    ),
    (
        "NFA closure 29 days before",
        referral(),
        [child(decisions=[nfa(AT - 29 * DAY)])],
        {"after_nfa_closure"},
    ),
    (
        "NFA closure exactly 30 days before",
        referral(),
        [child(decisions=[nfa(AT - 30 * DAY)])],
        {"after_nfa_closure"},
    ),
    ("NFA closure 31 days before", referral(), [child(decisions=[nfa(AT - 31 * DAY)])], set()),
    ("NFA closure after the referral", referral(), [child(decisions=[nfa(AT + DAY)])], set()),
    (
        "early help 10 days before",
        referral(),
        [child(decisions=[nfa(AT - 10 * DAY, decision="early_help")])],
        set(),
    ),
    (
        "NFA on this very referral",
        referral(),
        [child(decisions=[nfa(AT - DAY, referral_id="R-NOW")])],
        set(),
    ),
]


@pytest.mark.parametrize(
    ("ref", "children", "expected"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE]
)
def test_each_trigger_fires_on_its_facts_and_only_those(ref, children, expected):
    assert fired(ref, children) == expected


def test_every_rule_is_exercised_by_the_table():
    covered = set().union(*(t[3] for t in TABLE))
    assert covered == {r.id for r in s.default_rules().rules}


def test_an_offset_time_is_read_as_england_local_time():
    # 09:30 UTC on 1 July 2025 is 10:30 in London, so the window opens at 10:30 local a year before.
    ref = referral(received_at=datetime(2025, 7, 1, 9, 30, tzinfo=UTC))
    recent = datetime(2025, 6, 1)
    assert fired(ref, [child(referrals=[recent, datetime(2024, 7, 1, 10, 30)])]) == {
        "repeat_referral"
    }
    # Read as UTC, 10:00 local would fall inside the window; in local time it is outside.
    assert fired(ref, [child(referrals=[recent, datetime(2024, 7, 1, 10, 0)])]) == set()


def test_wording_is_plain_english_naming_the_children():
    ref = referral(injury_alleged=True, images_held_by="referrer")
    children = [
        child(dob=date(2025, 1, 10), referrals=[AT - 5 * DAY, AT - 9 * DAY]),
        child(pid="P2", referrals=[AT - 6 * DAY, AT - 7 * DAY]),
    ]
    by_id = {t.rule_id: t for t in s.evaluate(ref, children)}
    assert by_id["images_of_injury"].text.startswith(
        "Photographs or other images of the injury are held by the referrer."
    )
    repeat = by_id["repeat_referral"]
    assert repeat.children == ("P1", "P2")
    assert "at least the 3rd referral about children P1 and P2 within 12 months" in repeat.text
    assert by_id["non_mobile_infant_injury"].children == ("P1",)
    for t in by_id.values():
        assert "{" not in t.text and "_" not in t.text
        assert all("_" not in r for r in t.requirements)
        assert t.as_dict()["requirements"]


def test_rules_file_is_versioned_and_hashed(tmp_path):
    rules = s.default_rules()
    assert rules.version == "2026-12-statutory-1"
    text = s.DEFAULT_RULES_FILE.read_text()
    changed = tmp_path / "rules.toml"
    changed.write_text(text.replace("after_closure_days = 30", "after_closure_days = 28"))
    other = s.load_rules(changed)
    assert other.sha256 != rules.sha256 and len(other.sha256) == 64
    assert other.parameters.after_closure_days == 28
    assert rules.log() == {"version": rules.version, "sha256": rules.sha256}
    # The closure window follows the file.
    history = [child(decisions=[nfa(AT - 29 * DAY)])]
    assert {t.rule_id for t in s.evaluate(referral(), history, other)} == set()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('version = "2026-12-statutory-1"', 'version = ""'),
            "rules.version is required",
        ),
        (lambda t: t.replace('"images_held"]', '"images_hold"]'), "when_any must list conditions"),
        (
            lambda t: t.replace('requires = ["images_requested", ', 'requires = ["photos", '),
            "requires must list steps",
        ),
        (
            lambda t: t.replace("after_closure_days = 30", "after_closure_days = 0"),
            "after_closure_days",
        ),
        (
            lambda t: t.replace("after_closure_days = 30", "after_closure_days = 30\nweeks = 2"),
            "unknown parameter",
        ),
        (lambda t: t.replace('id = "sexual_abuse"', 'id = "physical_injury"'), "unique"),
        (
            lambda t: t.replace('title = "Allegation of sexual abuse"', 'tilte = "x"'),
            "unknown field",
        ),
        (lambda t: t + "\n[extra]\n", "unknown table"),
        (lambda t: t + "\n[[rule\n", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_is_refused_with_the_place_named(edit, message):
    with pytest.raises(ValueError, match=message):
        s.parse_rules(edit(s.DEFAULT_RULES_FILE.read_text()))


def test_bad_facts_are_refused():
    with pytest.raises(ValueError, match="images_held_by"):
        referral(images_held_by="grandmother's phone")
    with pytest.raises(ValueError, match="concerns"):
        referral(concerns=frozenset({"bruising"}))


# --------------------------------------------------------------------------- reference


def reference(ref: s.ReferralFacts, children: list[s.ChildHistory]) -> dict[str, set[str]]:
    """Rule id -> children named, computed with pandas and dateutil, from the rules' words."""
    at = pd.Timestamp(ref.received_at)
    injury = ref.injury_alleged is True or "physical_abuse" in ref.concerns
    out: dict[str, set[str]] = {}
    if injury:
        out["physical_injury"] = set()
    if "sexual_abuse" in ref.concerns:
        out["sexual_abuse"] = set()
    babies = set()
    for c in children:
        if c.date_of_birth is None or c.date_of_birth > at.date():
            continue
        age = relativedelta(at.date(), c.date_of_birth)
        if age.years * 12 + age.months < 6:
            babies.add(c.person_id)
    if injury and (babies or ref.non_mobile_child is True):
        out["non_mobile_infant_injury"] = babies
    if ref.images_held_by is not None:
        out["images_of_injury"] = set()
    repeat = set()
    for c in children:
        frame = pd.DataFrame(
            [(r.referral_id, r.received_at) for r in c.referrals], columns=["id", "at"]
        )
        frame = frame[frame["id"] != ref.referral_id]
        window = frame[(frame["at"] >= at - pd.DateOffset(months=12)) & (frame["at"] < at)]
        if window["id"].nunique() >= 2:
            repeat.add(c.person_id)
    if repeat:
        out["repeat_referral"] = repeat
    closed = {
        c.person_id
        for c in children
        for d in c.decisions
        if d.decision == "no_further_action"
        and d.referral_id != ref.referral_id
        and at - pd.Timedelta(days=30) <= pd.Timestamp(d.decided_at) < at
    }
    if closed:
        out["after_nfa_closure"] = closed
    return out


_moments = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2025, 12, 31))
_ids = st.sampled_from(["R-NOW", "R1", "R2", "R3", "R4"])


@st.composite
def _child(draw, pid):
    return s.ChildHistory(
        person_id=pid,
        date_of_birth=draw(st.none() | st.dates(date(2023, 1, 1), date(2025, 12, 31))),
        referrals=tuple(
            s.PriorReferral(i, t) for i, t in draw(st.lists(st.tuples(_ids, _moments), max_size=5))
        ),
        decisions=tuple(
            s.PriorDecision(i, t, d)
            for i, t, d in draw(
                st.lists(st.tuples(_ids, _moments, st.sampled_from(v.DECISIONS)), max_size=3)
            )
        ),
    )


@st.composite
def _case(draw):
    ref = s.ReferralFacts(
        referral_id="R-NOW",
        received_at=draw(_moments),
        concerns=frozenset(draw(st.sets(st.sampled_from(v.CONCERNS), min_size=1, max_size=3))),
        injury_alleged=draw(st.none() | st.booleans()),
        images_held_by=draw(st.none() | st.sampled_from(s.IMAGE_HOLDERS)),
        non_mobile_child=draw(st.none() | st.booleans()),
    )
    n = draw(st.integers(1, 3))
    return ref, [draw(_child(f"P{i}")) for i in range(n)]


@settings(max_examples=400, deadline=None)
@given(_case())
def test_evaluate_matches_the_reference(case):
    ref, children = case
    got = {t.rule_id: set(t.children) for t in s.evaluate(ref, children)}
    assert got == reference(ref, children)
