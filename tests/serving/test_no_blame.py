"""Issue #14 over HTTP: reasons never blame the referrer or read silence as safety.

The serving fixtures' champion is trained on every feature (the referral's
source included), so these check the reason filter itself, not only the
default training that leaves who referred out.
"""

from __future__ import annotations

import re

import pytest

from serving.reasons import CODE_WORDS, is_silent

FAMILY = {
    "referral_id": "N-FAM",
    "received_at": "2026-10-01T10:00:00",
    "source": "family",
    "referrer_relationship": "grandparent",
    "concerns": ["neglect"],
    "children": ["C1", "C2"],
}
# The codes a person must never read (those that are already words, like "police", are fine).
RAW_CODES = [code for code, words in CODE_WORDS.items() if code != words]
RAW = re.compile(r"\b(" + "|".join(RAW_CODES) + r")\b|\bmonths old\b|\b\d{3,} days\b")


@pytest.fixture(scope="module", params=["family", "anonymous", "police"])
def scored(request, client):
    source = request.param
    relationship = {"family": "grandparent", "anonymous": "unknown", "police": "police_officer"}
    body = {
        **FAMILY,
        "referral_id": f"N-{source}",
        "source": source,
        "referrer_relationship": relationship[source],
    }
    response = client.post("/v1/referrals/score", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_no_lowering_reason_cites_who_referred_a_zero_or_not_raised(scored):
    for child in scored["children"]:
        for r in child["reasons_against"]:
            assert r["feature"] not in ("referral_source", "referrer"), r
            assert not r["feature"].startswith(("referral_source_", "referrer_")), r
            assert not is_silent(r["value"]), r
            assert "not raise" not in r["text"] and not r["text"].startswith("0 "), r
        for r in child["reasons_for"]:
            assert not is_silent(r["value"]), r


def test_what_is_not_found_is_listed_as_unknown_with_the_date_records_run_to(scored):
    seen = 0
    for child in scored["children"]:
        assert "not_found" in child
        for item in child["not_found"]:
            seen += 1
            assert item["text"].startswith("No ")
            assert "MAST holds" in item["text"] and " records to " in item["text"]
            assert "not evidence of safety" in item["text"]
            assert re.search(r"\d{1,2} [A-Z][a-z]+ \d{4}", item["text"]), item["text"]
    assert seen > 0


def test_nothing_a_person_reads_has_a_raw_code(scored):
    for child in scored["children"]:
        texts = [r["text"] for r in child["reasons_for"] + child["reasons_against"]]
        texts += [n["text"] for n in child["not_found"]]
        for text in texts:
            assert not RAW.search(text), text
            assert "_" not in text, text


def test_the_page_for_a_family_referral_does_not_blame_the_referrer(app, tokens):
    """The screener's page: the family referral's reasons, and its "not found" list."""
    from urllib.parse import urlencode

    from fastapi.testclient import TestClient

    page = TestClient(app, follow_redirects=False)
    assert page.post("/page/sign-in", data={"token": tokens["screener"]}).status_code == 303
    query = urlencode(
        {
            "referral_id": "N-FAM-PAGE",
            "received_at": "2026-10-01T10:00",
            "source": "family",
            "referrer_relationship": "grandparent",
            "concerns": ["neglect"],
            "children": "C1,C2",
        },
        doseq=True,
    )
    response = page.get(f"/page/referral?{query}")
    assert response.status_code == 200, response.text
    html = response.text
    assert "from a family member (the child&#39;s grandparent)" in html
    assert "Not found in the records MAST holds" in html
    for section in html.split("Reasons lowering the score")[1:]:
        lowering = section.split("Not found in the records", 1)[0]
        assert "family member" not in lowering and "grandparent" not in lowering
    shown = re.sub(r"<[^>]+>", " ", html.split("<h1>", 1)[1].split("Your decision", 1)[0])
    assert not RAW.search(shown), RAW.search(shown)
