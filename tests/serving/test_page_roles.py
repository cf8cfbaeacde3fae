"""The whole service's role matrix, endpoint by endpoint and role by role.

Every row of :data:`records.ENDPOINTS` (the scoring service's endpoints and
records' own) is called on the app :func:`serving.create_app` builds, over
the stand-in engine, by anonymous and by each role: a role the matrix
allows gets a 2xx, any other a 401 (anonymous) or 403.  The page follows the
same matrix (``use_page``).
"""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient

import records
from records import roles
from serving import create_app
from tests.serving.matches_fakes import possible_match_source
from tests.serving.page_fakes import FakeEngine

WHO = (None, *records.ROLES)
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    store = records.RecordsStore(f"sqlite:///{tmp_path_factory.mktemp('roles') / 'records.sqlite'}")
    tokens = {role: store.create_token(f"Matrix {role}", role)[0] for role in records.ROLES}
    engine = FakeEngine()
    app = create_app(engine=engine, records_store=store)
    app.state.possible_matches = possible_match_source(tmp_path_factory.mktemp("m") / "m.duckdb")
    with TestClient(app, follow_redirects=False) as client:
        yield client, store, tokens
    engine.close()
    store.close()


def _referral(flagged: bool) -> dict:
    return {
        "referral_id": f"MX{next(_ids)}",
        "received_at": "2026-10-01T10:00:00",
        "source": "police",
        "referrer_relationship": "police_officer",
        "concerns": ["domestic_abuse" if flagged else "neglect"],
        "children": ["C1"],
    }


def _scored(client, tokens, flagged: bool = False) -> dict:
    """A referral the service has scored (so it is on record), as posted."""
    referral = _referral(flagged=flagged)
    scored = client.post(
        "/v1/referrals/score",
        json=referral,
        headers={"Authorization": f"Bearer {tokens['screener']}"},
    )
    assert scored.status_code == 200, scored.text
    return referral


def _request(client, tokens, action: str, path: str) -> tuple[str, dict | None, dict | None]:
    """A valid (url, json, params) for ``action``; decisions need a referral the service has scored."""
    n = next(_ids)
    if action in (roles.RECORD_DECISION, roles.RECORD_OVERRIDE, roles.RECORD_INITIAL_VIEW):
        referral = _scored(client, tokens, flagged=action == roles.RECORD_OVERRIDE)
        url = path.replace("{referral_id}", referral["referral_id"])
        body = {
            roles.RECORD_DECISION: {
                "decision_id": f"mx-dec-{n:06d}",
                "decision": "assessment",
                "rationale": "matrix",
            },
            roles.RECORD_OVERRIDE: {
                "override_id": f"mx-ovr-{n:06d}",
                "kind": "flag",
                "decision": "early_help",
                "reason": "matrix",
            },
            roles.RECORD_INITIAL_VIEW: {"view_id": f"mx-viw-{n:06d}", "decision": "assessment"},
        }[action]
        if action == roles.RECORD_INITIAL_VIEW:
            url = path.replace("{referral_id}", f"MXV{n}")  # before any score, as in blind-first
        return url, body, None
    if action == roles.SCORE_REFERRAL:
        return path, _referral(flagged=False), None
    if action == roles.VIEW_CHRONOLOGY:
        # A chronology is opened for a child named on a referral on record.
        referral = _scored(client, tokens)
        return path.replace("{person_id}", "C1"), None, {"referral_id": referral["referral_id"]}
    if action == roles.AMEND_REFERRAL:
        referral = _scored(client, tokens)
        body = {k: val for k, val in referral.items() if k != "referral_id"}
        body.update(concerns=["neglect", "other"], amendment_id=f"mx-amd-{n:06d}", reason="matrix")
        return path.replace("{referral_id}", referral["referral_id"]), body, None
    if action == roles.REVIEW_POSSIBLE_MATCH:
        body = {
            "review_id": f"mx-pm-{n:06d}",
            "record_l": "health:H100",
            "record_r": "police:P200",
            "verdict": "different_people",
            "reason": "matrix",
        }
        return path, body, None
    if action == roles.SET_CONFIG:
        return path, {"enabled": False, "reason": "matrix"}, None
    if "{referral_id}" in path:  # issue 17's review and partner endpoints
        return _follow_up_request(client, tokens, action, path, n)
    return path, None, None


