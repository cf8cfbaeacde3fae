"""Routes of the screener's page.

Every page but sign-in needs a signed-in screener or manager (the token is
kept in an HttpOnly, SameSite=Strict cookie scoped to ``/page``).  Every
score and chronology shown is written to the audit trail, exactly as the
JSON API writes them.  Decisions go through the same
:class:`records.RecordsStore` methods and rules as the API, so the page can
refuse nothing the API would accept, and accept nothing it would refuse.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader
from pydantic import ValidationError

import records
from records import roles
from records.statutory import IMAGE_HOLDER_LABELS
from serving import queue as work_queue
from serving.page import extensions
from serving.page.dates import date_parts, parts_of
from serving.page.forms import (
    FormError,
    first,
    messages_of,
    plain_message,
    read_form,
    referral_from_query,
    referral_query,
    rule_message,
)
from serving.page.named_adults import named_adult_params
from serving.page.options import decision_options, malicious_agreed, statutory_allowed
from serving.reasons import plain, plain_text, who_referred
from serving.schemas import ADVISORY_NOTICE, AmendmentIn, ReferralIn
from serving.scoring import STORE_TIMEZONE, ServingError
from store import vocabulary as v

PAGE_PREFIX = "/page"
ADVISORY_PLAIN = (
    "The flag is advisory. It is decision support, not a decision: it does not replace your "
    "professional judgement, and you decide on all the information you have."
)
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes Chromium send Origin: null on form posts
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
_templates = Environment(
    loader=FileSystemLoader(FilePath(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def uk_time(moment: Any, fmt: str = "%d %b %Y %H:%M") -> str:
    """A time as a screener reads it: UK local time, day month year hour:minute.

    Trail times are UTC text ending in ``Z``; store times are naive UK time already.
    """
    if moment is None:
        return ""
    when = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
    if when.tzinfo is not None:
        when = when.astimezone(STORE_TIMEZONE)
    return when.strftime(fmt)


def uk_date(moment: Any) -> str:
    """A date as a screener reads it (day month year, UK local)."""
    return uk_time(moment, "%d %b %Y")


_templates.filters["uk_time"] = uk_time
_templates.filters["uk_date"] = uk_date
_templates.globals["named_adult_relationships"] = v.NAMED_ADULT_RELATIONSHIPS
_templates.globals["named_adult_params"] = named_adult_params
_templates.globals["date_parts"] = date_parts
_templates.globals["parts_of"] = parts_of
# A partner agency's lead sees only their invited referrals: the nav and links follow the role.
_templates.globals["partner_roles"] = records.PARTNER_ROLES
# Store codes in words wherever the page shows them (serving.reasons.plain).
_templates.filters["plain"] = plain
_templates.filters["plain_text"] = plain_text
_templates.filters["who_referred"] = who_referred
ReferralId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("prefix", PAGE_PREFIX)
    context.setdefault("advisory", ADVISORY_PLAIN)
    context.setdefault("advisory_notice", ADVISORY_NOTICE)
    context.setdefault("labels", records.DECISION_LABELS)
    context.setdefault("image_holders", IMAGE_HOLDER_LABELS)
    return HTMLResponse(
        _templates.get_template(name).render(**context), status_code=status, headers=_HEADERS
    )


def _signed_in(request: Request) -> records.Principal | None:
    token = request.cookies.get(records.COOKIE_NAME)
    principal = records.get_store(request).verify_token(token) if token else None
    request.state.principal = principal  # for the access log
    return principal


def _user(request: Request) -> records.Principal | Response:
    """The signed-in screener or manager, or the response to send instead."""
    principal = _signed_in(request)
    if principal is None:
        return RedirectResponse(f"{PAGE_PREFIX}/", status_code=303)
    if not records.allowed(principal.role, roles.USE_PAGE):
        return _render(
            "result.html.j2",
            403,
            user=principal,
            ok=False,
            title="Not for your role",
            messages=[
                f"The screener's page is for screeners and managers; you are signed in as {principal.role}."
            ],
        )
    return principal


async def _form(request: Request) -> dict[str, list[str]]:
    """The posted form, after a same-origin check (the cookie is SameSite=Strict as well)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host')}":
        raise HTTPException(403, "cross-site form posts are refused")
    try:
        return await read_form(request)
    except FormError as err:
        raise HTTPException(413, str(err)) from err


