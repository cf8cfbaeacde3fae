"""Reasons about named adults say whom they are about and how sure the match is (issue #20, item 5)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

from features import definitions as d
from serving.named_reasons import adult_words, label_named_reasons
from serving.reasons import ReasonSpace, choose_reasons, may_lower, not_found_text

JAY = {
    "name": "Jay Smith",
    "relationship": "mother's new partner",
    "lives_at_address": "no",
    "status": "found",
    "text": "...",
    "match_probability": 0.9712,
    "person_key": "P7",
    "records_total": 3,
}
ANN = {
    "name": "Ann Jones",
    "relationship": "visitor",
    "lives_at_address": "not known",
    "status": "not_found",
    "text": "...",
}
KIM = {**ANN, "name": "Kim Lee", "status": "possible"}
SUM = "named_adults_da_perpetrator_12m_sum"


def _child(reasons_for=(), reasons_against=(), not_found=()):
    return {
        "person_id": "C1",
        "reasons_for": list(reasons_for),
        "reasons_against": list(reasons_against),
        "not_found": list(not_found),
    }


def _reason(feature: str, value=2, direction="raises"):
    spec = d.SPECS_BY_NAME[feature]
    return {
        "feature": feature,
        "text": spec.describe(value),
        "direction": direction,
        "value": value,
    }


def test_the_issue_s_example_words():
    assert adult_words(JAY) == (
        "Jay Smith, named by the referrer as the mother's new partner, matched to records "
        "with probability 97%"
    )
    assert adult_words(ANN) == (
        "Ann Jones, named by the referrer as a visitor, not found in the records MAST holds"
    )
    # A possible match below the threshold is not the adult: not found, never its records.
    assert adult_words(KIM).endswith("not found in the records MAST holds")
    assert "not searched" in adult_words({**ANN, "status": "not_searched"})


def test_a_named_adult_reason_is_labelled_and_others_are_untouched():
    other = {"feature": "child_referrals_ever", "text": "3 referrals", "direction": "raises"}
    [child] = label_named_reasons([_child([_reason(SUM), other])], [JAY, ANN])
    labelled, untouched = child["reasons_for"]
    assert untouched == other
    assert labelled["text"].startswith(d.SPECS_BY_NAME[SUM].describe(2))
    assert (
        "counted from the records of Jay Smith, named by the referrer as the mother's new "
        "partner, matched to records with probability 97%" in labelled["text"]
    )
    # The adult not found is named as such, never as having no history.
    assert (
        "Not counted: Ann Jones, named by the referrer as a visitor, not found in the "
        "records MAST holds" in labelled["text"]
    )
    assert "no history" not in labelled["text"].lower()


def test_only_adults_with_records_are_said_to_be_counted():
    quiet = {**JAY, "name": "Sam Roe", "records_total": 0, "match_probability": 0.95}
    [child] = label_named_reasons([_child([_reason(SUM)])], [JAY, quiet])
    text = child["reasons_for"][0]["text"]
    assert "Jay Smith" in text and "Sam Roe" not in text
    [child] = label_named_reasons([_child([_reason(d.NAMED_FOUND, 2)])], [JAY, quiet])
    text = child["reasons_for"][0]["text"]
    assert "Jay Smith" in text and "Sam Roe" in text and "95%" in text


def test_an_absence_about_named_adults_is_never_reassurance():
    spec = d.SPECS_BY_NAME[SUM]
    held = {"police": datetime(2026, 5, 1)}
    entry = {"feature": SUM, "text": not_found_text(spec, {}, held)}
    assert "for the adults the referrer named" in entry["text"]
    second = {**entry, "feature": "named_adults_arrests_ever_sum"}
    [child] = label_named_reasons([_child(not_found=[entry, second])], [ANN, KIM])
    # Nobody found: one line for every such count, naming each adult as not found.
    assert len(child["not_found"]) == 1
    text = child["not_found"][0]["text"]
    assert (
        "Ann Jones" in text and "Kim Lee" in text and "not found in the records MAST holds" in text
    )
    assert text.endswith("Not known: this is not evidence of safety.")
    [child] = label_named_reasons([_child(not_found=[entry])], [JAY, ANN])
    text = child["not_found"][0]["text"]
    assert "found for Jay Smith, named by the referrer" in text and "97%" in text
    assert "MAST holds police records to 1 May 2026" in text and "Ann Jones" in text
    assert text.count("Not known") == 1
    assert spec.subject == "named_adults"


def test_no_adults_named_changes_nothing():
    children = [_child([_reason(SUM)])]
    assert label_named_reasons(children, []) is children


def test_reasons_about_named_adults_never_lower_the_score():
    """Found or not, a named adult's few records never read as making the child safer."""
    for spec in d.NAMED_ADULT_SPECS:
        assert not may_lower(spec), spec.name
    names = ["child_referrals_ever", d.NAMED_FOUND, SUM]
    space = ReasonSpace(names, d.SPECS_BY_NAME)
    values = {"child_referrals_ever": 1.0, d.NAMED_FOUND: 1.0, SUM: 2.0}
    raising, lowering = choose_reasons(space, np.array([0.0, -0.5, -0.4]), values, top=5)
    assert raising == [] and lowering == []
    assert not math.isnan(values[SUM])
