"""The service computes what training computed, and scores what MLflow scores.

* the features the service builds for a historical referral equal the
  training table's row for it (the training path of ``build_features``);
* probability and score equal those of the registered model, loaded afresh
  through ``mlflow.pyfunc.load_model``;
* SHAP contributions plus the base value equal the raw margin.
"""

from __future__ import annotations

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

import features
from serving import ReferralIn
from store import vocabulary as v
from tests.serving.conftest import MODEL


def stored_referral(con, referral_id: str) -> dict:
    row = (
        con.execute(
            "SELECT r.*, list(rc.person_id ORDER BY rc.person_id) AS children FROM referrals r "
            "JOIN referral_children rc USING (referral_id) WHERE referral_id = ? GROUP BY ALL",
            [referral_id],
        )
        .df()
        .iloc[0]
    )
    return {
        "referral_id": referral_id,
        "received_at": row["received_at"].isoformat(),
        "source": row["source"],
        "referrer_relationship": row["referrer_relationship"],
        "concerns": [c for c in v.CONCERNS if row[f"concern_{c}"]],
        "children": list(row["children"]),
    }


@pytest.fixture(scope="module")
def training_table(store_path):
    con = duckdb.connect(str(store_path), read_only=True)
    table = features.build_features(con)
    bodies = {rid: stored_referral(con, rid) for rid in ("R0", "R1")}
    con.close()
    return table, bodies


@pytest.fixture(scope="module")
def registered(tracking_uri):
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")


def training_rows(table, referral_id):
    mask = (table.keys["referral_id"] == referral_id).to_numpy()
    keys = table.keys[mask].reset_index(drop=True)
    return keys, table.X[mask].reset_index(drop=True)


@pytest.mark.parametrize("referral_id", ["R0", "R1"])
def test_service_features_equal_the_training_row(engine, training_table, referral_id):
    table, bodies = training_table
    keys, X_train = training_rows(table, referral_id)
    service = engine.features_for(ReferralIn(**bodies[referral_id]))
    assert list(service.keys["person_id"]) == list(keys["person_id"])
    pd.testing.assert_frame_equal(
        service.X.reset_index(drop=True), X_train, check_exact=True, check_dtype=True
    )


@pytest.mark.parametrize("referral_id", ["R0", "R1"])
def test_scores_equal_the_registered_model(client, registered, training_table, engine, referral_id):
    table, bodies = training_table
    keys, X_train = training_rows(table, referral_id)
    expected = registered.predict(X_train[engine.feature_names])
    got = client.post("/v1/referrals/score", json=bodies[referral_id]).json()
    by_child = {c["person_id"]: c for c in got["children"]}
    for i, pid in enumerate(keys["person_id"]):
        assert by_child[pid]["probability"] == pytest.approx(expected["probability"][i], rel=1e-12)
        assert by_child[pid]["score"] == int(expected["score"][i])
        assert by_child[pid]["flag"] == bool(expected["flag"][i])


@pytest.mark.parametrize("referral_id", ["R0", "R1"])
def test_contributions_plus_base_equal_the_raw_margin(
    client, registered, training_table, engine, referral_id
):
    table, bodies = training_table
    keys, X_train = training_rows(table, referral_id)
    fresh = registered.unwrap_python_model().scorer
    margin = fresh.raw_margin(X_train)
    contrib, base = engine.model.scorer.contributions(X_train)
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy() + base, margin, rtol=0, atol=1e-9)
    got = client.post("/v1/referrals/score", json=bodies[referral_id]).json()
    by_child = {c["person_id"]: c for c in got["children"]}
    for i, pid in enumerate(keys["person_id"]):
        assert by_child[pid]["raw_margin"] == pytest.approx(margin[i], abs=1e-9)
        assert by_child[pid]["base_value"] == pytest.approx(base, abs=1e-12)
