"""The screener's page, in process, over a stand-in scoring engine.

The page's own logic (sign-in, roles, blind-first, the decision form and its
refusals, audit logging, links from reasons to the chronology) is what is
tested here; the scoring engine is faked so these tests do not depend on a
trained model.
"""

from __future__ import annotations

import html as htmllib
import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

import records
from serving import create_app
from tests.serving.page_fakes import FakeEngine

FLAGGED = {
    "referral_id": "PF1",
    "received_at": "2026-10-01T10:00",
    "source": "police",
    "referrer_relationship": "police_officer",
    "concerns": ["domestic_abuse"],
    "children": "C1,C2",
}
UNFLAGGED = {
    **FLAGGED,
    "referral_id": "PU1",
    "source": "family",
    "referrer_relationship": "grandparent",
    "concerns": ["neglect"],
    "children": "C1",
}


@pytest.fixture
def tokens(store):
    return {role: store.create_token(f"Page {role}", role)[0] for role in records.ROLES}


@pytest.fixture
def app(store):
    engine = FakeEngine()
    yield create_app(engine=engine, records_store=store)
    engine.close()


def browser(app, token=None) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    if token:
        r = client.post("/page/sign-in", data={"token": token})
        assert r.status_code == 303, r.text
    return client


def open_referral(client, referral):
    return client.get("/page/referral?" + urlencode(referral, doseq=True))


def written(store) -> int:
    """Entries other than views: a refused form re-shows the page (and logs that view), writes nothing else."""
    views = (records.kinds.SCORE_VIEW, records.kinds.CHRONOLOGY_VIEW)
    return store.verify().entries - sum(store.query(kind=k)[1] for k in views)


def form_fields(html: str, form_id: str) -> dict[str, str]:
    """Hidden inputs of one form (decision_id, back, ...), as a browser would send them."""
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', html, re.S).group(0)
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    return {name: htmllib.unescape(value) for name, value in pairs}


def test_anonymous_sees_only_sign_in(app):
    client = browser(app)
    home = client.get("/page/")
    assert home.status_code == 200 and 'name="token"' in home.text and "Advisory only" in home.text
    r = open_referral(client, FLAGGED)
    assert r.status_code == 303 and r.headers["location"] == "/page/"
    assert (
        client.post("/page/referral/PF1/decision", data={"decision": "assessment"}).status_code
        == 303
    )


def test_sign_in_sets_a_strict_cookie_and_bad_tokens_are_refused(app, tokens):
    client = browser(app)
    bad = client.post("/page/sign-in", data={"token": "mast_000000000000_" + "x" * 43})
    assert bad.status_code == 401 and "not valid" in bad.text
    good = client.post("/page/sign-in", data={"token": tokens["screener"]})
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/page" in cookie
    home = client.get("/page/")
    assert "Page screener" in home.text and "Work queue" in home.text
    assert (
        home.headers["cache-control"] == "no-store"
        and "default-src 'none'" in home.headers["content-security-policy"]
    )
    client.post("/page/sign-out")
    assert 'name="token"' in client.get("/page/").text


@pytest.mark.parametrize(
    "role,status",
    [("screener", 200), ("manager", 200), ("data_scientist", 403), ("governance", 403)],
)
def test_page_roles(app, tokens, role, status, store):
    r = open_referral(browser(app, tokens[role]), FLAGGED)
    assert r.status_code == status
    views = store.query(kind=records.kinds.SCORE_VIEW)[1]
    assert views == (1 if status == 200 else 0)  # a refused role sees, and logs, nothing


def test_flagged_referral_page(app, tokens, store):
    page = open_referral(browser(app, tokens["screener"]), FLAGGED)
    html = page.text
    assert page.status_code == 200
    assert "mandatory multi-agency review recommended" in html and "17 of 20" in html
    assert "The flag is advisory" in html and "does not replace your professional judgement" in html
    assert "strategy discussion / multi-agency review" in html
    # Reasons for and against, each record linked to a row of the chronology.
    assert "Reasons raising the score" in html and "Reasons lowering the score" in html
    links = set(re.findall(r'href="#(ev-[^"]+)"', html))
    rows = set(re.findall(r'<tr id="(ev-[^"]+)"', html))
    assert links and links <= rows
    assert len(links) == 4  # 2 children x (1 raising + 1 lowering record)
    assert "late (78 days)" in html  # the school record was entered late
    # Who saw what is in the trail: one score view, one chronology view per child,
    # and the referral's content as MAST first received it (version 1).
    entries, _ = store.query(referral_id="PF1")
    assert sorted(e.kind for e in entries) == [
        "chronology_view",
        "chronology_view",
        "referral",
        "score_view",
    ]
    assert {e.actor for e in entries} == {"Page screener"}


