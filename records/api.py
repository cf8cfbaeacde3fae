"""The records endpoints: decisions, overrides, initial views, configuration and the audit trail.

Every endpoint is ``def`` (not ``async def``): the database calls block,
and FastAPI runs ``def`` endpoints in its thread pool.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from records import kinds
from records.auth import get_store, require
from records.models import BlindFirstIn, DecisionIn, InitialViewIn, OverrideIn
from records.roles import (
    READ_AUDIT,
    RECORD_DECISION,
    RECORD_INITIAL_VIEW,
    RECORD_OVERRIDE,
    SET_CONFIG,
    VIEW_CONFIG,
)
from records.rules import ReferralStatus, RuleViolation
from records.tokens import Principal
from records.trail import MAX_QUERY_LIMIT, MAX_QUERY_OFFSET, Entry

_log = logging.getLogger(__name__)
ReferralLookup = Callable[[str], ReferralStatus | None]
ReferralId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="The referral's id.")
]
ADVISORY = (
    "MAST's flag is advisory. It does not replace professional judgement: a person always decides."
)


class Refusal(BaseModel):
    """Why a request was refused by a rule: nothing was written."""

    rule: str
    message: str
    field: str | None


class Problem(BaseModel):
    """The body of every 4xx: a message, a rule refusal, or pydantic's field errors."""

    detail: Refusal | str | list[Any]


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid token."},
    403: {"model": Problem, "description": "The role may not do this."},
    404: {"model": Problem, "description": "Unknown referral."},
    409: {"model": Problem, "description": "Replay of an id, or the referral is already decided."},
    422: {
        "model": Problem,
        "description": "Malformed input (names the field) or a broken rule (names the rule).",
    },
}
Kind = Literal[kinds.KINDS]


class EntryOut(BaseModel):
    """One audit-trail entry as returned by the API."""

    seq: int
    at: str
    kind: str
    actor: str
    role: str
    referral_id: str | None
    person_id: str | None
    record_id: str | None
    payload: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, entry: Entry) -> EntryOut:
        return cls(**{name: getattr(entry, name) for name in cls.model_fields})


class AuditPage(BaseModel):
    """One page of the trail, with the total, so a client can page through all of it."""

    entries: list[EntryOut]
    total: int
    limit: int
    offset: int


class ConfigOut(BaseModel):
    """The records configuration, always with the advisory sentence a client must show."""

    blind_first: bool
    advisory: str = ADVISORY


def _status(lookup: ReferralLookup, referral_id: str) -> ReferralStatus:
    status = lookup(referral_id)
    if status is None:
        raise HTTPException(404, f"unknown referral_id {referral_id!r}")
    return status


def _recorded(write: Callable[[], Entry]) -> EntryOut:
    """Run one store write; a broken rule becomes its HTTP refusal (nothing was written)."""
    try:
        return EntryOut.of(write())
    except RuleViolation as err:
        raise HTTPException(err.status, detail=err.as_detail()) from err


