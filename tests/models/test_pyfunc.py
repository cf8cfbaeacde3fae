"""The pyfunc loaded back from the registry scores exactly as the scorer in memory."""

import json

import mlflow
import numpy as np
import pandas as pd

from models import log_scorer

NAME = "mast-test-model"


def test_registry_round_trip(tmp_path, fitted_scorer):
    scorer, X, _ = fitted_scorer
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment("t", artifact_location=(tmp_path / "art").as_uri())
    with mlflow.start_run(experiment_id=exp):
        info = log_scorer(scorer, X.head(5), registered_model_name=NAME)
    assert info.signature.inputs.input_names() == scorer.feature_names
    loaded = mlflow.pyfunc.load_model(f"models:/{NAME}/{info.registered_model_version}")
    sample = X.iloc[:100]
    got = loaded.predict(sample)
    want = scorer.predict_frame(sample).reset_index(drop=True)
    assert list(got.columns) == ["probability", "score", "flag", "top_features"]
    np.testing.assert_allclose(got["probability"], want["probability"], rtol=0, atol=0)
    assert got["score"].tolist() == want["score"].tolist()
    assert got["flag"].tolist() == want["flag"].tolist()
    reasons = json.loads(got["top_features"].iloc[0])
    assert len(reasons) == 3 and {"feature", "contribution", "value"} <= set(reasons[0])
    contrib, _ = scorer.contributions(sample.iloc[:1])
    top = contrib.iloc[0].abs().sort_values(ascending=False).index[0]
    assert reasons[0]["feature"] == top
    # The in-process API the scoring service uses.
    inner = loaded.unwrap_python_model().scorer
    assert inner.feature_names == scorer.feature_names
    assert inner.policy == scorer.policy
    assert inner._explainer is not None  # built once at load
    pd.testing.assert_frame_equal(inner.predict_frame(sample), scorer.predict_frame(sample))
    c1, b1 = inner.contributions(sample)
    c2, b2 = scorer.contributions(sample)
    np.testing.assert_allclose(c1.to_numpy(), c2.to_numpy())
    assert b1 == b2
    np.testing.assert_allclose(c1.to_numpy().sum(axis=1) + b1, inner.raw_margin(sample), atol=1e-6)
