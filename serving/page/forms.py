"""Reading HTML forms and query strings into the API's own pydantic models.

The page posts ``application/x-www-form-urlencoded`` forms; parsing them here
(rather than with python-multipart) keeps the dependency list as it is.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from fastapi import Request
from pydantic import ValidationError

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


def messages_of(err: ValidationError) -> list[str]:
    """Pydantic errors as 'field: message' lines a screener can act on."""
    out = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "form"
        # pydantic prefixes a validator's own sentence with "Value error, ".
        message = str(e["msg"]).removeprefix("Value error, ")
        out.append(f"{where.replace('_', ' ')}: {message}")
    return out


def referral_from_query(params: dict[str, list[str]]) -> ReferralIn:
    """A :class:`ReferralIn` from the referral form's query string."""
    children = [
        c.strip()
        for value in params.get("children", [])
        for c in value.replace(";", ",").split(",")
        if c.strip()
    ]
    data = {
        "referral_id": first(params, "referral_id"),
        "received_at": first(params, "received_at"),
        "source": first(params, "source"),
        "referrer_relationship": first(params, "referrer_relationship"),
        "concerns": [c for c in params.get("concerns", []) if c],
        "children": children,
        "named_adults": named_adults_from_query(params),
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
            **named_adults_query(referral.named_adults),
        },
        doseq=True,
    )
