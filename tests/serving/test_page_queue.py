"""The screener's work queue, a triggered referral, and plain English on every refusal."""

from __future__ import annotations

import html as htmllib
import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

import records
from serving import queue as work_queue
from serving.scoring import store_now
from tests.serving import test_page
from tests.serving.test_page import browser, form_fields, open_referral

REFERRALS = {
    "Q1": {
        "received_at": "2026-10-01T10:00",
        "source": "school",
        "referrer_relationship": "teacher",
        "concerns": ["neglect"],
        "children": ["C2"],
    },
    "Q2": {
        "received_at": "2026-10-02T09:00",
        "source": "police",
        "referrer_relationship": "police_officer",
        "concerns": ["domestic_abuse"],
        "children": ["C1"],
    },
    "Q3": {
        "received_at": "2026-10-03T08:15",
        "source": "health",
        "referrer_relationship": "health_visitor",
        "concerns": ["neglect"],
        "children": ["C2"],
        "injury_alleged": True,
    },
}
# Text a validation library writes, which no screener should read.
LIBRARY_TEXT = (
    "Value error",
    "Input should",
    "List should",
    "String should",
    "Field required",
    "Extra inputs are not permitted",
    "pydantic",
    "validation error",
    "[type=",
    "errors.pydantic.dev",
    "POST ",
    "_id ",
)


# The page tests' own fixtures: a stand-in engine's app, and a token per role.
app, tokens = test_page.app, test_page.tokens


@pytest.fixture
def received(app, tokens):
    """Q1-Q3 received through MAST: a manager's client scored them over the API."""
    from fastapi.testclient import TestClient

    client = TestClient(app)
    for rid, body in REFERRALS.items():
        r = client.post(
            "/v1/referrals/score",
            json={"referral_id": rid, **body},
            headers={"Authorization": f"Bearer {tokens['manager']}"},
        )
        assert r.status_code == 200, r.text
    return REFERRALS


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="queue-row" id="q-([^"]+)"', html)


def row(html: str, rid: str) -> str:
    found = re.search(rf'<tr class="queue-row" id="q-{rid}">(.*?)</tr>', html, re.S)
    return (
        " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split()) if found else ""
    )


def test_the_queue_is_the_landing_page_newest_first(app, tokens, received, store):
    page = browser(app, tokens["screener"]).get("/page/")
    assert page.status_code == 200 and "Work queue" in page.text
    assert rows(page.text) == ["Q3", "Q2", "Q1"]
    q3, q2, q1 = row(page.text, "Q3"), row(page.text, "Q2"), row(page.text, "Q1")
    assert "Allegation or sign of physical injury" in q3 and "awaiting a decision" in q3
    assert "flagged" in q2 and "17 of 20" in q2 and "none triggered" in q2
    assert "not flagged, score 6 of 20" in q1
    assert "03 Oct 2026 08:15" in q3 and "2026-10-03" not in page.text  # UK time, no ISO text
    assert 'href="/page/referral?referral_id=Q3"' in page.text  # no id to type in
    # The flags and score bands the queue showed are in the trail, as the referral page's are.
    (logged,) = store.query(kind=records.kinds.QUEUE_VIEW)[0]
    assert logged.actor == "Page screener" and logged.payload["scores_shown"] == ["Q3", "Q2", "Q1"]


def test_filters(app, tokens, received):
    client = browser(app, tokens["screener"])
    assert rows(client.get("/page/", params={"statutory": "1"}).text) == ["Q3"]
    assert rows(client.get("/page/", params={"flagged": "1"}).text) == ["Q2"]
    assert rows(client.get("/page/", params={"q": "c2"}).text) == ["Q3", "Q1"]
    assert rows(client.get("/page/", params={"show": "follow_up"}).text) == []
    empty = client.get("/page/", params={"q": "nobody"}).text
    assert "Nothing on the queue matches these filters" in empty


