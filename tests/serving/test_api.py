"""The HTTP contract: scores, reasons, refusals, roles and the audit trail."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

import features
from serving import ADVISORY_NOTICE
from serving.reasons import is_silent

REFERRAL = {
    "referral_id": "N1",
    "received_at": "2026-10-01T10:00:00",
    "source": "police",
    "referrer_relationship": "police_officer",
    "concerns": ["domestic_abuse"],
    "children": ["C1", "C2"],
}


_ids = itertools.count()


def body(**changes):
    """The referral with ``changes``: under a fresh id when the content changes.

    A referral's content is fixed the first time MAST receives its id
    (records/register.py), so a variant is a new referral.
    """
    fresh = {"referral_id": f"N1-{next(_ids)}"} if changes else {}
    return {**REFERRAL, **fresh, **changes}


@pytest.fixture(scope="module")
def scored(client):
    response = client.post("/v1/referrals/score", json=REFERRAL)
    assert response.status_code == 200, response.text
    return response.json()


def test_score_has_every_part(scored, engine):
    assert scored["referral_id"] == "N1"
    assert [c["person_id"] for c in scored["children"]] == ["C1", "C2"]
    for child in scored["children"]:
        assert 0.0 <= child["probability"] <= 1.0
        assert 1 <= child["score"] <= 20
    assert scored["highest_score"] == max(c["score"] for c in scored["children"])
    assert scored["multi_agency_review_recommended"] == any(c["flag"] for c in scored["children"])
    assert scored["model_version"] == engine.model.version
    assert scored["policy_version"] == "test-policy-1"
    assert len(scored["request_id"]) == 32


def test_every_response_says_it_is_advisory(scored, client):
    assert scored["advisory_notice"] == ADVISORY_NOTICE
    assert "advisory" in scored["advisory_notice"].lower()
    assert "professional judgement" in scored["advisory_notice"]
    assert "advisory" in scored["recommendation"].lower()
    chron = client.get("/v1/children/C1/chronology", params={"referral_id": "N1"}).json()
    assert chron["advisory_notice"] == ADVISORY_NOTICE
    assert "advisory" in client.get("/v1/model").json()["advisory_notice"].lower()


def test_chronology_names_the_event_type_as_reason_records_do(scored, client):
    """One name for one thing: a chronology entry and a reason's record both say ``event_type``."""
    entries = client.get("/v1/children/C1/chronology", params={"referral_id": "N1"}).json()[
        "entries"
    ]
    assert entries, "C1 has a history in the test store"
    assert all("event_type" in e and "event" not in e for e in entries)
    records = [rec for c in scored["children"] for r in c["reasons_for"] for rec in r["records"]]
    assert records and all("event_type" in rec for rec in records)
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    entry = schemas["ChronologyEntry"]
    assert "event_type" in entry["properties"] and "event" not in entry["properties"]
    assert "event_type" in entry["required"]
    assert "event_type" in schemas["EvidenceRecord"]["properties"]


def test_request_ids_are_unique(client):
    ids = {client.post("/v1/referrals/score", json=REFERRAL).json()["request_id"] for _ in range(3)}
    assert len(ids) == 3


def test_flag_follows_the_policy_threshold(scored, engine):
    threshold = engine.model.policy["threshold_score"]
    for child in scored["children"]:
        assert child["flag"] == (child["score"] >= threshold)


def test_reasons_are_ranked_signed_and_described(scored, engine):
    spec = {s.name: s for s in features.catalogue()} | engine.reasons.fields
    seen_against = 0
    for child in scored["children"]:
        up = [r["contribution"] for r in child["reasons_for"]]
        down = [r["contribution"] for r in child["reasons_against"]]
        assert up == sorted(up, reverse=True) and all(c > 0 for c in up)
        assert down == sorted(down) and all(c < 0 for c in down)
        assert len(up) <= engine.config.top_reasons and len(down) <= engine.config.top_reasons
        seen_against += len(down)
        for r in child["reasons_for"] + child["reasons_against"]:
            assert r["direction"] == ("raises" if r["contribution"] > 0 else "lowers")
            assert r["text"] == spec[r["feature"]].describe(r["value"])
            assert len(r["records"]) <= engine.config.max_records <= 10
            assert r["records_total"] >= len(r["records"])
    # The picture is not one-sided: something lowers somebody's score.
    assert seen_against > 0


