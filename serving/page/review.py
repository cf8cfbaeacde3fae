"""The page's strategy discussion, referrer-told and partner-agency screens (issue 17).

Two audiences:

- the front door (screeners and managers): ``/page/referral/{id}/review``
  shows whether a strategy discussion is open or overdue, whether the
  referrer has been told, the partner agencies invited and what they added,
  and escalations; and records the strategy discussion with the agencies
  who took part, the referrer told, an invitation, a manager's answer;
- a partner agency's safeguarding lead: ``/page/partner/`` lists only the
  referrals they are invited to; each shows the children's chronologies and
  the multi-agency record, and takes the agency's contribution and a formal
  escalation of a no-further-action decision.

Every write goes through the same :class:`records.RecordsStore` methods
and rules as the JSON API.  Refusals are in plain English: pydantic's own
text never reaches the page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

import records
from records import kinds, partners, review, roles
from records.statutory import LOCAL_TIME
from serving.page import extensions
from serving.page.dates import DateError, date_from_parts
from serving.page.forms import first
from serving.page.review_words import describe, when
from serving.page.router import PAGE_PREFIX, ReferralId, _form, _render, _signed_in
from serving.partner_api import invited_chronology
from serving.scoring import ServingError
from settings import invitation_days

AGENCIES = review.REQUIRED_AGENCIES + review.OPTIONAL_AGENCIES
ACTION_ROWS = 3
# Field names as a person reads them, for refusals.
FIELD_LABELS = {
    "held_at": "when it was held",
    "participants": "who took part",
    "shared": "what each agency shared",
    "section_47": "whether a section 47 enquiry is to be made",
    "section_47_rationale": "the reason for the section 47 decision",
    "cp_medical": "whether a child protection medical is to be arranged",
    "cp_medical_rationale": "the reason for the child protection medical decision",
    "actions": "the actions",
    "action": "the action",
    "owner": "who owns the action",
    "due": "the date the action is due",
    "name": "the name of the person who took part",
    "summary": "what was shared",
    "missing_agencies_reason": "the manager's reason",
    "told_at": "when they were told",
    "method": "how they were told",
    "outcome_given": "what they were told",
    "recipient": "who was told",
    "partner_name": "the partner's name",
    "partner_role": "the partner's agency",
    "reason": "the reason",
    "outcome": "the answer",
    "as_of": "when your agency's records were checked",
}


def plain_errors(err: ValidationError) -> list[str]:
    """Validation errors as sentences a screener can act on (never pydantic's own words)."""
    out = []
    for e in err.errors():
        names = [str(p) for p in e["loc"] if not isinstance(p, int)]
        label = FIELD_LABELS.get(names[-1] if names else "", "this form")
        kind = e["type"]
        if kind == "missing":
            out.append(f"Please fill in {label}.")
        elif kind in ("string_too_short", "too_short"):
            out.append(f"Please fill in {label}: it cannot be left empty.")
        elif kind == "string_too_long":
            out.append(f"{label.capitalize()} is too long.")
        elif kind.startswith(("datetime", "date")):
            out.append(f"Please give {label} as a date and time, for example 30/11/2026 10:00.")
        elif kind in ("literal_error", "enum", "bool_parsing", "bool_type"):
            out.append(f"Please choose one of the options for {label}.")
        elif kind == "value_error":
            sentence = str(e.get("ctx", {}).get("error") or "this is not valid")
            sentence = sentence.split(": ", 1)[-1]
            out.append(sentence[:1].upper() + sentence[1:] + ".")
        else:
            out.append(f"Please check {label}.")
    return list(dict.fromkeys(out))


def _principal(request: Request, action: str) -> records.Principal | Response:
    user = _signed_in(request)
    if user is None:
        return RedirectResponse(f"{PAGE_PREFIX}/", status_code=303)
    if not records.allowed(user.role, action):
        return _render(
            "result.html.j2",
            403,
            user=user,
            ok=False,
            title="Not for your role",
            messages=[f"This page is not open to a {partners.role_label(user.role)}."],
        )
    return user


def _record_context(store, user, referral_id: str) -> dict:
    found = store.referral_record(user, referral_id)["entries"]
    answered = {
        e["payload"]["escalation_id"] for e in found if e["kind"] == kinds.ESCALATION_ANSWER
    }
    open_escalations = [
        {**describe(e), "escalation_id": e["record_id"]}
        for e in found
        if e["kind"] == kinds.ESCALATION and e["record_id"] not in answered
    ]
    decisions = [e for e in found if e["kind"] == kinds.DECISION]
    return {
        "record": [describe(e) for e in found],
        "open_escalations": open_escalations,
        "current_decision": decisions[-1]["payload"]["decision"] if decisions else None,
    }


def _review_body(form: dict) -> dict:
    """A :class:`records.review.StrategyDiscussionIn` body from the review form.

    Dates come in day, month, year (and time) boxes (serving/page/dates.py);
    a due date typed without an action still counts as a row, so it is
    refused rather than silently dropped.

    Raises
    ------
    DateError
        Boxes that make no date, naming the field.
    """
    participants, shared = [], []
    for a in AGENCIES:
        if first(form, f"took_part_{a}") is None:
            continue
        participants.append(
            {
                "agency": a,
                "name": first(form, f"name_{a}") or "",
                **({"role": first(form, f"role_{a}")} if first(form, f"role_{a}") else {}),
            }
        )
        if first(form, f"shared_{a}"):
            shared.append({"agency": a, "summary": first(form, f"shared_{a}")})
    actions = []
    for i in range(1, ACTION_ROWS + 1):
        action, owner = first(form, f"action_{i}"), first(form, f"owner_{i}")
        due = date_from_parts(form, f"due_{i}", f"Action {i}'s due date")
        if action or owner or due:
            actions.append(
                {"action": action or "", "owner": owner or "", **({"due": due} if due else {})}
            )
    body = {
        "review_id": first(form, "review_id") or "",
        "held_at": date_from_parts(form, "held_at", "When it was held", with_time=True),
        "participants": participants,
        "shared": shared,
        "outcome": {
            "section_47": first(form, "section_47"),
            "section_47_rationale": first(form, "section_47_rationale"),
            "cp_medical": first(form, "cp_medical"),
            "cp_medical_rationale": first(form, "cp_medical_rationale"),
        },
        "actions": actions,
        "missing_agencies_reason": first(form, "missing_agencies_reason"),
    }
    if not participants:
        body["participants"] = []
    body["outcome"] = {k: v for k, v in body["outcome"].items() if v is not None}
    return {k: v for k, v in body.items() if v is not None}


def _fields(form: dict, names: tuple[str, ...]) -> dict:
    return {n: first(form, n) for n in names if first(form, n) is not None}


@dataclass(frozen=True)
class Visit:
    """One request to these pages: who, about which referral, with which form."""

    request: Request
    user: records.Principal
    referral_id: str
    form: dict = field(default_factory=dict)
    escalation_id: str | None = None


def review_page(v: Visit, status: int = 200, **extra) -> HTMLResponse:
    """The front door's review screen for one referral."""
    store = records.get_store(v.request)
    follow = store.follow_up([v.referral_id])[v.referral_id]
    return _render(
        "review_page.html.j2",
        status,
        user=v.user,
        referral_id=v.referral_id,
        back=urlencode({"referral_id": v.referral_id}),
        follow=follow,
        due=when(follow.review_due),
        decided_at=when(follow.decided_at),
        agencies=AGENCIES,
        required=review.REQUIRED_AGENCIES,
        agency_labels=review.AGENCY_LABELS,
        methods=partners.METHOD_LABELS,
        recipients=partners.RECIPIENT_LABELS,
        partner_roles={r: partners.role_label(r) for r in roles.PARTNER_ROLES},
        answers=partners.ANSWER_LABELS,
        action_rows=range(1, ACTION_ROWS + 1),
        new_id=lambda: uuid.uuid4().hex,
        now=datetime.now(LOCAL_TIME).strftime("%Y-%m-%dT%H:%M"),
        working_days=review.working_days_setting(),
        invitations=_invitations(store, v.referral_id),
        invitation_days=invitation_days(),
        may_withdraw=records.allowed(v.user.role, roles.WITHDRAW_INVITATION),
        errors=extra.get("errors", []),
        done=extra.get("done"),
        form=extra.get("form", {}),
        **_record_context(store, v.user, v.referral_id),
    )


def _not_found(user, status: int, message: str) -> HTMLResponse:
    return _render(
        "result.html.j2", status, user=user, ok=False, title="Not found", messages=[message]
    )


def partner_page(v: Visit, status: int = 200, **extra) -> Response:
    """A partner lead's view of a referral they are invited to (the same 404 otherwise)."""
    store = records.get_store(v.request)
    try:
        context = _record_context(store, v.user, v.referral_id)
        referral = v.request.app.state.register.current(v.referral_id)
        chronologies = [
            invited_chronology(v.request, v.user, v.referral_id, pid)
            for pid in (referral.children if referral else ())
        ]
    except records.RuleViolation as err:
        return _not_found(v.user, err.status, _sentence(err))
    except ServingError as err:
        return _not_found(v.user, err.status, str(err.detail))
    return _render(
        "partner_referral.html.j2",
        status,
        user=v.user,
        referral_id=v.referral_id,
        referral=referral,
        chronologies=chronologies,
        agency=review.AGENCY_LABELS[partners.agency_of(v.user.role)],
        new_id=lambda: uuid.uuid4().hex,
        errors=extra.get("errors", []),
        done=extra.get("done"),
        form=extra.get("form", {}),
        **context,
    )


def partner_home(request: Request) -> Response:
    """The referrals a partner lead is invited to, and nothing else."""
    user = _principal(request, roles.USE_PARTNER_PAGE)
    if isinstance(user, Response):
        return user
    store = records.get_store(request)
    invited = store.open_invitations(user)
    follow = store.follow_up([e.referral_id for e in invited])
    waiting = "awaiting a decision"
    return _render(
        "partner_home.html.j2",
        user=user,
        invited=[
            {
                "referral_id": e.referral_id,
                "decision": records.DECISION_LABELS.get(
                    follow[e.referral_id].decision or "", waiting
                ),
                "until": when(e.payload["expires_at"]),
            }
            for e in invited
        ],
        agency=review.AGENCY_LABELS[partners.agency_of(user.role)],
    )


# The writes: (action, what is built from the form and stored, what the page then says).
def _write_review(store, v: Visit):
    body = records.StrategyDiscussionIn.model_validate(_review_body(v.form))
    return store.record_review(v.user, v.referral_id, body)


def _write_told(store, v: Visit):
    names = ("record_id", "recipient", "method", "outcome_given")
    told_at = date_from_parts(v.form, "told_at", "When they were told", with_time=True)
    fields = _fields(v.form, names) | ({"told_at": told_at} if told_at else {})
    body = records.ReferrerToldIn(**fields)
    return store.record_referrer_told(v.user, v.referral_id, body)


def _write_invitation(store, v: Visit):
    names = ("invitation_id", "partner_name", "partner_role", "reason")
    return store.invite_partner(
        v.user, v.referral_id, records.InvitationIn(**_fields(v.form, names))
    )


def _write_withdrawal(store, v: Visit):
    body = records.WithdrawalIn(**_fields(v.form, ("withdrawal_id", "reason")))
    invitation = (v.form.get("invitation_id") or [""])[0]
    return store.withdraw_invitation(v.user, v.referral_id, invitation, body)


def _invitations(store, referral_id: str) -> list[dict]:
    """The referral's invitations in words: who, and open until when, withdrawn or expired."""
    state = {"withdrawn": "withdrawn", "closed": "expired"}
    return [
        {
            **i,
            "who": f"{i['partner_name']} ({partners.role_label(i['partner_role'])})",
            "state_words": f"open until {when(i['expires_at'])} (UK time)"
            if i["state"] == "open"
            else state[i["state"]],
        }
        for i in store.invitations(referral_id)
    ]


def _write_answer(store, v: Visit):
    body = records.EscalationAnswerIn(**_fields(v.form, ("answer_id", "outcome", "reason")))
    return store.answer_escalation(v.user, v.referral_id, v.escalation_id, body)


def _write_contribution(store, v: Visit):
    body = records.ContributionIn(**_fields(v.form, ("contribution_id", "summary", "as_of")))
    return store.add_contribution(v.user, v.referral_id, body)


def _write_escalation(store, v: Visit):
    body = records.EscalationIn(**_fields(v.form, ("escalation_id", "reason")))
    return store.raise_escalation(v.user, v.referral_id, body)


STAFF_WRITES = {
    "review": (roles.RECORD_REVIEW, _write_review, "Strategy discussion recorded"),
    "referrer-told": (roles.RECORD_REFERRER_TOLD, _write_told, "Referrer told: recorded"),
    "invite": (roles.INVITE_PARTNER, _write_invitation, "Partner invited"),
    "withdraw": (roles.WITHDRAW_INVITATION, _write_withdrawal, "Invitation withdrawn"),
    "answer": (roles.ANSWER_ESCALATION, _write_answer, "Escalation answered"),
}
PARTNER_WRITES = {
    "contribution": (_write_contribution, "Your agency's information was added"),
    "escalation": (_write_escalation, "Escalation raised: a manager must answer it"),
}


def staff_write(request: Request, what: str, referral_id: str, form: dict, **more) -> Response:
    """A front-door write from the review screen (the role matrix first, then the store's rules)."""
    user = _principal(request, roles.USE_PAGE)
    if isinstance(user, Response):
        return user
    action, write, done = STAFF_WRITES[what]
    v = Visit(request, user, referral_id, form, **more)
    if not records.allowed(user.role, action):
        return review_page(v, 403, errors=["Only a manager can do that."])
    return _written(review_page, v, write, done)


def partner_write(request: Request, what: str, referral_id: str, form: dict) -> Response:
    """A partner lead's write (their invitation is checked by the store)."""
    user = _principal(request, roles.USE_PARTNER_PAGE)
    if isinstance(user, Response):
        return user
    write, done = PARTNER_WRITES[what]
    return _written(partner_page, Visit(request, user, referral_id, form), write, done)


def _written(show, v: Visit, write, done: str) -> Response:
    """Run one store write; show the page again with what was done, or why not (text kept).

    A partner refused as not invited (404) is shown the same page as for
    an unknown referral, by ``show`` itself.
    """
    try:
        entry = write(records.get_store(v.request), v)
    except ValidationError as err:
        return show(v, 422, errors=plain_errors(err), form=v.form)
    except DateError as err:
        return show(v, 422, errors=[str(err)], form=v.form)
    except records.RuleViolation as err:
        if err.status == 404 and v.user.role in records.PARTNER_ROLES:
            return show(v)
        return show(v, err.status, errors=[_sentence(err)], form=v.form)
    return show(v, done=f"{done} (audit entry {entry.seq}, {when(entry.at)} UK time).")


def _viewer(request: Request, action: str, referral_id: str, show) -> Response:
    user = _principal(request, action)
    return user if isinstance(user, Response) else show(Visit(request, user, referral_id))


def _endpoint(write, what: str):
    """A POST endpoint that hands the form to ``write`` (:func:`staff_write` or :func:`partner_write`)."""

    def endpoint(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        return write(request, what, referral_id, form)

    endpoint.__name__ = f"{write.__name__}_{what.replace('-', '_')}"
    return endpoint


def _panel_context(request, user, referral, history) -> dict:
    """What the referral page's review panel shows: the follow-up of this referral."""
    follow = records.get_store(request).follow_up([referral.referral_id])[referral.referral_id]
    return {"review_follow": follow, "review_due": when(follow.review_due)}


# The referral page's panel linking here (serving/page/extensions.py), registered once.
if not any(s.template == "review_panel.html.j2" for s in extensions.REFERRAL_SECTIONS):
    extensions.REFERRAL_SECTIONS.append(extensions.Section("review_panel.html.j2", _panel_context))


def make_review_router() -> APIRouter:
    """The ``/page`` routes for the review record and partner agencies."""
    router = APIRouter(prefix=PAGE_PREFIX, include_in_schema=False)
    html = {"response_class": HTMLResponse}

    @router.get("/referral/{referral_id}/review", **html)
    def get_review(referral_id: ReferralId, request: Request) -> Response:
        return _viewer(request, roles.USE_PAGE, referral_id, review_page)

    for what in ("review", "referrer-told", "invite", "withdraw"):
        router.add_api_route(
            f"/referral/{{referral_id}}/{what}",
            _endpoint(staff_write, what),
            methods=["POST"],
            **html,
        )

    @router.post("/referral/{referral_id}/escalations/{escalation_id}/answer", **html)
    def post_answer(
        referral_id: ReferralId,
        escalation_id: ReferralId,
        request: Request,
        form: dict = Depends(_form),
    ) -> Response:
        return staff_write(request, "answer", referral_id, form, escalation_id=escalation_id)

    router.add_api_route("/partner/", partner_home, methods=["GET"], **html)

    @router.get("/partner/referral/{referral_id}", **html)
    def get_partner_referral(referral_id: ReferralId, request: Request) -> Response:
        return _viewer(request, roles.USE_PARTNER_PAGE, referral_id, partner_page)

    for what in PARTNER_WRITES:
        router.add_api_route(
            f"/partner/referral/{{referral_id}}/{what}",
            _endpoint(partner_write, what),
            methods=["POST"],
            **html,
        )
    return router


def _sentence(err: records.RuleViolation) -> str:
    """A rule's refusal as a sentence, without the API's field hints in brackets."""
    message = err.message.replace(" (missing_agencies_reason)", "")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
