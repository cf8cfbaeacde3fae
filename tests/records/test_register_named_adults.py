"""Named adults in the referral register's content: a set, and absent from older versions."""

from __future__ import annotations

from records import register as reg

JAY = {"name": "Jay Smith", "relationship": "mothers_new_partner", "lives_at_address": "no"}
SAM = {"name": "Sam Lee", "relationship": "visitor", "date_of_birth": "1990-01-02"}


def _content(adults):
    return reg.referral_content(
        "2026-10-01T10:00:00", "school", "teacher", ["neglect"], ["C1"], adults
    )


def test_named_adults_are_a_set_with_every_field_spelt_out():
    a, b = _content([JAY, SAM]), _content([SAM, JAY])
    assert a == b
    assert not reg.differing_fields(a, b)
    (jay,) = [x for x in a["named_adults"] if x["name"] == "Jay Smith"]
    assert jay["date_of_birth"] is None and jay["postcode"] is None


def test_other_adults_differ_and_are_named_in_words():
    known, new = _content([JAY]), _content([SAM])
    assert reg.differing_fields(known, new) == ["named_adults"]
    message = reg.content_conflict("R9", 1, known, new).message
    assert (
        "adults named by the referrer: recorded Jay Smith (mother's new partner), sent Sam Lee (visitor)"
        in message
    )


def test_a_version_recorded_before_named_adults_existed_reads_as_none_named():
    old = {k: x for k, x in _content([]).items() if k != "named_adults"}
    assert not reg.differing_fields(old, _content([]))
    assert reg.differing_fields(old, _content([JAY])) == ["named_adults"]
    assert reg.latest([], old)[1]["named_adults"] == []
