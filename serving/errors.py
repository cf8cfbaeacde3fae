"""The API's 422 answers in plain English: which field, where in a list, and what is allowed.

FastAPI answers a request that does not fit its schema with pydantic's own
words ("Field required", "Input should be a valid string", "Value error,
..."), addressed by a location list (``["body", "named_adults", 1,
"date_of_birth"]``).  A person reading the answer (a screener's system
administrator, a partner agency's developer) needs "The second named
adult's date of birth is not a date: write it as YYYY-MM-DD".

Each error keeps what a client program reads: ``loc`` (unchanged) and
``field``, the same place as one dotted path (``named_adults[1].date_of_birth``).
``msg`` is the sentence; ``input`` is at most a short excerpt of what was sent
(:func:`records.api.excerpt`), never the whole body.  At most 20 errors are
listed, and the body is ASCII-escaped so that a lone surrogate in the input
cannot break the answer itself.
"""

from __future__ import annotations

import json
import re

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from records.api import excerpt

MAX_ERRORS = 20

# Field names in words.  A name not listed is said with its underscores as spaces.
FIELD_WORDS = {
    "referral_id": "referral id",
    "received_at": "date and time the referral was received",
    "source": "referral source",
    "referrer_relationship": "referrer's relationship to the child",
    "concerns": "list of concerns",
    "children": "list of children",
    "injury_alleged": "answer to whether an injury is alleged",
    "images_held_by": "holder of images of the injury",
    "non_mobile_child": "answer to whether a child is not independently mobile",
    "named_adults": "list of named adults",
    "name": "name",
    "date_of_birth": "date of birth",
    "date_of_birth_approximate": "answer to whether the date of birth is approximate",
    "postcode": "postcode",
    "address": "address",
    "relationship": "relationship to the child",
    "lives_at_address": "answer to whether they live at the child's address",
    "amendment_id": "amendment id",
    "reason": "reason",
    "decision": "decision",
    "decision_id": "decision id",
    "closure_reason": "closure reason",
    "rationale": "rationale",
    "referrer_spoken_to": "note that the referrer was spoken to",
    "supersedes": "decision it corrects",
    "override_id": "override id",
    "kind": "kind of override",
    "view_id": "view id",
    "enabled": "on or off setting",
    "review_id": "review id",
    "held_at": "date and time the discussion was held",
    "participants": "list of participants",
    "agency": "agency",
    "role": "role",
    "shared": "list of information shared",
    "summary": "summary",
    "outcome": "outcome",
    "section_47": "section 47 enquiry decision",
    "section_47_rationale": "rationale for the section 47 decision",
    "cp_medical": "child protection medical decision",
    "cp_medical_rationale": "rationale for the child protection medical decision",
    "actions": "list of actions",
    "action": "action",
    "owner": "owner",
    "due": "due date",
    "missing_agencies_reason": "reason an agency was not there",
    "record_id": "record id",
    "recipient": "person told",
    "method": "way they were told",
    "outcome_given": "outcome given",
    "told_at": "date and time they were told",
    "invitation_id": "invitation id",
    "partner_name": "partner's name",
    "partner_role": "partner's role",
    "contribution_id": "contribution id",
    "as_of": "as-of date and time",
    "escalation_id": "escalation id",
    "answer_id": "answer id",
    "verdict": "verdict",
    "record_l": "first record",
    "record_r": "second record",
    "agency_record_id": "agency record id",
    "person_id": "person id",
    "records": "records setting",
    "features": "features setting",
}
# One item of a list field.
ITEM_WORDS = {
    "children": "child",
    "named_adults": "named adult",
    "concerns": "concern",
    "participants": "participant",
    "shared": "item of information shared",
    "actions": "action",
}
ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
).split()
_WHERE = {"query": "in the address", "path": "in the address", "header": "in the request headers"}
_TYPE_TAG = re.compile(r"[\[\](),]|^(str|int|float|bool|list|dict|date|datetime|none|json)$")


def ordinal(i: int) -> str:
    """``0`` -> "first" (a list position as a person counts it)."""
    return ORDINALS[i] if 0 <= i < len(ORDINALS) else f"number {i + 1}"


def _words(name: str) -> str:
    return FIELD_WORDS.get(name, name.replace("_", " "))


def _parts(loc) -> tuple[str, list]:
    """Where the error is (``body``, ``query`` ...) and the path inside it, union tags dropped."""
    loc = list(loc or ())
    where = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else "body"
    rest = loc[1:] if loc and loc[0] == where else loc
    return where, [p for p in rest if isinstance(p, int) or not _TYPE_TAG.search(str(p))]


def field_path(loc) -> str:
    """The machine-readable place of an error: ``named_adults[1].date_of_birth``; ``body`` for all."""
    _, parts = _parts(loc)
    path = ""
    for p in parts:
        path += f"[{p}]" if isinstance(p, int) else (f".{p}" if path else str(p))
    return path or "body"


