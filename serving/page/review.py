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
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

import records
from records import kinds, partners, review, roles
from serving.engine import ServingError
from serving.page.forms import first
from serving.page.router import PAGE_PREFIX, ReferralId, _form, _render, _signed_in
from serving.partner_api import invited_chronology

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


def _when(value: Any) -> str:
    """A time in UK local time, as ``30 Nov 2026 10:00`` (naive values are UK time already)."""
    if value in (None, ""):
        return ""
    return review.local_time(value).strftime("%d %b %Y %H:%M")


def describe(entry: dict) -> dict:
    """One entry of the referral's record (:meth:`records.RecordsStore.referral_record`) in words."""
    p, kind = entry["payload"], entry["kind"]
    who = f"{entry['actor']} ({partners.role_label(entry['role'])})"
    lines: list[str] = []
    if kind == kinds.DECISION:
        what = f"Decision: {records.DECISION_LABELS.get(p['decision'], p['decision'])}"
        lines.append(f"Why: {p['rationale']}")
    elif kind == kinds.REVIEW:
        what = "Strategy discussion recorded"
        took_part = ", ".join(
            f"{review.AGENCY_LABELS[x['agency']]} ({x['name']})" for x in p["participants"]
        )
        lines.append(
            f"Held {_when(p['held_at'])} (UK time); due {_when(p['due'])}"
            + ("; held late" if p.get("held_late") else "")
        )
        lines.append(f"Took part: {took_part}")
        for s in p.get("shared", []):
            lines.append(f"{review.AGENCY_LABELS[s['agency']].capitalize()} shared: {s['summary']}")
        o = p["outcome"]
        lines.append(
            f"Section 47 enquiry: {'yes' if o['section_47'] else 'no'} ({o['section_47_rationale']})"
        )
        lines.append(
            f"Child protection medical: {'yes' if o['cp_medical'] else 'no'} ({o['cp_medical_rationale']})"
        )
        for a in p.get("actions", []):
            lines.append(
                f"Action: {a['action']}, owned by {a['owner']}"
                + (f", due {a['due']}" if a.get("due") else "")
            )
        if p.get("missing_agencies"):
            missing = ", ".join(review.AGENCY_LABELS[a] for a in p["missing_agencies"])
            lines.append(f"Without {missing}: manager's reason: {p.get('missing_agencies_reason')}")
    elif kind == kinds.REFERRER_TOLD:
        what = f"{partners.RECIPIENT_LABELS[p['recipient']].capitalize()} told the outcome"
        lines.append(
            f"{partners.METHOD_LABELS[p['method']].capitalize()}, {_when(p['told_at'])} (UK time): "
            f"{p['outcome_given']}"
        )
    elif kind == kinds.PARTNER_INVITATION:
        what = f"{p['partner_name']} ({partners.role_label(p['partner_role'])}) invited"
        lines.append(f"Why: {p['reason']}")
    elif kind == kinds.AGENCY_CONTRIBUTION:
        what = f"Information from {review.AGENCY_LABELS[p['agency']]}"
        lines.append(p["summary"])
    elif kind == kinds.ESCALATION:
        what = f"Escalation by {review.AGENCY_LABELS[p['agency']]}: challenges the no-further-action decision"
        lines.append(p["reason"])
    elif kind == kinds.ESCALATION_ANSWER:
        what = f"Manager's answer to an escalation: {partners.ANSWER_LABELS[p['outcome']]}"
        lines.append(p["reason"])
    else:
        what = kind.replace("_", " ")
    return {
        "at": _when(entry["at"]),
        "who": who,
        "what": what,
        "lines": lines,
        "kind": kind,
        "record_id": entry["record_id"],
    }


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
    """A :class:`records.review.StrategyDiscussionIn` body from the review form."""
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
        if action or owner:
            actions.append(
                {
                    "action": action or "",
                    "owner": owner or "",
                    **({"due": first(form, f"due_{i}")} if first(form, f"due_{i}") else {}),
                }
            )
    body = {
        "review_id": first(form, "review_id") or "",
        "held_at": first(form, "held_at"),
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


def make_review_router() -> APIRouter:
    """The ``/page`` routes for the review record and partner agencies."""
    router = APIRouter(prefix=PAGE_PREFIX, include_in_schema=False)

    def review_page(
        request: Request, user, referral_id: str, status: int = 200, **extra
    ) -> HTMLResponse:
        store = records.get_store(request)
        follow = store.follow_up([referral_id])[referral_id]
        return _render(
            "review_page.html.j2",
            status,
            user=user,
            referral_id=referral_id,
            back=urlencode({"referral_id": referral_id}),
            follow=follow,
            due=_when(follow.review_due),
            decided_at=_when(follow.decided_at),
            agencies=AGENCIES,
            required=review.REQUIRED_AGENCIES,
            agency_labels=review.AGENCY_LABELS,
            methods=partners.METHOD_LABELS,
            recipients=partners.RECIPIENT_LABELS,
            partner_roles={r: partners.role_label(r) for r in roles.PARTNER_ROLES},
            answers=partners.ANSWER_LABELS,
            action_rows=range(1, ACTION_ROWS + 1),
            new_id=lambda: uuid.uuid4().hex,
            now=datetime.now().strftime("%Y-%m-%dT%H:%M"),
            working_days=review.working_days_setting(),
            errors=extra.pop("errors", []),
            done=extra.pop("done", None),
            form=extra.pop("form", {}),
            **_record_context(store, user, referral_id),
        )

    def staff_write(request, referral_id, form, action, write, done: str) -> Response:
        user = _principal(request, roles.USE_PAGE)
        if isinstance(user, Response):
            return user
        if not records.allowed(user.role, action):
            return review_page(
                request, user, referral_id, 403, errors=["Only a manager can do that."]
            )
        return _written(review_page, request, user, referral_id, form, write, done)

    @router.get("/referral/{referral_id}/review", response_class=HTMLResponse)
    def get_review(referral_id: ReferralId, request: Request) -> Response:
        user = _principal(request, roles.USE_PAGE)
        if isinstance(user, Response):
            return user
        return review_page(request, user, referral_id)

    @router.post("/referral/{referral_id}/review", response_class=HTMLResponse)
    def post_review(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        def write(store, user):
            body = records.StrategyDiscussionIn.model_validate(_review_body(form))
            return store.record_review(user, referral_id, body)

        return staff_write(
            request, referral_id, form, roles.RECORD_REVIEW, write, "Strategy discussion recorded"
        )

    @router.post("/referral/{referral_id}/referrer-told", response_class=HTMLResponse)
    def post_told(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        def write(store, user):
            fields = _fields(form, ("record_id", "recipient", "told_at", "method", "outcome_given"))
            return store.record_referrer_told(user, referral_id, records.ReferrerToldIn(**fields))

        return staff_write(
            request, referral_id, form, roles.RECORD_REFERRER_TOLD, write, "Referrer told: recorded"
        )

    @router.post("/referral/{referral_id}/invite", response_class=HTMLResponse)
    def post_invite(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        def write(store, user):
            fields = _fields(form, ("invitation_id", "partner_name", "partner_role", "reason"))
            return store.invite_partner(user, referral_id, records.InvitationIn(**fields))

        return staff_write(
            request, referral_id, form, roles.INVITE_PARTNER, write, "Partner invited"
        )

    @router.post(
        "/referral/{referral_id}/escalations/{escalation_id}/answer", response_class=HTMLResponse
    )
    def post_answer(
        referral_id: ReferralId,
        escalation_id: ReferralId,
        request: Request,
        form: dict = Depends(_form),
    ) -> Response:
        def write(store, user):
            fields = _fields(form, ("answer_id", "outcome", "reason"))
            return store.answer_escalation(
                user, referral_id, escalation_id, records.EscalationAnswerIn(**fields)
            )

        return staff_write(
            request, referral_id, form, roles.ANSWER_ESCALATION, write, "Escalation answered"
        )

    # -- partner agencies
    @router.get("/partner/", response_class=HTMLResponse)
    def partner_home(request: Request) -> Response:
        user = _principal(request, roles.USE_PARTNER_PAGE)
        if isinstance(user, Response):
            return user
        store = records.get_store(request)
        invited = store.invited_referrals(user)
        follow = store.follow_up(invited)
        return _render(
            "partner_home.html.j2",
            user=user,
            invited=[
                {
                    "referral_id": rid,
                    "decision": records.DECISION_LABELS.get(
                        follow[rid].decision or "", "awaiting a decision"
                    ),
                }
                for rid in invited
            ],
            agency=review.AGENCY_LABELS[partners.agency_of(user.role)],
        )

    def partner_page(request, user, referral_id: str, status: int = 200, **extra) -> Response:
        store = records.get_store(request)
        try:
            context = _record_context(store, user, referral_id)
            referral = request.app.state.register.current(referral_id)
            chronologies = [
                invited_chronology(request, user, referral_id, pid)
                for pid in (referral.children if referral else ())
            ]
        except records.RuleViolation as err:
            return _render(
                "result.html.j2",
                err.status,
                user=user,
                ok=False,
                title="Not found",
                messages=[_sentence(err)],
            )
        except ServingError as err:
            return _render(
                "result.html.j2",
                err.status,
                user=user,
                ok=False,
                title="Not found",
                messages=[str(err.detail)],
            )
        return _render(
            "partner_referral.html.j2",
            status,
            user=user,
            referral_id=referral_id,
            referral=referral,
            chronologies=chronologies,
            agency=review.AGENCY_LABELS[partners.agency_of(user.role)],
            new_id=lambda: uuid.uuid4().hex,
            errors=extra.pop("errors", []),
            done=extra.pop("done", None),
            form=extra.pop("form", {}),
            **context,
        )

    @router.get("/partner/referral/{referral_id}", response_class=HTMLResponse)
    def get_partner_referral(referral_id: ReferralId, request: Request) -> Response:
        user = _principal(request, roles.USE_PARTNER_PAGE)
        if isinstance(user, Response):
            return user
        return partner_page(request, user, referral_id)

    def partner_write(request, referral_id, form, write, done: str) -> Response:
        user = _principal(request, roles.USE_PARTNER_PAGE)
        if isinstance(user, Response):
            return user
        return _written(partner_page, request, user, referral_id, form, write, done)

    @router.post("/partner/referral/{referral_id}/contribution", response_class=HTMLResponse)
    def post_contribution(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        def write(store, user):
            fields = _fields(form, ("contribution_id", "summary", "as_of"))
            return store.add_contribution(user, referral_id, records.ContributionIn(**fields))

        return partner_write(
            request, referral_id, form, write, "Your agency's information was added"
        )

    @router.post("/partner/referral/{referral_id}/escalation", response_class=HTMLResponse)
    def post_escalation(
        referral_id: ReferralId, request: Request, form: dict = Depends(_form)
    ) -> Response:
        def write(store, user):
            fields = _fields(form, ("escalation_id", "reason"))
            return store.raise_escalation(user, referral_id, records.EscalationIn(**fields))

        return partner_write(
            request, referral_id, form, write, "Escalation raised: a manager must answer it"
        )

    return router


def _written(show, request, user, referral_id: str, form: dict, write, done: str) -> Response:
    """Run one store write; show the page again with what was done, or why not (text kept).

    A partner refused as not invited (404) is shown the same page as for
    an unknown referral, by ``show`` itself.
    """
    try:
        entry = write(records.get_store(request), user)
    except ValidationError as err:
        return show(request, user, referral_id, 422, errors=plain_errors(err), form=form)
    except records.RuleViolation as err:
        if err.status == 404 and user.role in records.PARTNER_ROLES:
            return show(request, user, referral_id)
        return show(request, user, referral_id, err.status, errors=[_sentence(err)], form=form)
    when = _when(entry.at)
    return show(
        request, user, referral_id, done=f"{done} (audit entry {entry.seq}, {when} UK time)."
    )


def _sentence(err: records.RuleViolation) -> str:
    """A rule's refusal as a sentence, without the API's field hints in brackets."""
    message = err.message.replace(" (missing_agencies_reason)", "")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
