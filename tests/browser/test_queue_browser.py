"""Headless Chromium: the work queue with a named adult's possible match to check.

A live server over the stand-in engine of :mod:`tests.serving.test_queue_matches`
(possible matches in a small DuckDB store).  Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import threading
import time

import pytest

import records
from tests.browser.test_page_browser import ARTIFACTS, _free_port, driver  # noqa: F401
from tests.browser.test_review_browser import _sign_in, _submit
from tests.serving.test_queue_matches import build_world

pytestmark = pytest.mark.browser


@pytest.fixture
def served_matches(tmp_path):
    import uvicorn

    store = records.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    app, tokens, engine = build_world(store, tmp_path)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 20 s"
    yield f"http://127.0.0.1:{server.config.port}", tokens
    server.should_exit = True
    thread.join(timeout=10)
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