def _minute(moment: Any) -> str:
    return str(moment)[:16].replace(" ", "T")


def _words(event: Any) -> str:
    return str(event).replace("_", " ").strip().lower()


def _anchor(child: str, person_id: Any, agency: Any, event_type: Any, occurred_at: Any) -> str:
    """The id of a row of ``child``'s chronology, so a reason's record can link to it."""
    key = f"{person_id}|{agency}|{_words(event_type)}|{_minute(occurred_at)}"
    return f"ev-{child}-" + hashlib.sha1(key.encode()).hexdigest()[:12]


def _row_index(chronologies: list[dict]) -> dict[tuple, list[tuple[str, str]]]:
    """(child, person, agency, minute) -> [(event words, row id)] for every chronology row."""
    index: dict[tuple, list[tuple[str, str]]] = {}
    for chron in chronologies:
        for e in chron["entries"]:
            key = (
                chron["person_id"],
                str(e["person_id"]),
                str(e["agency"]),
                _minute(e["occurred_at"]),
            )
            index.setdefault(key, []).append((_words(e["event_type"]), e["anchor"]))
    return index


def _linked(child: dict, index: dict[tuple, list[tuple[str, str]]]) -> dict:
    """A copy of one child's score whose reason records carry the chronology row they link to.

    A record matches a row of the child's chronology about the same person,
    from the same agency, at the same minute, whose event is the record's
    event or the start of its description ("referral" for "referral from
    police").  A record with no such row (the referral being screened, say)
    gets no link.
    """

    def link(rec: dict) -> dict:
        key = (
            child["person_id"],
            str(rec["person_id"]),
            str(rec["agency"]),
            _minute(rec["occurred_at"]),
        )
        described = _words(rec["event_type"])
        anchor = next(
            (
                a
                for event, a in index.get(key, [])
                if described == event or described.startswith(event + " ")
            ),
            None,
        )
        return {**rec, "anchor": anchor}

    def reasons(items: list[dict]) -> list[dict]:
        return [{**r, "records": [link(rec) for rec in r["records"]]} for r in items]

    return {
        **child,
        "reasons_for": reasons(child["reasons_for"]),
        "reasons_against": reasons(child["reasons_against"]),
        "not_found": child.get("not_found", []),
    }


def _index(
    request: Request,
    user: records.Principal,
    status: int = 200,
    errors: list[str] | None = None,
    params: dict | None = None,
) -> HTMLResponse:
    return _render(
        "index.html.j2",
        status,
        user=user,
        errors=errors or [],
        params=params or {},
        typed_facts=typed_facts(params) if params else None,
        sources=v.REFERRAL_SOURCES,
        relationships=v.REFERRER_RELATIONSHIPS,
        concerns=v.CONCERNS,
        blind_first=records.get_store(request).blind_first(),
    )


def typed_facts(params: dict[str, list[str]]) -> dict[str, Any]:
    """The injury facts as typed on the form, to show them again (``facts_fields.html.j2``)."""
    yes_no = {"yes": True, "no": False}
    return {
        "injury_alleged": yes_no.get(first(params, "injury_alleged") or ""),
        "images_held_by": first(params, "images_held_by"),
        "non_mobile_child": yes_no.get(first(params, "non_mobile_child") or ""),
    }


