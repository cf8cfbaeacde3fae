"""The human decision record: roles and tokens, decision rules, and the append-only audit trail.

MAST never decides; a person does.  This package records who decided what,
why, and what they saw, in a hash-chained trail governance can verify.

Wiring it into a FastAPI app (what ``serving/app.py`` does)::

    import records

    store = records.RecordsStore(url)          # default: $MAST_RECORDS_DB or mast-data/records.sqlite

    def lookup(referral_id: str) -> records.ReferralStatus | None:
        ...  # None if unknown; else ReferralStatus(flagged=..., score=..., model_version=...)

    records.install(app, store, lookup)        # app.state.records = store; mounts records' router

    # protect your own endpoints with the role matrix:
    @app.post("/v1/referrals/score")
    def score(body: ..., principal: records.Principal = Depends(records.require(records.roles.SCORE_REFERRAL))):
        ...
        store.log_view(principal, records.kinds.SCORE_VIEW, referral_id=..., detail={...})

    @app.get("/v1/children/{person_id}/chronology")
    def chronology(person_id: str, principal = Depends(records.require(records.roles.VIEW_CHRONOLOGY))):
        store.log_view(principal, records.kinds.CHRONOLOGY_VIEW, person_id=person_id)

``/v1/health`` takes no dependency: it is the one anonymous endpoint.
``records.route_actions(app)`` lists every route with the action it
enforces, so a test can prove nothing else is open.

Endpoints mounted by :func:`install` (see ``records.roles.RECORDS_ENDPOINTS``):
``POST /v1/referrals/{referral_id}/decisions|overrides|initial-views``,
``GET /v1/config``, ``PUT /v1/config/blind-first``, ``GET /v1/audit``, and the
strategy discussion, referrer-told and partner endpoints of
:mod:`records.follow_up_api` (``.../reviews``, ``.../referrer-told``,
``.../invitations``, ``.../invitations/{invitation_id}/withdrawal``, ``.../follow-up``,
``.../record``, ``.../contributions``,
``.../escalations``, ``.../escalations/{escalation_id}/answer``).
"""

from records import anchor, follow_up, kinds, partners, register, review, roles, statutory, tokens
from records.anchor import AnchorError
from records.api import ADVISORY, ReferralLookup, install, make_router
from records.auth import COOKIE_NAME, get_store, require, route_actions
from records.chain import ChainReport, verify_rows
from records.follow_up import FollowUp
from records.kinds import DECISION_LABELS
from records.models import BlindFirstIn, DecisionIn, InitialViewIn, OverrideIn
from records.partners import (
    ContributionIn,
    EscalationAnswerIn,
    EscalationIn,
    InvitationIn,
    ReferrerToldIn,
    WithdrawalIn,
)
from records.rates import (
    RATE_COLUMNS,
    decision_rates,
    ever_flagged_referrals,
    final_decisions,
)
from records.review import StrategyDiscussionIn
from records.roles import ENDPOINTS, PARTNER_ROLES, PUBLIC_ACTIONS, ROLE_MATRIX, ROLES, allowed
from records.rules import ReferralStatus, RuleViolation, check_decision, check_statutory
from records.store import RecordsStore, default_url
from records.tokens import Principal
from records.trail import Entry

__all__ = [
    "ADVISORY",
    "AnchorError",
    "COOKIE_NAME",
    "DECISION_LABELS",
    "ENDPOINTS",
    "PUBLIC_ACTIONS",
    "RATE_COLUMNS",
    "ROLES",
    "ROLE_MATRIX",
    "BlindFirstIn",
    "ContributionIn",
    "EscalationAnswerIn",
    "EscalationIn",
    "FollowUp",
    "InvitationIn",
    "PARTNER_ROLES",
    "ReferrerToldIn",
    "WithdrawalIn",
    "StrategyDiscussionIn",
    "follow_up",
    "partners",
    "review",
    "ChainReport",
    "DecisionIn",
    "Entry",
    "InitialViewIn",
    "OverrideIn",
    "Principal",
    "RecordsStore",
    "ReferralLookup",
    "ReferralStatus",
    "RuleViolation",
    "allowed",
    "anchor",
    "check_decision",
    "check_statutory",
    "decision_rates",
    "default_url",
    "ever_flagged_referrals",
    "final_decisions",
    "get_store",
    "install",
    "kinds",
    "make_router",
    "register",
    "require",
    "roles",
    "tokens",
    "route_actions",
    "statutory",
    "verify_rows",
]