def test_decided_referrals_leave_the_queue_and_reviews_owed_stay(app, tokens, received, store):
    client = browser(app, tokens["screener"])
    assert rows(client.get("/page/").text) == ["Q3", "Q2", "Q1"]  # the worker's index is built
    for rid, decision in (("Q1", "assessment"), ("Q2", "strategy_discussion")):
        hidden = form_fields(open_referral(client, {"referral_id": rid}).text, "decision-form")
        done = client.post(
            f"/page/referral/{rid}/decision",
            data={**hidden, "decision": decision, "rationale": f"decided {rid}"},
        )
        assert done.status_code == 200, done.text
    page = client.get("/page/").text
    # Decided, but the referrer is not yet told: Q1 stays, with that owed.
    assert rows(page) == ["Q3", "Q2", "Q1"]
    assert "the referrer not yet told the outcome" in row(page, "Q1")
    told = {
        "record_id": "told-about-q1",
        "recipient": "referrer",
        "told_at": store_now().isoformat(timespec="minutes"),
        "method": "phone",
        "outcome_given": "an assessment will follow",
    }
    api = TestClient(app)
    answer = api.post(
        "/v1/referrals/Q1/referrer-told",
        json=told,
        headers={"Authorization": f"Bearer {tokens['screener']}"},
    )
    assert answer.status_code == 201, answer.text
    page = client.get("/page/").text
    assert rows(page) == ["Q3", "Q2"]  # the kept index saw the decisions and the referrer told
    fresh = work_queue.queue_items(store, store.verify_token(tokens["screener"]))
    assert [i.referral_id for i in fresh] == ["Q3", "Q2"]  # as a whole-trail read does
    assert "strategy discussion to be held and recorded by" in row(page, "Q2")
    assert rows(client.get("/page/", params={"show": "awaiting"}).text) == ["Q3"]
    user = store.verify_token(tokens["screener"])
    later = work_queue.queue_items(store, user, now=datetime(2100, 1, 1))
    (q2,) = [i for i in later if i.referral_id == "Q2"]
    assert [m.kind for m in q2.follow_ups] == ["review_overdue", "referrer_not_told"]
    assert q2.follow_ups[0].urgent and not q2.follow_ups[1].urgent


def test_blind_first_hides_scores_until_the_screeners_view(app, tokens, received, store):
    store.set_blind_first(True, store.verify_token(tokens["governance"]), "pilot")
    client = browser(app, tokens["screener"])
    page = client.get("/page/").text
    assert "17 of 20" not in page and "flagged" not in row(page, "Q2")
    assert row(page, "Q2").count("shown after your view") == 1
    # The triggers are the law, not a score: shown before the view.
    assert "Allegation or sign of physical injury" in row(page, "Q3")
    assert rows(client.get("/page/", params={"flagged": "1"}).text) == []  # no leak by filter
    logged = store.query(kind=records.kinds.QUEUE_VIEW)[0][0].payload
    assert logged["scores_shown"] == [] and logged["hidden_blind_first"] == ["Q3", "Q2", "Q1"]
    first = open_referral(client, {"referral_id": "Q2"}).text
    hidden = form_fields(
        first.replace('action="/page/referral/Q2/initial-view"', 'id="iv" action="x"'), "iv"
    )
    posted = client.post(
        "/page/referral/Q2/initial-view", data={**hidden, "decision": "assessment"}
    )
    assert posted.status_code == 303
    after = client.get("/page/").text
    assert "17 of 20" in row(after, "Q2")
    # Q1 is about C2, as Q3 is, and neither has the screener's view: both still hidden.
    assert "shown after your view" in row(after, "Q1") and "shown after your view" in row(
        after, "Q3"
    )
    # A manager is not blind-first: sees every score.
    assert "6 of 20" in row(browser(app, tokens["manager"]).get("/page/").text, "Q1")


def test_repeat_referral_markers(store, tokens):
    manager = store.verify_token(tokens["manager"])
    content = {
        "received_at": "2026-10-05T09:00:00",
        "source": "school",
        "referrer_relationship": "teacher",
        "concerns": ["neglect"],
        "children": ["C9"],
    }
    view = {
        "payload": {
            "request_id": "r1",
            "model_version": "1",
            "highest_score": 4,
            "review_recommended": False,
            "statutory": [
                {
                    "rule_id": r,
                    "title": t,
                    "requires": ["manager_review_before_closure"],
                    "children": ["C9"],
                }
                for r, t in (
                    ("repeat_referral", "Repeat referrals"),
                    ("after_nfa_closure", "Soon after"),
                )
            ],
            "person_ids": ["C9"],
        }
    }
    store.register_referral(manager, "R-REP", content, flagged=False, view=view)
    (item,) = work_queue.queue_items(store, manager, count_referrals=lambda c, at: 4)
    assert [m.text for m in item.repeat] == [
        "4th referral in 12 months",
        "within 30 days of a no-further-action closure",
    ]
    (item,) = work_queue.queue_items(store, manager)
    assert item.repeat[0].text == "3rd or later referral in 12 months"