def test_flagged_cannot_be_closed_without_review(app, tokens, store):
    client = browser(app, tokens["screener"])
    html = open_referral(client, FLAGGED).text
    hidden = form_fields(html, "decision-form")
    before = written(store)
    refused = client.post(
        "/page/referral/PF1/decision",
        data={
            **hidden,
            "decision": "no_further_action",
            "closure_reason": "no_concerns_substantiated",
            "rationale": "nothing in it",
        },
    )
    assert refused.status_code == 422
    assert "flagged for mandatory multi-agency review" in refused.text
    assert written(store) == before
    recorded = client.post(
        "/page/referral/PF1/decision",
        data={**hidden, "decision": "strategy_discussion", "rationale": "DA incident, new partner"},
    )
    assert (
        recorded.status_code == 200
        and "Decision recorded: strategy discussion / multi-agency review" in recorded.text
    )
    decision = store.query(kind=records.kinds.DECISION, referral_id="PF1")[0][0]
    assert decision.record_id == hidden["decision_id"] and decision.payload["flagged"] is True
    again = client.post(
        "/page/referral/PF1/decision",
        data={**hidden, "decision": "strategy_discussion", "rationale": "double click"},
    )
    assert again.status_code == 409 and "already recorded" in again.text
    assert store.verify().ok


def test_decision_form_errors_name_the_field(app, tokens, store):
    client = browser(app, tokens["screener"])
    hidden = form_fields(open_referral(client, UNFLAGGED).text, "decision-form")
    before = written(store)
    no_reason = client.post(
        "/page/referral/PU1/decision", data={**hidden, "decision": "assessment", "rationale": "  "}
    )
    assert no_reason.status_code == 422 and "rationale" in no_reason.text
    extra = client.post(
        "/page/referral/PU1/decision",
        data={**hidden, "decision": "assessment", "rationale": "x", "colour": "red"},
    )
    assert extra.status_code == 422 and "colour" in extra.text
    unscored = client.post(
        "/page/referral/NEVER/decision", data={**hidden, "decision": "assessment", "rationale": "x"}
    )
    assert unscored.status_code == 404
    assert written(store) == before


def test_malicious_needs_a_manager(app, tokens, store):
    screener, manager = browser(app, tokens["screener"]), browser(app, tokens["manager"])
    html = open_referral(screener, UNFLAGGED).text
    assert 'id="override"' not in html  # the override form is for managers only
    hidden = form_fields(html, "decision-form")
    malicious = {
        **hidden,
        "decision": "no_further_action",
        "closure_reason": "malicious",
        "rationale": "fabricated",
        "referrer_spoken_to": "rang them 4 Oct",
    }
    refused = screener.post("/page/referral/PU1/decision", data=malicious)
    assert refused.status_code == 422 and "manager" in refused.text
    assert (
        screener.post(
            "/page/referral/PU1/override",
            data={"override_id": "ovr-page-0001", "kind": "malicious_closure", "reason": "x"},
        ).status_code
        == 403
    )
    mhtml = open_referral(manager, UNFLAGGED).text
    ohidden = form_fields(
        mhtml.replace(
            '<form method="post" action="/page/referral/PU1/override">',
            '<form method="post" id="override-form">',
        ),
        "override-form",
    )
    agreed = manager.post(
        "/page/referral/PU1/override",
        data={
            **ohidden,
            "kind": "malicious_closure",
            "decision": "",
            "reason": "<b>agreed</b> after call",
        },
    )
    assert agreed.status_code == 200, agreed.text
    assert screener.post("/page/referral/PU1/decision", data=malicious).status_code == 200
    page = open_referral(screener, UNFLAGGED).text
    assert "&lt;b&gt;agreed&lt;/b&gt;" in page and "<b>agreed</b>" not in page  # escaped