def field_words(loc) -> str:
    """The place of an error in words: "the second named adult's date of birth"."""
    where, parts = _parts(loc)
    if not parts:
        return "the request body"
    phrase = ""
    for i, p in enumerate(parts):
        if isinstance(p, int):
            listed = parts[i - 1] if i and isinstance(parts[i - 1], str) else ""
            item = ITEM_WORDS.get(listed, f"item in the {_words(listed)}" if listed else "item")
            said = f"{ordinal(p)} {item}"
            phrase = f"{phrase}'s {said}" if phrase else f"the {said}"
        elif i + 1 < len(parts) and isinstance(parts[i + 1], int):
            continue  # said with the item: "the second child", not "the children's second"
        else:
            phrase = f"{phrase}'s {_words(p)}" if phrase else f"the {_words(p)}"
    if where in _WHERE:
        phrase += f" {_WHERE[where]} ({field_path(loc)})"
    return phrase


def _expected(ctx: dict) -> str:
    """pydantic's ``'a', 'b' or 'c'`` without the quotes."""
    return str(ctx.get("expected", "")).replace("'", "")


def _limit(ctx: dict, *keys: str) -> str:
    for key in keys:
        if key in ctx:
            return str(ctx[key])
    return ""


_TYPE_WORDS = {
    "string": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "an object (a set of named fields)",
    "model": "an object (a set of named fields)",
    "date": "a date written YYYY-MM-DD",
    "datetime": "a date and time written like 2024-04-02T10:15:00+01:00",
    "time": "a time written HH:MM",
    "uuid": "an id in UUID form",
    "decimal": "a number",
    "url": "a web address",
}


def _kind_words(kind: str) -> str | None:
    """``int_parsing`` / ``datetime_from_date_parsing`` -> the words for what is needed."""
    for key in sorted(_TYPE_WORDS, key=len, reverse=True):
        if kind.startswith(key + "_") or kind == key:
            return _TYPE_WORDS[key]
    return None


def _too_short_text(ctx: dict) -> str:
    n = _limit(ctx, "min_length")
    if n == "1":
        return "is empty, but a value is required"
    return f"is too short: it needs at least {n} characters"


def _too_few(ctx: dict) -> str:
    n = _limit(ctx, "min_length")
    return f"needs at least {n} item{'' if n == '1' else 's'}"


def _pattern(ctx: dict) -> str:
    if str(ctx.get("pattern", "")).startswith("^[A-Za-z0-9]"):
        return (
            "is not in the form allowed: a letter or digit, then letters, digits, "
            "'_', '.', ':' or '-', up to 64 characters in all"
        )
    return "is not in the form allowed"


# pydantic's error kinds, each as what is wrong with the field, said after its name.
_SAID = {
    "missing": lambda ctx: "is missing: it is required",
    "extra_forbidden": lambda ctx: (
        "is not a field this request takes: leave it out or check its spelling"
    ),
    "enum": lambda ctx: f"must be one of: {_expected(ctx)}",
    "literal_error": lambda ctx: f"must be one of: {_expected(ctx)}",
    "string_too_short": _too_short_text,
    "string_too_long": lambda ctx: (
        f"is too long: at most {_limit(ctx, 'max_length')} characters are allowed"
    ),
    "too_short": _too_few,
    "too_long": lambda ctx: f"has too many items: at most {_limit(ctx, 'max_length')} are allowed",
    "string_pattern_mismatch": _pattern,
    "greater_than": lambda ctx: f"must be more than {_limit(ctx, 'gt')}",
    "greater_than_equal": lambda ctx: f"must be at least {_limit(ctx, 'ge')}",
    "less_than": lambda ctx: f"must be less than {_limit(ctx, 'lt')}",
    "less_than_equal": lambda ctx: f"must be at most {_limit(ctx, 'le')}",
    "timezone_aware": lambda ctx: "needs a time zone, such as Z or +01:00",
    "timezone_naive": lambda ctx: "must not have a time zone",
    "string_unicode": lambda ctx: "holds characters that are not valid text",
    "none_required": lambda ctx: "must be left out",
}
_JSON = {
    "json_invalid": "The request body is not valid JSON: check its brackets, commas and quotes.",
    "json_type": "The request body must be JSON text.",
}


def requirement(kind: str, ctx: dict | None = None) -> str | None:
    """What a pydantic error kind says is wrong, as words to follow a field's name.

    ``greater_than_equal`` with ``ge=200`` -> "must be at least 200";
    ``int_parsing`` -> "must be a whole number".  ``None`` for a kind with
    no words here (the caller says "is not valid").  The command line uses
    it too (:mod:`mast.errors`), for options typer checks with pydantic.
    """
    if kind in _SAID:
        return _SAID[kind](ctx or {})
    needed = _kind_words(kind)
    return f"must be {needed}" if needed else None


