"""A queue row says "possible match to check" when a named adult's possible match awaits a verdict.

Over HTTP, as a client and the page see it: referrals scored with adults
named, a DuckDB store holding two possible matches and the people
``mast link`` linked each record to (``tests/serving/matches_fakes.py``),
and a stand-in engine whose named-adult search answers by name.
"""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient

import records
from serving import create_app
from tests.serving.matches_fakes import possible_match_source
from tests.serving.page_fakes import FakeEngine
from tests.serving.test_page import browser
from tests.serving.test_page_queue import row, rows

# Who ``mast link`` linked each record to: H100 and P200 are the pending pair's two sides.
PEOPLE = {"health:H100": "K1", "police:P200": "K2", "education:E300": "K3", "housing:U400": "K3"}
# What the stand-in search finds for a named adult, by name (a match, or only candidates).
SEARCH = {
    "Amara Okafor": {"status": "found", "person_key": "K1", "matches": [{"person_key": "K1"}]},
    "Jo Bloggs": {"status": "possible", "person_key": None, "matches": [{"person_key": "K2"}]},
    "Sam Else": {"status": "found", "person_key": "K9", "matches": [{"person_key": "K9"}]},
}


class NamedEngine(FakeEngine):
    """The page's stand-in engine, with a named-adult search that answers from :data:`SEARCH`."""

    def __init__(self) -> None:
        super().__init__()
        self.searches = 0

    def named_adults(self, referral):
        self.searches += 1
        adults = [
            {"name": a.name, **SEARCH.get(a.name, {"matches": []})} for a in referral.named_adults
        ]
        return adults, [], []


@pytest.fixture
def world(store, tmp_path):
    app, tokens, engine = build_world(store, tmp_path)
    yield app, tokens, engine
    engine.close()


def build_world(store, tmp_path):
    """An app with M1-M4 scored, and the possible matches' store beside it."""
    tokens = {role: store.create_token(f"Page {role}", role)[0] for role in records.ROLES}
    engine = NamedEngine()
    app = create_app(engine=engine, records_store=store)
    source = possible_match_source(tmp_path / "matches.duckdb")
    con = duckdb.connect(str(source.db))
    for record, person in PEOPLE.items():
        agency, rid = record.split(":")
        con.execute(
            "INSERT INTO person_links VALUES (?, ?, ?, 0.9, 'r1', 'run1', TIMESTAMP '2026-01-01')",
            [agency, rid, person],
        )
    con.close()
    app.state.possible_matches = source
    client = TestClient(app)
    h = {"Authorization": f"Bearer {tokens['manager']}"}
    for rid, adults in (
        ("M1", ["Amara Okafor"]),  # matched to K1: a side of the pending pair
        ("M2", ["Jo Bloggs"]),  # only a candidate, K2: the other side
        ("M3", ["Sam Else"]),  # matched to someone in no pending pair
        ("M4", []),  # no adult named
    ):
        body = {
            "referral_id": rid,
            "received_at": f"2026-10-0{rid[1]}T10:00:00",
            "source": "school",
            "referrer_relationship": "teacher",
            "concerns": ["neglect"],
            "children": ["C1"],
            "named_adults": [{"name": n, "relationship": "mothers_new_partner"} for n in adults],
        }
        got = client.post("/v1/referrals/score", json=body, headers=h)
        assert got.status_code == 200, got.text
    return app, tokens, engine


def checks(app, token) -> dict[str, list[dict]]:
    got = TestClient(app).get("/v1/queue", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    return {i["referral_id"]: i["checks"] for i in got.json()["items"]}


def test_a_named_adults_possible_match_is_shown_and_goes_once_judged(world):
    app, tokens, engine = world
    found = checks(app, tokens["screener"])
    assert [c["text"] for c in found["M1"]] == ["possible match to check"]
    assert found["M1"][0]["link"] == "/page/possible-matches"
    assert [c["text"] for c in found["M2"]] == ["possible match to check"]  # a candidate counts
    assert found["M3"] == [] and found["M4"] == []
    page = browser(app, tokens["screener"]).get("/page/").text
    assert rows(page) == ["M4", "M3", "M2", "M1"]
    assert "possible match to check" in row(page, "M1") and "possible match to check" not in row(
        page, "M3"
    )
    assert 'id="check-M1" href="/page/possible-matches"' in page
    searched = engine.searches
    checks(app, tokens["screener"])
    assert engine.searches == searched  # kept between loads: no search on a later load
    # A screener judges the pair: the rows no longer ask for a check.
    verdict = {
        "review_id": "pm-verdict-0001",
        "record_l": "health:H100",
        "record_r": "police:P200",
        "verdict": "different_people",
        "reason": "different dates of birth and first names",
    }
    got = TestClient(app).post(
        "/v1/possible-matches/reviews",
        json=verdict,
        headers={"Authorization": f"Bearer {tokens['screener']}"},
    )
    assert got.status_code == 201, got.text
    after = checks(app, tokens["screener"])
    assert after["M1"] == [] and after["M2"] == []


def test_a_new_linkage_run_searches_again_but_a_load_of_records_does_not(world):
    app, tokens, engine = world
    checks(app, tokens["screener"])
    searched = engine.searches
    db = str(app.state.possible_matches.db)
    con = duckdb.connect(db)
    con.execute(
        "INSERT INTO agency_records VALUES ('school', 'S1', 'New', 'Child', '2019-01-01', "
        "'Female', NULL, NULL, NULL, NULL, NULL, TIMESTAMP '2026-11-01')"
    )  # new records loaded: the file changes, the linkage run does not
    con.close()
    checks(app, tokens["screener"])
    assert engine.searches == searched
    con = duckdb.connect(db)
    con.execute("UPDATE person_links SET run_id = 'run2'")  # `mast link` ran again
    con.close()
    assert [c["text"] for c in checks(app, tokens["screener"])["M1"]] == ["possible match to check"]
    assert engine.searches == searched + 3  # M1, M2, M3 name adults; M4 does not
