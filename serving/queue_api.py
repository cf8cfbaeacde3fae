"""``GET /v1/queue``: the screener's work queue as JSON, for a client other than the page.

The same queue as the page's landing page (:func:`serving.queue.show_queue`):
the same rows, filters, roles and blind-first rule (a screener sees no flag
or score band of a referral until they have recorded their own view of it,
and of every other referral about the same children), and each read is
written to the trail as ``queue_view`` (``"via": "api"``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

import records
from records.api import ADVISORY, ERRORS
from records.roles import VIEW_QUEUE
from serving import queue as work_queue

NEVER_A_REASON = (
    "A referral with no flag, or a low score, is never a reason to close it; significant harm "
    "needs a strategy discussion whatever the score."
)


class MarkerOut(BaseModel):
    """Something to know or owed on a referral, in words (``kind`` is for filters)."""

    kind: str
    text: str
    urgent: bool
    link: str | None = Field(None, description="Where it is dealt with, on the page.")


class RuleOut(BaseModel):
    """A statutory rule the referral meets: the law and local procedure, not a prediction."""

    rule_id: str
    title: str
    requires: list[str] = Field(default_factory=list)


class QueueRowOut(BaseModel):
    """One referral on the queue.

    ``flagged`` and ``highest_score`` are ``null`` when hidden (``score_hidden``:
    blind-first, until your own view is recorded) or never scored.
    """

    referral_id: str
    received_at: datetime = Field(
        description="When the referral was received (England local time)."
    )
    source: str
    referrer_relationship: str | None
    concerns: list[str]
    children: list[str]
    version: int
    status: Literal["awaiting", "follow_up"]
    decision: str | None
    decision_label: str | None
    decided_at: str | None = Field(description="When the current decision was recorded (UTC).")
    statutory: list[RuleOut]
    repeat: list[MarkerOut]
    follow_ups: list[MarkerOut]
    flagged: bool | None
    highest_score: int | None
    score_hidden: bool
    checks: list[MarkerOut] = Field(
        default_factory=list,
        description="To check before relying on the row: a named adult's possible match "
        "awaiting a person's verdict.",
    )

    @classmethod
    def of(cls, item: work_queue.QueueItem) -> QueueRowOut:
        return cls(
            **{
                name: getattr(item, name)
                for name in cls.model_fields
                if name not in ("statutory", "repeat", "follow_ups", "checks")
            },
            statutory=[
                RuleOut(
                    rule_id=t["rule_id"],
                    title=t.get("title") or t["rule_id"],
                    requires=list(t.get("requires") or []),
                )
                for t in item.triggers
            ],
            repeat=[MarkerOut(**vars(m)) for m in item.repeat],
            follow_ups=[MarkerOut(**vars(m)) for m in item.follow_ups],
            checks=[MarkerOut(**vars(m)) for m in item.checks],
        )


class QueueFilters(BaseModel):
    """The page's filters, as query parameters (an unknown one is refused, not ignored)."""

    model_config = ConfigDict(extra="forbid")

    show: Literal[tuple(work_queue.SHOW)] = Field(
        "all", description="all; awaiting (no decision yet); follow_up (decided, something owed)."
    )
    statutory: bool = Field(False, description="Only referrals meeting a statutory rule.")
    flagged: bool = Field(
        False, description="Only flagged referrals (a hidden flag never matches)."
    )
    repeat: bool = Field(False, description="Only repeat referrals.")
    q: str | None = Field(None, max_length=64, description="Part of a referral or child id.")


class QueueOut(BaseModel):
    """The queue as shown: newest first, at most 200 rows (``more`` says how many matched beyond)."""

    items: list[QueueRowOut]
    listed: int
    more: int
    on_queue: int
    blind_first: bool
    advisory: str = f"{ADVISORY} {NEVER_A_REASON}"


def make_queue_router() -> APIRouter:
    router = APIRouter(tags=["work queue"])

    @router.get("/v1/queue", response_model=QueueOut, responses=ERRORS)
    def get_queue(
        request: Request,
        filters: Annotated[QueueFilters, Query()],
        principal: records.Principal = Depends(records.require(VIEW_QUEUE)),
    ) -> QueueOut:
        """The work queue: referrals awaiting a decision and decided ones with something owed."""
        shown = work_queue.show_queue(
            request.app,
            principal,
            via="api",
            show=filters.show,
            statutory_only=filters.statutory,
            flagged_only=filters.flagged,
            repeat_only=filters.repeat,
            search=filters.q,
        )
        return QueueOut(
            items=[QueueRowOut.of(i) for i in shown.items],
            listed=len(shown.items),
            more=shown.more,
            on_queue=shown.total,
            blind_first=shown.blind_first,
        )

    return router