def _follow_up_request(client, tokens, action: str, path: str, n: int):
    """A scored referral in the state ``action`` needs, every partner role's holder invited."""
    referral = _scored(client, tokens)
    rid = referral["referral_id"]
    screener = {"Authorization": f"Bearer {tokens['screener']}"}
    for role in roles.PARTNER_ROLES:
        invitation = {
            "invitation_id": f"mx-inv-{n:06d}-{role[:3]}",
            "partner_name": f"Matrix {role}",
            "partner_role": role,
            "reason": "matrix",
        }
        got = client.post(f"/v1/referrals/{rid}/invitations", json=invitation, headers=screener)
        assert got.status_code == 201, got.text
    decision = {
        roles.RECORD_REVIEW: "strategy_discussion",
        roles.RECORD_REFERRER_TOLD: "assessment",
        roles.RAISE_ESCALATION: "no_further_action",
        roles.ANSWER_ESCALATION: "no_further_action",
    }.get(action)
    if decision:
        body = {"decision_id": f"mx-dec-{n:06d}", "decision": decision, "rationale": "matrix"}
        got = client.post(f"/v1/referrals/{rid}/decisions", json=body, headers=screener)
        assert got.status_code == 201, got.text
    escalation = f"mx-esc-{n:06d}"
    if action == roles.ANSWER_ESCALATION:
        police = {"Authorization": f"Bearer {tokens[roles.POLICE_LEAD]}"}
        body = {"escalation_id": escalation, "reason": "matrix"}
        got = client.post(f"/v1/referrals/{rid}/escalations", json=body, headers=police)
        assert got.status_code == 201, got.text
    three = ("children_social_care", "police", "health")
    body = {
        roles.RECORD_REVIEW: {
            "review_id": f"mx-rev-{n:06d}",
            "held_at": "2026-11-30T10:00:00",
            "participants": [{"agency": a, "name": "matrix"} for a in three],
            "outcome": {
                "section_47": False,
                "section_47_rationale": "matrix",
                "cp_medical": False,
                "cp_medical_rationale": "matrix",
            },
        },
        roles.RECORD_REFERRER_TOLD: {
            "record_id": f"mx-tld-{n:06d}",
            "told_at": "2026-11-30T11:00:00",
            "method": "phone",
            "outcome_given": "matrix",
        },
        roles.INVITE_PARTNER: {
            "invitation_id": f"mx-inv-{n:06d}",
            "partner_name": "Someone Else",
            "partner_role": roles.HEALTH_LEAD,
            "reason": "matrix",
        },
        roles.ADD_CONTRIBUTION: {"contribution_id": f"mx-con-{n:06d}", "summary": "matrix"},
        roles.RAISE_ESCALATION: {"escalation_id": f"mx-esn-{n:06d}", "reason": "matrix"},
        roles.ANSWER_ESCALATION: {
            "answer_id": f"mx-ans-{n:06d}",
            "outcome": "decision_stands",
            "reason": "matrix",
        },
        roles.WITHDRAW_INVITATION: {"withdrawal_id": f"mx-wdr-{n:06d}", "reason": "matrix"},
    }.get(action)
    url = path.replace("{referral_id}", rid).replace("{person_id}", "C1")
    url = url.replace("{invitation_id}", f"mx-inv-{n:06d}-{roles.POLICE_LEAD[:3]}")
    return url.replace("{escalation_id}", escalation), body, None


@pytest.mark.parametrize("who", WHO, ids=lambda w: w or "anonymous")
@pytest.mark.parametrize("endpoint", records.ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]}")
def test_service_role_matrix(world, endpoint, who):
    client, store, tokens = world
    method, path, action = endpoint
    url, body, params = _request(client, tokens, action, path)
    before = _written(store)
    headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
    response = client.request(method, url, json=body, params=params, headers=headers)
    if records.allowed(who, action):
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == (401 if who is None else 403), response.text
        assert _written(store) == before  # refused: nothing logged, nothing written


def _written(store) -> int:
    """Entries in the trail other than the record of repeated refusals (serving.limits)."""
    return store.verify().entries - store.query(kind=records.kinds.ACCESS_REFUSED)[1]


@pytest.mark.parametrize("who", records.ROLES)
def test_page_follows_the_matrix(world, who):
    client, _, tokens = world
    client.cookies.clear()
    assert client.post("/page/sign-in", data={"token": tokens[who]}).status_code == 303
    response = client.get("/page/referral", params={"referral_id": "S1"})
    assert response.status_code == (200 if records.allowed(who, roles.USE_PAGE) else 403)
    client.cookies.clear()


def test_every_listed_endpoint_exists_and_enforces_its_action(world):
    client, _, _ = world
    found = records.route_actions(client.app)
    for method, path, action in records.ENDPOINTS:
        assert found[(method, path)] == (None if action == roles.HEALTH else action), (method, path)
