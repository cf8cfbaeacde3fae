"""The role matrix, endpoint by endpoint and role by role (revocation: ``@both``, PostgreSQL too)."""

from __future__ import annotations

import pytest

import records
from records import roles
from tests.records.app import build_app
from tests.records.conftest import auth, both, new_id

WHO = (None, *records.ROLES)  # None: anonymous


def _request(endpoint: tuple[str, str, str]) -> tuple[str, str, dict | None, dict | None]:
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
    url = path.replace("{referral_id}", referral)
    query = {"referral_id": referral} if action == roles.READ_AUDIT else None
    return method, url, bodies.get(action), query


@pytest.mark.parametrize("who", WHO, ids=lambda w: w or "anonymous")
@pytest.mark.parametrize(
    "endpoint",
    [*roles.RECORDS_ENDPOINTS, ("GET", "/v1/health", roles.HEALTH)],
    ids=lambda e: f"{e[0]} {e[1]}",
)
def test_role_matrix(endpoint, who, client, tokens, store):
    method, url, body, query = _request(endpoint)
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
