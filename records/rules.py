"""The rules a decision must satisfy, as pure functions over the referral's record.

Kept apart from the database so each rule can be tested on its own and
read by governance in one place.  The caller evaluates them inside the
write transaction that records the decision, so nothing can change between
the check and the write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from records.kinds import (
    DECISION_LABELS,
    FLAG_OVERRIDE,
    MALICIOUS_AGREEMENT,
    STATUTORY_OVERRIDE,
)
from records.models import CLOSING_DECISIONS, MALICIOUS, STRATEGY_DISCUSSION, DecisionIn
from records.statutory import Triggered
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
    statutory
        The statutory triggers the referral meets (:func:`records.statutory.evaluate`),
        or ``None`` if they were not evaluated (never read as "none apply").
    statutory_rules
        The version and SHA-256 of the rules file they were evaluated under.
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
    statutory: tuple[Triggered, ...] | None = None
    statutory_rules: dict[str, str] | None = None
    # Set by the store from the trail, never by the caller: a strategy
    # discussion has been recorded on the referral (records.review).
    review_held: bool = False

    @property
    def closure_rules(self) -> tuple[Triggered, ...]:
        """The triggered rules that make closing the referral need a manager's reason."""
        return tuple(t for t in self.statutory or () if t.closure_needs_manager)


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

    ``status.review_held``: a strategy discussion has been recorded on the
    referral (:meth:`records.RecordsStore.record_review`), so the multi-agency
    review the flag and the injury rules ask for has happened and its outcome
    may be a closing decision.
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
    if status.flagged and body.decision != STRATEGY_DISCUSSION and not status.review_held:
        allowed = {o.payload["decision"] for o in overrides if o.payload["kind"] == FLAG_OVERRIDE}
        if body.decision not in allowed:
            raise RuleViolation(
                "flagged_requires_review",
                f"this referral is flagged for mandatory multi-agency review: it can only end in "
                f"{DECISION_LABELS[STRATEGY_DISCUSSION]!r} unless a manager records an override with a reason "
                f"allowing {DECISION_LABELS[body.decision]!r}",
                field="decision",
            )
    check_statutory(body, status, overrides)
    if body.closure_reason == MALICIOUS and not any(
        o.payload["kind"] == MALICIOUS_AGREEMENT for o in overrides
    ):
        raise RuleViolation(
            "malicious_needs_manager",
            "a referral can only be closed as malicious with a manager's recorded agreement (POST .../overrides, kind 'malicious_closure')",
            field="closure_reason",
        )


def check_statutory(body: DecisionIn, status: ReferralStatus, overrides: Sequence[Entry]) -> None:
    """Closing a referral that meets a statutory trigger needs a manager's recorded reason.

    The triggers are the law and local procedure, not a prediction: a low
    score does not lift them.  Closing (no further action, malicious
    included, or early help) is allowed only once a manager has recorded a
    ``statutory`` override allowing that decision, with a reason, exactly
    as a flag override does.  A rule asking only for what a recorded
    strategy discussion records (the discussion, and the child protection
    medical considered with its rationale) is met once one is recorded
    (``status.review_held``); a rule asking for anything else still needs the manager.
    """
    rules = status.closure_rules
    if status.review_held:
        rules = tuple(t for t in rules if not set(t.requires) <= MET_BY_REVIEW)
    if body.decision not in CLOSING_DECISIONS or not rules:
        return
    allowed = {o.payload["decision"] for o in overrides if o.payload["kind"] == STATUTORY_OVERRIDE}
    if body.decision in allowed:
        return
    titles = "; ".join(t.title for t in rules)
    raise RuleViolation(
        "statutory_rule_requires_manager",
        f"this referral meets statutory or local-procedure rules ({titles}): it cannot be closed "
        f"as {DECISION_LABELS[body.decision]!r} unless a manager records a reason allowing it "
        f"(POST .../overrides, kind 'statutory', decision {body.decision!r})",
        field="decision",
    )


# What a recorded strategy discussion meets: it was held, and its outcome
# records whether a child protection medical is to be arranged and why.
MET_BY_REVIEW = frozenset({"strategy_discussion", "cp_medical_considered"})


def check_override(kind: str, status: ReferralStatus) -> None:
    """A flag override only makes sense on a flagged referral, a statutory one on a triggered referral."""
    if kind == FLAG_OVERRIDE and not status.flagged:
        raise RuleViolation(
            "not_flagged",
            "this referral is not flagged: there is no flag to override",
            field="kind",
        )
    if kind == STATUTORY_OVERRIDE and not status.closure_rules:
        raise RuleViolation(
            "no_statutory_rule",
            "this referral meets no statutory rule that needs a manager before closure: there is nothing to override",
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
