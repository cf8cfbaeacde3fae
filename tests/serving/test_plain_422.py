"""Every POST and PUT endpoint answers a bad body in plain English, over HTTP as a client sends it.

Each 422 error names its field in words (with its place in a list: "the
second named adult's date of birth") and keeps ``loc`` and a dotted
``field`` path for programs; pydantic's own phrases never reach the reader.
"""

from __future__ import annotations

import itertools
import re

import pytest
from fastapi.testclient import TestClient

from serving.errors import field_path, field_words, sentence

PYDANTIC = re.compile(
    r"Field required|Input should|value_error|Value error|type=|pydantic|Extra inputs|"
    r"validation error|literal_error|string_type|missing_argument|model_attributes_type|"
    r"Assertion failed|errors\.pydantic\.dev|JSON decode|Expecting value"
)
REFERRAL = {
    "received_at": "2026-10-01T10:00:00",
    "source": "police",
    "referrer_relationship": "police_officer",
    "concerns": ["domestic_abuse"],
    "children": ["C1", "C2"],
}
ADULT = {"name": "Jay Smith", "relationship": "visitor", "lives_at_address": "no"}
_ids = itertools.count()


def _endpoints(app) -> list[tuple[str, str, dict]]:
    """(method, path, body schema) of every JSON endpoint that takes a body."""
    spec = app.openapi()
    found = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            content = op.get("requestBody", {}).get("content", {})
            if method in ("post", "put", "patch") and "application/json" in content:
                ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                found.append((method, path, spec["components"]["schemas"][ref]))
    return found


def _bad_bodies(schema: dict) -> dict[str, object]:
    """Real mistakes: nothing sent, a list, an unknown field, every field of the wrong type."""
    props = schema.get("properties", {})
    return {
        "empty object": {},
        "a list": [],
        "an unknown field": {"zzz_unknown": 1},
        "every field an object": {name: {"x": 1} for name in props},
        "every field a list of numbers": {name: [1, 2] for name in props},
    }


def _send(app, tokens, method: str, path: str, **kwargs):
    """The request as each role in turn, until one may call it (so the body is checked)."""
    url = re.sub(r"\{[^}]+\}", "R-plain-1", path)
    for role in tokens:
        with TestClient(app, headers={"Authorization": f"Bearer {tokens[role]}"}) as c:
            r = c.request(method.upper(), url, **kwargs)
        if r.status_code not in (401, 403):
            return r
    raise AssertionError(f"no role may call {method} {path}")


def _check_plain(r) -> list[dict]:
    assert r.status_code == 422, r.text
    assert not PYDANTIC.search(r.text), (PYDANTIC.search(r.text), r.text)
    body = r.json()
    assert body["message"] and body["detail"], body
    for error in body["detail"]:
        assert set(error) == {"loc", "field", "msg", "input"}, error
        assert isinstance(error["field"], str) and error["field"], error
        assert error["msg"][:1].isupper() and error["msg"].endswith("."), error
        # The field is said in words, not by its code (allowed values are codes a client sends).
        names = [p for p in error["loc"] if isinstance(p, str) and "_" in p and p != "zzz_unknown"]
        if error["loc"][:1] in (["query"], ["path"]):
            names = []  # a parameter in the address is named as it is typed, beside its words
        said = error["msg"].split(" one of: ")[0]
        assert not any(re.search(rf"\b{n}\b", said) for n in names), error
    return body["detail"]


def test_every_json_endpoint_answers_each_bad_body_in_words(app, tokens):
    endpoints = _endpoints(app)
    assert len(endpoints) >= 10, [p for _, p, _ in endpoints]
    for method, path, schema in endpoints:
        for what, bad in _bad_bodies(schema).items():
            r = _send(app, tokens, method, path, json=bad)
            detail = _check_plain(r)
            if what == "empty object":
                required = set(schema.get("required", ()))
                missing = {
                    e["field"] for e in detail if e["msg"].endswith("is missing: it is required.")
                }
                assert required <= missing, (path, required, missing)
            if what == "an unknown field":
                assert any(
                    e["field"] == "zzz_unknown" and "not a field this request takes" in e["msg"]
                    for e in detail
                ), (path, detail)