def _chronologies(request: Request, user: records.Principal, referral: ReferralIn) -> list[dict]:
    """Each child's chronology as of the referral, with what was recorded since kept apart."""
    engine, guard = request.app.state.engine, request.app.state.guard
    out = []
    for pid in referral.children:
        chron = engine.chronology(pid, referral=referral)
        guard.record(
            "chronology_view",
            user,
            referral_id=referral.referral_id,
            person_ids=[pid],
            detail={
                "entries": len(chron["entries"]),
                "recorded_since": len(chron["recorded_since"]),
                "as_of": chron["as_of"].isoformat(),
                "via": "page",
            },
        )
        for e in chron["entries"] + chron["recorded_since"]:
            e["anchor"] = _anchor(
                pid, e["person_id"], e["agency"], e["event_type"], e["occurred_at"]
            )
        out.append(chron)
    return out


def _refused(status: int, messages: list[str], **context: Any) -> HTMLResponse:
    return _render(
        "result.html.j2", status, ok=False, title="Not recorded", messages=messages, **context
    )


def _triggers(engine, referral: ReferralIn) -> list[dict]:
    """The statutory rules the referral meets (shown before any score: they are not one)."""
    from features import StoreSnapshot
    from serving import statutory

    snap = getattr(engine, "snapshot", None)
    source = snap if isinstance(snap, StoreSnapshot) else engine.cursor()
    return statutory.triggers(source, referral)["statutory_triggers"]


def _page_status(request: Request, referral_id: str, scored: dict) -> records.ReferralStatus:
    """The referral's status as the decision check will read it (the score view just logged)."""
    status = request.app.state.guard.lookup(referral_id)
    if status is None:
        return records.ReferralStatus(flagged=bool(scored["referral_flagged"]))
    if scored["referral_flagged"] and not status.flagged:
        return dataclasses.replace(status, flagged=True)
    return status


NAMED_ADULTS_IN_ADDRESS = (
    "Adults the referrer names are sent with the form below, never in a web address (an "
    "address is kept in browser history and logs). MAST did not use the ones in this address: "
    "check them below and press “Open and score”."
)


def carries_named_adults(params: dict[str, list[str]]) -> bool:
    """Whether a query or form holds any field of an adult the referrer named."""
    return any(k.startswith("named_adult_") for k in params)


def _posted_referral(back: str, referral_id: str) -> ReferralIn | None:
    """The referral a blind-first initial view carried in its form, if it names adults.

    Such a referral is shown as the response to the post, never through a
    redirect whose address would hold the adults' details.  ``None`` when the
    form holds no named adults (the redirect by query is then kept) or does
    not describe ``referral_id``.
    """
    params = parse_qs(back, keep_blank_values=True)
    if not carries_named_adults(params) or first(params, "referral_id") != referral_id:
        return None
    try:
        return referral_from_query(params)
    except FormError:
        return None


@dataclasses.dataclass(frozen=True)
class Refused:
    """A decision or override the rules refused: shown again with what was typed.

    ``form`` is ``"decision"`` or ``"override"``; ``typed`` the fields as posted.
    """

    status: int
    errors: list[str]
    form: str
    typed: dict


