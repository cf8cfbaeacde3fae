"""Fixtures: the hand-made store, a tiny real champion in MLflow, the app.

The champion is a real :class:`models.LightGBMScorer` trained on features
that :func:`features.build_features` computes for a few hundred made-up
referrals about the store's children, logged with :func:`models.log_scorer`
and promoted by alias, so the service loads it exactly as it would load the
training engineer's model.  Its numbers are whatever it predicts; nothing
is hard-coded.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from store import vocabulary as v
from tests.serving.fixtures import write_store

os.environ.setdefault("OMP_NUM_THREADS", "1")
MODEL = "mast-referral-screening"
CHILDREN = ["C1", "C2", "NB"]


def training_referrals(n: int, random_state: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` made-up referrals about the store's children between 2019 and 2026."""
    rng = np.random.default_rng(random_state)
    start = pd.Timestamp("2019-01-01").value
    end = pd.Timestamp("2026-10-01").value
    rows, referral_children = [], []
    for i in range(n):
        rid = f"T{i:04d}"
        received = pd.Timestamp(int(rng.integers(start, end)))
        concerns = rng.random(len(v.CONCERNS)) < 0.25
        concerns[rng.integers(len(v.CONCERNS))] = True
        rows.append(
            {
                "referral_id": rid,
                "received_at": received.floor("min"),
                "source": v.REFERRAL_SOURCES[rng.integers(len(v.REFERRAL_SOURCES))],
                "referrer_relationship": v.REFERRER_RELATIONSHIPS[
                    rng.integers(len(v.REFERRER_RELATIONSHIPS))
                ],
                **{c: bool(f) for c, f in zip(v.CONCERN_COLUMNS, concerns, strict=True)},
            }
        )
        for pid in CHILDREN[: 1 + int(rng.integers(2))]:
            if pid == "NB" and received < pd.Timestamp("2026-06-02"):
                continue
            referral_children.append({"referral_id": rid, "person_id": pid})
    return pd.DataFrame(rows), pd.DataFrame(referral_children)


def train_champion(store_path, tracking_uri: str, random_state: int = 7) -> str:
    """Train, log, register and promote a tiny LightGBM scorer; returns its version."""
    import lightgbm as lgb
    import mlflow
    from mlflow import MlflowClient

    import features
    from models import FlagPolicy, LightGBMScorer, log_scorer, resolve_policy, to_score

    con = duckdb.connect(str(store_path), read_only=True)
    refs, referral_children = training_referrals(400, random_state)
    table = features.build_features(con, referrals=refs, referral_children=referral_children)
    con.close()
    X = table.X
    rng = np.random.default_rng(random_state)
    # A made-up outcome that depends on the history, so the trees use it.
    signal = (
        0.8 * X["referral_concern_domestic_abuse"]
        + 0.6 * X["child_prior_referrals_12m"].clip(0, 3)
        + 0.5 * X["adults_da_victim_ever_max"].fillna(0)
        - 0.02 * X["child_age_months"].fillna(60) / 12
    )
    y = (signal + rng.normal(0, 0.7, len(X)) > 0.6).astype(int).to_numpy()
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 7,
            "min_data_in_leaf": 10,
            "learning_rate": 0.1,
            "verbose": -1,
            "seed": random_state,
            "num_threads": 1,
        },
        lgb.Dataset(X.to_numpy(float), label=y, feature_name=list(X.columns)),
        num_boost_round=30,
    )
    scorer = LightGBMScorer(booster, list(X.columns))
    scorer.fit_calibration(X, y, method="platt")
    scorer.fit_scores(X)
    scores = to_score(scorer.raw_margin(X), scorer.edges)
    scorer.policy = resolve_policy(FlagPolicy(version="test-policy-1", capacity=0.2), scores)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    # Artifacts beside the tracking database, never in the working directory.
    artifacts = Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
    experiment = client.create_experiment("serving-tests", artifact_location=artifacts.as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = log_scorer(scorer, X.head(5), registered_model_name=MODEL)
    version = str(info.registered_model_version)
    client.set_model_version_tag(MODEL, version, "gate_verdict", "pass")
    client.set_registered_model_alias(MODEL, "champion", version)
    return version


@pytest.fixture(scope="session")
def serving_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="session")
def store_path(serving_dir):
    path = serving_dir / "store.duckdb"
    write_store(path)
    return path


@pytest.fixture(scope="session")
def tracking_uri(serving_dir, store_path):
    uri = f"sqlite:///{serving_dir / 'mlflow.db'}"
    train_champion(store_path, uri)
    return uri


@pytest.fixture(scope="session")
def engine(store_path, tracking_uri):
    from serving import ScoringEngine, load_champion

    eng = ScoringEngine(store_path, load_champion(tracking_uri, MODEL))
    eng.warm_up()
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def records_store(serving_dir):
    import records

    store = records.RecordsStore(f"sqlite:///{serving_dir / 'records.sqlite'}")
    yield store
    store.close()


@pytest.fixture(scope="session")
def tokens(records_store):
    import records

    return {role: records_store.create_token(f"test {role}", role)[0] for role in records.ROLES}


@pytest.fixture(scope="session")
def app(engine, records_store):
    from serving import create_app

    return create_app(engine=engine, records_store=records_store)


@pytest.fixture(scope="session")
def client(app, tokens):
    from fastapi.testclient import TestClient

    with TestClient(app, headers={"Authorization": f"Bearer {tokens['screener']}"}) as c:
        yield c


@pytest.fixture(scope="session")
def anonymous(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c