def test_a_triggered_referral_reopened_from_the_queue(app, tokens, received, store):
    """The injury trigger holds when the referral is reopened by id; closing needs a manager."""
    screener, manager = browser(app, tokens["screener"]), browser(app, tokens["manager"])
    html = open_referral(screener, {"referral_id": "Q3"}).text
    assert html.index('id="statutory"') < html.index('id="flag"')  # the law before the model
    assert "Allegation or sign of physical injury" in html
    assert "a low score or no flag is never a reason to close" in html
    noflag = re.search(r"\.noflag \{[^}]*\}", html).group(0)
    assert "#f0fff4" not in noflag and "#2d6a4f" not in noflag  # no green "no flag" box
    # The options the rules allow, before submission.
    for closing in ("no_further_action", "early_help"):
        assert re.search(rf'id="decision-{closing}" required disabled', html)
    assert 'id="decision-assessment" required>' in html
    hidden = form_fields(html, "decision-form")
    typed = "Mum says the bruise was from a fall at nursery & <b>nothing</b> else."
    refused = screener.post(
        "/page/referral/Q3/decision",
        data={**hidden, "decision": "no_further_action", "rationale": typed},
    )
    assert refused.status_code == 422
    text = htmllib.unescape(refused.text)
    assert "meets statutory or local-procedure rules" in text and "manager" in text
    assert typed in text and "<b>nothing</b>" not in refused.text  # kept, and escaped
    assert 'id="decision-form"' in refused.text  # the referral page again, not a dead end
    assert store.query(kind=records.kinds.DECISION)[1] == 0
    # A manager records the reason; the screener may then close it.
    mhtml = open_referral(manager, {"referral_id": "Q3"}).text
    assert 'id="override-statutory"' in mhtml
    ok = manager.post(
        "/page/referral/Q3/override",
        data={
            **form_fields(mhtml, "override-form"),
            "kind": "statutory",
            "decision": "no_further_action",
            "reason": "Paediatrician saw the bruise: consistent with the fall; GP follow-up.",
        },
    )
    assert ok.status_code == 200, ok.text
    again = open_referral(screener, {"referral_id": "Q3"}).text
    assert re.search(r'id="decision-no_further_action" required>', again)
    assert "a manager has allowed: no further action" in again
    assert "Paediatrician saw the bruise" in htmllib.unescape(again)  # history shows the reason


def _bad_posts(hidden: dict, ohidden: dict) -> list[tuple[str, dict]]:
    return [
        ("decision", {**hidden, "decision": "maybe", "rationale": "x"}),
        ("decision", {**hidden, "rationale": "x"}),
        ("decision", {**hidden, "decision": "assessment", "rationale": "   "}),
        ("decision", {**hidden, "decision": "assessment", "rationale": "x", "colour": "red"}),
        ("decision", {**hidden, "decision_id": "no", "decision": "assessment", "rationale": "x"}),
        (
            "decision",
            {**hidden, "decision": "early_help", "closure_reason": "malicious", "rationale": "x"},
        ),
        (
            "decision",
            {
                **hidden,
                "decision": "no_further_action",
                "closure_reason": "malicious",
                "rationale": "x",
            },
        ),
        ("decision", {**hidden, "decision": "assessment", "rationale": "x" * 20_001}),
        ("override", {**ohidden, "kind": "flag", "reason": "x"}),
        ("override", {**ohidden, "kind": "sideways", "reason": "x"}),
        ("override", {**ohidden, "kind": "statutory", "decision": "assessment", "reason": "x"}),
        ("override", {**ohidden, "kind": "malicious_closure", "reason": ""}),
    ]


def test_no_page_shows_validation_library_text(app, tokens, received):
    screener, manager = browser(app, tokens["screener"]), browser(app, tokens["manager"])
    hidden = form_fields(open_referral(screener, {"referral_id": "Q1"}).text, "decision-form")
    ohidden = form_fields(open_referral(manager, {"referral_id": "Q1"}).text, "override-form")
    pages = []
    for what, data in _bad_posts(hidden, ohidden):
        client = manager if what == "override" else screener
        r = client.post(f"/page/referral/Q1/{what}", data=data)
        assert r.status_code in (409, 413, 422), (data, r.status_code)
        pages.append(r.text)
    for query in (
        {"referral_id": "N1", "received_at": "yesterday", "source": "pigeon", "children": "C1"},
        {
            "referral_id": "N 1",
            "received_at": "2026-10-01T10:00",
            "source": "school",
            "referrer_relationship": "teacher",
            "children": "",
        },
        {
            "referral_id": "N2",
            "received_at": "2026-10-01T10:00",
            "source": "school",
            "referrer_relationship": "teacher",
            "concerns": ["neglect"],
            "children": "C1",
            "injury_alleged": "perhaps",
            "images_held_by": "neighbour",
        },
        {
            "referral_id": "N3",
            "received_at": "3026-10-01T10:00",
            "source": "school",
            "referrer_relationship": "teacher",
            "concerns": ["neglect"],
            "children": "C1",
        },
    ):
        r = open_referral(screener, query)
        assert r.status_code in (404, 409, 422), (query, r.status_code)
        pages.append(r.text)
    amend = screener.post("/page/referral/Q1/amend", data={"amendment_id": "x", "children": ""})
    pages.append(amend.text)
    for text in pages:
        shown = htmllib.unescape(re.sub(r"<[^>]+>", " ", text.split("<main>", 1)[1]))
        errors = shown.split("Advisory only.", 1)[1]
        for phrase in LIBRARY_TEXT:
            assert phrase not in errors, (phrase, errors[:2000])
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", errors.split("Your decision")[0][:600]), errors[
            :600
        ]