def _show_referral(
    request: Request,
    user: records.Principal,
    referral: ReferralIn,
    params: dict | None = None,
    refused: Refused | None = None,
) -> Response:
    """The referral page: statutory rules, then the advisory flag, reasons, decision, chronology.

    ``refused`` re-shows a refused form with its messages and what was typed in it.
    """
    status_code = refused.status if refused else 200
    errors = refused.errors if refused else []
    typed_decision = refused.typed if refused and refused.form == "decision" else {}
    typed_override = refused.typed if refused and refused.form == "override" else {}
    store, engine = records.get_store(request), request.app.state.engine
    register = request.app.state.register
    blind_first = store.blind_first()
    if blind_first and not store.has_initial_view(referral.referral_id, user):
        return _render(
            "initial_view.html.j2",
            status_code,
            user=user,
            referral=referral,
            query=referral_query(referral),
            view_id=uuid.uuid4().hex,
            errors=errors,
            triggers=_triggers(engine, referral),
        )
    try:
        refusal = register.blind_first_refusal(user, referral)
        if refusal:
            raise ServingError(409, refusal)
        scored, pending = register.score(referral)
        register.shown(user, referral, scored, pending, via="page")
        chronologies = _chronologies(request, user, referral)
    except ServingError as err:
        return _index(request, user, err.status, [rule_message_text(err.detail)], params)
    except records.RuleViolation as err:
        return _index(request, user, err.status, [rule_message(err)], params)
    # From here on the referral is on record: reopen it by id (its current version).
    query = urlencode({"referral_id": referral.referral_id})
    index = _row_index(chronologies)
    children = [_linked(child, index) for child in scored["children"]]
    policy = engine.model.policy
    history = store.decisions_for(referral.referral_id)
    status = _page_status(request, referral.referral_id, scored)
    options = decision_options(
        status,
        history,
        has_initial_view=blind_first and store.has_initial_view(referral.referral_id, user),
        blind_first=blind_first,
    )
    sections, extra = extensions.section_context(request, user, referral, history)
    return _render(
        "referral.html.j2",
        status_code,
        **extra,
        user=user,
        referral=referral,
        query=query,
        scored=scored,
        children=children,
        threshold=policy.get("threshold_score", policy.get("threshold")),
        # Whether the deployed model reads the named-adult family (issue #20 A).
        named_weighed=any(
            str(f).startswith("named_adults_") for f in getattr(engine, "feature_names", ())
        ),
        chronologies=chronologies,
        history=history,
        options=options,
        closure_rules=status.closure_rules,
        malicious_agreed=malicious_agreed(history),
        statutory_allowed=statutory_allowed(history),
        errors=errors,
        typed_decision=typed_decision,
        typed_override=typed_override,
        sections=sections,
        decisions=v.DECISIONS,
        closure_reasons=v.CLOSURE_REASONS,
        decision_id=uuid.uuid4().hex,
        override_id=uuid.uuid4().hex,
        amendment_id=uuid.uuid4().hex,
        versions=register.versions(referral.referral_id),
        sources=v.REFERRAL_SOURCES,
        relationships=v.REFERRER_RELATIONSHIPS,
        concerns=v.CONCERNS,
        blind_first=blind_first,
    )


def rule_message_text(detail: Any) -> str:
    """A :class:`ServingError`'s detail (text, or the register's dict) in the page's words."""
    if isinstance(detail, dict):
        return plain_message(str(detail.get("message", detail)))
    return plain_message(str(detail))


def _queue_page(request: Request, user: records.Principal) -> HTMLResponse:
    """The landing page: the work queue, filtered as the query string asks."""
    params = parse_qs(request.url.query, keep_blank_values=True)
    show = first(params, "show") or "all"
    if show not in work_queue.SHOW:
        show = "all"
    filters = {
        "show": show,
        "statutory_only": first(params, "statutory") == "1",
        "flagged_only": first(params, "flagged") == "1",
        "repeat_only": first(params, "repeat") == "1",
        "search": first(params, "q"),
    }
    shown = work_queue.show_queue(request.app, user, via="page", **filters)
    return _render(
        "queue.html.j2",
        user=user,
        items=shown.items,
        more=shown.more,
        total=shown.total,
        filters=filters,
        show_options=work_queue.SHOW,
        blind_first=shown.blind_first,
    )


