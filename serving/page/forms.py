"""Reading HTML forms and query strings into the API's own pydantic models.

The page posts ``application/x-www-form-urlencoded`` forms; parsing them here
(rather than with python-multipart) keeps the dependency list as it is.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from pydantic import ValidationError

from serving.page.dates import DateError, date_from_parts
from serving.page.named_adults import named_adults_from_query, named_adults_query
from serving.schemas import ReferralIn

MAX_FORM_BYTES = 64_000


class FormError(ValueError):
    """A form the page cannot use; ``messages`` name each field at fault."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


async def read_form(request: Request) -> dict[str, list[str]]:
    """The url-encoded body as ``{field: [values]}``; reading stops at the cap.

    The body is read chunk by chunk and refused the moment it passes
    ``MAX_FORM_BYTES``, so an oversized post is never held whole.
    """
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise FormError([f"the form is larger than {MAX_FORM_BYTES:,} bytes"])
        chunks.append(chunk)
    body = b"".join(chunks)
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def first(form: dict[str, list[str]], name: str) -> str | None:
    """The first value of ``name``, stripped; ``None`` when absent or blank."""
    values = form.get(name) or []
    value = values[0].strip() if values else ""
    return value or None


FIELD_LABELS = {
    "decision": "Decision",
    "rationale": "Rationale",
    "closure_reason": "Closure reason",
    "referrer_spoken_to": "The note that the referrer was spoken to",
    "supersedes": "The decision being corrected",
    "kind": "What the override allows",
    "reason": "Reason",
    "referral_id": "Referral id",
    "received_at": "Received at",
    "source": "Source",
    "referrer_relationship": "Referrer's relationship to the child",
    "concerns": "Concerns",
    "children": "Children",
    "injury_alleged": "Injury alleged or seen",
    "images_held_by": "Images of injury held by",
    "non_mobile_child": "A child not yet mobile",
}
# The form's own hidden ids: a person cannot fix these, only reload the page.
HIDDEN_IDS = ("decision_id", "override_id", "view_id", "amendment_id")
_QUOTED_CODE = re.compile(r"'([a-z0-9]+(?:_[a-z0-9]+)+|[a-z]+)'")
_QUOTED_WORDS = re.compile(r"(?<![A-Za-z])'([a-z0-9][a-z0-9 /-]*)'")
_API_HINT = re.compile(r"\s*\((?:POST|PUT|GET) [^)]*\)")
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?")
_FIELD_PREFIX = re.compile(r"^([a-z_]+): ")


def _label(loc: tuple) -> str:
    name = str(loc[0]) if loc else "form"
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def uk_time_text(text: str) -> str:
    """An ISO time in ``text`` (trail UTC, or England local without offset) as UK local time."""
    from records.statutory import LOCAL_TIME

    def one(m: re.Match) -> str:
        try:
            when = datetime.fromisoformat(m.group(0).replace("Z", "+00:00"))
            if when.tzinfo is not None:
                when = when.astimezone(LOCAL_TIME)
        except (ValueError, OverflowError):  # a typed time outside what can be converted: as typed
            return m.group(0)
        return when.strftime("%d %b %Y %H:%M") + " UK time"

    return _ISO_TIME.sub(one, text)


def plain_message(text: str) -> str:
    """A rule's or validator's sentence with no codes, API paths or raw timestamps.

    ``'no_further_action'`` becomes "no further action", a leading
    ``closure_reason:`` the field's label, ``(POST .../overrides ...)`` is
    dropped (the page has the form), and times read as UK local time.
    """
    from records.kinds import DECISION_LABELS

    text = str(text).removeprefix("Value error, ")
    text = _API_HINT.sub("", text)
    m = _FIELD_PREFIX.match(text)
    if m and m.group(1) in FIELD_LABELS:
        text = f"{FIELD_LABELS[m.group(1)]}: {text[m.end() :]}"
    text = _QUOTED_CODE.sub(
        lambda q: (
            "\u201c" + DECISION_LABELS.get(q.group(1), q.group(1).replace("_", " ")) + "\u201d"
        ),
        text,
    )
    text = _QUOTED_WORDS.sub(lambda q: "\u201c" + q.group(1) + "\u201d", text)
    for name, label in FIELD_LABELS.items():
        if "_" in name:
            text = re.sub(rf"\b{name}\b", label.lower(), text)
    text = uk_time_text(text)
    return text[:1].upper() + text[1:]


def _too_short(label: str, name: str, ctx: dict) -> str:
    if name in ("concerns", "children"):
        return f"{label}: give at least one."
    return f"{label}: this cannot be empty."


def _too_long(label: str, name: str, ctx: dict) -> str:
    return f"{label}: too long (at most {ctx.get('max_length', 'the allowed number of')} characters or items)."


