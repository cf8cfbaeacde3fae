"""Roles, actions and the role matrix: who may do what, as data.

The matrix is data rather than code scattered over endpoints so that one
table can be read by governance, enforced by :func:`records.auth.require`,
and tested endpoint by endpoint and role by role.
"""

from __future__ import annotations

SCREENER = "screener"
MANAGER = "manager"
DATA_SCIENTIST = "data_scientist"
GOVERNANCE = "governance"
# Partner agencies' safeguarding leads (issue 17): they see only the referrals
# they are invited to, add what their agency knows and challenge a closure.
POLICE_LEAD = "police_safeguarding_lead"
HEALTH_LEAD = "health_safeguarding_lead"
EDUCATION_LEAD = "education_safeguarding_lead"
STAFF_ROLES = (SCREENER, MANAGER, DATA_SCIENTIST, GOVERNANCE)
PARTNER_ROLES = (POLICE_LEAD, HEALTH_LEAD, EDUCATION_LEAD)
ROLES = STAFF_ROLES + PARTNER_ROLES
# The agency each partner role speaks for (an agency of records.review.AGENCY_LABELS).
PARTNER_AGENCY = {POLICE_LEAD: "police", HEALTH_LEAD: "health", EDUCATION_LEAD: "education"}
ROLE_LABELS = {
    SCREENER: "screener",
    MANAGER: "manager",
    DATA_SCIENTIST: "data scientist",
    GOVERNANCE: "governance",
    POLICE_LEAD: "police safeguarding lead",
    HEALTH_LEAD: "health safeguarding lead",
    EDUCATION_LEAD: "education safeguarding lead",
}

# Actions.  Each endpoint of the service performs exactly one.
HEALTH = "health"
SCORE_REFERRAL = "score_referral"
VIEW_CHRONOLOGY = "view_chronology"
VIEW_MODEL = "view_model"
VIEW_CONFIG = "view_config"
RECORD_INITIAL_VIEW = "record_initial_view"
RECORD_DECISION = "record_decision"
RECORD_OVERRIDE = "record_override"
AMEND_REFERRAL = "amend_referral"
READ_AUDIT = "read_audit"
SET_CONFIG = "set_config"
USE_PAGE = "use_page"
VIEW_POSSIBLE_MATCHES = "view_possible_matches"
REVIEW_POSSIBLE_MATCH = "review_possible_match"
# The multi-agency review, the referrer told, and partner agencies (issue 17).
RECORD_REVIEW = "record_review"
RECORD_REFERRER_TOLD = "record_referrer_told"
INVITE_PARTNER = "invite_partner"
VIEW_FOLLOW_UP = "view_follow_up"
READ_INVITED_REFERRAL = "read_invited_referral"
ADD_CONTRIBUTION = "add_contribution"
RAISE_ESCALATION = "raise_escalation"
ANSWER_ESCALATION = "answer_escalation"
USE_PARTNER_PAGE = "use_partner_page"
# The work queue as JSON, and withdrawing a partner's invitation.
VIEW_QUEUE = "view_queue"
WITHDRAW_INVITATION = "withdraw_invitation"

# The only action open to anonymous requests.
PUBLIC_ACTIONS = frozenset({HEALTH})

_DECIDERS = frozenset({SCREENER, MANAGER})
_PARTNERS = frozenset(PARTNER_ROLES)

ROLE_MATRIX: dict[str, frozenset[str]] = {
    HEALTH: frozenset(ROLES),
    # Scores and chronologies show a child's records: only the people deciding
    # about that child see them.  Data scientists and governance work on
    # aggregates and the audit trail, not on individual children.
    SCORE_REFERRAL: frozenset({SCREENER, MANAGER}),
    VIEW_CHRONOLOGY: frozenset({SCREENER, MANAGER}),
    USE_PAGE: frozenset({SCREENER, MANAGER}),
    # Partner leads see only what they are invited to: not the model, the
    # configuration, scores or the queue.
    VIEW_MODEL: frozenset(STAFF_ROLES),
    VIEW_CONFIG: frozenset(STAFF_ROLES),
    RECORD_INITIAL_VIEW: frozenset({SCREENER, MANAGER}),
    RECORD_DECISION: frozenset({SCREENER, MANAGER}),
    # Overriding a flag, or agreeing to close a referral as malicious, is a
    # manager's call and is recorded under the manager's name.
    RECORD_OVERRIDE: frozenset({MANAGER}),
    # Correcting a referral's content: a manager, or a screener with a reason
    # (the reason is enforced by RecordsStore.amend_referral).
    AMEND_REFERRAL: frozenset({SCREENER, MANAGER}),
    READ_AUDIT: frozenset({GOVERNANCE}),
    SET_CONFIG: frozenset({GOVERNANCE}),
    # Possible matches show two people's identifying details: the people who
    # screen referrals judge them (issue 20), and their verdict is audited.
    VIEW_POSSIBLE_MATCHES: frozenset({SCREENER, MANAGER}),
    REVIEW_POSSIBLE_MATCH: frozenset({SCREENER, MANAGER}),
    # The strategy discussion, the referrer told, inviting a partner and the
    # per-referral follow-up (review open/overdue, referrer told, escalations):
    # the front door's own work.
    RECORD_REVIEW: _DECIDERS,
    RECORD_REFERRER_TOLD: _DECIDERS,
    INVITE_PARTNER: _DECIDERS,
    VIEW_FOLLOW_UP: _DECIDERS,
    # A referral's chronology and record, to the front door and to a partner
    # lead invited to that referral (the invitation is checked per referral).
    READ_INVITED_REFERRAL: _DECIDERS | _PARTNERS,
    # What a partner agency knows, and its challenge of a no-further-action
    # decision: the partner's own voice, recorded under their name.
    ADD_CONTRIBUTION: _PARTNERS,
    RAISE_ESCALATION: _PARTNERS,
    # An escalation is answered by a manager.
    ANSWER_ESCALATION: frozenset({MANAGER}),
    USE_PARTNER_PAGE: _PARTNERS,
    # The work queue (the page's landing page, and GET /v1/queue): the people
    # who decide referrals.  It shows flags and score bands (blind-first
    # applies), so not partners, data scientists or governance.
    VIEW_QUEUE: _DECIDERS,
    # Taking back a partner's access to a referral before it expires: a
    # manager's call, with a reason, in the trail.
    WITHDRAW_INVITATION: frozenset({MANAGER}),
}