def test_a_body_that_is_not_json_is_said_so(app, tokens):
    for method, path, _ in _endpoints(app):
        r = _send(
            app,
            tokens,
            method,
            path,
            content=b'{"referral_id": ',
            headers={"Content-Type": "application/json"},
        )
        detail = _check_plain(r)
        assert detail[0]["field"] == "body"
        assert detail[0]["msg"].startswith("The request body is not valid JSON"), detail


def _score(client, **changes):
    return client.post(
        "/v1/referrals/score", json={**REFERRAL, "referral_id": f"P{next(_ids)}", **changes}
    )


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (
            {"named_adults": [ADULT, {**ADULT, "name": "Dan", "date_of_birth": "14/02/1985"}]},
            "named_adults[1].date_of_birth",
            "The second named adult (Dan): date of birth '14/02/1985' is not a date",
        ),
        (
            {"named_adults": [ADULT, {**ADULT, "date_of_birth": "1850-01-01"}]},
            "named_adults[1].date_of_birth",
            "The second named adult's date of birth: 1850-01-01 is outside 1900 to 2100.",
        ),
        (
            {"named_adults": [ADULT, ADULT, {**ADULT, "date_of_birth_approximate": "perhaps"}]},
            "named_adults[2].date_of_birth_approximate",
            "The third named adult's answer to whether the date of birth is approximate must be "
            "true or false.",
        ),
        (
            {"children": ["C1", 7]},
            "children[1]",
            "The second child must be text.",
        ),
        (
            {"concerns": ["neglect", "aliens"]},
            "concerns[1]",
            "The second concern must be one of: neglect,",
        ),
        ({"concerns": []}, "concerns", "The list of concerns needs at least 1 item."),
        (
            {"received_at": "1800-01-01T00:00:00"},
            "received_at",
            "(1 January 1900 to 31 December 2100)",
        ),
        (
            {"received_at": "yesterday"},
            "received_at",
            "The date and time the referral was received must be a date and time written like",
        ),
        (
            {"referral_id": "bad id with spaces"},
            "referral_id",
            "The referral id is not in the form allowed: a letter or digit",
        ),
        (
            {"source": "carrier pigeon"},
            "source",
            "The referral source must be one of: ",
        ),
    ],
)
def test_a_referral_error_names_the_field_and_its_place_in_a_list(client, changes, field, words):
    detail = _check_plain(_score(client, **changes))
    assert any(e["field"] == field and words in e["msg"] for e in detail), detail


def test_a_query_parameter_is_named_as_one(client):
    r = client.get(
        "/v1/children/C1/chronology", params={"referral_id": "N1", "as_of": "not a time"}
    )
    (error,) = _check_plain(r)
    assert error["field"] == "as_of" and error["loc"] == ["query", "as_of"]
    assert error["msg"].startswith("The as-of date and time in the address (as_of) must be")


def test_many_errors_are_cut_at_twenty_with_a_count():
    errors = [{"type": "missing", "loc": ("body", f"f{i}")} for i in range(25)]
    from serving.errors import plain_errors

    detail = plain_errors(errors)
    assert len(detail) == 21 and detail[-1]["msg"] == "... and 5 more problems."


@pytest.mark.parametrize(
    ("loc", "words", "path"),
    [
        (
            ("body", "named_adults", 1, "date_of_birth"),
            "the second named adult's date of birth",
            "named_adults[1].date_of_birth",
        ),
        (
            ("body", "participants", 0, "agency"),
            "the first participant's agency",
            "participants[0].agency",
        ),
        (
            ("body", "outcome", "section_47"),
            "the outcome's section 47 enquiry decision",
            "outcome.section_47",
        ),
        (("body",), "the request body", "body"),
        (("path", "referral_id"), "the referral id in the address (referral_id)", "referral_id"),
        (
            ("body", "received_at", "function-after[in_sane_range(), datetime]"),
            "the date and time the referral was received",
            "received_at",
        ),
    ],
)
def test_a_location_in_words_and_as_a_path(loc, words, path):
    assert field_words(loc) == words
    assert field_path(loc) == path


def test_an_error_kind_not_listed_still_reads_as_a_sentence():
    said = sentence(
        {"type": "some_new_kind", "loc": ("body", "reason"), "msg": "Input should be x"}
    )
    assert said == "The reason is not valid here."
