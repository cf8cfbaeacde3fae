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
    "tuning": {"n_iter": 2, "num_boost_round": 200},
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


def _reference_added(preds: pd.DataFrame, label: str) -> dict:
    """Issue #14's figures, plainly, from the predictions file alone."""
    ref = preds.groupby("referral_id").agg(
        flag=("flag", "max"),
        y=(label, "max"),
        decision=("screener_decision", "first"),
    )
    pos = ref[ref["y"] == 1]
    closed = pos[pos["decision"].isin(["no_further_action", "early_help"])]
    review = ref["decision"] == "strategy_discussion"
    return {
        "incremental_catch": closed["flag"].mean(),
        "incremental_n": len(closed),
        "union_catch": ((pos["flag"] == 1) | (pos["decision"] == "strategy_discussion")).mean(),
        "extra_reviews_per_1000": 1000 * ((ref["flag"] == 1) & ~review).sum() / len(ref),
    }


def test_what_the_tool_adds_equals_a_plain_pandas_computation(trained):
    """Incremental and union catch, in the run's metrics and evaluation report, recomputed
    with plain pandas from the predictions file the run logged."""
    result, uri = trained
    client = mlflow.MlflowClient(tracking_uri=uri)
    local = Path(client.download_artifacts(result.run_id, "evaluation"))
    preds = pd.read_parquet(local / "test_predictions.parquet")
    assert {"referral_source", "source_group", "screener_decision", "closure_reason"} <= set(
        preds.columns
    )
    report = json.loads((local / "evaluation_report.json").read_text())["what_the_tool_adds"]
    metrics = client.get_run(result.run_id).data.metrics
    for label, column in (("harm", "y_harm"), ("proxy", "y_true")):
        want = _reference_added(preds, column)
        got = report["labels"][label]
        assert want["incremental_n"] > 0
        assert got["incremental_catch"]["n"] == want["incremental_n"]
        assert got["incremental_catch"]["value"] == pytest.approx(want["incremental_catch"])
        assert got["union_catch"]["value"] == pytest.approx(want["union_catch"])
        assert metrics[f"added.{label}.incremental_catch"] == pytest.approx(
            want["incremental_catch"]
        )
        assert metrics[f"added.{label}.union_catch"] == pytest.approx(want["union_catch"])
    assert report["extra_reviews_per_1000"] == pytest.approx(want["extra_reviews_per_1000"])
    assert result.added["labels"]["harm"]["incremental_catch"]["value"] == pytest.approx(
        _reference_added(preds, "y_harm")["incremental_catch"]
    )


def test_the_audit_looks_by_who_referred_and_the_board_reads_what_the_tool_adds(trained):
    result, uri = trained
    client = mlflow.MlflowClient(tracking_uri=uri)
    audit = json.loads(
        Path(client.download_artifacts(result.run_id, "audit/audit_metrics.json")).read_text()
    )
    for lens in ("tool_vs_proxy", "tool_vs_harm", "human_vs_proxy"):
        groups = audit["lenses"][lens]["groups"]
        assert {"family_or_community", "source_group", "referrer_relationship"} <= set(groups)
    verdict = json.loads(
        Path(client.download_artifacts(result.run_id, "audit/gate_verdict.json")).read_text()
    )
    judged = " ".join(verdict["reasons"] + verdict["notes"])
    assert "family_or_community" not in judged or "not in this audit" not in judged
    html = Path(
        client.download_artifacts(result.run_id, "audit/governance_report.html")
    ).read_text()
    assert "What the tool adds to the screeners" in html
    assert "would have sent" in html and "extra multi-agency reviews per 1,000" in html


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
    model_type = json.loads(local.read_text())["model_details"]["type"]
    run = client.get_run(result.run_id)
    if run.data.tags["deployed_model"] == "lightgbm":
        assert "random search: 2 of 2 candidates: complete search" in model_type
    else:
        assert model_type.startswith("L1 logistic regression")


def test_the_registered_model_is_the_chosen_one_refitted_with_its_backtest(trained):
    """Chosen on the calibration period, refitted on the latest closed data, with evidence."""
    result, uri = trained
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    mv = client.get_model_version(MODEL_NAME, result.model_version)
    chosen = mv.tags["deployed_model"]
    assert chosen in ("lightgbm", "l1_logistic")
    assert "calibration period" in mv.tags["selection_reason"]
    assert result.scorer.kind == chosen
    lgb, l1 = (float(mv.tags[f"selection_auc_{k}"]) for k in ("lightgbm", "l1_logistic"))
    assert (chosen == "lightgbm") == (lgb - l1 >= TrainConfig().deploy.min_auc_gain)
    params = client.get_run(result.run_id).data.params
    p = result.periods
    # Refitted on everything closed: its calibration window ends where the test period ends.
    assert params["deploy.calibration"].endswith(str(p.test_end.date()))
    assert params["deploy.train"].startswith(str(p.train_start.date()))
    local = Path(client.download_artifacts(result.run_id, "evaluation"))
    bt = pd.read_csv(local / "backtest.csv")
    assert bt["fold"].nunique() >= 1
    assert set(bt["model"]) == {"lightgbm", "l1_logistic"}
    assert bt["test_end"].max() == str(p.test_end.date())
    assert "AUC" in mv.tags["backtest"]
    assert (local / "backtest.png").exists()
    ref = json.loads(
        Path(client.download_artifacts(result.run_id, "monitoring/reference.json")).read_text()
    )
    assert set(ref["features"]) == set(result.scorer.feature_names)
    # The audit judged the deployed recipe's flags for the test period: it flags someone.
    assert 0 < result.predictions["flag"].mean() < 0.5


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


