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
ROLES = (SCREENER, MANAGER, DATA_SCIENTIST, GOVERNANCE)

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

# The only action open to anonymous requests.
PUBLIC_ACTIONS = frozenset({HEALTH})

ROLE_MATRIX: dict[str, frozenset[str]] = {
    HEALTH: frozenset(ROLES),
    # Scores and chronologies show a child's records: only the people deciding
    # about that child see them.  Data scientists and governance work on
    # aggregates and the audit trail, not on individual children.
    SCORE_REFERRAL: frozenset({SCREENER, MANAGER}),
    VIEW_CHRONOLOGY: frozenset({SCREENER, MANAGER}),
    USE_PAGE: frozenset({SCREENER, MANAGER}),
    VIEW_MODEL: frozenset(ROLES),
    VIEW_CONFIG: frozenset(ROLES),
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
)

# The endpoints served by records' own router (records.api.make_router).
RECORDS_ENDPOINTS = tuple(
    e
    for e in ENDPOINTS
    if e[1].startswith(("/v1/config", "/v1/audit"))
    or e[1].endswith(("initial-views", "decisions", "overrides"))
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
