"""End to end on a fake store: train, register, promote under the gate, list."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mast.settings import MODEL_NAME
from training import PromotionRefused, TrainConfig, list_versions, promote, train

SMALL = {
    "tuning": {"n_iter": 2, "time_budget_seconds": 20, "num_boost_round": 200},
    "evaluation": {"n_bootstrap": 30, "shap_sample": 200},
}
REQUIRED = [
    "referral_id",
    "person_id",
    "received_at",
    "y_true",
    "y_harm",
    "y_prob",
    "score",
    "flag",
    "human_flag",
    "sex",
    "ethnicity",
    "disability",
    "imd_decile",
    "deprivation_quintile",
    "age_band",
]


@pytest.fixture(scope="module")
def trained(fake_store, tmp_path_factory):
    path, _, _, ft = fake_store
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    result = train(path, TrainConfig.from_dict(SMALL), tracking_uri=uri, feature_table=ft)
    return result, uri


def test_run_has_four_models_against_both_labels(trained):
    result, _ = trained
    cmp = result.comparison
    assert set(cmp["model"]) == {"lightgbm", "l1_logistic", "rule", "human"}
    assert set(cmp["label"]) == {"proxy", "harm"}
    auc = cmp[(cmp.metric == "auc") & (cmp.label == "proxy")].set_index("model")["value"]
    assert auc["lightgbm"] > 0.65  # the fake world has a learnable signal
    ok = cmp[cmp.metric.isin(["auc", "recall"])]
    assert ((ok.ci_low <= ok.value) & (ok.value <= ok.ci_high)).all()


def test_predictions_artifact_and_run_contents(trained):
    result, uri = trained
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(result.run_id)
    assert run.data.params["data.content_hash"] == result.data_hash
    assert run.data.params["label.tag"] == "cp_or_looked_after_24m@1"
    assert "lightgbm.proxy.auc_ci_low" in run.data.metrics
    assert run.data.tags["gate_verdict"] == result.gate_verdict
    local = Path(client.download_artifacts(result.run_id, "evaluation"))
    preds = pd.read_parquet(local / "test_predictions.parquet")
    assert REQUIRED == [c for c in preds.columns if c in REQUIRED]
    assert set(REQUIRED) <= set(preds.columns)
    assert preds["score"].between(1, 20).all()
    # The flag is the referral's: equal for every child of a referral.
    assert (preds.groupby("referral_id")["flag"].nunique() == 1).all()
    assert json.loads((local / "evaluation_report.json").read_text())["label"]["tag"]
    for folder, name in [
        ("config", "flag_policy.toml"),
        ("explain", "shap_global_importance.csv"),
        ("explain", "shap_global_importance.png"),
        ("evaluation", "calibration_curve.png"),
    ]:
        assert name in {Path(a.path).name for a in client.list_artifacts(result.run_id, folder)}


def test_model_card_says_what_it_was_trained_on(trained):
    """The board reads which store, which snapshot and which period, not "not stated"."""
    result, uri = trained
    client = mlflow.MlflowClient(tracking_uri=uri)
    local = Path(client.download_artifacts(result.run_id, "audit/model_card.json"))
    card = json.loads(local.read_text())["training_data"]
    p = result.periods
    assert "simulated synthetic local authority" in card["description"]
    assert result.data_hash in card["description"]
    assert f"{p.train_start.date()} to {p.train_end.date()}" in card["description"]


def test_registered_candidate_scores_like_memory(trained, fake_store):
    result, uri = trained
    _, _, _, ft = fake_store
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    mv = client.get_model_version_by_alias(MODEL_NAME, "candidate")
    assert str(mv.version) == result.model_version
    loaded = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@candidate")
    X = ft.X.iloc[:50]
    got = loaded.predict(X)
    want = result.scorer.predict_frame(X).reset_index(drop=True)
    np.testing.assert_array_equal(got["probability"], want["probability"])
    assert got["score"].tolist() == want["score"].tolist()
    scorer = loaded.unwrap_python_model().scorer
    assert scorer.model_version["run_id"] == result.run_id == mv.run_id
    assert scorer.model_version["label"] == result.label
    assert scorer.policy.threshold_score == result.policy["threshold_score"]


def test_promote_refuses_a_failed_gate_and_records_an_override(trained):
    result, uri = trained
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    v = result.model_version
    client.set_model_version_tag(MODEL_NAME, v, "gate_verdict", "fail")
    client.set_model_version_tag(MODEL_NAME, v, "gate_reasons", "FPR ratio 1.9 > 1.25 (ethnicity)")
    with pytest.raises(PromotionRefused, match="FPR ratio"):
        promote(v, uri)
    with pytest.raises(ValueError, match="together"):
        promote(v, uri, override_by="A. Lead")
    assert "champion" not in client.get_registered_model(MODEL_NAME).aliases
    promote(v, uri, override_by="A. Lead", reason="Board minute 12: monitored pilot")
    tags = client.get_model_version(MODEL_NAME, v).tags
    assert tags["governance_override_by"] == "A. Lead"
    assert tags["governance_override_reason"] == "Board minute 12: monitored pilot"
    assert str(client.get_registered_model(MODEL_NAME).aliases["champion"]) == v
    rows = list_versions(uri)
    assert rows[0].version == v and "champion" in rows[0].aliases and rows[0].gate_verdict == "fail"


def test_promote_accepts_a_passed_gate(trained):
    result, uri = trained
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.set_model_version_tag(MODEL_NAME, result.model_version, "gate_verdict", "pass")
    record = promote(result.model_version, uri)
    assert record == {"gate_verdict": "pass"}
    with pytest.raises(ValueError, match="no version 99"):
        promote("99", uri)


def test_cli_promote_and_models(trained, monkeypatch):
    from mast.cli import app

    result, uri = trained
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.set_model_version_tag(MODEL_NAME, result.model_version, "gate_verdict", "fail")
    client.delete_model_version_tag(MODEL_NAME, result.model_version, "governance_override_by")
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    out = runner.invoke(app, ["promote", result.model_version, "--tracking-uri", uri])
    assert out.exit_code == 2 and "refused" in out.output
    out = runner.invoke(app, ["models", "--tracking-uri", uri])
    assert out.exit_code == 0 and "candidate" in out.output and "fail" in out.output


def test_ground_truth_never_changes_the_model(fake_store, trained, tmp_path):
    """Scramble truth.latent_harm: the model and its scores must not move."""
    path, _, _, ft = fake_store
    result, _ = trained
    copy = tmp_path / "scrambled.duckdb"
    copy.write_bytes(Path(path).read_bytes())
    con = duckdb.connect(str(copy))
    con.execute("UPDATE truth.latent_harm SET person_id = 'nobody', severity = 3")
    con.close()
    again = train(
        copy,
        TrainConfig.from_dict(SMALL),
        tracking_uri=f"sqlite:///{tmp_path}/m.db",
        feature_table=ft,
        register=False,
        run_gate_after=False,
    )
    a, b = result.predictions, again.predictions
    np.testing.assert_array_equal(a["y_prob"], b["y_prob"])
    np.testing.assert_array_equal(a["y_true"], b["y_true"])
    assert (b["y_harm"] == 0).all() and (a["y_harm"] == 1).any()


def test_only_truth_module_reads_ground_truth():
    root = Path(__file__).resolve().parents[2]
    for package in ("features", "models", "training", "serving"):
        for f in (root / package).rglob("*.py"):
            text = f.read_text()
            if f.relative_to(root).as_posix() == "training/truth.py":
                assert "latent_harm" in text
                continue
            assert "latent_harm" not in text and "TRUTH_SCHEMA" not in text, f
