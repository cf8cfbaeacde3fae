"""Adults named on a referral, over HTTP: found with their history, not found, conflicts, bad input.

The store is the hand-made one with agency identities linked by hand and a
Splink model really trained (tests/serving/named_fixtures.py).  X (Marguerite
Okonkwo, born 1 January 1970) lives in another household and was arrested on
1 January 2025 (recorded the next day); she is not in C1's household, so the
only way her arrest reaches C1's referral is by the referrer naming her.
"""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient

from tests.serving.conftest import MODEL
from tests.serving.named_fixtures import trained_model, write_linked_store

_ids = itertools.count()
VISITOR = {
    "name": "Marguerite Okonkwo",
    "date_of_birth": "1970-01-01",
    "relationship": "visitor",
    "lives_at_address": "no",
}


@pytest.fixture(scope="module")
def linked_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("named") / "store.duckdb"
    write_linked_store(path, trained_model())
    return path


@pytest.fixture(scope="module")
def linked_app(linked_store, tracking_uri):
    import records
    from serving import ScoringEngine, create_app, load_champion

    engine = ScoringEngine(linked_store, load_champion(tracking_uri, MODEL))
    engine.warm_up()
    store = records.RecordsStore(f"sqlite:///{linked_store.parent / 'records.sqlite'}")
    token = store.create_token("test screener", "screener")[0]
    yield create_app(engine=engine, records_store=store), token
    engine.close()
    store.close()


@pytest.fixture(scope="module")
def linked_client(linked_app):
    app, token = linked_app
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def _referral(received="2026-10-01T10:00:00", named=(VISITOR,), **extra) -> dict:
    return {
        "referral_id": f"NA{next(_ids)}",
        "received_at": received,
        "source": "school",
        "referrer_relationship": "teacher",
        "concerns": ["domestic_abuse"],
        "children": ["C1"],
        "named_adults": [dict(a) for a in named],
        **extra,
    }


def test_a_named_visitor_is_found_with_her_history_and_its_probability(linked_client):
    r = linked_client.post("/v1/referrals/score", json=_referral())
    assert r.status_code == 200, r.text
    (adult,) = r.json()["named_adults"]
    assert adult["status"] == "found", adult["text"]
    assert adult["person_key"] == "LP06"
    assert adult["match_probability"] >= 0.9
    assert "name" in adult["matches"][0]["agreeing_fields"]
    assert adult["records_total"] == 1
    assert adult["history"] and "arrest" in adult["history"][0]
    assert "1 January 2025" in adult["history"][0]
    assert "visitor" in adult["text"] and "matched to records with probability" in adult["text"]


def test_the_chronology_shows_the_named_adults_records_labelled(linked_client):
    body = _referral()
    assert linked_client.post("/v1/referrals/score", json=body).status_code == 200
    r = linked_client.get("/v1/children/C1/chronology", params={"referral_id": body["referral_id"]})
    assert r.status_code == 200, r.text
    chron = r.json()
    theirs = [e for e in chron["entries"] if e["person_id"] == "LP06"]
    assert [e["event_type"] for e in theirs] == ["arrest"]
    assert theirs[0]["relationship"].startswith(
        f"{VISITOR['name']}, named by the referrer as visitor; matched to records with probability "
    )
    assert any(p["person_id"] == "LP06" and not p["lives_with_child"] for p in chron["people"])
    # Without naming her, her arrest is not in C1's chronology.
    plain = _referral(named=())
    assert linked_client.post("/v1/referrals/score", json=plain).status_code == 200
    r = linked_client.get(
        "/v1/children/C1/chronology", params={"referral_id": plain["referral_id"]}
    )
    assert all(e["event_type"] != "arrest" or e["person_id"] != "X" for e in r.json()["entries"])
    assert not any(e["person_id"] == "LP06" for e in r.json()["entries"])


def test_history_is_as_of_the_referral(linked_client):
    """Scored as of 1 December 2024, her arrest (recorded 2 January 2025) is not yet known."""
    r = linked_client.post("/v1/referrals/score", json=_referral(received="2024-12-01T10:00:00"))
    assert r.status_code == 200, r.text
    (adult,) = r.json()["named_adults"]
    assert adult["status"] == "found" and adult["records_total"] == 0 and adult["history"] == []
    assert "none of their records was recorded before the referral" in adult["text"]


