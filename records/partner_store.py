"""The store's writes and reads for the referrer told, partner agencies and escalations.

A mixin of :class:`records.store.RecordsStore`, kept apart so the store's
own module stays about decisions.  Every write is one serialised
transaction that checks its rules against the trail and appends one entry,
so a client cannot step around a check by re-posting or by another id.

A partner lead's access to a referral is an invitation that is signed (with
the trail's anchor key), not expired and not withdrawn
(:func:`records.partners.live_invitations`).  So that deleting a withdrawal
with direct SQL does not open the referral again, a withdrawal anchors the
trail's head at once, and a partner's every access first checks that no
entry after their invitation is missing and that the newest anchored head
is still in the trail, unchanged (:meth:`PartnerRecords._intact_since`);
if not, the partner is refused as not invited and the error is logged.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from records import follow_up, kinds, partners, review, trail
from records.anchor import AnchorError
from records.authored import append_as
from records.db import audit_log
from records.partners import (
    ContributionIn,
    EscalationAnswerIn,
    EscalationIn,
    InvitationIn,
    ReferrerToldIn,
    WithdrawalIn,
)
from records.roles import MANAGER, PARTNER_ROLES
from records.rules import RuleViolation
from records.tokens import Principal
from records.trail import Entry
from settings import invitation_days

_log = logging.getLogger(__name__)


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


def _manager_only(principal: Principal, what: str) -> None:
    if principal.role != MANAGER:
        raise RuleViolation("manager_only", f"only a manager can {what}", status=403)


def _entry_of(conn, record_id: str, kind: str, referral_id: str) -> Entry | None:
    """The entry holding ``record_id`` if it is of ``kind`` and on this referral, else ``None``."""
    entry = trail.find_record(conn, record_id)
    if entry is None or entry.kind != kind or entry.referral_id != referral_id:
        return None
    return entry


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
        mine = [
            e
            for e in self._live(conn, referral_id)
            if partners.is_invited([e], principal.name, principal.role)
        ]
        if not mine or not self._intact_since(conn, mine[0].seq):
            raise partners.not_invited(referral_id)

    def _live(self, conn, referral_id: str) -> list[Entry]:
        """The referral's invitations still open (signed, not expired, not withdrawn)."""
        return partners.live_invitations(
            trail.entries_for(conn, referral_id, kinds.PARTNER_INVITATION),
            trail.entries_for(conn, referral_id, kinds.INVITATION_WITHDRAWN),
            self.anchor.key,
        )

    def _intact_since(self, conn, seq: int) -> bool:
        """No entry after ``seq`` is missing, and the newest anchored head is in the trail.

        A withdrawal deleted with direct SQL leaves a gap in ``seq`` or, if it
        was the newest entry, takes away the head the withdrawal anchored (see
        :meth:`withdraw_invitation`); renumbering the later entries changes
        the anchored head's hash.  Two indexed reads and the anchor file's
        last line; ``mast audit-log verify`` checks the whole chain.
        """
        head_seq, _ = trail.head(conn)
        after = conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.seq > seq)
        ).scalar_one()
        problem = None
        if after != head_seq - seq:
            problem = f"{head_seq - seq - after} entries after entry {seq} are missing"
        else:
            problem = self._anchored_head_missing(conn, head_seq)
        if problem:
            _log.error("the trail has been altered (%s): partner access refused", problem)
        return problem is None

    def _anchored_head_missing(self, conn, head_seq: int) -> str | None:
        """Why the newest anchored head is not in the trail, or ``None`` if it is.

        A head anchored after this read began (another request's write) is
        looked for again in a fresh read before it counts as missing.
        """
        try:
            anchored = self.anchor.latest()
        except AnchorError as err:
            return str(err)
        if anchored is None:
            return None
        if anchored.seq > head_seq:
            with self.db.read() as fresh:
                return self._anchored_head_missing_in(fresh, anchored)
        return self._anchored_head_missing_in(conn, anchored)

    @staticmethod
    def _anchored_head_missing_in(conn, anchored) -> str | None:
        row = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == anchored.seq)).first()
        if row is None or row.hash != anchored.hash:
            return f"the anchored head at entry {anchored.seq} is not in the trail"
        return None

    def invited_referrals(self, principal: Principal) -> list[str]:
        """The referrals ``principal`` (a partner lead) is invited to now, newest invitation first."""
        return [e.referral_id for e in self.open_invitations(principal)]

    def open_invitations(self, principal: Principal) -> list[Entry]:
        """``principal``'s open invitations, newest first, one per referral (the newest)."""
        with self.db.read() as conn:
            found = trail.entries_of_kind(conn, kinds.PARTNER_INVITATION)
            gone = trail.entries_of_kind(conn, kinds.INVITATION_WITHDRAWN)
            live = partners.live_invitations(found, gone, self.anchor.key)
            mine = [e for e in live if partners.is_invited([e], principal.name, principal.role)]
            if mine and not self._intact_since(conn, min(e.seq for e in mine)):
                return []
        newest = {}
        for e in reversed(mine):
            newest.setdefault(e.referral_id, e)
        return list(newest.values())

    def invitations(self, referral_id: str) -> list[dict[str, Any]]:
        """The referral's invitations with whether each is open, expired or withdrawn (for the page)."""
        with self.db.read() as conn:
            found = trail.entries_for(conn, referral_id, kinds.PARTNER_INVITATION)
            gone = trail.entries_for(conn, referral_id, kinds.INVITATION_WITHDRAWN)
        live = {e.record_id for e in partners.live_invitations(found, gone, self.anchor.key)}
        withdrawn = {w.payload["invitation_id"] for w in gone}
        return [
            {
                "invitation_id": e.record_id,
                "partner_name": e.payload["partner_name"],
                "partner_role": e.payload["partner_role"],
                "expires_at": e.payload.get("expires_at"),
                "state": "open"
                if e.record_id in live
                else "withdrawn"
                if e.record_id in withdrawn
                else "closed",
            }
            for e in found
        ]

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
        """Invite a named partner lead to one referral (a screener or a manager).

        The invitation lasts ``MAST_INVITATION_DAYS`` days (default 30): its
        expiry is fixed now, written in the entry and signed with it.
        """
        days = invitation_days()
        with self.db.write() as conn:
            self._replay(conn, body.invitation_id)
            _known(conn, referral_id)
            if partners.is_invited(
                self._live(conn, referral_id), body.partner_name, body.partner_role
            ):
                raise RuleViolation(
                    "already_invited",
                    f"{body.partner_name} ({partners.role_label(body.partner_role)}) is already "
                    f"invited to referral {referral_id}",
                    status=409,
                )
            payload = {
                **body.model_dump(mode="json", exclude={"invitation_id"}),
                "agency": partners.agency_of(body.partner_role),
                "days": days,
                "expires_at": trail.format_time(partners.expiry(days)),
            }
            payload = partners.signed_invitation(
                self.anchor.key, referral_id, body.invitation_id, payload
            )
            return append_as(
                conn,
                principal,
                kinds.PARTNER_INVITATION,
                payload,
                referral_id=referral_id,
                record_id=body.invitation_id,
            )

    def withdraw_invitation(
        self, principal: Principal, referral_id: str, invitation_id: str, body: WithdrawalIn
    ) -> Entry:
        """A manager withdraws an open invitation, with a reason; the trail's head is anchored at once.

        Anchoring the withdrawal means that deleting it with direct SQL
        cannot quietly give the partner their access back (see
        :meth:`_intact_since`).
        """
        _manager_only(principal, "withdraw an invitation")
        with self.db.write() as conn:
            self._replay(conn, body.withdrawal_id)
            invitation = _entry_of(conn, invitation_id, kinds.PARTNER_INVITATION, referral_id)
            if invitation is None:
                raise partners.no_invitation(referral_id, invitation_id)
            if invitation_id not in {e.record_id for e in self._live(conn, referral_id)}:
                raise RuleViolation(
                    "invitation_closed",
                    f"invitation {invitation_id} is no longer open (withdrawn or expired)",
                    status=409,
                )
            payload = {
                "invitation_id": invitation_id,
                "reason": body.reason,
                "partner_name": invitation.payload["partner_name"],
                "partner_role": invitation.payload["partner_role"],
            }
            entry = append_as(
                conn,
                principal,
                kinds.INVITATION_WITHDRAWN,
                payload,
                referral_id=referral_id,
                record_id=body.withdrawal_id,
            )
        try:
            self.anchor.write(entry.seq, entry.hash)
        except (OSError, AnchorError) as err:  # stored already: say so, do not report a failure
            _log.error("could not anchor the withdrawal at entry %s: %s", entry.seq, err)
        return entry

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
        _manager_only(principal, "answer an escalation")
        with self.db.write() as conn:
            self._replay(conn, body.answer_id)
            if _entry_of(conn, escalation_id, kinds.ESCALATION, referral_id) is None:
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
    kinds.INVITATION_WITHDRAWN,
    kinds.AGENCY_CONTRIBUTION,
    kinds.ESCALATION,
    kinds.ESCALATION_ANSWER,
)
# What each kind of entry shows of its payload (scores, flags and model versions never).
_SHOWN = {
    kinds.DECISION: ("decision", "rationale", "closure_reason", "supersedes"),
    kinds.PARTNER_INVITATION: (
        "partner_name",
        "partner_role",
        "agency",
        "reason",
        "days",
        "expires_at",
        "team",
    ),
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
