"""The review screen asks for dates day first, and a partner lead's pages offer only what they can use.

Over HTTP, as a browser sends the forms: the strategy discussion's "held
at", each action's due date and "told at" come in day, month, year and
24-hour time boxes (serving/page/dates.py), refused in words naming the
field with the boxes kept as typed; no page carries a browser date picker
(which Chromium in US English shows month first).  A partner agency's
safeguarding lead sees no work queue or new-referral link.
"""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from records import kinds, roles
from tests.serving.test_review_page import (
    review_form,
    scored_and_decided,
    signed_in,
    world,  # noqa: F401 (the fixture)
)

PICKER = re.compile(r"""type=["']?(date|datetime-local|time|month|week)\b""")


def _boxes(name: str, day: str, month: str, year: str, time: str | None = None) -> dict:
    out = {f"{name}_day": day, f"{name}_month": month, f"{name}_year": year}
    return out | ({f"{name}_time": time} if time is not None else {})


def _value(html: str, name: str) -> str:
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert m is not None, name
    return m.group(1)


def test_the_review_screen_has_day_month_year_boxes_and_no_picker(world):  # noqa: F811
    app, _, tokens = world
    rid = scored_and_decided(app, tokens, "strategy_discussion")
    page = signed_in(app, tokens["screener"]).get(f"/page/referral/{rid}/review")
    assert page.status_code == 200
    assert PICKER.search(page.text) is None
    for name in ("held_at", "due_1", "due_2", "due_3", "told_at"):
        for part in ("day", "month", "year"):
            assert f'name="{name}_{part}"' in page.text, (name, part)
    assert 'name="held_at_time"' in page.text and 'name="told_at_time"' in page.text
    assert 'name="due_1_time"' not in page.text  # a due date is a day, not a moment
    # "Held at" starts at now, filled in (a year of four figures, a 24-hour time).
    assert re.fullmatch(r"\d{4}", _value(page.text, "held_at_year"))
    assert re.fullmatch(r"\d{2}:\d{2}", _value(page.text, "held_at_time"))


def test_review_dates_from_the_boxes_are_stored_day_first(world):  # noqa: F811
    app, store, tokens = world
    rid = scored_and_decided(app, tokens, "strategy_discussion")
    client = signed_in(app, tokens["screener"])
    form = review_form() | _boxes("held_at", "1", "10", "2026", "9:05")
    form |= _boxes("due_1", "3", "10", "2026")
    done = client.post(f"/page/referral/{rid}/review", data=form)
    assert done.status_code == 200, done.text
    (entry,) = store.query(kind=kinds.REVIEW, referral_id=rid)[0]
    assert entry.payload["held_at"].startswith("2026-10-01T09:05")  # 1 October, not 10 January
    assert entry.payload["actions"][0]["due"] == "2026-10-03"
    # Read back in UK order, in words: never the stored ISO text.
    assert "Held 01 Oct 2026 09:05 (UK time)" in done.text
    assert "owned by duty paediatrician, due 03 Oct 2026" in done.text
    assert "2026-10-03" not in done.text.split('id="record"')[1]


def test_impossible_review_dates_are_refused_naming_the_field_with_boxes_kept(world):  # noqa: F811
    app, store, tokens = world
    rid = scored_and_decided(app, tokens, "strategy_discussion")
    client = signed_in(app, tokens["screener"])
    form = review_form(section_47_rationale="kept as typed")
    form |= _boxes("held_at", "31", "2", "2026", "10:00")
    refused = client.post(f"/page/referral/{rid}/review", data=form)
    assert refused.status_code == 422
    assert "When it was held: there is no 31 February 2026." in refused.text
    assert _value(refused.text, "held_at_day") == "31"
    assert _value(refused.text, "held_at_month") == "2"
    assert "kept as typed" in refused.text
    # A due date alone, without its action, is refused, not silently dropped.
    form = review_form() | _boxes("due_2", "5", "13", "2026")
    refused = client.post(f"/page/referral/{rid}/review", data=form)
    assert refused.status_code == 422
    assert "Action 2&#39;s due date: there is no 5 month 13 2026." in refused.text
    assert _value(refused.text, "due_2_month") == "13"
    form = review_form() | _boxes("due_2", "5", "12", "2026")
    refused = client.post(f"/page/referral/{rid}/review", data=form)
    assert refused.status_code == 422 and "Please fill in the action" in refused.text
    assert store.query(kind=kinds.REVIEW, referral_id=rid)[1] == 0