# Every endpoint of the service (records' own and the scoring service's from
# issue 6) and the action it performs: (method, path, action).
ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("GET", "/v1/health", HEALTH),
    ("POST", "/v1/referrals/score", SCORE_REFERRAL),
    ("GET", "/v1/children/{person_id}/chronology", VIEW_CHRONOLOGY),
    ("GET", "/v1/model", VIEW_MODEL),
    ("GET", "/v1/config", VIEW_CONFIG),
    ("PUT", "/v1/config/blind-first", SET_CONFIG),
    ("POST", "/v1/referrals/{referral_id}/initial-views", RECORD_INITIAL_VIEW),
    ("POST", "/v1/referrals/{referral_id}/decisions", RECORD_DECISION),
    ("POST", "/v1/referrals/{referral_id}/overrides", RECORD_OVERRIDE),
    ("POST", "/v1/referrals/{referral_id}/amendments", AMEND_REFERRAL),
    ("GET", "/v1/audit", READ_AUDIT),
    ("GET", "/v1/possible-matches", VIEW_POSSIBLE_MATCHES),
    ("POST", "/v1/possible-matches/reviews", REVIEW_POSSIBLE_MATCH),
    ("POST", "/v1/referrals/{referral_id}/reviews", RECORD_REVIEW),
    ("POST", "/v1/referrals/{referral_id}/referrer-told", RECORD_REFERRER_TOLD),
    ("POST", "/v1/referrals/{referral_id}/invitations", INVITE_PARTNER),
    ("GET", "/v1/referrals/{referral_id}/follow-up", VIEW_FOLLOW_UP),
    ("GET", "/v1/referrals/{referral_id}/record", READ_INVITED_REFERRAL),
    ("GET", "/v1/referrals/{referral_id}/children/{person_id}/chronology", READ_INVITED_REFERRAL),
    ("POST", "/v1/referrals/{referral_id}/contributions", ADD_CONTRIBUTION),
    ("POST", "/v1/referrals/{referral_id}/escalations", RAISE_ESCALATION),
    ("POST", "/v1/referrals/{referral_id}/escalations/{escalation_id}/answer", ANSWER_ESCALATION),
    ("GET", "/v1/queue", VIEW_QUEUE),
    (
        "POST",
        "/v1/referrals/{referral_id}/invitations/{invitation_id}/withdrawal",
        WITHDRAW_INVITATION,
    ),
)

# The endpoints served by records' own router (records.api.make_router).
RECORDS_ENDPOINTS = tuple(
    e
    for e in ENDPOINTS
    if e[1].startswith(("/v1/config", "/v1/audit"))
    or e[1].endswith(("initial-views", "decisions", "overrides"))
    or e[2] in (RECORD_REVIEW, RECORD_REFERRER_TOLD, INVITE_PARTNER, VIEW_FOLLOW_UP)
    or e[2] == WITHDRAW_INVITATION
    or e[2] in (ADD_CONTRIBUTION, RAISE_ESCALATION, ANSWER_ESCALATION)
    or e[1].endswith("/record")
)


def allowed(role: str | None, action: str) -> bool:
    """Whether ``role`` (``None`` for anonymous) may perform ``action``.

    Raises
    ------
    ValueError
        If ``action`` is not in the matrix: an unlisted action is a bug, and
        failing loudly beats silently denying or allowing it.
    """
    if action not in ROLE_MATRIX:
        raise ValueError(f"unknown action {action!r}; known: {sorted(ROLE_MATRIX)}")
    if role is None:
        return action in PUBLIC_ACTIONS
    return role in ROLE_MATRIX[action]


def check_role(role: str) -> str:
    """Return ``role`` if it is one of :data:`ROLES`, else raise a clear ``ValueError``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role