def test_reasons_match_a_direct_shap_call(scored, engine):
    """The top reasons are the largest contributions SHAP gives for this child."""
    from serving import ReferralIn

    keys, X = engine.model_inputs(engine.features_for(ReferralIn(**REFERRAL)))
    contrib, base = engine.model.scorer.contributions(X)
    # The referral's source and referrer are one reason each: their columns' sum.
    field = {
        f: ("referral_source" if f.startswith("referral_source_") else "referrer")
        for f in contrib.columns
        if f.startswith(("referral_source_", "referrer_"))
    }
    contrib = contrib.T.groupby(lambda f: field.get(f, f), sort=False).sum().T
    for i, pid in enumerate(keys["person_id"]):
        child = next(c for c in scored["children"] if c["person_id"] == pid)
        row = contrib.iloc[i]
        # A value that records nothing (0, false, not raised) is never a reason (issue #14).
        values = engine.reasons.values(X.iloc[i].to_dict())
        expected_up = [
            f
            for f, c in row.sort_values(ascending=False).items()
            if c > 1e-3 and not is_silent(values[f])
        ][:5]
        assert [r["feature"] for r in child["reasons_for"]] == expected_up
        for r in child["reasons_for"]:
            assert math.isclose(r["contribution"], row[r["feature"]], rel_tol=1e-9)
        assert math.isclose(child["base_value"], base, rel_tol=1e-9)


def test_reasons_list_the_records_behind_them(client):
    """Count reasons list exactly the records they count, each dated before the referral."""
    import re

    scored = client.post("/v1/referrals/score", json=body(referral_id="N2")).json()
    reasons = [r for c in scored["children"] for r in c["reasons_for"] + c["reasons_against"]]
    with_records = [r for r in reasons if r["records"]]
    assert with_records, "no reason lists any record"
    counts = [
        r for r in reasons if re.search(r"prior_referrals_[a-z_]*(\d+m|ever)(_sum)?$", r["feature"])
    ]
    assert counts, "expected a referral-count reason with this toy model"
    for r in counts:
        assert r["records_total"] == r["value"], r
    for r in with_records:
        for rec in r["records"]:
            assert rec["event_type"] and rec["occurred_at"] and rec["relationship"]
            if rec["event_type"] != "this referral":
                assert rec["recorded_at"] < "2026-10-01T10:00:00"


def test_evidence_names_the_adult_behind_a_household_feature(engine):
    """The new partner's police record is listed, with who he is to the child."""
    from serving import ReferralIn
    from serving.scoring import _referral_frames

    referral, children = _referral_frames(ReferralIn(**body(referral_id="N3")))
    records = engine.evidence(referral, children, "C1", "adults_da_perpetrator_ever_max")
    assert [(r["person_id"], r["relationship"], r["agency"], r["event_type"]) for r in records] == [
        ("A2", "partner", "police", "domestic_incident")
    ]
    assert records[0]["occurred_at"].isoformat() == "2024-04-04T00:00:00"
    # Before A2's move-in was recorded, he is not in the household: nothing to list.
    early, early_children = _referral_frames(
        ReferralIn(**body(referral_id="N4", received_at="2026-09-03T10:00:00"))
    )
    assert engine.evidence(early, early_children, "C1", "adults_da_perpetrator_ever_max") == []


# -- refusals -----------------------------------------------------------------
def test_unknown_child_is_404_naming_the_id(client):
    r = client.post("/v1/referrals/score", json=body(children=["C1", "NOBODY"]))
    assert r.status_code == 404
    assert "NOBODY" in r.json()["detail"]


def test_future_referral_is_refused_with_a_reason(client):
    r = client.post("/v1/referrals/score", json=body(received_at="2099-01-01T00:00:00"))
    assert r.status_code == 422
    assert "future" in r.json()["detail"]


def test_referral_before_birth_is_refused(client):
    r = client.post(
        "/v1/referrals/score", json=body(received_at="2026-03-01T00:00:00", children=["NB"])
    )
    assert r.status_code == 422
    assert "NB" in r.json()["detail"] and "born" in r.json()["detail"]


def test_referral_about_an_adult_is_refused(client):
    r = client.post("/v1/referrals/score", json=body(children=["AD"]))
    assert r.status_code == 422
    assert "AD" in r.json()["detail"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"concern": ["neglect"]}, "concern"),
        ({"received_at": "not a date"}, "received_at"),
        ({"source": "carrier pigeon"}, "source"),
        ({"concerns": []}, "concerns"),
        ({"children": []}, "children"),
        ({"children": ["C1", "C1"]}, "children"),
        ({"referral_id": "bad id with spaces"}, "referral_id"),
    ],
)
def test_malformed_input_is_422_naming_the_field(client, change, field):
    r = client.post("/v1/referrals/score", json=body(**change))
    assert r.status_code == 422
    locations = [e["loc"] for e in r.json()["detail"]]
    assert any(field in loc for loc in locations), locations


