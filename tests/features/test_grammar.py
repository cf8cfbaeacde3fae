"""The definition grammar: every feature declared, checked at import, typed evidence.

The engines' agreement is tests/features/test_engines.py; here the grammar's
own promises: a bad declaration fails at once, the evidence source is typed
and lists what was declared, and the wording comes from one module.
"""

import dataclasses
import inspect
import json

import pytest

import features.definitions as d
from features import catalogue_json, evidence_of, wording


def test_every_feature_that_is_not_a_counter_is_declared():
    declared = {m.name for m in d.CHILD_MEASURES} | {g.name for g in d.GROUP_MEASURES}
    assert {"child_age_months", "child_days_since_last_referral"} <= declared
    assert {f"new_adults_{n}_max" for n in d.NEW_ADULT_COUNTERS} <= declared
    assert d.NEW_ADULT_COUNTERS == ["da_perpetrator_ever", "violent_offences_ever"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: d.ChildMeasure("child_height", "height"),
        lambda: d.GroupMeasure("x", "household_adults", "most"),  # no counter
        lambda: d.GroupMeasure("x", "household_adults", "count", counter="arrests_ever"),
        lambda: d.EvidenceSource("agency_event"),  # a typo of the table
        lambda: d.EvidenceSource.of(table="referrals", windows_days=91),  # a typo of a field
        lambda: d.EvidenceSource.of(table="people", counter="arrests_ever"),
    ],
)
def test_a_bad_declaration_fails_at_once(make):
    with pytest.raises(ValueError):
        make()


def test_evidence_is_typed_and_lists_what_was_declared_in_order():
    spec = d.SPECS_BY_NAME["adults_da_perpetrator_12m_max"]
    rec = spec.record
    assert isinstance(rec, d.EvidenceSource)
    assert rec.table == "agency_events" and rec.subject == "household_adults"
    assert rec.roles == ("perpetrator",) and rec.window_days == 365
    as_dict = rec.as_dict()
    assert list(as_dict)[:3] == ["table", "counter", "window_days"]
    assert list(as_dict)[-1] == "subject" and as_dict["roles"] == ["perpetrator"]
    new = d.SPECS_BY_NAME["new_adults_da_perpetrator_ever_max"].record
    assert new.subject == "new_household_adults" and new.joined_within_days == 365
    # Every spec's record is typed; the catalogue's JSON is the declared fields.
    assert all(isinstance(s.record, d.EvidenceSource) for s in d.FEATURE_SPECS)
    listed = json.loads(catalogue_json())
    assert [x["record"] for x in listed] == [s.record.as_dict() for s in d.FEATURE_SPECS]


def test_a_record_dict_is_checked_and_typed():
    spec = dataclasses.replace(
        d.SPECS_BY_NAME["child_prior_referrals_ever"],
        record={"table": "referrals", "counter": "prior_referrals_ever", "sources": []},
    )
    assert spec.record.counter == "prior_referrals_ever" and spec.record.sources == ()
    with pytest.raises(ValueError, match="unknown evidence field"):
        dataclasses.replace(spec, record={"table": "referrals", "countr": "x"})
    # Anything without a record (a reason about a field) is the referral itself.
    assert evidence_of(object()).table == "referral"


def test_the_definitions_build_no_sentences():
    """Each spec's definition, unit and absent words come from features.wording."""
    source = inspect.getsource(d._counter_specs) + inspect.getsource(d._other_specs)
    assert "definition=" not in source and "unit=" not in source and "absent=" not in source
    for name, words in wording.FIXED_WORDS.items():
        spec = d.SPECS_BY_NAME[name]
        assert (spec.definition, spec.unit, spec.absent) == (
            words["definition"],
            words["unit"],
            words["absent"],
        )
