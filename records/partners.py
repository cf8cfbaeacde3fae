"""Partner agencies, the referrer told: request models and the pure rules.

The national review found that police and referrers were not told the
outcome of a referral, and that partner agencies had no way to escalate a
decision they disagreed with.  So:

- the outcome given to the referrer (and to the police, when they
  referred) is recorded with when and how (:class:`ReferrerToldIn`);
- a screener or manager invites a named partner lead (police, health or
  education safeguarding lead) to one referral (:class:`InvitationIn`);
  the lead then reads that referral's chronology and record and nothing else,
  until the invitation expires (``MAST_INVITATION_DAYS``, default 30 days,
  fixed when it is sent) or a manager withdraws it (:class:`WithdrawalIn`);
  an invitation is signed with the trail's anchor key, so one inserted or
  lengthened with direct SQL is not honoured (:func:`live_invitations`);
- the lead adds what their agency knows as an agency contribution
  (:class:`ContributionIn`): appended, never overwriting a record;
- the lead formally challenges a no-further-action decision
  (:class:`EscalationIn`), and a manager must answer it
  (:class:`EscalationAnswerIn`).

Everything is an entry in the hash-chained trail; the store writes it
(:mod:`records.follow_up` reads it back per referral).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field

from records import kinds, trail
from records.anchor import sign, signed
from records.models import RecordId, Text, _Strict
from records.roles import PARTNER_AGENCY, PARTNER_ROLES, ROLE_LABELS
from records.rules import RuleViolation

# Who is told the outcome: the referrer, and the police when they referred
# (or were otherwise involved and must be told).
RECIPIENTS = ("referrer", "police")
RECIPIENT_LABELS = {"referrer": "the referrer", "police": "the police"}
METHODS = ("phone", "email", "secure_email", "letter", "in_person", "meeting")
METHOD_LABELS = {
    "phone": "by phone",
    "email": "by email",
    "secure_email": "by secure email",
    "letter": "by letter",
    "in_person": "in person",
    "meeting": "at a meeting",
}
# A manager's answer to an escalation.
ANSWERS = ("decision_stands", "decision_to_be_changed")
ANSWER_LABELS = {
    "decision_stands": "the decision stands",
    "decision_to_be_changed": "the decision is to be changed",
}
PartnerRole = Literal[PARTNER_ROLES]


class ReferrerToldIn(_Strict):
    """The outcome given to the referrer (or to the police), when and how."""

    record_id: RecordId = Field(description="Client-chosen id; a replay gets 409.")
    recipient: Literal[RECIPIENTS] = "referrer"
    told_at: datetime = Field(description="When they were told (no offset: England local time).")
    method: Literal[METHODS]
    outcome_given: Text = Field(description="What they were told, in the words used.")


class InvitationIn(_Strict):
    """A screener or manager invites a named partner lead to one referral."""

    invitation_id: RecordId
    partner_name: Text = Field(max_length=128, description="The name on the partner's token.")
    partner_role: PartnerRole
    reason: Text = Field(description="Why this agency is asked in.")


class WithdrawalIn(_Strict):
    """A manager withdraws a partner's invitation before it expires, saying why."""

    withdrawal_id: RecordId
    reason: Text = Field(description="Why the partner's access to this referral is withdrawn.")


class ContributionIn(_Strict):
    """What the partner's agency knows about the children on the referral."""

    contribution_id: RecordId
    summary: Text
    as_of: datetime | None = Field(
        None, description="When the agency's records were checked (no offset: England local time)."
    )


class EscalationIn(_Strict):
    """A partner's formal challenge of a no-further-action decision."""

    escalation_id: RecordId
    reason: Text = Field(description="Why the agency disagrees, and what it asks for.")


class EscalationAnswerIn(_Strict):
    """A manager's answer to an escalation: the outcome and why."""

    answer_id: RecordId
    outcome: Literal[ANSWERS]
    reason: Text


def agency_of(role: str) -> str:
    """The agency a partner role speaks for."""
    return PARTNER_AGENCY[role]


def utc_now() -> datetime:
    """The clock invitations expire by (a function, so a test can move it)."""
    return datetime.now(UTC)


def expiry(days: int, now: datetime | None = None) -> datetime:
    """When an invitation sent ``now`` with a lifetime of ``days`` expires (UTC)."""
    return (now or utc_now()) + timedelta(days=days)


def _message(referral_id: str, invitation_id: str, payload: dict) -> dict:
    """What an invitation's signature covers: who, to which referral, until when."""
    return {
        "event": kinds.PARTNER_INVITATION,
        "invitation_id": invitation_id,
        "referral_id": referral_id,
        "partner_name": payload["partner_name"],
        "partner_role": payload["partner_role"],
        "expires_at": payload["expires_at"],
    }


def signed_invitation(key: bytes, referral_id: str, invitation_id: str, payload: dict) -> dict:
    """``payload`` with its signature under the trail's anchor key (refused without a key)."""
    if key is None:
        raise ValueError("no anchor key: invitations must be signed (see MAST_ANCHOR_KEY)")
    return {**payload, "mac": sign(key, _message(referral_id, invitation_id, payload))}


def _honoured(key: bytes | None, e) -> bool:
    p = e.payload
    return (
        key is not None
        and "expires_at" in p
        and signed(key, _message(e.referral_id, e.record_id, p), p.get("mac"))
    )


def live_invitations(invitations, withdrawals, key: bytes | None, now: datetime | None = None):
    """The invitations still open: signed, not expired, not withdrawn.

    An invitation not signed with the anchor key (one written with direct
    SQL, one whose expiry was edited, or one sent before invitations were
    signed) is not honoured; a withdrawal is honoured signed or not, as a
    token's revocation is: it can only take access away.
    """
    now_text = trail.format_time(now or utc_now())
    gone = {w.payload.get("invitation_id") for w in withdrawals}
    return [
        e
        for e in invitations
        if e.record_id not in gone and _honoured(key, e) and now_text < e.payload["expires_at"]
    ]


def is_invited(invitations, name: str, role: str) -> bool:
    """Whether any of ``invitations`` (trail entries) names this person in this role."""
    return any(
        e.payload["partner_name"] == name and e.payload["partner_role"] == role for e in invitations
    )


def no_invitation(referral_id: str, invitation_id: str) -> RuleViolation:
    return RuleViolation(
        "unknown_invitation",
        f"referral {referral_id} has no invitation {invitation_id}",
        status=404,
    )


def not_invited(referral_id: str) -> RuleViolation:
    """The one refusal a partner gets for a referral they are not invited to (404, as unknown).

    The same answer as for a referral that does not exist, so a partner
    cannot learn which referral ids are on record.
    """
    return RuleViolation(
        "not_invited",
        f"there is no referral {referral_id} that you have been invited to",
        status=404,
    )


def check_escalation(decisions) -> None:
    """Only a no-further-action decision, the latest on the referral, can be escalated."""
    if not decisions or decisions[-1].payload["decision"] != "no_further_action":
        raise RuleViolation(
            "nothing_to_escalate",
            "an escalation challenges a no-further-action decision, and this referral's current "
            "decision is not one",
            status=409,
        )


def role_label(role: str) -> str:
    """A role in words (``police safeguarding lead``)."""
    return ROLE_LABELS.get(role, role.replace("_", " "))