def make_page_router() -> APIRouter:
    """The ``/page`` routes (excluded from the OpenAPI schema: they serve HTML)."""
    router = APIRouter(prefix=PAGE_PREFIX, include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        user = _signed_in(request)
        if user is None:
            return _render("sign_in.html.j2", user=None, error=None)
        if user.role in records.PARTNER_ROLES:  # issue 17: partners see only their invitations
            return RedirectResponse(f"{PAGE_PREFIX}/partner/", status_code=303)
        checked = _user(request)
        return checked if isinstance(checked, Response) else _queue_page(request, checked)

    @router.get("/new", response_class=HTMLResponse)
    def new_referral(request: Request) -> Response:
        """A referral received outside MAST's register (by phone, say), or one by its id."""
        checked = _user(request)
        return checked if isinstance(checked, Response) else _index(request, checked)

    @router.post("/sign-in")
    def sign_in(request: Request, form: dict = Depends(_form)) -> Response:
        token = first(form, "token") or ""
        user = records.get_store(request).verify_token(token)
        if user is None:
            return _render(
                "sign_in.html.j2",
                401,
                user=None,
                error="That token is not valid (unknown, mistyped or revoked).",
            )
        # The cookie holds a session token of its own (MAST_SESSION_HOURS), so
        # signing out can revoke it without revoking the token signed in with.
        session = records.get_store(request).create_session(user)
        response = RedirectResponse(f"{PAGE_PREFIX}/", status_code=303)
        response.set_cookie(
            records.COOKIE_NAME,
            session,
            httponly=True,
            max_age=int(records.tokens.session_lifetime().total_seconds()),
            samesite="strict",
            path=PAGE_PREFIX,
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/sign-out")
    def sign_out(request: Request, form: dict = Depends(_form)) -> Response:
        """Revoke the session's token (not just the cookie) and clear the cookie."""
        user = _signed_in(request)
        if user is not None:
            records.get_store(request).revoke_token(user.token_id, user.name, user.role)
        response = RedirectResponse(f"{PAGE_PREFIX}/", status_code=303)
        response.delete_cookie(records.COOKIE_NAME, path=PAGE_PREFIX)
        return response

    @router.get("/referral", response_class=HTMLResponse)
    def referral_page(request: Request) -> Response:
        user = _user(request)
        if isinstance(user, Response):
            return user
        params = parse_qs(request.url.query, keep_blank_values=True)
        if carries_named_adults(params):
            # A web address is kept in browser history and proxy logs: adults'
            # names, dates of birth and addresses are only ever posted.
            return _index(request, user, 422, [NAMED_ADULTS_IN_ADDRESS], params)
        rid = first(params, "referral_id")
        only_id = rid and not any(
            first(params, k) for k in ("received_at", "source", "referrer_relationship", "children")
        )
        register = request.app.state.register
        try:
            referral = register.current(rid) if only_id else referral_from_query(params)
        except FormError as err:
            return _index(request, user, 422, err.messages, params)
        if referral is None:
            return _index(
                request,
                user,
                404,
                [f"No referral {rid!r} is on record: enter it as a new referral below."],
                params,
            )
        return _show_referral(request, user, referral, params=params)

    @router.post("/referral", response_class=HTMLResponse)
    def new_referral_posted(request: Request, form: dict = Depends(_form)) -> Response:
        """The new-referral form, posted so that nothing typed in it is put in the address.

        The same-origin check and the SameSite=Strict session cookie guard it,
        as every other form of the page.  The referral page is the response
        itself; its address is ``/page/referral`` with no query.
        """
        user = _user(request)
        if isinstance(user, Response):
            return user
        try:
            referral = referral_from_query(form)
        except FormError as err:
            return _index(request, user, 422, err.messages, form)
        return _show_referral(request, user, referral, params=form)

    def _again(
        request: Request, user: records.Principal, referral_id: str, refused: Refused, context: dict
    ) -> Response:
        """The referral page again, with the refusal and what was typed; else the result page."""
        register = request.app.state.register
        current = register.current(referral_id) if refused.form != "initial_view" else None
        if current is None:
            return _render(
                "result.html.j2",
                refused.status,
                ok=False,
                title="Not recorded: please check the form"
                if refused.status == 422
                else "Not recorded",
                messages=refused.errors,
                **context,
            )
        return _show_referral(request, user, current, refused=refused)

    def _record(request: Request, referral_id: str, form: dict, what: str) -> Response:
        user = _user(request)
        if isinstance(user, Response):
            return user
        store, guard = records.get_store(request), request.app.state.guard
        back = first(form, "back") or ""
        context = {"user": user, "back": back, "referral_id": referral_id}
        status = guard.lookup(referral_id)
        if status is None and what != "initial_view":
            return _render(
                "result.html.j2",
                404,
                ok=False,
                title="Referral not scored",
                messages=[
                    f"Referral {referral_id} has not been opened in MAST yet: open it first."
                ],
                **context,
            )
        fields = {k: first(form, k) for k in form if k != "back"}
        try:
            if what == "decision":
                entry = store.record_decision(
                    user,
                    referral_id,
                    records.DecisionIn(**{k: val for k, val in fields.items() if val is not None}),
                    status,
                )
                title = f"Decision recorded: {records.DECISION_LABELS[entry.payload['decision']]}"
            elif what == "override":
                if not records.allowed(user.role, roles.RECORD_OVERRIDE):
                    return _render(
                        "result.html.j2",
                        403,
                        ok=False,
                        title="Managers only",
                        messages=["Only a manager can record an override."],
                        **context,
                    )
                entry = store.record_override(
                    user,
                    referral_id,
                    records.OverrideIn(**{k: val for k, val in fields.items() if val is not None}),
                    status,
                )
                title = "Manager's override recorded"
            else:
                store.record_initial_view(
                    user,
                    referral_id,
                    records.InitialViewIn(
                        **{k: val for k, val in fields.items() if val is not None}
                    ),
                )
                posted = _posted_referral(back, referral_id)
                if posted is not None:
                    return _show_referral(request, user, posted)
                return RedirectResponse(f"{PAGE_PREFIX}/referral?{back}", status_code=303)
        except (ValidationError, records.RuleViolation) as err:
            typed = {k: val for k, val in fields.items() if val is not None}
            if isinstance(err, ValidationError):
                refused = Refused(422, messages_of(err), what, typed)
            else:
                refused = Refused(err.status, [rule_message(err)], what, typed)
            posted = _posted_referral(back, referral_id) if what == "initial_view" else None
            if posted is not None:
                return _show_referral(request, user, posted, refused=refused)
            return _again(request, user, referral_id, refused, context)
        return _render(
            "result.html.j2",
            200,
            ok=True,
            title=title,
            messages=[
                f"Recorded in the audit trail as entry {entry.seq}, {uk_time(entry.at)} (UK time), "
                f"by {entry.actor}."
            ],
            **context,
        )

    @router.post("/referral/{referral_id}/amend", response_class=HTMLResponse)
    def post_amendment(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        """Correct the referral's content: a new version, kept beside the earlier ones."""
        user = _user(request)
        if isinstance(user, Response):
            return user
        context = {
            "user": user,
            "back": urlencode({"referral_id": referral_id}),
            "referral_id": referral_id,
        }
        register = request.app.state.register
        try:
            referral = referral_from_query({**form, "referral_id": [referral_id]})
            body = AmendmentIn(
                amendment_id=first(form, "amendment_id") or "",
                reason=first(form, "reason"),
                **referral.model_dump(exclude={"referral_id"}),
            )
            refusal = register.blind_first_refusal(user, referral)
            if refusal:
                raise ServingError(409, refusal)
            register.amend(user, referral, reason=body.reason, amendment_id=body.amendment_id)
        except FormError as err:
            return _refused(422, err.messages, **context)
        except ValidationError as err:
            return _refused(422, messages_of(err), **context)
        except ServingError as err:
            return _refused(err.status, [rule_message_text(err.detail)], **context)
        except records.RuleViolation as err:
            return _refused(err.status, [rule_message(err)], **context)
        return RedirectResponse(f"{PAGE_PREFIX}/referral?{context['back']}", status_code=303)

    @router.post("/referral/{referral_id}/decision", response_class=HTMLResponse)
    def post_decision(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        return _record(request, referral_id, form, "decision")

    @router.post("/referral/{referral_id}/override", response_class=HTMLResponse)
    def post_override(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        return _record(request, referral_id, form, "override")

    @router.post("/referral/{referral_id}/initial-view", response_class=HTMLResponse)
    def post_initial_view(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        return _record(request, referral_id, form, "initial_view")

    return router