def custom_text(error: dict) -> str:
    """A message a schema wrote itself (``raise ValueError``), without pydantic's prefix."""
    return _CUSTOM_PREFIX.sub("", str(error.get("msg", ""))).strip()


def sentence(error: dict) -> str:
    """One validation error as a sentence naming the field and what is allowed."""
    kind = str(error.get("type", ""))
    if kind in _JSON:
        return _JSON[kind]
    field = field_words(error.get("loc"))
    field = field[0].upper() + field[1:]
    if kind in ("value_error", "assertion_error"):
        return _custom(error, field)
    return f"{field} {requirement(kind, error.get('ctx')) or 'is not valid here'}."


_CUSTOM_PREFIX = re.compile(r"^(Value error|Assertion failed), ?")
_LEADING_FIELD = re.compile(r"^(?P<name>[a-z][a-z0-9_]*): (?P<rest>.+)$", re.S)
_NAMED_ADULT = re.compile(r"^named adult (?P<n>\d+)(?: \((?P<who>[^)]*)\))?: (?P<rest>.+)$", re.S)


def _plain_names(text: str) -> str:
    """Field names inside a sentence said as words (``date_of_birth`` -> "date of birth")."""
    return re.sub(
        r"\b([a-z]+(?:_[a-z0-9]+)+)\b",
        lambda m: FIELD_WORDS.get(m[1], m[1]) if m[1] in FIELD_WORDS else m[1],
        text,
    )


def _custom(error: dict, Field: str) -> str:
    """A message the schema wrote itself (``raise ValueError``), kept, with the field in words."""
    text = custom_text(error)
    m = _NAMED_ADULT.match(text)
    if m:
        who = f" ({m['who']})" if m["who"] else ""
        said = f"The {ordinal(int(m['n']) - 1)} named adult{who}: {_plain_names(m['rest'])}"
        return said if said.endswith(".") else said + "."
    m = _LEADING_FIELD.match(text)
    if m and m["name"] in FIELD_WORDS:
        name = _words(m["name"])
        text = f"The {name}: {m['rest']}"
    else:
        text = f"{Field}: {text}"
    text = _plain_names(text)
    return text if text.endswith(".") else text + "."


def _custom_path(error: dict) -> str:
    """The field a schema's own message names, when it names one the location does not."""
    text = custom_text(error)
    path = field_path(error.get("loc"))
    m = _NAMED_ADULT.match(text)
    if m:
        path = f"{path}[{int(m['n']) - 1}]"
        inner = re.match(r"^(?:the )?([a-z][a-z0-9_]*)\b", m["rest"])
        if inner and inner[1] in FIELD_WORDS and inner[1] not in ("name",):
            return f"{path}.{inner[1]}"
        if "name is missing" in m["rest"]:
            return f"{path}.name"
        return path
    m = _LEADING_FIELD.match(text)
    if m and m["name"] in FIELD_WORDS and path == "body":
        return m["name"]
    return path


def error_field(error: dict) -> str:
    """The machine-readable field of one error (see :func:`field_path`)."""
    kind = str(error.get("type", ""))
    if kind.startswith("json_"):
        return "body"  # its location is a character position, not a field
    if kind in ("value_error", "assertion_error"):
        return _custom_path(error)
    return field_path(error.get("loc"))


def plain_errors(errors: list[dict]) -> list[dict]:
    """pydantic's error list as ``{"loc", "field", "msg", "input"}`` entries, at most 20."""
    detail = []
    for e in errors[:MAX_ERRORS]:
        detail.append(
            {
                "loc": list(e.get("loc", ())),
                "field": error_field(e),
                "msg": sentence(e),
                "input": excerpt(e.get("input")),
            }
        )
    if len(errors) > MAX_ERRORS:
        detail.append(
            {
                "loc": [],
                "field": None,
                "msg": f"... and {len(errors) - MAX_ERRORS:,} more problems.",
                "input": None,
            }
        )
    return detail


async def validation_errors(request: Request, exc: RequestValidationError) -> Response:
    """A 422 whose every error is a sentence naming its field, with the field's path beside it."""
    errors = exc.errors()
    detail = plain_errors(errors)
    summary = (
        detail[0]["msg"]
        if len(errors) == 1
        else f"The request has {len(errors):,} problems; each is listed in detail."
    )
    body = json.dumps({"message": summary, "detail": jsonable_encoder(detail)}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


def install(app: FastAPI) -> None:
    """Answer every request-validation error of ``app`` with :func:`validation_errors`."""
    app.add_exception_handler(RequestValidationError, validation_errors)


__all__ = [
    "custom_text",
    "error_field",
    "requirement",
    "field_path",
    "field_words",
    "install",
    "plain_errors",
    "sentence",
    "validation_errors",
]