def test_ground_truth_never_changes_the_features_or_the_model(fake_store, tmp_path):
    """Scramble truth.latent_harm: features rebuilt from the store, model and scores must not move.

    Both runs build their features from their own store (no prebuilt
    feature table), so a feature that read the truth schema would differ.
    """
    from features import build_features, model_inputs
    from store import connect

    path, _, _, _ = fake_store
    copy = tmp_path / "scrambled.duckdb"
    copy.write_bytes(Path(path).read_bytes())
    con = duckdb.connect(str(copy))
    con.execute(
        "UPDATE truth.latent_harm SET person_id = 'nobody', severity = 3, "
        "start_date = DATE '1990-01-01', end_date = DATE '1990-01-02'"
    )
    con.close()
    built = {}
    for name, store in (("original", path), ("scrambled", copy)):
        con = connect(store, read_only=True)
        try:
            built[name] = build_features(con)
        finally:
            con.close()
    a_ft, b_ft = built["original"], built["scrambled"]
    assert a_ft.X.shape[0] > 1000 and (a_ft.X.fillna(0) != 0).any().sum() > 10
    pd.testing.assert_frame_equal(a_ft.keys, b_ft.keys)
    pd.testing.assert_frame_equal(a_ft.X, b_ft.X)
    runs = {
        name: train(
            store,
            TrainConfig.from_dict(SMALL),
            tracking_uri=f"sqlite:///{tmp_path}/{name}.db",
            register=False,
            run_gate_after=False,
        )
        for name, store in (("original", path), ("scrambled", copy))
    }
    a, b = runs["original"], runs["scrambled"]
    assert a.feature_rows == len(a_ft.X)  # the features really were built from the store
    # The model's inputs: the features less who referred (issue #14, [inputs] constrained).
    assert list(a.scorer.feature_names) == model_inputs(list(a_ft.X.columns))
    pa, pb = a.predictions, b.predictions
    np.testing.assert_array_equal(pa["y_prob"], pb["y_prob"])
    np.testing.assert_array_equal(pa["score"], pb["score"])
    np.testing.assert_array_equal(pa["y_true"], pb["y_true"])
    assert (pb["y_harm"] == 0).all() and (pa["y_harm"] == 1).any()


def test_the_same_seed_gives_the_same_model_on_a_loaded_machine(fake_store, tmp_path, monkeypatch):
    """Determinism: a quiet and a very loaded machine train the same model from one seed.

    The loaded machine is a clock on which every candidate seems to take ten
    minutes.  With a wall-clock budget the loaded run would keep only the
    first candidate; the seed alone must decide.
    """
    import itertools
    from types import SimpleNamespace

    import training.tuning
    from training.tuning import sample_candidates

    path, _, _, ft = fake_store
    config = TrainConfig.from_dict({**SMALL, "tuning": {"n_iter": 4, "num_boost_round": 200}})
    kw = dict(feature_table=ft, register=False, run_gate_after=False)
    quiet = train(path, config, tracking_uri=f"sqlite:///{tmp_path}/q.db", **kw)
    ticks = itertools.count(step=600.0)
    monkeypatch.setattr(
        training.tuning, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks)))
    )
    loaded = train(path, config, tracking_uri=f"sqlite:///{tmp_path}/l.db", **kw)
    # The test means something only if the first candidate is not the best.
    first = {k: str(v) for k, v in sample_candidates(4, config.random_state)[0].items()}
    params = mlflow.MlflowClient(f"sqlite:///{tmp_path}/q.db").get_run(quiet.run_id).data.params
    assert {k: params[f"lightgbm.{k}"] for k in first} != first
    assert quiet.tuning_summary == loaded.tuning_summary == "4 of 4 candidates: complete search"
    pq, pl = quiet.predictions, loaded.predictions
    for col in (
        "y_prob",
        "score",
        "flag",
        "lightgbm_probability",
        "lightgbm_score",
        "l1_logistic_probability",
        "rule_score",
    ):
        np.testing.assert_array_equal(pq[col], pl[col], err_msg=col)
    assert quiet.scorer.kind == loaded.scorer.kind
    if quiet.scorer.kind == "lightgbm":
        assert quiet.scorer.booster.model_to_string() == loaded.scorer.booster.model_to_string()
    assert (
        mlflow.MlflowClient(f"sqlite:///{tmp_path}/l.db")
        .get_run(loaded.run_id)
        .data.tags["tuning_search"]
        == "complete"
    )
    # An opt-in budget on the loaded machine cuts the search short, and the run says so.
    budget = TrainConfig.from_dict(
        {**SMALL, "tuning": {"n_iter": 4, "num_boost_round": 200, "time_budget_seconds": 90}}
    )
    cut = train(path, budget, tracking_uri=f"sqlite:///{tmp_path}/c.db", **kw)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/c.db")
    run = client.get_run(cut.run_id)
    assert run.data.tags["tuning_search"] == "cut short by time budget"
    assert run.data.tags["tuning_summary"].startswith("1 of 4 candidates: cut short by the 90 s")
    assert run.data.metrics["tuning.trials"] == 1 and run.data.metrics["tuning.candidates"] == 4
    report = json.loads(
        Path(client.download_artifacts(cut.run_id, "evaluation/evaluation_report.json")).read_text()
    )
    assert report["tuning"]["stopped_by_budget"] is True
    assert not np.array_equal(cut.predictions["lightgbm_probability"], pq["lightgbm_probability"])


def test_only_truth_module_reads_ground_truth():
    root = Path(__file__).resolve().parents[2]
    for package in ("features", "models", "training", "serving"):
        for f in (root / package).rglob("*.py"):
            text = f.read_text()
            if f.relative_to(root).as_posix() == "training/truth.py":
                assert "latent_harm" in text
                continue
            assert "latent_harm" not in text and "TRUTH_SCHEMA" not in text, f