def test_missing_field_is_422_naming_it(client):
    data = body()
    del data["referrer_relationship"]
    r = client.post("/v1/referrals/score", json=data)
    assert r.status_code == 422
    assert any("referrer_relationship" in e["loc"] for e in r.json()["detail"])


def test_chronology_of_someone_not_on_the_referral_is_refused(scored, client):
    r = client.get("/v1/children/NOBODY/chronology", params={"referral_id": "N1"})
    assert r.status_code == 403 and "NOBODY" in r.json()["detail"]


def test_chronology_in_the_future_is_refused(scored, client):
    r = client.get(
        "/v1/children/C1/chronology",
        params={"referral_id": "N1", "as_of": "2099-01-01T00:00:00"},
    )
    assert r.status_code == 422


# -- model, health, roles ------------------------------------------------------
def test_model_endpoint_shows_version_policy_and_gate(client, engine):
    m = client.get("/v1/model").json()
    assert m["model_version"] == engine.model.version
    assert m["alias"] == "champion"
    assert m["gate"] == {"gate_verdict": "pass"}
    assert m["policy"]["version"] == "test-policy-1"
    assert m["policy"]["threshold_score"] == engine.model.policy["threshold_score"]
    assert m["feature_names"] == engine.feature_names


def test_anonymous_gets_health_only(anonymous, engine):
    h = anonymous.get("/v1/health")
    assert h.status_code == 200 and h.json()["model_version"] == engine.model.version
    assert anonymous.get("/v1/model").status_code == 401
    assert anonymous.post("/v1/referrals/score", json=REFERRAL).status_code == 401
    assert anonymous.get("/v1/children/C1/chronology").status_code == 401
    # Nor the schema or interactive docs: those are for signed-in roles only.
    assert anonymous.get("/openapi.json").status_code == 401
    assert anonymous.get("/docs").status_code == 404
    assert anonymous.get("/redoc").status_code == 404


@pytest.mark.parametrize(
    "role, score, chronology, model",
    [
        ("screener", 200, 200, 200),
        ("manager", 200, 200, 200),
        ("data_scientist", 403, 403, 200),
        ("governance", 403, 403, 200),
    ],
)
def test_role_matrix(anonymous, tokens, role, score, chronology, model):
    h = {"Authorization": f"Bearer {tokens[role]}"}
    assert anonymous.post("/v1/referrals/score", json=REFERRAL, headers=h).status_code == score
    assert (
        anonymous.get(
            "/v1/children/C1/chronology", params={"referral_id": "N1"}, headers=h
        ).status_code
        == chronology
    )
    assert anonymous.get("/v1/model", headers=h).status_code == model


def test_every_route_is_protected_but_health(app):
    import records

    actions = records.route_actions(app)
    # The page signs in with its own form; every other route is under the role matrix.
    open_routes = {k for k, a in actions.items() if a is None and not k[1].startswith("/page")}
    assert open_routes == {("GET", "/v1/health")}


# -- the audit trail -----------------------------------------------------------
def test_scores_and_chronology_views_are_logged(client, records_store):
    before, _ = records_store.query(referral_id="AUD1", limit=100)
    client.post("/v1/referrals/score", json=body(referral_id="AUD1"))
    client.get("/v1/children/C2/chronology", params={"referral_id": "AUD1"})
    entries, _ = records_store.query(referral_id="AUD1", limit=100)
    new = entries[len(before) :]
    kinds = sorted(e.kind for e in new)
    assert kinds == ["chronology_view", "referral", "score_view"]
    score = next(e for e in new if e.kind == "score_view")
    assert score.actor == "test screener" and score.role == "screener"
    assert score.payload["person_ids"] == ["C1", "C2"]
    view = next(e for e in new if e.kind == "chronology_view")
    assert view.person_id == "C2"


def test_records_sees_the_flag_the_screener_saw(client, app):
    scored = client.post("/v1/referrals/score", json=body(referral_id="LOOK1")).json()
    status = app.state.guard.lookup("LOOK1")
    assert status.flagged == scored["multi_agency_review_recommended"]
    assert status.score == scored["highest_score"]
    assert app.state.guard.lookup("NEVER-SCORED") is None