def make_router(lookup: ReferralLookup) -> APIRouter:
    """The records API.

    Parameters
    ----------
    lookup
        ``lookup(referral_id)`` returns a :class:`~records.rules.ReferralStatus`
        (at least: was it flagged?) or ``None`` if the referral is unknown.
        Supplied by the scoring service, so records does not import it.
    """
    router = APIRouter(prefix="/v1", tags=["records"])

    @router.post(
        "/referrals/{referral_id}/decisions",
        status_code=201,
        response_model=EntryOut,
        responses=ERRORS,
    )
    def post_decision(
        referral_id: ReferralId,
        body: DecisionIn,
        request: Request,
        principal: Principal = Depends(require(RECORD_DECISION)),
    ) -> EntryOut:
        """Record a decision. A flagged referral ends in a strategy discussion unless a manager overrode the flag."""
        status = _status(lookup, referral_id)
        store = get_store(request)
        return _recorded(lambda: store.record_decision(principal, referral_id, body, status))

    @router.post(
        "/referrals/{referral_id}/overrides",
        status_code=201,
        response_model=EntryOut,
        responses=ERRORS,
    )
    def post_override(
        referral_id: ReferralId,
        body: OverrideIn,
        request: Request,
        principal: Principal = Depends(require(RECORD_OVERRIDE)),
    ) -> EntryOut:
        """A manager overrides a flag, or agrees to a malicious closure, with a reason."""
        status = _status(lookup, referral_id)
        store = get_store(request)
        return _recorded(lambda: store.record_override(principal, referral_id, body, status))

    @router.post(
        "/referrals/{referral_id}/initial-views",
        status_code=201,
        response_model=EntryOut,
        responses=ERRORS,
    )
    def post_initial_view(
        referral_id: ReferralId,
        body: InitialViewIn,
        request: Request,
        principal: Principal = Depends(require(RECORD_INITIAL_VIEW)),
    ) -> EntryOut:
        """Blind-first mode: the screener's view before the score is revealed.

        The referral is not looked up: in blind-first mode the view comes
        before the referral is scored, so the scoring side may not know it yet.
        """
        store = get_store(request)
        return _recorded(lambda: store.record_initial_view(principal, referral_id, body))

    @router.get("/config", response_model=ConfigOut, responses=ERRORS)
    def get_config(
        request: Request, _principal: Principal = Depends(require(VIEW_CONFIG))
    ) -> ConfigOut:
        return ConfigOut(blind_first=get_store(request).blind_first())

    @router.put("/config/blind-first", response_model=ConfigOut, responses=ERRORS)
    def put_blind_first(
        body: BlindFirstIn, request: Request, principal: Principal = Depends(require(SET_CONFIG))
    ) -> ConfigOut:
        """Governance switches blind-first mode; the switch is written to the trail."""
        store = get_store(request)
        store.set_blind_first(body.enabled, principal, body.reason)
        return ConfigOut(blind_first=store.blind_first())

    @router.get("/audit", response_model=AuditPage, responses=ERRORS)
    def get_audit(
        request: Request,
        principal: Principal = Depends(require(READ_AUDIT)),
        start: Annotated[
            datetime | None, Query(alias="from", description="Inclusive; naive times are UTC.")
        ] = None,
        end: Annotated[
            datetime | None, Query(alias="to", description="Inclusive; naive times are UTC.")
        ] = None,
        referral_id: Annotated[str | None, Query(max_length=64)] = None,
        user: Annotated[str | None, Query(max_length=128)] = None,
        kind: Annotated[Kind | None, Query(description="One kind of entry.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_QUERY_LIMIT)] = 1000,
        offset: Annotated[int, Query(ge=0, le=MAX_QUERY_OFFSET)] = 0,
    ) -> AuditPage:
        """Governance reads the trail, filtered by time, referral, user and kind. The read is itself logged."""
        store = get_store(request)
        try:
            entries, total = store.query(
                start=start,
                end=end,
                referral_id=referral_id,
                actor=user,
                kind=kind,
                limit=limit,
                offset=offset,
            )
        except ValueError as err:
            raise HTTPException(422, str(err)) from err
        filters = {
            "from": start and start.isoformat(),
            "to": end and end.isoformat(),
            "referral_id": referral_id,
            "user": user,
            "kind": kind,
        }
        store.log_view(
            principal, kinds.AUDIT_QUERY, detail={"filters": filters, "returned": len(entries)}
        )
        return AuditPage(
            entries=[EntryOut.of(e) for e in entries], total=total, limit=limit, offset=offset
        )

    return router


EXCERPT_CHARS = 60


def excerpt(value: Any) -> Any:
    """A short stand-in for the input that failed: never more than ~60 characters of it.

    Echoing the whole input made one 50 MB body a 300 MB reply; a client
    needs the field's name and a hint of what was wrong with it, not its
    own data back.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return f"(an object with {len(value):,} fields)"
    if isinstance(value, list | tuple):
        return f"(a list of {len(value):,} items)"
    text = str(value)
    return (
        text
        if len(text) <= EXCERPT_CHARS
        else text[:EXCERPT_CHARS] + f"... ({len(text):,} characters)"
    )


async def validation_errors(request: Request, exc: RequestValidationError) -> Response:
    """A 422 naming each field at fault, with at most a short excerpt of what was sent.

    Pydantic's own error list echoes the whole input; here only the field's
    location, the message, the error type and :func:`excerpt` of the input
    go back.  Non-ASCII characters are escaped, so an input holding a lone
    surrogate (valid in a JSON escape, invalid as UTF-8) cannot make the
    error response itself fail.  At most 20 errors are listed.
    """
    errors = exc.errors()
    detail = [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", ""))[:300],
            "type": e.get("type"),
            "input": excerpt(e.get("input")),
        }
        for e in errors[:20]
    ]
    if len(errors) > 20:
        detail.append(
            {"loc": [], "msg": f"... and {len(errors) - 20:,} more errors", "type": "more"}
        )
    body = json.dumps({"detail": jsonable_encoder(detail)}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


def install(app, store, lookup: ReferralLookup) -> None:
    """Attach ``store`` to ``app``, mount the records API, and make 422s unbreakable.

    Sets ``app.state.records`` (read by :func:`records.auth.require`),
    includes :func:`make_router`, and registers :func:`validation_errors`
    as the app's handler of request validation errors.
    """
    app.state.records = store
    for difference in store.tokens.disagreements():  # the trail decides; say where they differ
        _log.warning(
            "api_tokens disagrees with the audit trail (the trail is honoured): %s", difference
        )
    app.include_router(make_router(lookup))
    from records.follow_up_api import (
        make_follow_up_router,
        make_withdrawal_router,
    )  # here: it imports this module

    app.include_router(make_follow_up_router())
    app.include_router(make_withdrawal_router())
    app.add_exception_handler(RequestValidationError, validation_errors)
