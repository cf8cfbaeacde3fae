"""The role matrix, endpoint by endpoint and role by role (revocation: ``@both``, PostgreSQL too)."""

from __future__ import annotations

import pytest

import records
from records import roles
from tests.records.app import build_app
from tests.records.conftest import auth, both, new_id

WHO = (None, *records.ROLES)  # None: anonymous


STAFF = records.Principal(name="Matrix Screener", role="screener", token_id="tm")
BOSS = records.Principal(name="Matrix Manager", role="manager", token_id="tb")
REVIEW_BODY = {
    "held_at": "2026-11-30T10:00:00",
    "participants": [
        {"agency": a, "name": f"someone from {a}"}
        for a in ("children_social_care", "police", "health")
    ],
    "outcome": {
        "section_47": True,
        "section_47_rationale": "injury unexplained",
        "cp_medical": False,
        "cp_medical_rationale": "seen by GP yesterday",
    },
}


def _prepare(store, action: str, referral: str) -> dict | None:
    """Put ``referral`` in the state ``action`` needs; return the body (issue 17's endpoints).

    Every partner role's token holder (``"<role> person"``) is invited to
    it, so the partner roles the matrix allows get a 2xx.
    """
    store.log_view(STAFF, records.kinds.SCORE_VIEW, referral_id=referral, detail={})
    for role in roles.PARTNER_ROLES:
        store.invite_partner(
            STAFF,
            referral,
            records.partners.InvitationIn(
                invitation_id="inv-matrix-" + referral
                if role == roles.POLICE_LEAD
                else new_id("inv"),
                partner_name=f"{role} person",
                partner_role=role,
                reason="matrix",
            ),
        )
    decision = {
        roles.RECORD_REVIEW: "strategy_discussion",
        roles.RECORD_REFERRER_TOLD: "assessment",
        roles.RAISE_ESCALATION: "no_further_action",
        roles.ANSWER_ESCALATION: "no_further_action",
    }.get(action)
    if decision:
        store.record_decision(
            STAFF,
            referral,
            records.DecisionIn(decision_id=new_id("d"), decision=decision, rationale="matrix"),
            records.ReferralStatus(False),
        )
    if action == roles.ANSWER_ESCALATION:
        police = records.Principal(
            name=f"{roles.POLICE_LEAD} person", role=roles.POLICE_LEAD, token_id="tp"
        )
        store.raise_escalation(
            police,
            referral,
            records.partners.EscalationIn(escalation_id="esc-matrix-" + referral, reason="x"),
        )
    return {
        roles.RECORD_REVIEW: {"review_id": new_id("rv"), **REVIEW_BODY},
        roles.RECORD_REFERRER_TOLD: {
            "record_id": new_id("told"),
            "told_at": "2026-11-30T11:00:00",
            "method": "phone",
            "outcome_given": "an assessment will be made",
        },
        roles.INVITE_PARTNER: {
            "invitation_id": new_id("inv"),
            "partner_name": "Pat Health",
            "partner_role": roles.HEALTH_LEAD,
            "reason": "the health visitor knows the family",
        },
        roles.ADD_CONTRIBUTION: {"contribution_id": new_id("c"), "summary": "two A&E visits"},
        roles.RAISE_ESCALATION: {"escalation_id": new_id("e"), "reason": "third incident"},
        roles.ANSWER_ESCALATION: {
            "answer_id": new_id("a"),
            "outcome": "decision_to_be_changed",
            "reason": "agreed",
        },
        roles.WITHDRAW_INVITATION: {"withdrawal_id": new_id("w"), "reason": "no longer needed"},
    }.get(action)


def _request(
    endpoint: tuple[str, str, str], store=None
) -> tuple[str, str, dict | None, dict | None]:
    """A valid request for each records endpoint: (method, url, json body, query)."""
    method, path, action = endpoint
    referral = f"R-{new_id('r')}"
    bodies = {
        roles.RECORD_DECISION: {
            "decision_id": new_id("d"),
            "decision": "assessment",
            "rationale": "injury unexplained",
        },
        roles.RECORD_INITIAL_VIEW: {"view_id": new_id("v"), "decision": "assessment"},
        roles.SET_CONFIG: {"enabled": False, "reason": "matrix test"},
    }
    if action == roles.RECORD_OVERRIDE:
        referral = f"R-F{new_id('r')}"  # a flag override needs a flagged referral
        bodies[action] = {
            "override_id": new_id("o"),
            "kind": "flag",
            "decision": "early_help",
            "reason": "known to early help",
        }
    if action in roles.ROLE_MATRIX and "{referral_id}" in path and action not in bodies:
        bodies[action] = _prepare(store, action, referral)
    url = (
        path.replace("{referral_id}", referral)
        .replace("{escalation_id}", "esc-matrix-" + referral)
        .replace("{invitation_id}", "inv-matrix-" + referral)
    )
    query = {"referral_id": referral} if action == roles.READ_AUDIT else None
    return method, url, bodies.get(action), query


