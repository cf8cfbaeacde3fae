"""Request bodies of the decision record: strict, and with a clear 422 for bad input."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from records.kinds import FLAG_OVERRIDE, MALICIOUS_AGREEMENT, STATUTORY_OVERRIDE
from store.vocabulary import CLOSURE_REASONS, DECISIONS

NO_FURTHER_ACTION, EARLY_HELP, _, STRATEGY_DISCUSSION = DECISIONS
# Decisions that close the referral at the front door.
CLOSING_DECISIONS = (NO_FURTHER_ACTION, EARLY_HELP)
MALICIOUS = CLOSURE_REASONS[1]
assert MALICIOUS == "malicious" and STRATEGY_DISCUSSION == "strategy_discussion"

RecordId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,128}$")]


def _encodable(value: str) -> str:
    """Refuse lone surrogates: they cannot be stored as UTF-8 nor hashed."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError("contains characters that are not valid Unicode text") from err
    return value


Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000),
    AfterValidator(_encodable),
]
Decision = Literal[DECISIONS]
ClosureReason = Literal[CLOSURE_REASONS]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecisionIn(_Strict):
    """A screener's or manager's decision on a referral.

    ``decision_id`` is chosen by the client (a UUID is fine) so that a
    retried request can never record the decision twice.
    """

    decision_id: RecordId = Field(
        description="Client-chosen id, 8-128 of A-Z a-z 0-9 . _ : -; a replay gets 409."
    )
    decision: Decision
    rationale: Text = Field(description="Why: required, never empty.")
    closure_reason: ClosureReason | None = Field(None, description="Only with no_further_action.")
    referrer_spoken_to: Text | None = Field(
        None,
        description="Required with closure_reason 'malicious': a note that the referrer was spoken to.",
    )
    supersedes: RecordId | None = Field(
        None,
        description="The decision_id this one corrects; required if the referral already has a decision.",
    )

    @model_validator(mode="after")
    def _closure(self) -> DecisionIn:
        if self.closure_reason is not None and self.decision != NO_FURTHER_ACTION:
            raise ValueError(
                f"closure_reason is only for decision {NO_FURTHER_ACTION!r}, not {self.decision!r}"
            )
        if self.closure_reason == MALICIOUS and self.referrer_spoken_to is None:
            raise ValueError(
                "referrer_spoken_to: closing a referral as malicious needs a note that the referrer was spoken to"
            )
        return self


class OverrideIn(_Strict):
    """A manager's recorded override.

    ``kind='flag'``: the manager allows a flagged referral to end in
    ``decision`` rather than a strategy discussion.
    ``kind='malicious_closure'``: the manager agrees the referral may be
    closed as malicious.
    ``kind='statutory'``: the manager allows a referral that meets a
    statutory trigger to be closed with ``decision`` (no further action or
    early help), giving the reason.
    """

    override_id: RecordId
    kind: Literal[FLAG_OVERRIDE, MALICIOUS_AGREEMENT, STATUTORY_OVERRIDE]
    decision: Decision | None = Field(
        None, description="For kind 'flag': the decision allowed instead of a strategy discussion."
    )
    reason: Text

    @model_validator(mode="after")
    def _decision(self) -> OverrideIn:
        if self.kind == FLAG_OVERRIDE and self.decision in (None, STRATEGY_DISCUSSION):
            raise ValueError(
                "decision: a flag override names the decision allowed instead of a strategy discussion"
            )
        if self.kind == MALICIOUS_AGREEMENT and self.decision not in (None, NO_FURTHER_ACTION):
            raise ValueError(f"decision: a malicious closure is a {NO_FURTHER_ACTION!r} decision")
        if self.kind == STATUTORY_OVERRIDE and self.decision not in CLOSING_DECISIONS:
            raise ValueError(
                "decision: a statutory-rule override names the closing decision it allows "
                f"({' or '.join(map(repr, CLOSING_DECISIONS))})"
            )
        return self


class InitialViewIn(_Strict):
    """A screener's view recorded before the score is revealed (blind-first mode)."""

    view_id: RecordId
    decision: Decision
    rationale: Text | None = None


class BlindFirstIn(_Strict):
    """Governance switches blind-first mode on or off, saying why."""

    enabled: bool
    reason: Text
