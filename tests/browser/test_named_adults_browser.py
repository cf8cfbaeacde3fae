"""Headless Chromium: a screener names an adult on a new referral and sees her history.

The real engine over the hand-made store with agency identities, linked
with a really trained Splink model (tests/serving/named_fixtures.py), and a
real tiny champion.  The form's named-adult fields are filled as a person
fills them; the page must show the adult as found with the match
probability, and her arrest in the chronology labelled as named by the referrer;
the form is posted, so the address after it holds none of what was typed.
"""

from __future__ import annotations

import pytest

import records
from serving.launch import serve_in_thread
from tests.browser.test_page_browser import ARTIFACTS, driver  # noqa: F401 (fixture)
from tests.serving.conftest import MODEL, train_champion
from tests.serving.named_fixtures import trained_model, write_linked_store

pytestmark = pytest.mark.browser


@pytest.fixture
def served_linked(tmp_path):
    from serving import ScoringEngine, create_app, load_champion

    path = tmp_path / "store.duckdb"
    write_linked_store(path, trained_model())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    train_champion(path, uri)
    engine = ScoringEngine(path, load_champion(uri, MODEL))
    store = records.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    token, _ = store.create_token("Sam Screener", "screener")
    with serve_in_thread(create_app(engine=engine, records_store=store)) as base:
        yield base, token
    engine.close()
    store.close()


def _date(browser, box: str, day: str, month: str, year: str, time: str | None = None) -> None:
    """Type a date into its day, month and year boxes (and the time's), as a person does."""
    from selenium.webdriver.common.by import By

    parts = {"day": day, "month": month, "year": year, **({"time": time} if time else {})}
    for part, value in parts.items():
        browser.find_element(By.ID, f"{box}-{part}").send_keys(value)


def test_screener_names_a_visitor_and_sees_her_history(served_linked, driver):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, token = served_linked
    ARTIFACTS.mkdir(exist_ok=True)
    driver.get(f"{base}/page/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    driver.find_element(By.ID, "who")  # signed in (waits for the page after the click)
    driver.get(f"{base}/page/new")  # the page opens on the queue; a new referral is here
    driver.find_element(By.ID, "new-referral-id").send_keys("NAB-1")
    _date(driver, "received-at", "1", "10", "2026", "10:00")
    Select(driver.find_element(By.ID, "source")).select_by_value("school")
    Select(driver.find_element(By.ID, "relationship")).select_by_value("teacher")
    driver.find_element(By.CSS_SELECTOR, "input[name=concerns][value=domestic_abuse]").click()
    driver.find_element(By.ID, "children").send_keys("C1")
    driver.find_element(By.ID, "named_adult_1_name").send_keys("Marguerite Okonkwo")
    _date(driver, "named_adult_1_date_of_birth", "1", "1", "1970")
    driver.find_element(By.ID, "named_adult_1_postcode").send_keys("B12 9QT")
    Select(driver.find_element(By.ID, "named_adult_1_relationship")).select_by_value("visitor")
    Select(driver.find_element(By.ID, "named_adult_1_lives_at_address")).select_by_value("no")
    driver.save_screenshot(str(ARTIFACTS / "page_named_adult_form.png"))
    driver.find_element(By.ID, "score").click()

    found = driver.find_element(By.ID, "named-adult-found-1").text
    # The form was posted: the address (kept in history and logs) holds nothing typed.
    assert driver.current_url == f"{base}/page/referral"
    history = driver.execute_script(
        "return performance.getEntriesByType('navigation').map(e => e.name).join(' ')"
    )
    for typed in ("Marguerite", "Okonkwo", "1970", "B12", "named_adult"):
        assert typed not in driver.current_url and typed not in history, typed
    assert "Marguerite Okonkwo (visitor; lives at the address: no)" in found
    assert "matched to records with probability" in found and "arrest" in found
    chronology = driver.find_element(By.ID, "chronology-C1").text
    assert "named by the referrer as visitor; matched to records with probability" in chronology
    # She is not listed among the adults who lived with the child.
    people = driver.find_element(By.CSS_SELECTOR, "#chronology-C1 .people").text
    assert "LP06" not in people
    driver.execute_script("document.getElementById('named-adults-found').scrollIntoView();")
    driver.save_screenshot(str(ARTIFACTS / "page_named_adult.png"))
