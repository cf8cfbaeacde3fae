"""Possible matches over HTTP: listed with their fields, judged by screeners and managers, audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import records
from records import kinds
from serving import create_app
from tests.serving.matches_fakes import possible_match_source
from tests.serving.page_fakes import FakeEngine


@pytest.fixture
def tokens(store):
    return {role: store.create_token(f"Match {role}", role)[0] for role in records.ROLES}


@pytest.fixture
def app(store, tmp_path):
    engine = FakeEngine()
    app = create_app(engine=engine, records_store=store)
    app.state.possible_matches = possible_match_source(tmp_path / "m.duckdb")
    yield app
    engine.close()


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _review(**over):
    body = {
        "review_id": "rv-1",
        "record_l": "police:P200",
        "record_r": "health:H100",
        "verdict": "same_person",
        "reason": "Same GP practice and school; date typed day-first.",
    }
    return body | over


def test_list_shows_probability_and_the_fields_that_agree_and_disagree(app, tokens):
    client = TestClient(app)
    got = client.get("/v1/possible-matches", headers=_auth(tokens["screener"]))
    assert got.status_code == 200, got.text
    first, second = got.json()
    assert first["match_probability"] == pytest.approx(0.74)
    assert first["probability_words"] == "74% likely to be the same person"
    assert first["agreeing_fields"] == ["address", "sex"]
    assert first["disagreeing_fields"] == ["name", "date of birth"]
    assert first["left"]["given_name"] == "Amara" and first["right"]["given_name"] == "Amarah"
    assert first["left"]["date_of_birth"] == "04 Mar 2015"
    assert first["latest_verdict"] is None
    assert second["match_probability"] == pytest.approx(0.41)
    top = client.get("/v1/possible-matches?limit=1", headers=_auth(tokens["manager"])).json()
    assert [m["match_probability"] for m in top] == [pytest.approx(0.74)]


def test_a_verdict_is_audited_and_shown(app, tokens, store):
    client = TestClient(app)
    posted = client.post(
        "/v1/possible-matches/reviews", json=_review(), headers=_auth(tokens["manager"])
    )
    assert posted.status_code == 201, posted.text
    (entry,) = store.match_reviews()
    assert entry.kind == kinds.POSSIBLE_MATCH_REVIEW
    assert entry.role == "manager"
    # Stored in one order whichever way round the client named the pair.
    assert entry.payload["unique_id_l"] == "health:H100"
    assert entry.payload["unique_id_r"] == "police:P200"
    assert entry.payload["match_probability"] == pytest.approx(0.74)
    assert entry.payload["rule_version"] == "r1"
    assert store.verify().ok
    listed = client.get("/v1/possible-matches", headers=_auth(tokens["screener"])).json()
    assert listed[0]["latest_verdict"] == "the same person"
    assert listed[0]["latest_verdict_by"] == "Match manager"


def test_refusals_write_nothing(app, tokens, store):
    client = TestClient(app)
    h = _auth(tokens["screener"])
    # A pair the linkage never offered cannot be confirmed.
    unknown = client.post(
        "/v1/possible-matches/reviews", json=_review(record_r="education:E300"), headers=h
    )
    assert unknown.status_code == 404
    assert unknown.json()["detail"]["rule"] == "unknown_possible_match"
    assert (
        client.post(
            "/v1/possible-matches/reviews", json=_review(verdict="maybe"), headers=h
        ).status_code
        == 422
    )
    assert (
        client.post("/v1/possible-matches/reviews", json=_review(reason=""), headers=h).status_code
        == 422
    )
    for role in ("data_scientist", "governance"):
        assert (
            client.post(
                "/v1/possible-matches/reviews", json=_review(), headers=_auth(tokens[role])
            ).status_code
            == 403
        )
        assert client.get("/v1/possible-matches", headers=_auth(tokens[role])).status_code == 403
    assert client.post("/v1/possible-matches/reviews", json=_review()).status_code == 401
    assert store.match_reviews() == []
    # A replayed review id is refused.
    assert client.post("/v1/possible-matches/reviews", json=_review(), headers=h).status_code == 201
    again = client.post(
        "/v1/possible-matches/reviews", json=_review(verdict="different_people"), headers=h
    )
    assert again.status_code == 409
    assert [e.payload["verdict"] for e in store.match_reviews()] == ["same_person"]


def test_the_page_panel_records_a_verdict(app, tokens, store):
    client = TestClient(app, follow_redirects=False)
    assert client.post("/page/sign-in", data={"token": tokens["screener"]}).status_code == 303
    page = client.get("/page/possible-matches")
    assert page.status_code == 200
    assert "74% likely to be the same person" in page.text
    assert "they are not joined" in page.text.replace("<strong>", "").replace("</strong>", "")
    assert "Amarah" in page.text and "04 Mar 2015" in page.text
    missing_reason = client.post(
        "/page/possible-matches",
        data={"record_l": "health:H100", "record_r": "police:P200", "verdict": "same_person"},
    )
    assert missing_reason.status_code == 422
    assert "Say why" in missing_reason.text
    done = client.post(
        "/page/possible-matches",
        data={
            "record_l": "education:E300",
            "record_r": "housing:U400",
            "verdict": "different_people",
            "reason": "Different schools and addresses.",
        },
    )
    assert done.status_code == 303
    shown = client.get(done.headers["location"])
    assert "Recorded: different people" in shown.text
    assert "Judged different people by Match screener" in shown.text
    (entry,) = store.match_reviews()
    assert entry.payload["verdict"] == "different_people" and entry.role == "screener"
    # Only fixed texts are shown after a verdict, never the query string.
    assert "hello" not in client.get("/page/possible-matches?done=hello").text


def test_the_page_panel_refuses_other_roles(app, tokens):
    client = TestClient(app, follow_redirects=False)
    client.post("/page/sign-in", data={"token": tokens["governance"]})
    assert client.get("/page/possible-matches").status_code == 403
