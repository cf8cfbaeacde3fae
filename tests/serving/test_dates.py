"""Dates outside 1900-2100 are a 422 naming the field, wherever a date is read.

Before: ``0001-01-01T00:00:00+01:00`` or ``9999-12-31T23:59:59-12:00``
overflowed in the conversion to store time (a 500), and the next request on
the same keep-alive connection was reset.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

EXTREMES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999-23:59",
    "1899-12-31T23:59:00+00:00",
    "2101-01-01T00:00:00Z",
]
REFERRAL = {
    "referral_id": "DATE1",
    "source": "school",
    "referrer_relationship": "teacher",
    "concerns": ["neglect"],
    "children": ["C1"],
}


@pytest.mark.parametrize("moment", EXTREMES)
def test_score_received_at_out_of_range_is_422_naming_it(client, moment):
    r = client.post("/v1/referrals/score", json={**REFERRAL, "received_at": moment})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "received_at"] and "1900" in error["msg"]


@pytest.mark.parametrize("moment", EXTREMES)
def test_chronology_as_of_out_of_range_is_422_naming_it(client, moment):
    r = client.get("/v1/children/C1/chronology", params={"as_of": moment})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "as_of"]


def test_the_bounds_themselves_are_accepted(client):
    # A chronology is opened for a referral naming the child (issue #13), so score one first.
    valid = {**REFERRAL, "received_at": "2024-01-01T09:00:00+00:00"}
    assert client.post("/v1/referrals/score", json=valid).status_code == 200
    r = client.get(
        "/v1/children/C1/chronology",
        params={"referral_id": "DATE1", "as_of": "1900-01-01T00:00:00+00:00"},
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("moment", EXTREMES[:2])
def test_page_form_out_of_range_is_422_naming_it(app, tokens, moment):
    page = TestClient(app, follow_redirects=False)
    assert page.post("/page/sign-in", data={"token": tokens["screener"]}).status_code == 303
    query = urlencode({**REFERRAL, "children": "C1", "received_at": moment}, doseq=True)
    r = page.get(f"/page/referral?{query}")
    assert r.status_code == 422 and "Received at: " in r.text and "1 January 1900" in r.text


def test_keep_alive_connection_survives_an_extreme_date(app, tokens):
    from serving.launch import serve_in_thread

    headers = {"Authorization": f"Bearer {tokens['screener']}"}
    with serve_in_thread(app) as base, httpx.Client(base_url=base, headers=headers) as http:
        valid = {**REFERRAL, "received_at": "2024-01-01T09:00:00+00:00"}
        assert http.post("/v1/referrals/score", json=valid, timeout=30).status_code == 200
        bad = http.post(
            "/v1/referrals/score", json={**REFERRAL, "received_at": EXTREMES[1]}, timeout=30
        )
        good = http.get(  # same connection
            "/v1/children/C1/chronology", params={"referral_id": "DATE1"}, timeout=30
        )
    assert (bad.status_code, good.status_code) == (422, 200)
