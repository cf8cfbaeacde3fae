"""The review, referrer-told and partner endpoints (issue 17), mounted by :func:`records.install`.

Each endpoint enforces its action from the role matrix (:mod:`records.roles`);
a partner lead is further held to the referrals they are invited to, and
gets 404, as for an unknown referral, for any other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel

from records.api import ERRORS, EntryOut, ReferralId, _recorded
from records.auth import get_store, require
from records.follow_up import FollowUp
from records.partners import (
    ContributionIn,
    EscalationAnswerIn,
    EscalationIn,
    InvitationIn,
    ReferrerToldIn,
    WithdrawalIn,
)
from records.review import StrategyDiscussionIn
from records.roles import (
    ADD_CONTRIBUTION,
    ANSWER_ESCALATION,
    INVITE_PARTNER,
    RAISE_ESCALATION,
    READ_INVITED_REFERRAL,
    RECORD_REFERRER_TOLD,
    RECORD_REVIEW,
    VIEW_FOLLOW_UP,
    WITHDRAW_INVITATION,
)
from records.rules import RuleViolation
from records.tokens import Principal

RecordIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{8,128}$")]


class FollowUpOut(BaseModel):
    """One referral's follow-up (times in England local time, no offset)."""

    referral_id: str
    decision: str | None
    decided_at: datetime | None
    referrer_told: bool
    needs_referrer_told: bool
    police_referred: bool
    review_open: bool
    review_due: datetime | None
    review_overdue: bool
    review_held_late: bool
    reviews: int
    escalations: int
    escalations_open: int

    @classmethod
    def of(cls, f: FollowUp) -> FollowUpOut:
        fields = {name: getattr(f, name) for name in cls.model_fields}
        return cls(**fields)


class RecordEntryOut(BaseModel):
    """One entry of a referral's multi-agency record (no score, no flag)."""

    seq: int
    at: str
    at_local: str
    kind: str
    actor: str
    role: str
    record_id: str | None
    payload: dict


class ReferralRecordOut(BaseModel):
    referral_id: str
    entries: list[RecordEntryOut]


def _router() -> tuple[APIRouter, dict]:
    """A router for one referral's endpoints, and the settings of an endpoint that records."""
    router = APIRouter(prefix="/v1/referrals/{referral_id}", tags=["review and partners"])
    return router, {"status_code": 201, "response_model": EntryOut, "responses": ERRORS}


def make_follow_up_router() -> APIRouter:
    """The strategy discussion, the referrer told, invitations, contributions and escalations."""
    router, created = _router()

    @router.post("/reviews", **created)
    def post_review(
        referral_id: ReferralId,
        body: StrategyDiscussionIn,
        request: Request,
        principal: Principal = Depends(require(RECORD_REVIEW)),
    ) -> EntryOut:
        """Record the strategy discussion a decision opened: who took part by agency, what each
        shared, the outcome (section 47, child protection medical, each with its rationale) and
        the actions with owners.  Without children's social care, health and the police it needs
        a manager's ``missing_agencies_reason``."""
        store = get_store(request)
        return _recorded(lambda: store.record_review(principal, referral_id, body))

    @router.post("/referrer-told", **created)
    def post_referrer_told(
        referral_id: ReferralId,
        body: ReferrerToldIn,
        request: Request,
        principal: Principal = Depends(require(RECORD_REFERRER_TOLD)),
    ) -> EntryOut:
        """Record the outcome given to the referrer (or the police), when and how."""
        store = get_store(request)
        return _recorded(lambda: store.record_referrer_told(principal, referral_id, body))

    @router.post("/invitations", **created)
    def post_invitation(
        referral_id: ReferralId,
        body: InvitationIn,
        request: Request,
        principal: Principal = Depends(require(INVITE_PARTNER)),
    ) -> EntryOut:
        """Invite a named partner lead (police, health, education) to this referral only."""
        store = get_store(request)
        return _recorded(lambda: store.invite_partner(principal, referral_id, body))

    @router.get("/follow-up", response_model=FollowUpOut, responses=ERRORS)
    def get_follow_up(
        referral_id: ReferralId,
        request: Request,
        _principal: Principal = Depends(require(VIEW_FOLLOW_UP)),
    ) -> FollowUpOut:
        """Referrer told? Strategy discussion open or overdue? Escalations open?"""
        found = get_store(request).follow_up([referral_id])
        return FollowUpOut.of(found[referral_id])

    @router.get("/record", response_model=ReferralRecordOut, responses=ERRORS)
    def get_record(
        referral_id: ReferralId,
        request: Request,
        principal: Principal = Depends(require(READ_INVITED_REFERRAL)),
    ) -> ReferralRecordOut:
        """The referral's decisions, strategy discussions, referrer told, invitations,
        contributions and escalations (never a score).  A partner lead: only if invited."""
        store = get_store(request)
        try:
            return ReferralRecordOut(**store.referral_record(principal, referral_id))
        except RuleViolation as err:
            raise HTTPException(err.status, detail=err.as_detail()) from err

    @router.post("/contributions", **created)
    def post_contribution(
        referral_id: ReferralId,
        body: ContributionIn,
        request: Request,
        principal: Principal = Depends(require(ADD_CONTRIBUTION)),
    ) -> EntryOut:
        """An invited partner lead adds what their agency knows (appended, never overwriting)."""
        store = get_store(request)
        return _recorded(lambda: store.add_contribution(principal, referral_id, body))

    @router.post("/escalations", **created)
    def post_escalation(
        referral_id: ReferralId,
        body: EscalationIn,
        request: Request,
        principal: Principal = Depends(require(RAISE_ESCALATION)),
    ) -> EntryOut:
        """An invited partner lead formally challenges the no-further-action decision."""
        store = get_store(request)
        return _recorded(lambda: store.raise_escalation(principal, referral_id, body))

    @router.post("/escalations/{escalation_id}/answer", **created)
    def post_answer(
        referral_id: ReferralId,
        escalation_id: RecordIdPath,
        body: EscalationAnswerIn,
        request: Request,
        principal: Principal = Depends(require(ANSWER_ESCALATION)),
    ) -> EntryOut:
        """A manager answers an escalation: the decision stands, or is to be changed, and why."""
        store = get_store(request)
        return _recorded(
            lambda: store.answer_escalation(principal, referral_id, escalation_id, body)
        )

    return router


def make_withdrawal_router() -> APIRouter:
    """A manager withdraws a partner's invitation (mounted beside :func:`make_follow_up_router`)."""
    router, created = _router()

    @router.post("/invitations/{invitation_id}/withdrawal", **created)
    def post_withdrawal(
        referral_id: ReferralId,
        invitation_id: RecordIdPath,
        body: WithdrawalIn,
        request: Request,
        principal: Principal = Depends(require(WITHDRAW_INVITATION)),
    ) -> EntryOut:
        """A manager withdraws a partner's invitation, with a reason: from then on the partner
        gets 404 for this referral, as for one they were never invited to."""
        store = get_store(request)
        return _recorded(
            lambda: store.withdraw_invitation(principal, referral_id, invitation_id, body)
        )

    return router
