"""Headless Chromium walks the screener's page through one flagged referral.

A real uvicorn server (in a thread, on a free loopback port) serves
:func:`serving.create_app` over the stand-in scoring engine of the page tests
(no trained model needed); Selenium drives Debian's ``/usr/bin/chromium``
through ``/usr/bin/chromedriver``, so Selenium Manager downloads nothing.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

import records
from serving import create_app
from tests.serving.page_fakes import FakeEngine
from tests.serving.test_page_queue import REFERRALS

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app):
    """A uvicorn server for ``app`` in a thread on a free loopback port; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 20 s"
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def served(tmp_path):
    """(base URL, records store, screener token) of a live server."""
    store = records.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    token, _ = store.create_token("Sam Screener", "screener")
    engine = FakeEngine()
    with live_server(create_app(engine=engine, records_store=store)) as base:
        yield base, store, token
    engine.close()
    store.close()


@pytest.fixture
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "apt-get install -y chromium chromium-driver (see .ci/run)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,2200",
    ):
        options.add_argument(flag)
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    d.set_page_load_timeout(30)
    d.implicitly_wait(10)  # element look-ups wait for the next page after a click
    yield d
    d.quit()


def _open_s1(driver, base: str, token: str) -> None:
    """Sign in with a token and open the flagged referral S1, already in the store."""
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(exist_ok=True)
    driver.get(f"{base}/page/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    assert driver.find_element(By.ID, "who").text == "Sam Screener"
    driver.find_element(By.ID, "nav-new").click()
    driver.find_element(By.ID, "open-referral-id").send_keys("S1")
    driver.find_element(By.ID, "open").click()


def test_screener_walks_a_flagged_referral(served, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, store, token = served
    _open_s1(driver, base, token)
    flag = driver.find_element(By.ID, "flag").text
    assert "mandatory multi-agency review recommended" in flag
    assert "advisory" in driver.find_element(By.ID, "advisory").text.lower()
    driver.save_screenshot(str(ARTIFACTS / "page_flagged_referral.png"))

    # A reason's record links to its row in the chronology.
    link = driver.find_element(By.CSS_SELECTOR, "#child-C1 a[href^='#ev-']")
    target = link.get_attribute("href").split("#", 1)[1]
    link.click()
    assert driver.find_element(By.ID, target).tag_name == "tr"

    # Closing it is not among the options the rules allow, and says why.
    assert not driver.find_element(By.ID, "decision-no_further_action").is_enabled()
    assert "flagged" in driver.find_element(By.ID, "why-not-no_further_action").text
    # Forced through anyway (a client enabling the button): refused, nothing written, text kept.
    driver.execute_script("document.getElementById('decision-no_further_action').disabled = false")
    driver.find_element(By.ID, "decision-no_further_action").click()
    Select(driver.find_element(By.ID, "closure-reason")).select_by_value(
        "no_concerns_substantiated"
    )
    driver.find_element(By.ID, "rationale").send_keys("Nothing new; closing.")
    driver.find_element(By.ID, "record-decision").click()
    result = driver.find_element(By.ID, "errors").text
    assert "Not recorded" in result and "flagged for mandatory multi-agency review" in result
    assert driver.find_element(By.ID, "rationale").get_attribute("value") == "Nothing new; closing."
    driver.save_screenshot(str(ARTIFACTS / "page_refused.png"))
    assert store.query(kind=records.kinds.DECISION)[1] == 0

    # Still on the referral: record a strategy discussion (no closure reason with it).
    Select(driver.find_element(By.ID, "closure-reason")).select_by_value("")
    driver.find_element(By.ID, "decision-strategy_discussion").click()
    driver.find_element(By.ID, "rationale").clear()
    driver.find_element(By.ID, "rationale").send_keys(
        "Police DA incident involving the new partner; convene a strategy discussion."
    )
    driver.find_element(By.ID, "record-decision").click()
    assert (
        "Decision recorded: strategy discussion / multi-agency review"
        in driver.find_element(By.ID, "result").text
    )
    driver.save_screenshot(str(ARTIFACTS / "page_recorded.png"))

    decisions, total = store.query(kind=records.kinds.DECISION)
    assert (
        total == 1
        and decisions[0].actor == "Sam Screener"
        and decisions[0].payload["decision"] == "strategy_discussion"
    )
    assert decisions[0].payload["flagged"] is True
    assert store.verify().ok


def test_amended_referral_and_the_chronology_as_of_it(served, driver):
    """A screener amends a flagged referral: both versions show, the flag stays, hindsight is apart."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, store, token = served
    _open_s1(driver, base, token)

    # The chronology as of the referral, with what came after in its own section.
    since = driver.find_element(By.ID, "since-C1")
    assert since.text == "Recorded since this referral"
    chronology = driver.find_element(By.ID, "chronology-C1").text
    main, later = chronology.split("Recorded since this referral", 1)
    # The section 47 enquiry recorded after the referral, in words (never the raw code).
    enquiry = "child protection enquiry (section 47)"
    assert enquiry not in main and enquiry in later and "section47" not in chronology
    assert "A2 (partner, joined 01 Sep 2026" in main
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "chronology"))
    driver.save_screenshot(str(ARTIFACTS / "page_chronology_as_of.png"))

    # Amend it: the police were not the referrer after all.
    driver.execute_script("document.querySelector('#amend details').open = true")
    form = driver.find_element(By.ID, "amend-form")
    Select(form.find_element(By.NAME, "source")).select_by_value("school")
    Select(form.find_element(By.NAME, "referrer_relationship")).select_by_value("teacher")
    for box in form.find_elements(By.NAME, "concerns"):
        if box.is_selected() != (box.get_attribute("value") == "other"):
            box.click()
    driver.find_element(By.ID, "amend-reason").send_keys(
        "The school made this referral; the police only passed it on."
    )
    driver.find_element(By.ID, "record-amendment").click()
    versions = driver.find_element(By.ID, "versions").text
    assert "2 versions" in versions and "the local authority's records" in versions
    assert "The school made this referral" in versions
    assert "flagged in an earlier version" in driver.find_element(By.ID, "flag").text
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(ARTIFACTS / "page_amended_referral.png"))
    (entry,) = store.referral_versions("S1")
    assert entry.payload["version"] == 2 and entry.payload["source"] == "school"


def _receive(base: str, store, bodies: list[dict]) -> None:
    """Referrals received through MAST: a manager's client scores them over the API."""
    import httpx

    token, _ = store.create_token("Intake client", "manager")
    for body in bodies:
        r = httpx.post(
            f"{base}/v1/referrals/score",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text


# Q1-Q3 of the page tests, received through MAST; Q3 alleges an injury and images are held.
QUEUE = [
    {"referral_id": rid.replace("Q", "B"), **body}
    | ({"images_held_by": "health"} if body.get("injury_alleged") else {})
    for rid, body in REFERRALS.items()
]


def _sign_in(driver, base: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(exist_ok=True)
    driver.get(f"{base}/page/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()


def test_the_queue_opens_a_triggered_referral_and_a_refusal_keeps_the_text(served, driver):
    """Sign in to the queue, filter it, open the injury referral, try to close it: refused, text kept."""
    from selenium.webdriver.common.by import By

    base, store, token = served
    _receive(base, store, QUEUE)
    _sign_in(driver, base, token)
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.queue-row")
    assert [r.get_attribute("id") for r in rows] == ["q-B3", "q-B2", "q-B1"]
    b3 = driver.find_element(By.ID, "q-B3").text
    assert "Allegation or sign of physical injury" in b3 and "Images of injury" in b3
    assert "flagged" in driver.find_element(By.ID, "q-B2").text
    # A received date does not wrap in its cell.
    cell = driver.find_element(By.CSS_SELECTOR, "#q-B3 td.nowrap")
    assert cell.value_of_css_property("white-space") == "nowrap"
    lines = driver.execute_script(
        "const r = document.createRange(); r.selectNodeContents(arguments[0]);"
        "return r.getClientRects().length;",
        cell,
    )
    assert lines == 1, lines
    driver.save_screenshot(str(ARTIFACTS / "page_queue.png"))

    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "filter-statutory").click()
    driver.find_element(By.ID, "filter").click()
    WebDriverWait(driver, 10).until(ec.staleness_of(rows[0]))
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.queue-row")
    assert [r.get_attribute("id") for r in rows] == ["q-B3"]

    driver.find_element(By.ID, "open-B3").click()
    statutory = driver.find_element(By.ID, "statutory")
    flag = driver.find_element(By.ID, "flag")
    assert statutory.location["y"] < flag.location["y"]  # the law before the model
    assert "Allegation or sign of physical injury" in statutory.text
    assert "never a reason to close" in driver.find_element(By.ID, "never-close").text
    assert flag.value_of_css_property("background-color") != "rgba(240, 255, 244, 1)"
    assert not driver.find_element(By.ID, "decision-no_further_action").is_enabled()
    assert "manager" in driver.find_element(By.ID, "why-not-no_further_action").text
    driver.save_screenshot(str(ARTIFACTS / "page_triggered_referral.png"))

    # Early help closes it too: the page offers it disabled, so a client that
    # enables the button (or posts by hand) is refused by the server, and keeps the text.
    driver.execute_script("document.getElementById('decision-early_help').disabled = false")
    driver.find_element(By.ID, "decision-early_help").click()
    typed = "Health visitor saw a small bruise on the arm; mum explained it. Closing to early help."
    driver.find_element(By.ID, "rationale").send_keys(typed)
    driver.find_element(By.ID, "record-decision").click()
    errors = driver.find_element(By.ID, "errors").text
    assert "meets statutory or local-procedure rules" in errors and "Value error" not in errors
    assert driver.find_element(By.ID, "rationale").get_attribute("value") == typed
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "decide"))
    driver.save_screenshot(str(ARTIFACTS / "page_refused_keeps_text.png"))
    assert store.query(kind=records.kinds.DECISION)[1] == 0

    # Record a strategy discussion; the queue then shows it as owed, with its due time.
    driver.find_element(By.ID, "decision-strategy_discussion").click()
    driver.find_element(By.ID, "record-decision").click()
    assert "Decision recorded" in driver.find_element(By.ID, "result").text
    driver.find_element(By.ID, "to-queue").click()
    b3 = driver.find_element(By.ID, "q-B3").text
    assert "strategy discussion to be held and recorded by" in b3 and "UK time" in b3
    driver.find_element(By.ID, "open-B3").click()
    history = driver.find_element(By.ID, "history").text
    assert typed in history  # the decision history shows the rationale