def test_records_can_be_left_out_without_changing_the_score(client):
    full = client.post("/v1/referrals/score", json=body(referral_id="RQ1")).json()
    lean = client.post(
        "/v1/referrals/score", json=body(referral_id="RQ1"), params={"records": "false"}
    ).json()
    for a, b in zip(full["children"], lean["children"], strict=True):
        assert (a["probability"], a["score"], a["flag"]) == (
            b["probability"],
            b["score"],
            b["flag"],
        )
        assert [r["feature"] for r in a["reasons_for"]] == [r["feature"] for r in b["reasons_for"]]
        assert all(r["records"] == [] and r["records_total"] is None for r in b["reasons_for"])
        assert all(r["records_total"] is not None for r in a["reasons_for"])


@pytest.mark.parametrize(
    "when", ["2019-06-01T10:00:00", "2026-03-25T10:00:00", "2026-10-01T10:00:00"]
)
def test_a_zero_count_really_has_no_records(engine, when):
    """The engine skips the evidence query for counts of 0: check that it is always empty."""
    from serving import ReferralIn
    from serving.scoring import _referral_frames

    referral = ReferralIn(**body(referral_id="Z1", received_at=when, children=["C1", "C2"]))
    keys, X = engine.model_inputs(engine.features_for(referral))
    frame, referral_children = _referral_frames(referral)
    assert len(engine.zero_means_no_records) > 40
    checked = 0
    for i, pid in enumerate(keys["person_id"]):
        for feature in sorted(engine.zero_means_no_records):
            records = features.evidence(
                engine.cursor(), frame, pid, feature, referral_children=referral_children
            )
            if X.loc[i, feature] == 0:
                assert records.empty, (pid, feature)
                checked += 1
            elif X.loc[i, feature] > 0:
                assert len(records) >= 1, (pid, feature, X.loc[i, feature])
    assert checked > 50


def test_blind_first_mode_hides_the_score_until_an_initial_view(client, records_store, tokens):
    from fastapi.testclient import TestClient

    governance = records_store.verify_token(tokens["governance"])
    referral = body(referral_id="BLIND-1")
    records_store.set_blind_first(True, governance, "test: blind-first on the API")
    # A screener who has seen no score of C1 or C2 (blind-first holds by child:
    # the session's screener has seen many since 2026-10-01).
    token, _ = records_store.create_token("blind screener", "screener")
    client = TestClient(client.app, headers={"Authorization": f"Bearer {token}"})
    try:
        refused = client.post("/v1/referrals/score", json=referral)
        assert refused.status_code == 409 and "initial view" in refused.json()["detail"]
        view = {"view_id": "BLIND-1-view", "decision": "assessment", "rationale": "my own view"}
        recorded = client.post("/v1/referrals/BLIND-1/initial-views", json=view)
        assert recorded.status_code in (200, 201), recorded.text
        assert client.post("/v1/referrals/score", json=referral).status_code == 200
    finally:
        records_store.set_blind_first(False, governance, "test: blind-first off again")
    assert client.post("/v1/referrals/score", json=body(referral_id="BLIND-2")).status_code == 200


def test_request_times_are_read_in_the_stores_local_time():
    """The contract's times are local time in England; a request's offset is converted to it.

    In summer, 10:00 UTC is 11:00 in England; in winter the two agree.  A
    naive time is already local.  Against a UTC clock, a referral received
    in the last hour was refused as "in the future" every summer.
    """
    from datetime import UTC, datetime, timezone

    from serving.scoring import store_now, to_store_time

    summer = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    winter = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    assert to_store_time(summer) == datetime(2026, 7, 1, 11, 0)
    assert to_store_time(winter) == datetime(2026, 1, 15, 10, 0)
    paris = timezone(timedelta(hours=2))
    assert to_store_time(datetime(2026, 7, 1, 12, 0, tzinfo=paris)) == datetime(2026, 7, 1, 11, 0)
    assert to_store_time(datetime(2026, 7, 1, 11, 0)) == datetime(2026, 7, 1, 11, 0)
    # The clock the future check uses is the store's, not UTC's.
    local = datetime.now(UTC).astimezone(ZoneInfo("Europe/London")).replace(tzinfo=None)
    assert abs(store_now() - local) < timedelta(seconds=5)


def test_a_referral_received_just_now_in_local_time_is_accepted(client):
    """Received a minute ago on the local clock: never refused as in the future."""
    from serving.scoring import store_now

    just_now = (store_now() - timedelta(minutes=1)).isoformat()
    r = client.post("/v1/referrals/score", json=body(referral_id="NOW-1", received_at=just_now))
    assert r.status_code == 200, r.text