@pytest.mark.parametrize(
    ("received", "status"), [("2019-06-01T10:00:00", "not_found"), ("2026-10-01T10:00:00", "found")]
)
def test_a_record_held_only_after_the_referral_is_not_searched(linked_client, received, status):
    """AD's only record was first held on 1 January 2020: a 2019 referral cannot find him."""
    tyrone = {"name": "Tyrone Baptiste", "date_of_birth": "1996-01-01", "relationship": "visitor"}
    r = linked_client.post(
        "/v1/referrals/score", json=_referral(received=received, named=(tyrone,))
    )
    assert r.status_code == 200, r.text
    (adult,) = r.json()["named_adults"]
    assert adult["status"] == status, adult["text"]
    if status == "found":
        assert adult["person_key"] == "LP07" and adult["records_total"] == 0


def test_a_misspelt_name_with_the_right_birthday_is_still_found(linked_client):
    typed = {**VISITOR, "name": "Margarite Okonkow"}
    r = linked_client.post("/v1/referrals/score", json=_referral(named=(typed,)))
    (adult,) = r.json()["named_adults"]
    assert adult["matches"] and adult["matches"][0]["person_key"] == "LP06"
    assert adult["status"] in ("found", "possible")


def test_an_adult_not_in_the_records_is_not_found_never_no_history(linked_client):
    stranger = {"name": "Zebedee Quartermaine", "relationship": "mothers_new_partner"}
    r = linked_client.post("/v1/referrals/score", json=_referral(named=(stranger,)))
    assert r.status_code == 200, r.text
    (adult,) = r.json()["named_adults"]
    assert adult["status"] == "not_found"
    assert "not found in the records MAST holds" in adult["text"]
    assert "no history" not in adult["text"].lower() and adult["history"] == []
    assert (
        adult["relationship"] == "mother's new partner" and adult["lives_at_address"] == "not known"
    )


def test_an_unlinked_store_says_it_could_not_search(client):
    r = client.post("/v1/referrals/score", json=_referral())
    assert r.status_code == 200, r.text
    (adult,) = r.json()["named_adults"]
    assert adult["status"] == "not_searched" and "not been linked" in adult["text"]


def test_named_adults_are_part_of_the_referrals_fixed_content(linked_client):
    body = _referral()
    assert linked_client.post("/v1/referrals/score", json=body).status_code == 200
    # The same adults in another order, and the same content again: the same referral.
    again = {**body, "named_adults": list(reversed(body["named_adults"]))}
    assert linked_client.post("/v1/referrals/score", json=again).status_code == 200
    for changed in (
        [{**VISITOR, "name": "Someone Else"}],
        [],
        [VISITOR, {"name": "Jay Smith", "relationship": "mothers_new_partner"}],
    ):
        r = linked_client.post("/v1/referrals/score", json={**body, "named_adults": changed})
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert detail["field"] == "named_adults"
        assert (
            "adults named by the referrer: recorded Marguerite Okonkwo (visitor)"
            in detail["message"]
        )


@pytest.mark.parametrize(
    ("adult", "words"),
    [
        ({"relationship": "visitor"}, "The second named adult: the name is missing"),
        ({"name": "  ", "relationship": "visitor"}, "The second named adult: the name is missing"),
        (
            {"name": "Jay", "relationship": "lodger"},
            "The second named adult (Jay): relationship 'lodger'",
        ),
        (
            {"name": "Jay", "relationship": "visitor", "date_of_birth": "31/02/1990"},
            "The second named adult (Jay): date of birth '31/02/1990' is not a date",
        ),
        (
            {"name": "Jay", "relationship": "visitor", "lives_at_address": "sometimes"},
            "whether they live at the child's address must be yes, no or unknown",
        ),
        ({"name": "Jay", "relationship": "visitor", "nickname": "J"}, "unknown field(s) nickname"),
    ],
)
def test_bad_named_adults_are_refused_naming_the_adult_and_field(linked_client, adult, words):
    """The second adult is at fault: the message names it ("the second") and the field, in words."""
    r = linked_client.post("/v1/referrals/score", json=_referral(named=(VISITOR, adult)))
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert words in error["msg"] and error["field"].startswith("named_adults[1]"), error


def test_the_demo_names_a_non_resident_adult_and_shows_her_history(linked_store, linked_app):
    """``mast demo``'s step over real HTTP: X is the adult with police records outside C1's home."""
    from serving.demo import held_out_referrals
    from serving.demo_named import demo_named_adult
    from serving.launch import serve_in_thread

    app, token = linked_app
    (body,) = [b for b in held_out_referrals(linked_store, n=2) if b["referral_id"] == "R1"]
    with serve_in_thread(app) as base_url:
        text = demo_named_adult(
            base_url, {"Authorization": f"Bearer {token}"}, linked_store, body, score_before=3
        )
    assert "names Marguerite Okonkwo, the mother's new partner, not living at the address" in text
    assert "matched to records with probability" in text and "arrest" in text
    assert "match LP06" in text and "this adult is person X" in text
    assert "Counted as the named-adult feature family counts them" in text
    assert "adult named by the referrer found in the records MAST holds" in text
    assert "Highest score 3 of 20 as first received (naming nobody);" in text


