"""``mast audit --run``: audit a run logged to a temporary MLflow store."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from audit import (
    PREDICTION_COLUMNS,
    PREDICTIONS_ARTIFACT,
    audit_predictions,
    evaluate_gate,
    load_run_predictions,
    log_gate_verdict,
)
from mast.cli import app


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory, predictions):
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("audit-test", artifact_location=(root / "art").as_uri())
    run = client.create_run(experiment)
    local = root / "evaluation"
    local.mkdir()
    predictions.head(900).to_parquet(local / "test_predictions.parquet", index=False)
    client.log_artifact(run.info.run_id, str(local / "test_predictions.parquet"), "evaluation")
    client.set_terminated(run.info.run_id)
    return uri, run.info.run_id


def test_the_fixture_matches_the_agreed_columns(predictions):
    assert list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert PREDICTIONS_ARTIFACT == "evaluation/test_predictions.parquet"


def test_mast_audit_run_downloads_and_audits(logged_run, tmp_path):
    uri, run_id = logged_run
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["audit", "--run", run_id, "--tracking-uri", uri, "--out", str(out), "--n-boot", "50"],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "metrics.json").read_text())
    assert set(doc["lenses"]) == {
        "tool_vs_proxy",
        "tool_vs_harm",
        "human_vs_proxy",
        "human_vs_harm",
    }
    assert "ethnicity × deprivation_quintile" in doc["groups"]
    assert doc["comparisons"], "lens 3 needs the screeners' decisions"
    assert run_id in (out / "report.html").read_text()


def test_unknown_run_is_a_clear_error(logged_run, tmp_path):
    uri, _ = logged_run
    result = CliRunner().invoke(
        app, ["audit", "--run", "0" * 32, "--tracking-uri", uri, "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "no run with that id is in the MLflow tracking store" in out, out
    assert "Run with id" not in out, out
    assert not (tmp_path / "o").exists()


def test_verdict_logged_as_tags_on_the_run(logged_run):
    from mlflow import MlflowClient

    uri, run_id = logged_run
    frame = load_run_predictions(run_id, uri)
    verdict = evaluate_gate(audit_predictions(frame, n_boot=50, random_state=0, mitigation=False))
    log_gate_verdict(verdict, run_id=run_id, tracking_uri=uri)
    tags = MlflowClient(tracking_uri=uri).get_run(run_id).data.tags
    assert tags["mast.gate.passed"] == ("true" if verdict.passed else "false")
    assert tags["mast.gate.policy_version"] == verdict.policy_version


def test_failed_gate_blocks_promotion_and_an_override_unblocks_it(logged_run, predictions):
    """End to end with training's ``mast promote``: the audit's tags decide."""
    from mlflow import MlflowClient

    uri, run_id = logged_run
    client = MlflowClient(tracking_uri=uri)
    name = "audit-gate-test-model"
    client.create_registered_model(name)
    run = client.get_run(run_id)
    version = client.create_model_version(
        name, source=f"{run.info.artifact_uri}/evaluation", run_id=run_id
    ).version
    version = str(version)
    # A crafted unfair flag: every Black child flagged, nobody else.
    unfair = predictions.assign(flag=(predictions["ethnicity"] == "Black").astype(int))
    verdict = evaluate_gate(audit_predictions(unfair, n_boot=50, random_state=0, mitigation=False))
    assert not verdict.passed
    log_gate_verdict(verdict, model_name=name, model_version=version, tracking_uri=uri)

    runner = CliRunner()
    env = {"MAST_MODEL_NAME": name}
    refused = runner.invoke(app, ["promote", version, "--tracking-uri", uri], env=env)
    assert refused.exit_code == 2, refused.output
    assert "refused" in refused.output.lower()
    assert "champion" not in client.get_registered_model(name).aliases

    allowed = runner.invoke(
        app,
        [
            "promote",
            version,
            "--tracking-uri",
            uri,
            "--override-by",
            "A. Chair",
            "--reason",
            "Board minute 12: approved for a supervised pilot",
        ],
        env=env,
    )
    assert allowed.exit_code == 0, allowed.output
    tags = client.get_model_version(name, version).tags
    assert "A. Chair" in " ".join(tags.values())
    assert str(client.get_registered_model(name).aliases.get("champion")) == version


def test_human_lens_can_come_from_the_decision_record(logged_run, predictions, tmp_path):
    """Decisions people recorded in MAST feed lens 3 in place of the extract's."""
    import records

    uri, run_id = logged_run
    url = f"sqlite:///{tmp_path / 'records.sqlite'}"
    store = records.RecordsStore(url)
    screener = store.verify_token(store.create_token("S", "screener")[0])
    decided = list(dict.fromkeys(predictions.head(900)["referral_id"]))[:60]
    for i, referral_id in enumerate(decided):
        body = records.DecisionIn(
            decision_id=f"decision-{i:04d}",
            decision="strategy_discussion" if i % 2 else "assessment",
            rationale="test",
        )
        store.record_decision(screener, referral_id, body, records.ReferralStatus(False))
    store.close()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["audit", "--run", run_id, "--tracking-uri", uri, "--out", str(out), "--n-boot", "30"]
        + ["--human-from-records", url],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "metrics.json").read_text())
    rows = predictions.head(900)
    expected = rows["referral_id"].isin(decided)
    assert doc["lenses"]["human_vs_proxy"]["n"] == int(expected.sum())
    assert doc["lenses"]["human_vs_proxy"]["n_referrals"] == len(decided)
    assert doc["lenses"]["tool_vs_proxy"]["n"] == len(rows)
