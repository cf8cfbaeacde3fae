"""``GET /v1/queue`` over HTTP: the page's queue as JSON, for every role and anonymous."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import records
from records import roles
from tests.serving import test_page, test_page_queue
from tests.serving.test_page import browser

app, tokens = test_page.app, test_page.tokens
received = test_page_queue.received


def get(app, token, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(app).get("/v1/queue", params=params, headers=headers)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [i["referral_id"] for i in response.json()["items"]]


@pytest.mark.parametrize("who", (None, *records.ROLES), ids=lambda w: w or "anonymous")
def test_who_may_read_the_queue(app, tokens, received, store, who):
    before = store.query(kind=records.kinds.QUEUE_VIEW)[1]
    got = get(app, tokens[who] if who else None)
    if who in (roles.SCREENER, roles.MANAGER):
        assert ids(got) == ["Q3", "Q2", "Q1"]
        assert store.query(kind=records.kinds.QUEUE_VIEW)[1] == before + 1
    else:
        assert got.status_code == (401 if who is None else 403), got.text
        assert "Q1" not in got.text
        assert store.query(kind=records.kinds.QUEUE_VIEW)[1] == before  # nothing shown


def test_the_same_rows_and_words_as_the_page(app, tokens, received, store):
    body = get(app, tokens["screener"]).json()
    q3, q2, q1 = body["items"]
    assert body["on_queue"] == 3 and body["listed"] == 3 and body["more"] == 0
    assert "never a reason to close" in body["advisory"]
    assert q3["statutory"][0]["rule_id"] == "physical_injury" and q3["status"] == "awaiting"
    assert q3["statutory"][0]["title"] == "Allegation or sign of physical injury"
    assert (q2["flagged"], q2["highest_score"], q2["score_hidden"]) == (True, 17, False)
    assert (q1["flagged"], q1["highest_score"]) == (False, 6)
    assert q3["received_at"] == "2026-10-03T08:15:00"  # as received: England local time
    page = browser(app, tokens["screener"])
    for filters, page_filters in (
        ({"statutory": "true"}, {"statutory": "1"}),
        ({"flagged": "true"}, {"flagged": "1"}),
        ({"repeat": "true"}, {"repeat": "1"}),
        ({"q": "c2"}, {"q": "c2"}),
        ({"show": "awaiting"}, {"show": "awaiting"}),
        ({"show": "follow_up"}, {"show": "follow_up"}),
    ):
        html = page.get("/page/", params=page_filters).text
        assert ids(get(app, tokens["screener"], **filters)) == test_page_queue.rows(html), filters
    logged = store.query(kind=records.kinds.QUEUE_VIEW)[0][0].payload
    assert logged["via"] == "api" and logged["scores_shown"] == ["Q3", "Q2", "Q1"]


def test_blind_first_over_the_api(app, tokens, received, store):
    store.set_blind_first(True, store.verify_token(tokens["governance"]), "pilot")
    body = get(app, tokens["screener"]).json()
    logged = store.query(kind=records.kinds.QUEUE_VIEW)[0][-1].payload
    assert logged["scores_shown"] == [] and logged["hidden_blind_first"] == ["Q3", "Q2", "Q1"]
    assert all(i["score_hidden"] for i in body["items"]) and body["blind_first"] is True
    assert all(i["flagged"] is None and i["highest_score"] is None for i in body["items"])
    assert "17" not in str([i["highest_score"] for i in body["items"]])
    assert body["items"][0]["statutory"]  # the law is shown before the screener's view
    assert ids(get(app, tokens["screener"], flagged="true")) == []  # no leak by filter
    view = {"view_id": "iv-q2-000001", "decision": "assessment"}
    posted = TestClient(app).post(
        "/v1/referrals/Q2/initial-views",
        json=view,
        headers={"Authorization": f"Bearer {tokens['screener']}"},
    )
    assert posted.status_code == 201, posted.text
    q3, q2, q1 = get(app, tokens["screener"]).json()["items"]
    assert (q2["flagged"], q2["highest_score"], q2["score_hidden"]) == (True, 17, False)
    assert q1["score_hidden"] and q3["score_hidden"]  # about C2, still without a view
    assert get(app, tokens["manager"]).json()["items"][2]["highest_score"] == 6  # not blind


@pytest.mark.parametrize(
    "params", ({"show": "everything"}, {"flagged": "perhaps"}, {"q": "x" * 65}, {"colour": "red"})
)
def test_a_bad_filter_is_refused_naming_it(app, tokens, received, params):
    got = get(app, tokens["screener"], **params)
    assert got.status_code == 422, got.text
    assert next(iter(params)) in got.text