# Each kind of validation error, as a sentence about the field (never the library's own text).
_BY_TYPE = {
    "missing": lambda label, name, ctx: f"{label}: this is required.",
    "string_too_short": _too_short,
    "too_short": _too_short,
    "string_too_long": _too_long,
    "too_long": _too_long,
    "literal_error": lambda label, name, ctx: f"{label}: choose one of the options offered.",
    "enum": lambda label, name, ctx: f"{label}: choose one of the options offered.",
    "string_pattern_mismatch": lambda label, name, ctx: (
        f"{label}: use only letters, digits and . _ : - (no spaces)."
    ),
}


def _one_error(e: dict) -> str:
    kind, loc, ctx = e.get("type", ""), tuple(e.get("loc") or ()), e.get("ctx") or {}
    name = str(loc[0]) if loc else ""
    if kind == "extra_forbidden":
        return f"The form sent a field this page does not use ({name or 'unknown'}); reload the page and try again."
    if name in HIDDEN_IDS:
        return "The form's own id is missing or damaged: reload the page and try again."
    label = _label(loc)
    if kind in _BY_TYPE:
        return _BY_TYPE[kind](label, name, ctx)
    if kind.startswith(("datetime", "date")):
        return f"{label}: not a date and time; give the day, month, year and time (UK time)."
    if kind.startswith("bool"):
        return f"{label}: answer yes or no."
    if kind == "value_error":
        message = plain_message(str(ctx.get("error", e.get("msg", ""))))
        labelled = any(message.startswith(f"{words}:") for words in FIELD_LABELS.values())
        return message if labelled or not loc else f"{label}: {message}"
    return f"{label}: this value cannot be used."


def messages_of(err: ValidationError) -> list[str]:
    """Validation errors as sentences a screener can act on: the field's label, no library text."""
    return [_one_error(e) for e in err.errors()]


_RULE_TEXT = {
    "replay": "This form was already recorded (it was probably sent twice): nothing more was written. "
    "Reopen the referral to see what is on record.",
    "already_decided": "Someone recorded a decision on this referral after you opened it, so yours "
    "was not recorded. Reopen the referral: a decision recorded then corrects the one on record.",
}


def rule_message(err) -> str:
    """A :class:`records.RuleViolation` in the page's words (the API's text names endpoints)."""
    return _RULE_TEXT.get(err.rule) or plain_message(err.message)


_YES_NO = {"yes": True, "no": False}


def _yes_no(params: dict[str, list[str]], name: str) -> bool | None | str:
    value = (first(params, name) or "").lower()
    return _YES_NO.get(value, value or None)


def referral_from_query(params: dict[str, list[str]]) -> ReferralIn:
    """A :class:`ReferralIn` from the referral form's query string."""
    children = [
        c.strip()
        for value in params.get("children", [])
        for c in value.replace(";", ",").split(",")
        if c.strip()
    ]
    try:
        received_at = date_from_parts(params, "received_at", "Received at", with_time=True)
        named_adults = named_adults_from_query(params)
    except DateError as err:
        raise FormError([str(err)]) from None
    data = {
        "referral_id": first(params, "referral_id"),
        "received_at": received_at,
        "source": first(params, "source"),
        "referrer_relationship": first(params, "referrer_relationship"),
        "concerns": [c for c in params.get("concerns", []) if c],
        "children": children,
        "injury_alleged": _yes_no(params, "injury_alleged"),
        "images_held_by": first(params, "images_held_by"),
        "non_mobile_child": _yes_no(params, "non_mobile_child"),
        "named_adults": named_adults,
    }
    try:
        return ReferralIn(**{k: v for k, v in data.items() if v is not None})
    except ValidationError as err:
        raise FormError(messages_of(err)) from err


def referral_query(referral: ReferralIn) -> str:
    """The query string that reopens ``referral`` on the page."""
    return urlencode(
        {
            "referral_id": referral.referral_id,
            # Seconds kept when there are any: a reopened referral must match its record.
            "received_at": referral.received_at.isoformat(
                timespec="minutes"
                if (referral.received_at.second, referral.received_at.microsecond) == (0, 0)
                else "auto"
            ),
            "source": str(referral.source),
            "referrer_relationship": str(referral.referrer_relationship),
            "concerns": [str(c) for c in referral.concerns],
            "children": ",".join(referral.children),
            **{
                name: ("yes" if value else "no") if isinstance(value, bool) else str(value)
                for name in ("injury_alleged", "images_held_by", "non_mobile_child")
                if (value := getattr(referral, name)) is not None
            },
            **named_adults_query(referral.named_adults),
        },
        doseq=True,
    )
