"""Which decisions the rules allow on a referral, worked out before the screener submits.

The page offers each decision with the reason it is not open yet, if it is
not.  It asks the very rules that check a decision when it is recorded
(:func:`records.check_decision`) with a trial decision for each option, so
the options shown and the refusals given cannot drift apart.  The store
checks again when the decision is recorded: this is a preview, not the check.
"""

from __future__ import annotations

from dataclasses import dataclass

import records
from records.kinds import MALICIOUS_AGREEMENT, STATUTORY_OVERRIDE
from records.models import CLOSING_DECISIONS, DecisionIn
from serving.page.forms import rule_message
from store import vocabulary as v

_PREVIEW_ID = "page-preview-decision"
_RECORDED = object()  # stands for "an initial view is on record": the rules only ask whether one is


@dataclass(frozen=True)
class Option:
    """One decision as the form offers it."""

    decision: str
    label: str
    allowed: bool
    why_not: str | None = None


def decision_options(
    status: records.ReferralStatus,
    history: list[records.Entry],
    *,
    has_initial_view: bool,
    blind_first: bool,
) -> list[Option]:
    """Each decision, and whether the rules would accept it now (rationale aside).

    Parameters
    ----------
    status
        The referral's flag and statutory triggers, as the decision check reads them.
    history
        The referral's decisions and overrides, oldest first.
    """
    decisions = [e for e in history if e.kind == records.kinds.DECISION]
    overrides = [e for e in history if e.kind == records.kinds.OVERRIDE]
    previous = decisions[-1] if decisions else None
    out = []
    for d in v.DECISIONS:
        body = DecisionIn.model_construct(
            decision_id=_PREVIEW_ID,
            decision=d,
            rationale="preview",
            closure_reason=None,
            referrer_spoken_to=None,
            supersedes=previous.record_id if previous else None,
        )
        try:
            records.check_decision(
                body,
                status,
                previous=previous,
                overrides=overrides,
                initial_view=_RECORDED if has_initial_view else None,  # type: ignore[arg-type]
                blind_first=blind_first,
            )
        except records.RuleViolation as err:
            out.append(Option(d, records.DECISION_LABELS[d], False, rule_message(err)))
        else:
            out.append(Option(d, records.DECISION_LABELS[d], True))
    return out


def malicious_agreed(history: list[records.Entry]) -> bool:
    """Whether a manager has agreed the referral may be closed as malicious."""
    return any(
        e.kind == records.kinds.OVERRIDE and e.payload.get("kind") == MALICIOUS_AGREEMENT
        for e in history
    )


def statutory_allowed(history: list[records.Entry]) -> list[str]:
    """The closing decisions a manager's statutory override has allowed, as labels."""
    return [
        records.DECISION_LABELS[e.payload["decision"]]
        for e in history
        if e.kind == records.kinds.OVERRIDE
        and e.payload.get("kind") == STATUTORY_OVERRIDE
        and e.payload.get("decision") in CLOSING_DECISIONS
    ]
