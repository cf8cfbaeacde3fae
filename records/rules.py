"""The rules a decision must satisfy, as pure functions over the referral's record.

Kept apart from the database so each rule can be tested on its own and
read by governance in one place.  The caller evaluates them inside the
write transaction that records the decision, so nothing can change between
the check and the write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from records.kinds import DECISION_LABELS, FLAG_OVERRIDE, MALICIOUS_AGREEMENT
from records.models import MALICIOUS, STRATEGY_DISCUSSION, DecisionIn
from records.trail import Entry


@dataclass(frozen=True)
class ReferralStatus:
    """What the records need to know about a referral, supplied by the scoring side.

    Attributes
    ----------
    flagged
        Whether MAST recommended mandatory multi-agency review.
    score
        The referral's highest 1-20 score, if known (stored with the decision).
    model_version
        The model that produced the flag, if known (stored with the decision).
    children
        The children the referral names (for blind-first by child).
    received_at
        When the referral was received, as trail time text (UTC), if known.
    """

    flagged: bool
    score: int | None = None
    model_version: str | None = None
    children: tuple[str, ...] = ()
    received_at: str | None = None


class RuleViolation(Exception):
    """A request that breaks a rule: nothing has been written.

    Attributes
    ----------
    rule
        A stable short name for the rule (for clients and tests).
    status
        The HTTP status the API answers with (409 conflict, 422 refused).
    field
        The request field at fault, if one is.
    """

    def __init__(
        self, rule: str, message: str, status: int = 422, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.rule, self.message, self.status, self.field = rule, message, status, field

    def as_detail(self) -> dict:
        return {"rule": self.rule, "message": self.message, "field": self.field}


def check_decision(
    body: DecisionIn,
    status: ReferralStatus,
    *,
    previous: Entry | None,
    overrides: Sequence[Entry],
    initial_view: Entry | None,
    blind_first: bool,
) -> None:
    """Raise :class:`RuleViolation` if ``body`` may not be recorded.

    Parameters
    ----------
    previous
        The referral's latest decision, if it has one.
    overrides
        Manager overrides recorded for the referral.
    initial_view
        The deciding person's initial view of the referral, if recorded.
    blind_first
        Whether blind-first mode is on.
    """
    if previous is not None and body.supersedes != previous.record_id:
        raise RuleViolation(
            "already_decided",
            f"referral already decided ({previous.payload['decision']} by {previous.actor} at {previous.at}, "
            f"decision_id {previous.record_id}); to correct it, send supersedes={previous.record_id!r}",
            status=409,
            field="supersedes",
        )
    if previous is None and body.supersedes is not None:
        raise RuleViolation(
            "nothing_to_supersede",
            f"supersedes={body.supersedes!r}, but the referral has no decision yet",
            field="supersedes",
        )
    if blind_first and initial_view is None:
        raise RuleViolation(
            "initial_view_required",
            "blind-first mode is on: record your initial view (POST .../initial-views) before the score is revealed and before deciding",
        )
    if status.flagged and body.decision != STRATEGY_DISCUSSION:
        allowed = {o.payload["decision"] for o in overrides if o.payload["kind"] == FLAG_OVERRIDE}
        if body.decision not in allowed:
            raise RuleViolation(
                "flagged_requires_review",
                f"this referral is flagged for mandatory multi-agency review: it can only end in "
                f"{DECISION_LABELS[STRATEGY_DISCUSSION]!r} unless a manager records an override with a reason "
                f"allowing {DECISION_LABELS[body.decision]!r}",
                field="decision",
            )
    if body.closure_reason == MALICIOUS and not any(
        o.payload["kind"] == MALICIOUS_AGREEMENT for o in overrides
    ):
        raise RuleViolation(
            "malicious_needs_manager",
            "a referral can only be closed as malicious with a manager's recorded agreement (POST .../overrides, kind 'malicious_closure')",
            field="closure_reason",
        )


def check_override(kind: str, status: ReferralStatus) -> None:
    """A flag override only makes sense on a flagged referral."""
    if kind == FLAG_OVERRIDE and not status.flagged:
        raise RuleViolation(
            "not_flagged",
            "this referral is not flagged: there is no flag to override",
            field="kind",
        )


def check_blind_order(referral_id: str, initial_view: Entry, seen_first: Sequence[Entry]) -> None:
    """Blind-first by child: the initial view must come before any score about the same children.

    ``seen_first`` are the score views shown to the deciding person, after
    the referral was received and before their initial view of it, of other
    referrals naming any of its children (see
    :meth:`records.RecordsStore.record_decision`).  One is enough to refuse:
    an "initial view" recorded after seeing the score of an alias is not blind.
    """
    if not seen_first:
        return
    first = seen_first[0]
    raise RuleViolation(
        "initial_view_after_score",
        f"blind-first mode: you were shown the score of referral {first.referral_id}, about the same "
        f"child, at {first.at}, before you recorded your initial view of referral {referral_id}. "
        "That view is not blind: a colleague who has not seen the score should record the initial "
        "view and the decision.",
        status=409,
    )
