"""The store's writes and reads for the referrer told, partner agencies and escalations.

A mixin of :class:`records.store.RecordsStore`, kept apart so the store's
own module stays about decisions.  Every write is one serialised
transaction that checks its rules against the trail and appends one entry,
so a client cannot step around a check by re-posting or by another id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from records import follow_up, kinds, partners, review, trail
from records.authored import append_as
from records.partners import (
    ContributionIn,
    EscalationAnswerIn,
    EscalationIn,
    InvitationIn,
    ReferrerToldIn,
)
from records.roles import MANAGER, PARTNER_ROLES
from records.rules import RuleViolation
from records.tokens import Principal
from records.trail import Entry


def _known(conn, referral_id: str) -> None:
    """A referral MAST has received (a version in the register, or a score shown)."""
    if not (
        trail.entries_for(conn, referral_id, kinds.REFERRAL)
        or trail.entries_for(conn, referral_id, kinds.SCORE_VIEW)
    ):
        raise RuleViolation(
            "unknown_referral",
            f"referral {referral_id} has not been received by MAST: score it first",
            status=404,
        )


class PartnerRecords:
    """The referrer told, invitations, contributions, escalations; and the per-referral reads."""

    # -- access
    def check_access(self, principal: Principal, referral_id: str) -> None:
        """Let a partner lead through only to a referral they are invited to (404 otherwise).

        Front-door roles pass; the role matrix has already decided what
        they may do.
        """
        if principal.role not in PARTNER_ROLES:
            return
        with self.db.read() as conn:
            self._check_invited(conn, principal, referral_id)

    def _check_invited(self, conn, principal: Principal, referral_id: str) -> None:
        if principal.role not in PARTNER_ROLES:
            return
        invitations = trail.entries_for(conn, referral_id, kinds.PARTNER_INVITATION)
        if not partners.is_invited(invitations, principal.name, principal.role):
            raise partners.not_invited(referral_id)

    def invited_referrals(self, principal: Principal) -> list[str]:
        """The referrals ``principal`` (a partner lead) is invited to, newest invitation first."""
        with self.db.read() as conn:
            found = trail.entries_of_kind(conn, kinds.PARTNER_INVITATION)
        ids = [
            e.referral_id
            for e in reversed(found)
            if partners.is_invited([e], principal.name, principal.role)
        ]
        return list(dict.fromkeys(ids))

    # -- writes
    def record_referrer_told(
        self, principal: Principal, referral_id: str, body: ReferrerToldIn
    ) -> Entry:
        """Record that the referrer (or the police) was told the current decision, when and how."""
        with self.db.write() as conn:
            self._replay(conn, body.record_id)
            decisions = trail.entries_for(conn, referral_id, kinds.DECISION)
            if not decisions:
                raise RuleViolation(
                    "no_decision",
                    "this referral has no decision yet: there is no outcome to tell the referrer",
                    status=409,
                )
            payload = {
                **body.model_dump(mode="json", exclude={"record_id"}),
                "decision": decisions[-1].payload["decision"],
                "decision_seq": decisions[-1].seq,
            }
            return append_as(
                conn,
                principal,
                kinds.REFERRER_TOLD,
                payload,
                referral_id=referral_id,
                record_id=body.record_id,
            )

    def invite_partner(self, principal: Principal, referral_id: str, body: InvitationIn) -> Entry:
        """Invite a named partner lead to one referral (a screener or a manager)."""
        with self.db.write() as conn:
            self._replay(conn, body.invitation_id)
            _known(conn, referral_id)
            invitations = trail.entries_for(conn, referral_id, kinds.PARTNER_INVITATION)
            if partners.is_invited(invitations, body.partner_name, body.partner_role):
                raise RuleViolation(
                    "already_invited",
                    f"{body.partner_name} ({partners.role_label(body.partner_role)}) is already "
                    f"invited to referral {referral_id}",
                    status=409,
                )
            payload = {
                **body.model_dump(mode="json", exclude={"invitation_id"}),
                "agency": partners.agency_of(body.partner_role),
            }
            return append_as(
                conn,
                principal,
                kinds.PARTNER_INVITATION,
                payload,
                referral_id=referral_id,
                record_id=body.invitation_id,
            )

    def add_contribution(
        self, principal: Principal, referral_id: str, body: ContributionIn
    ) -> Entry:
        """Append what a partner's agency knows: a new entry, never a change to a record."""
        with self.db.write() as conn:
            self._replay(conn, body.contribution_id)
            self._check_partner(conn, principal, referral_id)
            payload = {
                **body.model_dump(mode="json", exclude={"contribution_id"}),
                "agency": partners.agency_of(principal.role),
            }
            return append_as(
                conn,
                principal,
                kinds.AGENCY_CONTRIBUTION,
                payload,
                referral_id=referral_id,
                record_id=body.contribution_id,
            )

    def raise_escalation(self, principal: Principal, referral_id: str, body: EscalationIn) -> Entry:
        """A partner's formal challenge of the referral's no-further-action decision."""
        with self.db.write() as conn:
            self._replay(conn, body.escalation_id)
            self._check_partner(conn, principal, referral_id)
            decisions = trail.entries_for(conn, referral_id, kinds.DECISION)
            partners.check_escalation(decisions)
            payload = {
                "reason": body.reason,
                "agency": partners.agency_of(principal.role),
                "decision_id": decisions[-1].record_id,
                "decision_seq": decisions[-1].seq,
            }
            return append_as(
                conn,
                principal,
                kinds.ESCALATION,
                payload,
                referral_id=referral_id,
                record_id=body.escalation_id,
            )

    def answer_escalation(
        self, principal: Principal, referral_id: str, escalation_id: str, body: EscalationAnswerIn
    ) -> Entry:
        """A manager's answer to an escalation, once: the outcome and the reason."""
        if principal.role != MANAGER:
            raise RuleViolation(
                "manager_only", "only a manager can answer an escalation", status=403
            )
        with self.db.write() as conn:
            self._replay(conn, body.answer_id)
            escalation = trail.find_record(conn, escalation_id)
            if (
                escalation is None
                or escalation.kind != kinds.ESCALATION
                or escalation.referral_id != referral_id
            ):
                raise RuleViolation(
                    "unknown_escalation",
                    f"referral {referral_id} has no escalation {escalation_id}",
                    status=404,
                )
            answers = trail.entries_for(conn, referral_id, kinds.ESCALATION_ANSWER)
            done = [a for a in answers if a.payload["escalation_id"] == escalation_id]
            if done:
                raise RuleViolation(
                    "already_answered",
                    f"escalation {escalation_id} was answered by {done[0].actor} at {done[0].at}",
                    status=409,
                )
            payload = {
                **body.model_dump(mode="json", exclude={"answer_id"}),
                "escalation_id": escalation_id,
            }
            return append_as(
                conn,
                principal,
                kinds.ESCALATION_ANSWER,
                payload,
                referral_id=referral_id,
                record_id=body.answer_id,
            )

    def _check_partner(self, conn, principal: Principal, referral_id: str) -> None:
        if principal.role not in PARTNER_ROLES:
            raise RuleViolation(
                "partner_only",
                "only a partner agency's safeguarding lead records their agency's view",
                status=403,
            )
        self._check_invited(conn, principal, referral_id)

    # -- reads
    def follow_up(
        self,
        referral_ids,
        now: datetime | None = None,
        working_days: int | None = None,
    ) -> dict[str, follow_up.FollowUp]:
        """Per referral: referrer told? review open or overdue? escalations open? (see :mod:`records.follow_up`)."""
        with self.db.read() as conn:
            return follow_up.follow_up(conn, referral_ids, now, working_days)

    def referral_record(self, principal: Principal, referral_id: str) -> dict[str, Any]:
        """The referral's multi-agency record: decisions, reviews, the referrer told, invitations,
        contributions and escalations with their answers, oldest first.

        Scores and flags are left out: a partner lead never sees a score, and
        the front door sees those on the referral's page.  A partner not
        invited gets the same 404 as for an unknown referral.
        """
        with self.db.read() as conn:
            self._check_invited(conn, principal, referral_id)
            found = follow_up.entries_of(conn, [referral_id], RECORD_KINDS).get(referral_id, [])
        return {"referral_id": referral_id, "entries": [_public(e) for e in found]}


RECORD_KINDS = (
    kinds.DECISION,
    kinds.REVIEW,
    kinds.REFERRER_TOLD,
    kinds.PARTNER_INVITATION,
    kinds.AGENCY_CONTRIBUTION,
    kinds.ESCALATION,
    kinds.ESCALATION_ANSWER,
)
# What each kind of entry shows of its payload (scores, flags and model versions never).
_SHOWN = {
    kinds.DECISION: ("decision", "rationale", "closure_reason", "supersedes"),
}


def _public(entry: Entry) -> dict[str, Any]:
    keep = _SHOWN.get(entry.kind)
    payload = entry.payload if keep is None else {k: entry.payload.get(k) for k in keep}
    if entry.kind == kinds.DECISION:
        payload = {**payload, "decision_id": entry.record_id}
    return {
        "seq": entry.seq,
        "at": entry.at,
        "at_local": review.local_time(entry.at).isoformat(timespec="minutes"),
        "kind": entry.kind,
        "actor": entry.actor,
        "role": entry.role,
        "record_id": entry.record_id,
        "payload": payload,
    }
