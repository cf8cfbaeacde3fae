"""Headless Chromium: the work queue with a named adult's possible match to check.

A live server over the stand-in engine of :mod:`tests.serving.test_queue_matches`
(possible matches in a small DuckDB store).  Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import pytest

import records
from tests.browser.test_page_browser import ARTIFACTS, driver, live_server  # noqa: F401
from tests.browser.test_review_browser import _sign_in, _submit
from tests.serving.test_queue_matches import build_world

pytestmark = pytest.mark.browser


@pytest.fixture
def served_matches(tmp_path):
    store = records.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    app, tokens, engine = build_world(store, tmp_path)
    with live_server(app) as base:
        yield base, tokens
    engine.close()
    store.close()


def test_the_queue_links_a_possible_match_to_check(served_matches, driver):  # noqa: F811
    from selenium.webdriver.common.by import By

    base, tokens = served_matches
    ARTIFACTS.mkdir(exist_ok=True)
    _sign_in(driver, base, tokens["screener"])
    queue = driver.find_element(By.ID, "queue")
    assert "possible match to check" in driver.find_element(By.ID, "q-M1").text
    assert "possible match to check" not in driver.find_element(By.ID, "q-M3").text
    driver.execute_script("arguments[0].scrollIntoView()", queue)
    driver.save_screenshot(str(ARTIFACTS / "queue_possible_match.png"))
    _submit(driver, driver.find_element(By.ID, "check-M1"))
    assert "possible-matches" in driver.current_url
    assert "Okafor" in driver.page_source
