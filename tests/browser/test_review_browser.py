"""Headless Chromium: a strategy discussion recorded with the three agencies, and a partner's escalation.

Same live server and Debian chromium as :mod:`tests.browser.test_page_browser`
(stand-in scoring engine; nothing downloaded).  Screenshots go to
``tests/artifacts/``.
"""

from __future__ import annotations

import httpx
import pytest

import records
from tests.browser.test_page_browser import ARTIFACTS, _open_s1, driver, served  # noqa: F401

pytestmark = pytest.mark.browser


def _sign_in(browser, base: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(f"{base}/page/")
    browser.find_element(By.ID, "token").send_keys(token)
    _submit(browser, browser.find_element(By.ID, "sign-in"))


def _submit(browser, button) -> None:
    """Click ``button`` and wait for the next page (the old one's elements go stale)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(browser, 15).until(lambda _: _gone(old))


def _gone(element) -> bool:
    """Whether ``element`` left the page.

    Chromium sometimes answers a question about a node of a page being
    replaced with an "unhandled inspector error" rather than a stale-element
    error (seen in CI); either means the old page is gone.
    """
    from selenium.common.exceptions import WebDriverException

    try:
        element.is_enabled()
    except WebDriverException:
        return True
    return False


def test_a_strategy_discussion_with_the_three_agencies(served, driver):  # noqa: F811
    from selenium.webdriver.common.by import By

    base, store, token = served
    _open_s1(driver, base, token)
    driver.find_element(By.ID, "decision-strategy_discussion").click()
    driver.find_element(By.ID, "rationale").send_keys("Domestic abuse incident; convene one.")
    driver.find_element(By.ID, "record-decision").click()
    driver.find_element(By.ID, "back").click()
    panel = driver.find_element(By.ID, "review-panel")
    assert "Strategy discussion to hold and record by" in panel.text
    assert "The referrer has not been told the outcome." in panel.text
    driver.execute_script("arguments[0].scrollIntoView()", panel)
    driver.save_screenshot(str(ARTIFACTS / "referral_review_panel.png"))
    driver.find_element(By.ID, "open-review").click()
    status = driver.find_element(By.ID, "status").text
    assert "Strategy discussion not yet recorded: due by" in status
    assert "The referrer has not been told the outcome." in status

    def fill(agencies, s47_reason):
        for agency, name in agencies:
            driver.find_element(By.ID, f"took_part_{agency}").click()
            driver.find_element(By.NAME, f"name_{agency}").send_keys(name)
        driver.find_element(By.CSS_SELECTOR, "input[name=section_47][value=true]").click()
        driver.find_element(By.NAME, "section_47_rationale").send_keys(s47_reason)
        driver.find_element(By.CSS_SELECTOR, "input[name=cp_medical][value=false]").click()
        driver.find_element(By.NAME, "cp_medical_rationale").send_keys("No injury reported.")

    # Without health: refused in plain English, and what was typed is kept.
    fill(
        [("children_social_care", "Team manager"), ("police", "DS Khan")],
        "New partner's DA history; children at home.",
    )
    driver.find_element(By.ID, "record-review").click()
    errors = driver.find_element(By.ID, "errors").text
    assert "health did not take part" in errors and "Value error" not in driver.page_source
    assert driver.find_element(By.NAME, "name_police").get_attribute("value") == "DS Khan"
    # "Held at" (today, as the page filled it) kept in its boxes.
    assert driver.find_element(By.ID, "held-at-year").get_attribute("value").isdigit()
    assert ":" in driver.find_element(By.ID, "held-at-time").get_attribute("value")
    driver.save_screenshot(str(ARTIFACTS / "review_refused_without_health.png"))
    assert store.query(kind=records.kinds.REVIEW)[1] == 0

    # Health joins: recorded with the three agencies.
    driver.find_element(By.ID, "took_part_health").click()
    driver.find_element(By.NAME, "name_health").send_keys("Named nurse")
    driver.find_element(By.NAME, "shared_health").send_keys("Missed 12-month review")
    driver.find_element(By.NAME, "action_1").send_keys("Joint visit today")
    driver.find_element(By.NAME, "owner_1").send_keys("Allocated social worker")
    # Dates in day, month, year boxes (and a 24-hour time), filled day first.
    for part, value in (("day", "3"), ("month", "12"), ("year", "2026")):
        driver.find_element(By.ID, f"due-1-{part}").send_keys(value)
    _submit(driver, driver.find_element(By.ID, "record-review"))
    assert "Strategy discussion recorded" in driver.find_element(By.ID, "done").text
    record = driver.find_element(By.ID, "record").text
    assert (
        "Took part: children's social care (Team manager), the police (DS Khan), health" in record
    )
    assert "Health shared: Missed 12-month review" in record
    assert "owned by Allocated social worker, due 03 Dec 2026" in record
    driver.save_screenshot(str(ARTIFACTS / "review_recorded_three_agencies.png"))
    (entry,) = store.query(kind=records.kinds.REVIEW)[0]
    assert {p["agency"] for p in entry.payload["participants"]} == {
        "children_social_care",
        "police",
        "health",
    }
    assert entry.actor == "Sam Screener" and store.verify().ok


def score_school_referral(base: str, token: str, referral_id: str, received_at: str) -> dict:
    """Post a school's neglect referral about child C1 over HTTP; returns the auth headers."""
    referral = {
        "referral_id": referral_id,
        "received_at": received_at,
        "source": "school",
        "referrer_relationship": "teacher",
        "concerns": ["neglect"],
        "children": ["C1"],
    }
    h = {"Authorization": f"Bearer {token}"}
    got = httpx.post(f"{base}/v1/referrals/score", json=referral, headers=h)
    assert got.status_code == 200, got.text
    return h


def test_a_partners_escalation_answered_by_a_manager(served, driver):  # noqa: F811
    from selenium.webdriver.common.by import By

    base, store, token = served
    police_token, _ = store.create_token("Pat Police", "police_safeguarding_lead")
    manager_token, _ = store.create_token("Mo Manager", "manager")
    h = score_school_referral(base, token, "NFA1", "2026-10-01T10:00:00")
    decision = {
        "decision_id": "brw-nfa-0001",
        "decision": "no_further_action",
        "rationale": "Attendance has improved.",
    }
    got = httpx.post(f"{base}/v1/referrals/NFA1/decisions", json=decision, headers=h)
    assert got.status_code == 201, got.text

    # The screener invites the police lead to this referral only.
    _sign_in(driver, base, token)
    driver.get(f"{base}/page/referral/NFA1/review")
    driver.find_element(By.NAME, "partner_name").send_keys("Pat Police")
    driver.find_element(By.CSS_SELECTOR, "#invite-form textarea[name=reason]").send_keys(
        "Police attended the home twice this month."
    )
    driver.find_element(By.ID, "invite").click()
    assert "Partner invited" in driver.find_element(By.ID, "done").text

    # The police lead signs in: only the invited referral, its chronology, and the challenge.
    _sign_in(driver, base, police_token)
    assert "Referral NFA1" in driver.find_element(By.ID, "invited").text
    assert "S1" not in driver.find_element(By.ID, "invited").text
    driver.find_element(By.LINK_TEXT, "Referral NFA1").click()
    driver.find_element(By.NAME, "summary").send_keys(
        "Two domestic incidents at the address in November."
    )
    _submit(driver, driver.find_element(By.ID, "add-contribution"))
    driver.find_element(By.CSS_SELECTOR, "#escalate textarea[name=reason]").send_keys(
        "Risk is rising: we ask for a strategy discussion."
    )
    _submit(driver, driver.find_element(By.ID, "raise-escalation"))
    assert "Escalation raised" in driver.find_element(By.ID, "done").text
    record = driver.find_element(By.ID, "record").text
    assert "Information from the police" in record and "Escalation by the police" in record
    assert "score" not in driver.page_source.lower()
    driver.save_screenshot(str(ARTIFACTS / "partner_escalation.png"))
    driver.get(f"{base}/page/referral?referral_id=S1")
    assert "Not for your role" in driver.page_source

    # A manager answers it.
    _sign_in(driver, base, manager_token)
    driver.get(f"{base}/page/referral/NFA1/review")
    assert "1 escalation waiting" in driver.find_element(By.ID, "status").text
    driver.find_element(
        By.CSS_SELECTOR, "input[name=outcome][value=decision_to_be_changed]"
    ).click()
    driver.find_element(By.CSS_SELECTOR, "#escalations textarea[name=reason]").send_keys(
        "Agreed: a strategy discussion will be convened today."
    )
    _submit(driver, driver.find_element(By.CSS_SELECTOR, "button.answer-escalation"))
    assert "Escalation answered" in driver.find_element(By.ID, "done").text
    assert "Every escalation has been answered." in driver.find_element(By.ID, "status").text
    driver.save_screenshot(str(ARTIFACTS / "manager_answers_escalation.png"))
    assert store.query(kind=records.kinds.ESCALATION_ANSWER)[1] == 1 and store.verify().ok
