"""Named adults' personal details never go into a web address (issue #20, item 5).

Addresses are kept in browser history, in proxies' and servers' logs and in
``Referer`` headers.  The new-referral form is posted; a query holding a named
adult is refused; blind-first's initial view shows the referral itself rather
than redirecting to an address that holds the adults; and the access log
holds neither bodies nor query strings.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import records
from tests.serving import test_page
from tests.serving.test_page import FLAGGED, browser, form_fields

# The page tests' fixtures: the app over the stand-in engine, and a token per role.
app, tokens = test_page.app, test_page.tokens

ADULT = {
    "named_adult_1_name": "Jay Quennell-Smith",
    "named_adult_1_date_of_birth": "1991-07-23",
    "named_adult_1_postcode": "B12 9QT",
    "named_adult_1_address": "14 Larkspur Road",
    "named_adult_1_relationship": "mothers_new_partner",
    "named_adult_1_lives_at_address": "no",
}
PERSONAL = ("Quennell", "1991", "B12", "Larkspur", "9QT")


def _private(text: str) -> list[str]:
    return [p for p in PERSONAL if p in text]


def test_the_new_referral_form_is_posted(app, tokens):
    client = browser(app, tokens["screener"])
    form = client.get("/page/new").text
    assert '<form method="post" action="/page/referral" id="new-referral">' in form
    shown = client.post("/page/referral", data={**FLAGGED, **ADULT})
    assert shown.status_code == 200 and "Referral PF1" in shown.text and "17 of 20" in shown.text
    # What the page links and posts back to afterwards names the referral by id only.
    assert not _private(form_fields(shown.text, "decision-form")["back"])


def test_a_refused_post_shows_again_everything_typed(app, tokens):
    client = browser(app, tokens["screener"])
    typed = {
        **FLAGGED,
        **ADULT,
        "source": "school",
        "referrer_relationship": "teacher",
        "concerns": ["neglect", "domestic_abuse"],
        "children": "ZZ",
        "injury_alleged": "yes",
        "named_adult_1_date_of_birth_approximate": "yes",
    }
    refused = client.post("/page/referral", data=typed)
    assert refused.status_code == 404 and "ZZ" in refused.text
    page = refused.text
    for name, value in ADULT.items():
        if name.endswith("date_of_birth"):  # shown in its day, month and year boxes
            for part, typed_part in zip(("day", "month", "year"), ("23", "7", "1991"), strict=True):
                assert f'name="{name}_{part}" id="{name}-{part}" value="{typed_part}"' in page
            continue
        assert f'value="{value}"' in page or f'value="{value}" selected' in page, name
    assert '<option value="school" selected>' in page
    assert '<option value="teacher" selected>' in page
    assert 'value="neglect" checked' in page and 'value="domestic_abuse" checked' in page
    assert 'value="physical_abuse" checked' not in page
    assert 'id="children" value="ZZ"' in page
    assert '<option value="yes" selected>yes</option>' in page  # injury alleged
    assert 'name="named_adult_1_date_of_birth_approximate" value="yes" checked' in page
    invalid = client.post("/page/referral", data={**typed, "children": "C1", "source": "pigeon"})
    assert invalid.status_code == 422 and "Source" in invalid.text
    assert 'value="Jay Quennell-Smith"' in invalid.text


def test_a_named_adult_in_an_address_is_refused_and_not_used(app, tokens, store):
    client = browser(app, tokens["screener"])
    before = store.query(kind=records.kinds.SCORE_VIEW)[1]
    r = client.get("/page/referral?" + urlencode({**FLAGGED, **ADULT}, doseq=True))
    assert r.status_code == 422 and "never in a web address" in r.text
    assert store.query(kind=records.kinds.SCORE_VIEW)[1] == before  # nothing scored or shown
    # Without named adults an address still opens a referral (links, bookmarks by id).
    assert client.get("/page/referral", params={"referral_id": "S1"}).status_code == 200


def test_a_cross_site_post_of_the_form_is_refused(app, tokens, store):
    client = browser(app, tokens["screener"])
    r = client.post(
        "/page/referral", data={**FLAGGED, **ADULT}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403 and store.query(kind=records.kinds.SCORE_VIEW)[1] == 0
    anonymous = browser(app)
    r = anonymous.post("/page/referral", data={**FLAGGED, **ADULT})
    assert r.status_code == 303 and r.headers["location"] == "/page/"


def test_blind_first_never_redirects_to_an_address_holding_the_adults(app, tokens, store):
    gov = store.verify_token(tokens["governance"])
    store.set_blind_first(True, gov, "pilot")
    client = browser(app, tokens["screener"])
    first_look = client.post("/page/referral", data={**FLAGGED, **ADULT})
    assert first_look.status_code == 200 and "your view first" in first_look.text
    action = 'action="/page/referral/PF1/initial-view"'
    hidden = form_fields(first_look.text.replace(action, f'id="iv" {action}'), "iv")
    assert _private(hidden["back"])  # carried in the posted form, as the referral
    refused = client.post("/page/referral/PF1/initial-view", data={**hidden})
    assert refused.status_code == 422 and "your view first" in refused.text
    assert "Decision" in refused.text  # the view form again, saying what is missing
    posted = client.post(
        "/page/referral/PF1/initial-view", data={**hidden, "decision": "assessment"}
    )
    assert posted.status_code == 200 and "location" not in posted.headers
    assert "17 of 20" in posted.text
    assert not _private(form_fields(posted.text, "decision-form")["back"])


def test_the_access_log_holds_no_personal_details(app, tokens, caplog):
    caplog.set_level(logging.INFO, logger="mast.access")
    client = browser(app, tokens["screener"])
    client.post("/page/referral", data={**FLAGGED, **ADULT})
    client.get("/page/referral?" + urlencode({**FLAGGED, **ADULT}, doseq=True))
    lines = [r.getMessage() for r in caplog.records if r.name == "mast.access"]
    assert any("POST /page/referral" in line for line in lines)
    assert any("GET /page/referral" in line for line in lines)
    assert not [line for line in lines if _private(line) or "named_adult" in line]
