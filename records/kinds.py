"""The kinds of entry in the audit trail."""

from __future__ import annotations

DECISION = "decision"
OVERRIDE = "override"
INITIAL_VIEW = "initial_view"
SCORE_VIEW = "score_view"
CHRONOLOGY_VIEW = "chronology_view"
AUDIT_QUERY = "audit_query"
CONFIG_CHANGE = "config_change"
TOKEN_CREATED = "token_created"
TOKEN_REVOKED = "token_revoked"
TOKEN_ROLE_CHANGED = "token_role_changed"
ACCESS_REFUSED = "access_refused"
REVIEW = "strategy_discussion_review"
# One version of a referral's content, as MAST first received it or as amended
# (records/register.py): the referral register lives in the trail.
REFERRAL = "referral"
# A screener or manager confirms or rejects a possible match between two
# agency records (issue 20); the next ``mast link`` reads it as a label.
POSSIBLE_MATCH_REVIEW = "possible_match_review"
# Issue 17: the referrer told, partner agencies invited, what they contributed,
# their challenge of a no-further-action decision and a manager's answer.
REFERRER_TOLD = "referrer_told"
PARTNER_INVITATION = "partner_invitation"
# A manager withdraws a partner's invitation before it expires, with a reason.
INVITATION_WITHDRAWN = "partner_invitation_withdrawn"
AGENCY_CONTRIBUTION = "agency_contribution"
ESCALATION = "escalation"
ESCALATION_ANSWER = "escalation_answer"
# The screener's work queue as shown to someone: which referrals' flags and score bands it showed.
QUEUE_VIEW = "queue_view"

KINDS = (
    DECISION,
    OVERRIDE,
    INITIAL_VIEW,
    SCORE_VIEW,
    CHRONOLOGY_VIEW,
    AUDIT_QUERY,
    CONFIG_CHANGE,
    TOKEN_CREATED,
    TOKEN_REVOKED,
    TOKEN_ROLE_CHANGED,
    ACCESS_REFUSED,
    REVIEW,
    REFERRAL,
    POSSIBLE_MATCH_REVIEW,
    REFERRER_TOLD,
    PARTNER_INVITATION,
    INVITATION_WITHDRAWN,
    AGENCY_CONTRIBUTION,
    ESCALATION,
    ESCALATION_ANSWER,
    QUEUE_VIEW,
)
# The token events the service derives every token's role, expiry and revocation from.
TOKEN_EVENTS = (TOKEN_CREATED, TOKEN_ROLE_CHANGED, TOKEN_REVOKED)

# Kinds of override a manager records.
FLAG_OVERRIDE = "flag"
MALICIOUS_AGREEMENT = "malicious_closure"
# A manager allows a referral that meets a statutory trigger to be closed.
STATUTORY_OVERRIDE = "statutory"
OVERRIDE_KINDS = (FLAG_OVERRIDE, MALICIOUS_AGREEMENT, STATUTORY_OVERRIDE)

# How a strategy discussion is shown to people.
DECISION_LABELS = {
    "no_further_action": "no further action",
    "early_help": "early help",
    "assessment": "assessment",
    "strategy_discussion": "strategy discussion / multi-agency review",
}
