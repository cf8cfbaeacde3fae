"""A chronology is opened for a child named on a referral, as of that referral, and audited with it."""

from __future__ import annotations

from datetime import datetime

import records

REFERRAL = {
    "referral_id": "PURPOSE1",
    "received_at": "2026-09-03T12:00:00",
    "source": "police",
    "referrer_relationship": "police_officer",
    "concerns": ["domestic_abuse"],
    "children": ["C1", "C2"],
}


def _scored(client) -> None:
    r = client.post("/v1/referrals/score", json=REFERRAL)
    assert r.status_code == 200, r.text


def test_without_a_referral_it_is_refused_in_plain_words(client):
    r = client.get("/v1/children/C1/chronology")
    assert r.status_code == 422
    assert "referral_id is required" in r.json()["detail"]


def test_an_adults_chronology_is_not_served(client, records_store):
    _scored(client)
    before = records_store.verify().entries
    r = client.get("/v1/children/A1/chronology", params={"referral_id": "PURPOSE1"})
    assert r.status_code == 403
    assert "not a child named on referral PURPOSE1" in r.json()["detail"]
    assert records_store.verify().entries == before
    unknown = client.get("/v1/children/C1/chronology", params={"referral_id": "NO-SUCH"})
    assert unknown.status_code == 404 and "No referral" in unknown.json()["detail"]


def test_as_of_the_referral_with_hindsight_apart(client, records_store):
    _scored(client)
    r = client.get("/v1/children/C1/chronology", params={"referral_id": "PURPOSE1"})
    assert r.status_code == 200, r.text
    body = r.json()
    cut = datetime.fromisoformat(REFERRAL["received_at"])
    assert datetime.fromisoformat(body["as_of"]) == cut and body["referral_id"] == "PURPOSE1"
    assert all(datetime.fromisoformat(e["recorded_at"]) < cut for e in body["entries"])
    assert all(datetime.fromisoformat(e["recorded_at"]) >= cut for e in body["recorded_since"])
    # The partner who moved in on 1 September was recorded on the 5th: after the referral.
    people = {p["person_id"]: p for p in body["people"]}
    assert "A2" not in people and people["A1"]["relationship"] == "parent"
    assert people["C2"]["relationship"] == "sibling"
    assert any(e["person_id"] == "A2" for e in body["recorded_since"]) or not any(
        e["person_id"] == "A2" for e in body["entries"]
    )
    # The view is audited with its purpose.
    entries, _ = records_store.query(referral_id="PURPOSE1", kind=records.kinds.CHRONOLOGY_VIEW)
    assert entries[-1].person_id == "C1"
    assert entries[-1].payload["as_of"] == cut.isoformat()
    # As of now, for the same purpose: nothing left to show apart.
    now = client.get(
        "/v1/children/C1/chronology",
        params={"referral_id": "PURPOSE1", "as_of": datetime.now().isoformat()},
    ).json()
    assert now["recorded_since"] == []
    assert len(now["entries"]) >= len(body["entries"])