@pytest.mark.parametrize("who", WHO, ids=lambda w: w or "anonymous")
@pytest.mark.parametrize(
    "endpoint",
    [*roles.RECORDS_ENDPOINTS, ("GET", "/v1/health", roles.HEALTH)],
    ids=lambda e: f"{e[0]} {e[1]}",
)
def test_role_matrix(endpoint, who, client, tokens, store):
    method, url, body, query = _request(endpoint, store)
    before = store.verify().entries
    response = client.request(method, url, json=body, params=query, headers=auth(tokens.get(who)))
    action = endpoint[2]
    if records.allowed(who, action):
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == (401 if who is None else 403), response.text
        # A refused request writes nothing to the trail.
        assert store.verify().entries == before
        if who is None:
            assert response.headers["WWW-Authenticate"] == "Bearer"


def test_matrix_reference():
    """The matrix says what the issue says, checked against a hand-written table."""
    expected = {
        roles.RECORD_DECISION: {"screener", "manager"},
        roles.RECORD_OVERRIDE: {"manager"},
        roles.READ_AUDIT: {"governance"},
        roles.SET_CONFIG: {"governance"},
        roles.SCORE_REFERRAL: {"screener", "manager"},
        roles.VIEW_CHRONOLOGY: {"screener", "manager"},
        roles.USE_PAGE: {"screener", "manager"},
        roles.VIEW_MODEL: {"screener", "manager", "data_scientist", "governance"},
        roles.RECORD_REVIEW: {"screener", "manager"},
        roles.RECORD_REFERRER_TOLD: {"screener", "manager"},
        roles.INVITE_PARTNER: {"screener", "manager"},
        roles.VIEW_FOLLOW_UP: {"screener", "manager"},
        roles.READ_INVITED_REFERRAL: {
            "screener",
            "manager",
            "police_safeguarding_lead",
            "health_safeguarding_lead",
            "education_safeguarding_lead",
        },
        roles.ADD_CONTRIBUTION: set(roles.PARTNER_ROLES),
        roles.RAISE_ESCALATION: set(roles.PARTNER_ROLES),
        roles.ANSWER_ESCALATION: {"manager"},
        roles.USE_PARTNER_PAGE: set(roles.PARTNER_ROLES),
        roles.VIEW_QUEUE: {"screener", "manager"},
        roles.WITHDRAW_INVITATION: {"manager"},
    }
    # Partner leads see nothing beyond the referrals they are invited to.
    for role in roles.PARTNER_ROLES:
        assert {a for a in records.ROLE_MATRIX if records.allowed(role, a)} == {
            roles.HEALTH,
            roles.READ_INVITED_REFERRAL,
            roles.ADD_CONTRIBUTION,
            roles.RAISE_ESCALATION,
            roles.USE_PARTNER_PAGE,
        }
    for action, allowed_roles in expected.items():
        assert set(records.ROLE_MATRIX[action]) == allowed_roles, action
        for role in records.ROLES:
            assert records.allowed(role, action) == (role in allowed_roles)
    assert {a for a in records.ROLE_MATRIX if records.allowed(None, a)} == {roles.HEALTH}
    with pytest.raises(ValueError, match="unknown action"):
        records.allowed("screener", "launch_missiles")


def test_every_route_enforces_its_listed_action(store):
    """Every route but health carries the action ENDPOINTS lists for it."""
    listed = {(m, p): a for m, p, a in records.ENDPOINTS}
    found = records.route_actions(build_app(store))
    assert found[("GET", "/v1/health")] is None
    protected = {key: action for key, action in found.items() if key != ("GET", "/v1/health")}
    assert protected, "no routes found"
    for key, action in protected.items():
        assert action is not None, f"{key} is open to anonymous requests"
        assert listed[key] == action, key
    assert set(roles.RECORDS_ENDPOINTS) == {(m, p, a) for (m, p), a in protected.items()}


@pytest.mark.parametrize("token", ["", "nonsense", "mast_000000000000_" + "x" * 43, "Basic abc"])
def test_bad_tokens_are_401(token, client, tokens):
    response = client.get(
        "/v1/audit", headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    assert response.status_code == 401


@both
def test_revoked_token_is_401(client, store):
    token, principal = store.create_token("Gov Lead", "governance")
    assert client.get("/v1/audit", headers=auth(token)).status_code == 200
    store.revoke_token(principal.token_id)
    assert client.get("/v1/audit", headers=auth(token)).status_code == 401
    with pytest.raises(ValueError, match="no such active token"):
        store.revoke_token(principal.token_id)  # twice: refused, and nothing more is written
    assert store.query(kind=records.kinds.TOKEN_REVOKED)[1] == 1 and store.verify().ok


def test_api_ignores_cookie(client, tokens):
    """The JSON API takes only the header, so a browser cookie cannot be replayed against it cross-site."""
    client.cookies.set(records.COOKIE_NAME, tokens["governance"])
    assert client.get("/v1/audit").status_code == 401
