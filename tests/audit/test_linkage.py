"""The board report's linkage section, and what linkage costs each group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit import evaluate_gate, write_governance_report
from audit.linkage import linkage_cost, linkage_section
from features import build_features
from linkage.evaluate import evaluate_links
from tests.features.world import store_of
from tests.store.test_linked import _linked, _relink, simulated_store


def _score(frame: pd.DataFrame) -> np.ndarray:
    """A stand-in model: history counts (the cost is a property of the features it sees)."""
    return (
        frame["child_prior_referrals_ever"].fillna(0)
        + frame["adults_da_perpetrator_ever_sum"].fillna(0)
    ).to_numpy()


def _cost(links):
    world, identities, _ = _linked()
    linked = _relink(world.tables, identities, links)
    true = build_features(store_of(world.tables)).to_frame()
    on_links = build_features(store_of(linked.tables)).to_frame()
    harmed = set(world.truth["person_id"])
    people = world.tables["people"].set_index("person_id")
    groups = people.loc[true["person_id"], ["ethnicity", "sex"]].reset_index(drop=True)
    y = true["person_id"].isin(harmed)
    return linkage_cost(lambda f: _score(f) >= 1, true, on_links, linked.person_key, y, groups)


def test_perfect_links_cost_nothing():
    _, identities, _ = _linked()
    truth = identities.truth.assign(person_key="T" + identities.truth["person_id"])
    cost = _cost(truth)
    assert (cost["flag_rate_true"] == cost["flag_rate_linked"]).all()
    assert (cost["recall_change_points"].fillna(0) == 0).all()
    assert cost.iloc[0]["group"] == "Everyone" and cost.iloc[0]["children"] > 50
    assert 0 < cost.iloc[0]["flag_rate_true"] < 1
    assert (cost["history_changed"] == 0).all()


def test_links_that_join_nothing_cost_flags():
    """Every agency record its own person: children keep only their own
    local-authority record, lose the rest of their history, and are flagged less."""
    _, identities, _ = _linked()
    truth = identities.truth
    alone = pd.DataFrame(
        {
            "agency": truth["agency"],
            "agency_record_id": truth["agency_record_id"],
            "person_key": "R" + truth["agency"] + truth["agency_record_id"],
        }
    )
    everyone = _cost(alone).iloc[0]
    assert everyone["history_changed"] > 0.3
    assert everyone["flag_rate_linked"] < everyone["flag_rate_true"]
    assert everyone["flag_rate_change_points"] < 0


def test_splink_links_are_scored_as_the_linked_person():
    _, _, result = _linked()
    cost = _cost(result.links)
    assert set(cost["attribute"]) >= {"Everyone", "Ethnicity", "Sex"}
    for col in ("flag_rate_true", "flag_rate_linked"):
        assert cost[col].between(0, 1).all()
    # Linkage loses or mixes some history: the figures are computed, not copied.
    assert np.isfinite(cost["flag_rate_change_points"]).all()


@pytest.fixture(scope="module")
def section():
    world, identities, result = _linked()
    truth = identities.truth.merge(world.tables["people"], on="person_id")
    truth["unique_id"] = truth["agency"] + ":" + truth["agency_record_id"]
    truth["age_band"] = "0-4"
    from linkage import prepare_records

    records = prepare_records(identities.tables["agency_records"])
    table, metrics = evaluate_links(
        result.links, records, truth[["unique_id", "person_id", "ethnicity", "sex", "age_band"]]
    )
    return linkage_section(table, metrics, _cost(result.links)), metrics


def test_the_report_shows_linkage_in_plain_english(tmp_path, audit_result, section):
    linkage, metrics = section
    html = write_governance_report(
        tmp_path,
        audit_result,
        evaluate_gate(audit_result),
        metadata={"linkage": linkage},
        pdf=False,
    )["html"].read_text()
    assert "Linking people across agencies" in html
    html = html[html.index('id="linkage"') : html.index('id="limitations"')]
    assert f"{metrics['pairwise_recall']:.1%} of the pairs of records" in html
    assert "What linkage costs each group" in html
    assert "Ethnicity: " in html and "Everyone" in html
    for code in ("splink", "pairwise_", "person_key", "age_band"):
        assert code not in html
    plain = write_governance_report(
        tmp_path / "none", audit_result, evaluate_gate(audit_result), pdf=False
    )["html"].read_text()
    assert "Linking people across agencies" not in plain


class _RuleScorer:
    """A stand-in fitted model with the scorer's interface (a referral flag per row)."""

    def predict_referrals(self, frame, referral_id):
        flag = (_score(frame) >= 1).astype(int)
        by_referral = pd.Series(flag).groupby(np.asarray(referral_id)).transform("max")
        return pd.DataFrame({"referral_flag": by_referral.to_numpy()})


def _store_with_links(tmp_path, links=None):
    from linkage import write_links

    world, _, result = _linked()
    con = simulated_store(tmp_path / "mast.duckdb", with_truth=True)
    if links is not None:
        result = type(result)(**{**result.__dict__, "links": links})
    write_links(con, result)
    return con, world


def _predictions(world):
    rc = world.tables["referral_children"]
    harmed = set(world.truth["person_id"])
    return rc.assign(y_true=rc["person_id"].isin(harmed).astype(int))


def test_report_linkage_from_a_linked_store(tmp_path):
    from audit.linkage import report_linkage

    con, world = _store_with_links(tmp_path)
    try:
        section = report_linkage(con, _RuleScorer(), _predictions(world))["linkage"]
    finally:
        con.close()
    assert section["rows"][0]["group"] == "Everyone"
    assert {r["attribute"] for r in section["cost"]} >= {"Everyone", "Ethnicity", "Sex", "Age"}
    assert section["cost"][0]["children"] == len(world.tables["referral_children"])


def test_report_linkage_with_perfect_links_costs_nothing(tmp_path):
    from audit.linkage import report_linkage

    _, identities, _ = _linked()
    truth = identities.truth
    perfect = pd.DataFrame(
        {
            "agency": truth["agency"],
            "agency_record_id": truth["agency_record_id"],
            "unique_id": truth["agency"] + ":" + truth["agency_record_id"],
            "person_key": "T" + truth["person_id"],
            "match_probability": 1.0,
        }
    )
    con, world = _store_with_links(tmp_path, perfect)
    try:
        section = report_linkage(con, _RuleScorer(), _predictions(world))["linkage"]
    finally:
        con.close()
    assert section["rows"][0]["recall"].startswith("100.0%")
    for row in section["cost"]:
        assert row["flag_rate_true"] == row["flag_rate_linked"]


def test_no_links_no_section(tmp_path):
    from audit.linkage import report_linkage
    from store import connect, create_schema

    con = connect(tmp_path / "empty.duckdb")
    create_schema(con)
    assert report_linkage(con, _RuleScorer(), pd.DataFrame()) == {}
    con.close()
