"""`mast train` on a real simulated store, through the CLI (slow; scaled in CI)."""

from __future__ import annotations

import json
import re
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
    assert "Model choice: On the calibration period" in out.output
    assert out.output.count("Referrals received") == 3  # the backtest, one line a year
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
    # The deployed model was chosen, refitted and registered with its backtest.
    assert mv.tags["deployed_model"] in {"lightgbm", "l1_logistic"}
    assert mv.tags["backtest"].count("AUC") == 3  # three test years on a 10-year store
    _monitor_the_champion(db, uri, mv, tmp_path, client)


def _monitor_the_champion(db, uri, mv, tmp_path, client):
    """From outside: promote, log scores as the service does, then `mast monitor` on the CLI."""
    import records
    from features import build_features
    from mast.cli import app
    from serving.access import Guard
    from serving.model import load_champion
    from store import connect
    from training import promote

    promote(str(mv.version), uri, override_by="test", reason="monitoring test")
    champion = load_champion(uri, MODEL_NAME)
    con = connect(db, read_only=True)
    refs = con.execute(
        "SELECT * FROM referrals ORDER BY received_at DESC, referral_id LIMIT 120"
    ).df()
    con.register("_r", refs[["referral_id"]])
    kids = con.execute("SELECT rc.* FROM referral_children rc JOIN _r USING (referral_id)").df()
    table = build_features(con, referrals=refs, referral_children=kids)
    con.close()
    keys = table.keys.reset_index(drop=True)
    out = champion.scorer.predict_referrals(
        table.X.reset_index(drop=True), keys["referral_id"].to_numpy()
    )
    out["referral_id"] = keys["referral_id"].to_numpy()
    url = f"sqlite:///{tmp_path / 'records.sqlite'}"
    store = records.RecordsStore(url)
    _, north = store.create_token("A Screener", "screener", team="MASH North")
    _, south = store.create_token("B Screener", "screener", team="MASH South")
    guard = Guard(store)
    injury = [{"rule_id": "physical_injury", "title": "t", "requires": [], "children": []}]
    for i, (rid, g) in enumerate(out.groupby("referral_id")):
        referral = type("Referral", (), {"referral_id": rid, "children": ["x"]})()
        guard.record_score(
            north if i % 3 else south,
            referral,
            {
                "request_id": rid,
                "model_version": champion.version,
                "highest_score": int(g["referral_score"].iloc[0]),
                "multi_agency_review_recommended": bool(g["referral_flag"].iloc[0]),
            },
            # As the service records them (serving.statutory.detail): every 10th meets a rule.
            statutory=injury if i % 10 == 0 else [],
        )
    store.close()
    res = CliRunner().invoke(
        app,
        [
            "monitor",
            "--db",
            str(db),
            "--records-db",
            url,
            "--tracking-uri",
            uri,
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "120 referrals scored" in res.output
    assert "against a planned 10%" in res.output and "scores PSI" in res.output
    assert "differ" not in res.output  # rescored exactly as the trail says they were shown
    text = " ".join(res.output.split())
    assert "Team MASH North: 80 referrals" in text and "Team MASH South: 40 referrals" in text
    # Every 10th referral meets a rule: 8 of North's 80 (i % 3 != 0), 4 of South's 40.
    assert re.search(
        r"MASH North: 80 referrals; .*statutory rules met 10 in 100 \(95% interval \d+ to \d+; 8 of 80\)",
        text,
    )
    assert re.search(
        r"MASH South: 40 referrals; .*statutory rules met 10 in 100 \(95% interval \d+ to \d+; 4 of 40\)",
        text,
    )
    reports = list(tmp_path.glob("monitoring-*.html"))
    html = reports[0].read_text()
    assert len(reports) == 1 and "Flag rate each month" in html
    assert "By team" in html and "By ethnicity" in html and "By who referred" in html
    assert client.list_artifacts(mv.run_id, "monitoring")


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
