"""Headless Chromium (US English, as it runs here) shows the page's dates in UK order.

A browser's own date picker lays a date out in the browser's language:
Chromium in US English shows 1 October 2026 as ``10/01/2026``.  The page
asks for dates in day, month and year boxes instead (serving/page/dates.py),
so a person reads and types the day first in any browser.  These checks
fail with ``<input type="date">`` or ``datetime-local`` back on the page.
"""

from __future__ import annotations

import pytest

from tests.browser.test_page_browser import ARTIFACTS, driver, served  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

PICKERS = "input[type=date], input[type=datetime-local], input[type=time], input[type=month]"


def _sign_in(browser, base: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/page/")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "sign-in").click()
    browser.find_element(By.ID, "who")


def _boxes_in_uk_order(browser, box: str) -> None:
    """Day, then month, then year, left to right, each labelled in words."""
    from selenium.webdriver.common.by import By

    xs = []
    for part in ("day", "month", "year"):
        element = browser.find_element(By.ID, f"{box}-{part}")
        label = element.find_element(By.XPATH, "..").text
        assert label.startswith(part.capitalize()), (part, label)
        xs.append(element.rect["x"])
    assert xs == sorted(xs), xs


def test_dates_are_typed_and_read_day_first(served, driver):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, store, token = served
    ARTIFACTS.mkdir(exist_ok=True)
    _sign_in(driver, base, token)
    # This Chromium's own language is US English: its pickers would show month first.
    assert driver.execute_script("return navigator.language") in ("en-US", "en")
    driver.get(f"{base}/page/new")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en-GB"
    assert driver.find_elements(By.CSS_SELECTOR, PICKERS) == []
    _boxes_in_uk_order(driver, "received-at")
    _boxes_in_uk_order(driver, "named_adult_1_date_of_birth")

    driver.find_element(By.ID, "new-referral-id").send_keys("UK-1")
    for part, value in (("day", "31"), ("month", "2"), ("year", "2026"), ("time", "10:00")):
        driver.find_element(By.ID, f"received-at-{part}").send_keys(value)
    driver.find_element(By.ID, "children").send_keys("C1")
    driver.find_element(By.ID, "named_adult_1_name").send_keys("Jay Quennell")
    driver.find_element(By.ID, "score").click()
    # No 31 February: refused naming the field, the boxes as typed, nothing in the address.
    assert "Received at: there is no 31 February 2026." in driver.find_element(By.ID, "errors").text
    assert driver.current_url == f"{base}/page/referral"
    assert driver.find_element(By.ID, "received-at-day").get_attribute("value") == "31"
    assert driver.find_element(By.ID, "named_adult_1_name").get_attribute("value") == "Jay Quennell"
    driver.save_screenshot(str(ARTIFACTS / "page_new_referral_refused.png"))
    for part, value in (("day", "1"), ("month", "10")):
        driver.find_element(By.ID, f"received-at-{part}").clear()
        driver.find_element(By.ID, f"received-at-{part}").send_keys(value)
    Select(driver.find_element(By.ID, "source")).select_by_value("police")
    Select(driver.find_element(By.ID, "relationship")).select_by_value("police_officer")
    driver.find_element(By.CSS_SELECTOR, "input[name=concerns][value=domestic_abuse]").click()
    for part, value in (("day", "2"), ("month", "3"), ("year", "1990")):
        driver.find_element(By.ID, f"named_adult_1_date_of_birth-{part}").send_keys(value)
    driver.save_screenshot(str(ARTIFACTS / "page_new_referral_dates.png"))
    driver.find_element(By.ID, "score").click()

    # 1/10 is 1 October, never 10 January; and the address holds nothing typed.
    driver.find_element(By.ID, "amend")  # waits for the referral page (the form has none)
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "01 Oct 2026 10:00" in body and "10 Jan" not in body
    assert driver.current_url == f"{base}/page/referral"
    # The referral page's own forms (the amendment) ask in the same order, filled day first.
    assert driver.find_elements(By.CSS_SELECTOR, PICKERS) == []
    driver.find_element(By.CSS_SELECTOR, "#amend summary").click()
    _boxes_in_uk_order(driver, "amend-received-at")
    day = driver.find_element(By.ID, "amend-received-at-day").get_attribute("value")
    month = driver.find_element(By.ID, "amend-received-at-month").get_attribute("value")
    assert (day, month) == ("1", "10")
    adult_day = driver.find_element(By.ID, "named_adult_1_date_of_birth-day")
    assert adult_day.get_attribute("value") == "2"
    driver.execute_script("document.getElementById('amend-received-at').scrollIntoView();")
    driver.save_screenshot(str(ARTIFACTS / "page_referral_dates.png"))


def test_the_review_screen_reads_day_first_and_a_partner_sees_only_their_page(served, driver):  # noqa: F811
    """The strategy discussion's, the actions' and the referrer-told dates; a partner lead's nav."""
    import httpx
    from selenium.webdriver.common.by import By

    from tests.browser.test_review_browser import score_school_referral

    base, store, token = served
    ARTIFACTS.mkdir(exist_ok=True)
    h = score_school_referral(base, token, "UKR1", "2026-10-01T10:00:00")
    decision = {"decision_id": "brw-ukr1-d", "decision": "strategy_discussion", "rationale": "DA"}
    got = httpx.post(f"{base}/v1/referrals/UKR1/decisions", json=decision, headers=h)
    assert got.status_code == 201, got.text
    _sign_in(driver, base, token)
    driver.get(f"{base}/page/referral/UKR1/review")
    assert driver.find_elements(By.CSS_SELECTOR, PICKERS) == []
    for box in ("held-at", "due-1", "due-2", "due-3", "told-at"):
        _boxes_in_uk_order(driver, box)
    nav = driver.find_element(By.TAG_NAME, "nav").text
    assert "Work queue" in nav and "New referral" in nav
    # 31 February is refused naming the field; the boxes keep what was typed.
    for part, value in (("day", "31"), ("month", "2"), ("year", "2026"), ("time", "09:30")):
        driver.find_element(By.ID, f"held-at-{part}").clear()
        driver.find_element(By.ID, f"held-at-{part}").send_keys(value)
    for agency in ("children_social_care", "police", "health"):
        driver.find_element(By.ID, f"took_part_{agency}").click()
        driver.find_element(By.NAME, f"name_{agency}").send_keys(f"Someone, {agency}")
    driver.find_element(By.ID, "record-review").click()
    errors = driver.find_element(By.ID, "errors").text
    assert "When it was held: there is no 31 February 2026." in errors
    assert driver.find_element(By.ID, "held-at-day").get_attribute("value") == "31"
    assert driver.find_element(By.ID, "held-at-time").get_attribute("value") == "09:30"
    driver.save_screenshot(str(ARTIFACTS / "review_dates_refused.png"))
    driver.execute_script("document.getElementById('told-form').scrollIntoView();")
    driver.save_screenshot(str(ARTIFACTS / "review_told_dates.png"))

    # A police safeguarding lead: only their invited referrals in the top bar, and
    # a not-found page that leads back there, not to a work queue they cannot open.
    police_token, _ = store.create_token("Pat Police", "police_safeguarding_lead")
    driver.delete_all_cookies()
    _sign_in(driver, base, police_token)
    nav = driver.find_element(By.TAG_NAME, "nav").text
    assert nav == "Referrals you are invited to"
    driver.get(f"{base}/page/partner/referral/UKR1")  # not invited: not found
    assert "Not found" in driver.find_element(By.ID, "result").text
    assert driver.find_elements(By.ID, "to-queue") == []
    assert "work queue" not in driver.find_element(By.TAG_NAME, "body").text.lower()
    driver.save_screenshot(str(ARTIFACTS / "partner_not_found.png"))
    driver.find_element(By.ID, "to-partner").click()
    assert "You are not invited to any referral now." in driver.find_element(By.ID, "invited").text
    assert driver.current_url == f"{base}/page/partner/"
