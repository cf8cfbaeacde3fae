"""`mast train` on a real simulated store, through the CLI (slow; scaled in CI)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from typer.testing import CliRunner

from mast.settings import MODEL_NAME


@pytest.mark.slow
def test_mast_train_on_a_simulated_store(tmp_path, scale, monkeypatch):
    from mast.cli import app
    from store import connect, write_tables
    from synthetic import SimulationConfig, simulate

    world = simulate(
        SimulationConfig(n_children=max(3000, int(8000 * scale)), years=10, random_state=3)
    )
    db = tmp_path / "sim.duckdb"
    con = connect(db)
    write_tables(con, world.tables, truth=world.truth, replace=True)
    con.close()
    config = tmp_path / "fast.toml"
    config.write_text("[tuning]\nn_iter = 2\n[evaluation]\nn_bootstrap = 30\nshap_sample = 300\n")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(
        app, ["train", "--db", str(db), "--config", str(config), "--tracking-uri", uri]
    )
    assert out.exit_code == 0, out.output
    for text in ("LightGBM", "L1 logistic", "Rule 12m", "Screeners", "harm", "candidate"):
        assert text in out.output
    # The search that chose the model is shown, not only logged as a tag.
    assert "LightGBM tuning: 2 of 2 candidates: complete search" in out.output
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    mv = client.get_model_version_by_alias(MODEL_NAME, "candidate")
    # The audit really ran: a verdict of its own ("not run" means it crashed or was
    # skipped), its files logged, and its own tags agreeing with the gate's.
    assert mv.tags["gate_verdict"] in {"pass", "fail"}, mv.tags.get("gate_reasons")
    assert mv.tags["mast.gate.passed"] == ("true" if mv.tags["gate_verdict"] == "pass" else "false")
    assert int(mv.tags["mast.gate.checks"]) > 0
    audit_files = {Path(a.path).name for a in client.list_artifacts(mv.run_id, "audit")}
    assert {"audit_metrics.json", "gate_verdict.json", "model_card.json"} <= audit_files
    assert not any(name.endswith("error.txt") for name in audit_files), audit_files
    verdict = json.loads(
        Path(client.download_artifacts(mv.run_id, "audit/gate_verdict.json")).read_text()
    )
    assert verdict["passed"] == (mv.tags["gate_verdict"] == "pass")
    run = client.get_run(mv.run_id)
    assert run.data.tags["gate_verdict"] == mv.tags["gate_verdict"]
    assert run.data.tags["tuning_search"] == "complete"
    assert 0.5 < run.data.metrics["lightgbm.proxy.auc"] <= 1
    assert run.data.metrics["shap.additivity_max_abs_err"] < 1e-6


def test_a_short_store_is_refused_by_the_cli(tmp_path, monkeypatch):
    from mast.cli import app
    from store import connect, write_tables
    from synthetic import small_world

    world = small_world(n_children=1500, years=4)
    db = tmp_path / "short.duckdb"
    con = connect(db)
    write_tables(con, world.tables, truth=world.truth, replace=True)
    con.close()
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(
        app, ["train", "--db", str(db), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]
    )
    assert out.exit_code == 2
    assert "split.min_train_months" in out.output