def test_blind_first(app, tokens, store):
    gov = store.verify_token(tokens["governance"])
    store.set_blind_first(True, gov, "pilot")
    client = browser(app, tokens["screener"])
    first_look = open_referral(client, FLAGGED)
    assert first_look.status_code == 200 and "your view first" in first_look.text
    assert "17 of 20" not in first_look.text and store.query(kind=records.kinds.SCORE_VIEW)[1] == 0
    hidden = form_fields(
        first_look.text.replace(
            'action="/page/referral/PF1/initial-view"',
            'id="iv" action="/page/referral/PF1/initial-view"',
        ),
        "iv",
    )
    posted = client.post(
        "/page/referral/PF1/initial-view",
        data={**hidden, "decision": "assessment", "rationale": "before the score"},
    )
    assert posted.status_code == 303
    revealed = client.get(posted.headers["location"])
    assert "17 of 20" in revealed.text
    hidden = form_fields(revealed.text, "decision-form")
    assert (
        client.post(
            "/page/referral/PF1/decision",
            data={**hidden, "decision": "strategy_discussion", "rationale": "after the score"},
        ).status_code
        == 200
    )
    payload = store.query(kind=records.kinds.DECISION)[0][0].payload
    assert (
        payload["initial_view"]["decision"] == "assessment"
        and payload["decision"] == "strategy_discussion"
    )


def test_open_by_id_and_unknown(app, tokens):
    client = browser(app, tokens["screener"])
    stored = client.get("/page/referral", params={"referral_id": "S1"})
    assert stored.status_code == 200 and "Referral S1" in stored.text and "17 of 20" in stored.text
    unknown = client.get("/page/referral", params={"referral_id": "NOPE"})
    assert unknown.status_code == 404 and "enter it as a new referral" in unknown.text
    bad = open_referral(client, {**FLAGGED, "source": "pigeon"})
    assert bad.status_code == 422 and "source" in bad.text
    child = open_referral(client, {**FLAGGED, "children": "ZZ"})
    assert child.status_code == 404 and "ZZ" in child.text


def test_cross_site_post_refused(app, tokens, store):
    client = browser(app, tokens["screener"])
    hidden = form_fields(open_referral(client, FLAGGED).text, "decision-form")
    r = client.post(
        "/page/referral/PF1/decision",
        data={**hidden, "decision": "strategy_discussion", "rationale": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and store.query(kind=records.kinds.DECISION)[1] == 0


def test_the_bypass_through_the_page_is_refused(app, tokens, store):
    """The new-referral form with an existing id and milder content, or another child: refused."""
    client = browser(app, tokens["screener"])
    assert open_referral(client, FLAGGED).status_code == 200
    before = store.verify()
    milder = open_referral(client, {**UNFLAGGED, "referral_id": "PF1"})
    assert milder.status_code == 409
    text = htmllib.unescape(milder.text)
    assert "already recorded (version 1) with different content" in text
    assert "source: recorded police, sent family" in text
    assert "concerns: recorded domestic abuse, sent neglect" in text
    other_child = open_referral(client, {**FLAGGED, "children": "C1"})
    assert (
        other_child.status_code == 409
        and "children: recorded C1, C2, sent C1" in htmllib.unescape(other_child.text)
    )
    after = store.verify()
    assert (after.entries, after.head_hash) == (before.entries, before.head_hash)
    # Still flagged: the decision form still refuses to close it.
    html = open_referral(client, {"referral_id": "PF1"}).text
    hidden = form_fields(html, "decision-form")
    refused = client.post(
        "/page/referral/PF1/decision",
        data={**hidden, "decision": "no_further_action", "rationale": "closing"},
    )
    assert refused.status_code == 422


def test_an_amendment_on_the_page_keeps_both_versions_and_the_flag(app, tokens, store):
    client = browser(app, tokens["screener"])
    assert open_referral(client, {**FLAGGED, "referral_id": "PA1"}).status_code == 200
    amendment = {
        "amendment_id": "amend-PA1-0001",
        "received_at": "2026-10-01T10:00",
        "source": "family",
        "referrer_relationship": "grandparent",
        "concerns": ["neglect"],
        "children": "C1, C2",
    }
    no_reason = client.post("/page/referral/PA1/amend", data=amendment)
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    done = client.post(
        "/page/referral/PA1/amend",
        data={**amendment, "reason": "The grandmother made the referral, not the police."},
    )
    assert done.status_code == 303, done.text
    page = client.get(done.headers["location"])
    assert page.status_code == 200
    html = htmllib.unescape(page.text)
    assert "This referral has been amended: 2 versions" in html
    assert 'id="version-1"' in page.text and 'id="version-2"' in page.text
    assert "The grandmother made the referral, not the police." in html
    assert "flagged in an earlier version" in html
    versions = store.referral_versions("PA1")
    assert [e.payload["version"] for e in versions] == [1, 2]
    assert [e.payload["flagged"] for e in versions] == [True, False]
