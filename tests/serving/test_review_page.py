"""The page's strategy-discussion and partner screens (issue 17), in process over the stand-in engine."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient

import records
from records import kinds, roles
from serving import create_app
from tests.serving.page_fakes import FakeEngine

THREE = ("children_social_care", "police", "health")
_n = itertools.count(1)


@pytest.fixture
def world(tmp_path):
    store = records.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    tokens = {role: store.create_token(f"Page {role}", role)[0] for role in records.ROLES}
    engine = FakeEngine()
    app = create_app(engine=engine, records_store=store)
    yield app, store, tokens
    engine.close()
    store.close()


def signed_in(app, token) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    assert client.post("/page/sign-in", data={"token": token}).status_code == 303
    return client


def scored_and_decided(app, tokens, decision: str) -> str:
    """A referral scored and decided through the JSON API, as the front door would."""
    rid = f"RP{next(_n)}"
    api = TestClient(app)
    h = {"Authorization": f"Bearer {tokens['screener']}"}
    body = {
        "referral_id": rid,
        "received_at": "2026-10-01T10:00:00",
        "source": "school",
        "referrer_relationship": "teacher",
        "concerns": ["neglect"],
        "children": ["C1"],
    }
    assert api.post("/v1/referrals/score", json=body, headers=h).status_code == 200
    d = {"decision_id": f"pg-dec-{rid}", "decision": decision, "rationale": "bruise on arm"}
    got = api.post(f"/v1/referrals/{rid}/decisions", json=d, headers=h)
    assert got.status_code == 201, got.text
    return rid


def review_form(agencies=THREE, **more) -> dict:
    form = {
        "review_id": f"pg-rev-{next(_n):06d}",
        # Day, month, year and 24-hour time boxes, as the page's form sends them.
        "held_at_day": "30",
        "held_at_month": "11",
        "held_at_year": "2026",
        "held_at_time": "10:00",
        "section_47": "true",
        "section_47_rationale": "unexplained bruising",
        "cp_medical": "true",
        "cp_medical_rationale": "paediatric opinion needed",
        "action_1": "medical today",
        "owner_1": "duty paediatrician",
    }
    for a in agencies:
        form[f"took_part_{a}"] = "yes"
        form[f"name_{a}"] = f"someone from {a}"
    form["shared_police"] = "one domestic incident in 2025"
    form.update(more)
    return form


def test_the_referral_page_links_to_the_review_page(world):
    app, _, tokens = world
    rid = scored_and_decided(app, tokens, "strategy_discussion")
    client = signed_in(app, tokens["screener"])
    page = client.get("/page/referral", params={"referral_id": rid})
    assert page.status_code == 200 and f"/page/referral/{rid}/review" in page.text
    review = client.get(f"/page/referral/{rid}/review")
    assert review.status_code == 200
    assert "Strategy discussion not yet recorded: due by" in review.text
    assert "The referrer has not been told the outcome." in review.text


def test_a_review_with_the_three_agencies_is_recorded_from_the_page(world):
    app, store, tokens = world
    rid = scored_and_decided(app, tokens, "strategy_discussion")
    client = signed_in(app, tokens["screener"])
    done = client.post(f"/page/referral/{rid}/review", data=review_form())
    assert done.status_code == 200, done.text
    assert "Strategy discussion recorded (audit entry" in done.text
    (entry,) = store.query(kind=kinds.REVIEW, referral_id=rid)[0]
    assert [p["agency"] for p in entry.payload["participants"]] == list(THREE)
    assert entry.payload["shared"] == [
        {"agency": "police", "summary": "one domestic incident in 2025"}
    ]
    assert entry.actor == "Page screener"
    assert "Took part: children&#39;s social care (someone from children_social_care)" in done.text


def test_refusals_on_the_review_page_are_plain_english_and_keep_the_text(world):
    app, store, tokens = world
    rid = scored_and_decided(app, tokens, "strategy_discussion")
    client = signed_in(app, tokens["screener"])
    without_health = client.post(
        f"/page/referral/{rid}/review",
        data=review_form(THREE[:2], section_47_rationale="kept as typed"),
    )
    assert without_health.status_code == 422
    assert "health did not take part" in without_health.text
    assert "kept as typed" in without_health.text  # the typed text survives the refusal
    empty = client.post(f"/page/referral/{rid}/review", data={"review_id": "pg-rev-empty-1"})
    assert empty.status_code == 422
    for text in (without_health.text, empty.text):
        assert "Value error" not in text and "Field required" not in text
        assert "List should have" not in text and "Input should be" not in text
    assert "Please fill in who took part" in empty.text
    assert "Please fill in when it was held." in empty.text
    assert store.query(kind=kinds.REVIEW)[1] == 0


def test_a_partner_sees_only_invited_referrals_and_escalates_on_the_page(world):
    app, store, tokens = world
    mine = scored_and_decided(app, tokens, "no_further_action")
    other = scored_and_decided(app, tokens, "no_further_action")
    staff = signed_in(app, tokens["screener"])
    invited = staff.post(
        f"/page/referral/{mine}/invite",
        data={
            "invitation_id": f"pg-inv-{mine}",
            "partner_name": f"Page {roles.POLICE_LEAD}",
            "partner_role": roles.POLICE_LEAD,
            "reason": "police attended twice",
        },
    )
    assert invited.status_code == 200 and "Partner invited" in invited.text
    police = TestClient(app, follow_redirects=False)
    police.post("/page/sign-in", data={"token": tokens[roles.POLICE_LEAD]})
    home = police.get("/page/")
    assert home.status_code == 303 and home.headers["location"] == "/page/partner/"
    listing = police.get("/page/partner/")
    assert f"Referral {mine}" in listing.text and other not in listing.text
    assert police.get(f"/page/partner/referral/{other}").status_code == 404
    assert police.get("/page/referral", params={"referral_id": mine}).status_code == 403
    assert police.get(f"/page/referral/{mine}/review").status_code == 403
    page = police.get(f"/page/partner/referral/{mine}")
    assert page.status_code == 200 and "Challenge the no-further-action decision" in page.text
    assert "score" not in page.text.lower()
    added = police.post(
        f"/page/partner/referral/{mine}/contribution",
        data={"contribution_id": f"pg-con-{mine}", "summary": "third domestic incident"},
    )
    assert added.status_code == 200 and "third domestic incident" in added.text
    raised = police.post(
        f"/page/partner/referral/{mine}/escalation",
        data={"escalation_id": f"pg-esc-{mine}", "reason": "risk is escalating"},
    )
    assert raised.status_code == 200 and "Escalation raised" in raised.text
    refused = police.post(
        f"/page/partner/referral/{other}/escalation",
        data={"escalation_id": f"pg-esc-{other}", "reason": "x"},
    )
    assert refused.status_code == 404
    assert store.query(kind=kinds.ESCALATION)[1] == 1
    # The screener sees it waiting; only a manager can answer it.
    waiting = staff.get(f"/page/referral/{mine}/review")
    assert "1 escalation waiting for a manager" in waiting.text
    answer = {"answer_id": f"pg-ans-{mine}", "outcome": "decision_stands", "reason": "seen"}
    url = f"/page/referral/{mine}/escalations/pg-esc-{mine}/answer"
    assert staff.post(url, data=answer).status_code == 403
    manager = signed_in(app, tokens["manager"])
    answered = manager.post(url, data=answer)
    assert answered.status_code == 200 and "Every escalation has been answered." in answered.text
    assert store.verify().ok


def test_referrer_told_on_the_page_and_its_refusals_in_words(world):
    app, store, tokens = world
    rid = scored_and_decided(app, tokens, "assessment")
    client = signed_in(app, tokens["screener"])
    bad = client.post(
        f"/page/referral/{rid}/referrer-told",
        data={"record_id": "pg-told-bad-1", "told_at": "yesterday", "method": "pigeon"},
    )
    assert bad.status_code == 422
    assert "Please give when they were told as a date and time" in bad.text
    assert "Please choose one of the options for how they were told." in bad.text
    assert "Please fill in what they were told." in bad.text
    assert "Input should be" not in bad.text and "Value error" not in bad.text
    ok = client.post(
        f"/page/referral/{rid}/referrer-told",
        data={
            "record_id": "pg-told-ok-1",
            "recipient": "referrer",
            "told_at_day": "30",
            "told_at_month": "11",
            "told_at_year": "2026",
            "told_at_time": "15:00",
            "method": "letter",
            "outcome_given": "an assessment has begun",
        },
    )
    assert ok.status_code == 200 and "The referrer has been told the outcome." in ok.text
    assert "By letter, 30 Nov 2026 15:00 (UK time): an assessment has begun" in ok.text
    assert store.follow_up([rid])[rid].referrer_told


def test_after_the_review_the_page_offers_closing_as_the_store_accepts(world):
    """A flagged referral: closing is not open before the strategy discussion is recorded, open after."""
    app, store, tokens = world
    client = signed_in(app, tokens["screener"])
    page = client.get("/page/referral", params={"referral_id": "S1"})  # flagged in the fake store
    assert page.status_code == 200
    api = TestClient(app)
    h = {"Authorization": f"Bearer {tokens['screener']}"}
    sd = {"decision_id": "pg-sd-S1-0001", "decision": "strategy_discussion", "rationale": "DA"}
    assert api.post("/v1/referrals/S1/decisions", json=sd, headers=h).status_code == 201
    before = client.get("/page/referral", params={"referral_id": "S1"}).text
    assert "why-not-no_further_action" in before
    assert client.post("/page/referral/S1/review", data=review_form()).status_code == 200
    after = client.get("/page/referral", params={"referral_id": "S1"}).text
    assert "why-not-no_further_action" not in after
    assert "Strategy discussion recorded." in after  # the panel
    close = {
        "decision_id": "pg-nfa-S1-0001",
        "decision": "no_further_action",
        "rationale": "the strategy discussion found no grounds for section 47",
        "supersedes": sd["decision_id"],
    }
    assert api.post("/v1/referrals/S1/decisions", json=close, headers=h).status_code == 201