def test_told_at_from_the_boxes_and_a_bad_time_refused_in_words(world):  # noqa: F811
    app, store, tokens = world
    rid = scored_and_decided(app, tokens, "assessment")
    client = signed_in(app, tokens["screener"])
    told = {
        "record_id": "pg-told-boxes-1",
        "recipient": "referrer",
        "method": "letter",
        "outcome_given": "kept as typed",
    }
    refused = client.post(
        f"/page/referral/{rid}/referrer-told",
        data=told | _boxes("told_at", "2", "11", "2026", "3pm"),
    )
    assert refused.status_code == 422
    assert "When they were told: give the time on the 24-hour clock, e.g. 14:30." in refused.text
    assert _value(refused.text, "told_at_time") == "3pm"
    assert "kept as typed</textarea>" in refused.text
    assert not store.follow_up([rid])[rid].referrer_told
    ok = client.post(
        f"/page/referral/{rid}/referrer-told",
        data=told | _boxes("told_at", "2", "11", "2026", "15:00"),
    )
    assert ok.status_code == 200 and "02 Nov 2026 15:00 (UK time)" in ok.text


def _nav(html: str) -> str:
    m = re.search(r"<nav\b.*?</nav>", html, re.S)
    assert m is not None
    return m.group(0)


def test_a_partner_lead_is_offered_only_their_invited_referrals(world):  # noqa: F811
    app, _, tokens = world
    rid = scored_and_decided(app, tokens, "no_further_action")
    screener = signed_in(app, tokens["screener"])
    nav = _nav(screener.get(f"/page/referral/{rid}/review").text)
    assert "Work queue" in nav and "New referral" in nav and "/page/partner/" not in nav
    assert "screener's page" in html.unescape(screener.get("/page/new").text)
    for role in roles.PARTNER_ROLES:
        partner = TestClient(app, follow_redirects=False)
        assert partner.post("/page/sign-in", data={"token": tokens[role]}).status_code == 303
        for url, status in (
            ("/page/partner/", 200),
            (f"/page/partner/referral/{rid}", 404),  # not invited: not found
            (f"/page/referral/{rid}/review", 403),  # not for their role
        ):
            got = partner.get(url)
            assert got.status_code == status, (role, url)
            nav = _nav(got.text)
            assert "Work queue" not in nav and "New referral" not in nav, (role, url)
            assert 'href="/page/partner/"' in nav, (role, url)
            assert "work queue" not in got.text.lower(), (role, url)
            words = html.unescape(got.text)
            assert "partner agency's page" in words and "screener's page" not in words
        missing = partner.get(f"/page/partner/referral/{rid}")
        assert "Back to the referrals you are invited to" in missing.text
    # A screener's refusal still leads back to the work queue.
    other = screener.get("/page/partner/")
    assert other.status_code == 403 and "Back to the work queue" in other.text


def test_no_page_template_carries_a_browser_date_picker():
    """Every template, read as text: a picker there would show dates month first in US English."""
    from pathlib import Path

    import serving.page

    folder = Path(serving.page.__file__).parent / "templates"
    templates = sorted(folder.glob("*.j2"))
    assert len(templates) > 5
    found = [p.name for p in templates if PICKER.search(p.read_text(encoding="utf-8"))]
    assert found == []
