"""Headless Chromium: a manager withdraws a partner's invitation, and the partner's page empties.

Same live server and Debian chromium as :mod:`tests.browser.test_page_browser`.
Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import httpx
import pytest

import records
from tests.browser.test_page_browser import ARTIFACTS, driver, served  # noqa: F401
from tests.browser.test_review_browser import _sign_in, _submit, score_school_referral

pytestmark = pytest.mark.browser


def test_a_withdrawn_invitation_leaves_the_partners_page(served, driver):  # noqa: F811
    from selenium.webdriver.common.by import By

    base, store, token = served
    ARTIFACTS.mkdir(exist_ok=True)
    police_token, _ = store.create_token("Pat Police", "police_safeguarding_lead")
    manager_token, _ = store.create_token("Mo Manager", "manager")
    h = score_school_referral(base, token, "INV1", "2026-11-02T10:00:00")
    invitation = {
        "invitation_id": "brw-inv-0001",
        "partner_name": "Pat Police",
        "partner_role": "police_safeguarding_lead",
        "reason": "Police attended the home twice this month.",
    }
    got = httpx.post(f"{base}/v1/referrals/INV1/invitations", json=invitation, headers=h)
    assert got.status_code == 201, got.text

    # The police lead sees the referral, and until when.
    _sign_in(driver, base, police_token)
    invited = driver.find_element(By.ID, "invited").text
    assert "Referral INV1" in invited and "open to you until" in invited and "UK time" in invited
    driver.save_screenshot(str(ARTIFACTS / "partner_home_invited.png"))

    # A screener sees the invitation but no way to withdraw it.
    _sign_in(driver, base, token)
    driver.get(f"{base}/page/referral/INV1/review")
    listed = driver.find_element(By.ID, "invitations").text
    assert "Pat Police (police safeguarding lead): open until" in listed
    assert not driver.find_elements(By.ID, "withdraw-brw-inv-0001")

    # A manager withdraws it, with a reason.
    _sign_in(driver, base, manager_token)
    driver.get(f"{base}/page/referral/INV1/review")
    form = driver.find_element(By.CSS_SELECTOR, "#invitation-brw-inv-0001 form")
    form.find_element(By.NAME, "reason").send_keys("The police enquiry has closed.")
    driver.save_screenshot(str(ARTIFACTS / "manager_withdraws_invitation.png"))
    _submit(driver, driver.find_element(By.ID, "withdraw-brw-inv-0001"))
    assert "Invitation withdrawn" in driver.find_element(By.ID, "done").text
    assert "withdrawn" in driver.find_element(By.ID, "invitation-brw-inv-0001").text
    record = driver.find_element(By.ID, "record").text
    assert "Invitation of Pat Police (police safeguarding lead) withdrawn" in record
    assert "Why: The police enquiry has closed." in record
    driver.save_screenshot(str(ARTIFACTS / "invitation_withdrawn.png"))
    (entry,) = store.query(kind=records.kinds.INVITATION_WITHDRAWN)[0]
    assert entry.actor == "Mo Manager" and store.verify().ok

    # The lead's page no longer lists it, and the old link is "not found".
    _sign_in(driver, base, police_token)
    assert "You are not invited to any referral now." in driver.find_element(By.ID, "invited").text
    driver.get(f"{base}/page/partner/referral/INV1")
    assert "Not found" in driver.page_source and "Two domestic" not in driver.page_source
    assert "there is no referral inv1 that you have been invited to" in driver.page_source.lower()
    driver.save_screenshot(str(ARTIFACTS / "partner_after_withdrawal.png"))