def test_the_score_counts_the_named_adults_as_training_does(linked_client):
    """The named-adult family for this referral, in the catalogue's words."""
    stranger = {"name": "Zebedee Quartermaine", "relationship": "mothers_new_partner"}
    r = linked_client.post("/v1/referrals/score", json=_referral(named=(VISITOR, stranger)))
    assert r.status_code == 200, r.text
    counted = r.json()["named_adults_counted"]
    assert "1 adult named by the referrer found in the records MAST holds" in counted
    assert "1 adult named by the referrer not found in the records MAST holds" in counted
    assert any(line.startswith("1 arrest") and "named by the referrer" in line for line in counted)
    assert all("_" not in line for line in counted)
    # As of 1 December 2024 her arrest (recorded 2 January 2025) is not counted.
    r = linked_client.post("/v1/referrals/score", json=_referral(received="2024-12-01T10:00:00"))
    counted = r.json()["named_adults_counted"]
    assert counted == ["1 adult named by the referrer found in the records MAST holds"]


def test_an_unlinked_store_counts_nothing_either_way(client):
    r = client.post("/v1/referrals/score", json=_referral())
    assert r.status_code == 200, r.text
    assert r.json()["named_adults_counted"] == []


def test_the_model_is_handed_the_found_adults_records_before_it_scores(linked_client):
    """Issue #20: the search runs before the features, so the score's inputs hold the family."""
    stranger = {"name": "Zebedee Quartermaine", "relationship": "mothers_new_partner"}
    r = linked_client.post(
        "/v1/referrals/score?features=true", json=_referral(named=(VISITOR, stranger))
    )
    assert r.status_code == 200, r.text
    seen = r.json()["children"][0]["features"]
    assert seen["named_adults_found"] == 1 and seen["named_adults_not_found"] == 1
    assert seen["named_adults_arrests_ever_sum"] == 1  # her arrest, recorded before the referral
    assert "The score weighs this adult's records" in r.json()["named_adults"][0]["text"]
    alone = linked_client.post("/v1/referrals/score?features=true", json=_referral(named=()))
    assert alone.json()["children"][0]["features"]["named_adults_arrests_ever_sum"] == 0


def test_a_store_never_linked_gives_the_model_missing_values_not_zero(client):
    r = client.post("/v1/referrals/score?features=true", json=_referral())
    assert r.status_code == 200, r.text
    seen = r.json()["children"][0]["features"]
    assert seen["named_adults_found"] is None and seen["named_adults_arrests_ever_sum"] is None


def test_a_model_trained_before_the_named_family_still_loads_and_scores(linked_store):
    """Its feature list comes from the registered model: the new columns are simply not read."""
    import duckdb
    import lightgbm as lgb
    import numpy as np

    import features
    from models import FlagPolicy, LightGBMScorer, resolve_policy, to_score
    from serving import ScoringEngine
    from serving.model import LoadedModel
    from tests.serving.conftest import training_referrals

    con = duckdb.connect(str(linked_store), read_only=True)
    refs, children = training_referrals(300, 5)
    table = features.build_features(con, referrals=refs, referral_children=children)
    con.close()
    old = [n for n in features.FEATURE_NAMES if n not in features.definitions.NAMED_ADULT_NAMES]
    X = table.X[old]
    y = X["referral_concern_domestic_abuse"] + np.random.default_rng(5).normal(0, 0.5, len(X)) > 0.5
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 5, "min_data_in_leaf": 10, "verbose": -1, "seed": 5},
        lgb.Dataset(X.to_numpy(float), label=y.astype(int).to_numpy(), feature_name=old),
        num_boost_round=10,
    )
    scorer = LightGBMScorer(booster, old)
    scorer.fit_calibration(X, y.astype(int).to_numpy(), method="platt")
    scorer.fit_scores(X)
    scores = to_score(scorer.raw_margin(X), scorer.edges)
    scorer.policy = resolve_policy(FlagPolicy(version="old-1", capacity=0.2), scores)
    engine = ScoringEngine(linked_store, LoadedModel(scorer, "old", "1", "champion", None))
    try:
        from serving.schemas import ReferralIn

        out = engine.score(ReferralIn(**_referral()), with_features=True)
    finally:
        engine.close()
    child = out["children"][0]
    assert 0 <= child["score"] <= 100 and "named_adults_found" not in child["features"]
    assert out["named_adults"] and out["named_adults_counted"]  # still shown, in words
    assert "The score does not weigh this adult's records" in out["named_adults"][0]["text"]
