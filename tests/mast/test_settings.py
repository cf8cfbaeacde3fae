"""Settings: MAST_HOME moves everything, and one seed reaches every random step."""

from __future__ import annotations

from pathlib import Path

import pytest

from mast.settings import get_settings


@pytest.fixture
def env(monkeypatch):
    for name in (
        "MAST_HOME",
        "MAST_DB",
        "MAST_RANDOM_STATE",
        "MAST_SEED",
        "MAST_TRACKING_URI",
        "MLFLOW_TRACKING_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_home_moves_the_store(env, tmp_path):
    env.setenv("MAST_HOME", str(tmp_path))
    assert get_settings().db == tmp_path / "mast.duckdb"


def test_an_explicit_store_wins_over_home(env, tmp_path):
    env.setenv("MAST_HOME", str(tmp_path))
    env.setenv("MAST_DB", "/elsewhere/store.duckdb")
    assert get_settings().db == Path("/elsewhere/store.duckdb")


def test_defaults_stay_in_mast_data(env):
    s = get_settings()
    assert (s.home, s.db) == (Path("mast-data"), Path("mast-data/mast.duckdb"))


def test_random_state_is_read_under_its_old_name_too(env):
    env.setenv("MAST_SEED", "7")
    assert get_settings().random_state == 7
    env.setenv("MAST_RANDOM_STATE", "8")
    assert get_settings().random_state == 8  # the new name wins


def test_mlflow_tracking_uri_is_honoured_under_mast_tracking_uri(env):
    assert get_settings().tracking_uri == "sqlite:///mlflow/mlflow.db"
    env.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert get_settings().tracking_uri == "sqlite:///elsewhere.db"
    env.setenv("MAST_TRACKING_URI", "sqlite:///mast.db")
    assert get_settings().tracking_uri == "sqlite:///mast.db"  # MAST's own variable wins


@pytest.mark.parametrize("command", ["models", "promote"])
def test_registry_commands_use_mlflow_tracking_uri(env, tmp_path, command):
    """A user who sets only MLflow's variable promotes and lists in the store they trained in."""
    from typer.testing import CliRunner

    import training
    from mast.cli import app

    seen = {}
    env.setattr(training, "list_versions", lambda uri, name: seen.setdefault("uri", uri) and [])

    def fake_promote(version, uri, override_by, reason, name):
        seen["uri"] = uri
        return {}

    env.setattr(training, "promote", fake_promote)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env.setenv("MLFLOW_TRACKING_URI", uri)
    args = [command] + (["3"] if command == "promote" else [])
    CliRunner().invoke(app, args)
    assert seen["uri"] == uri
    seen.clear()
    CliRunner().invoke(app, [*args, "--tracking-uri", "sqlite:///option.db"])
    assert seen["uri"] == "sqlite:///option.db"  # the option wins


def test_the_demo_seeds_training(monkeypatch, tmp_path):
    """`mast demo --random-state S` trains with S, not the config file's seed."""
    import training
    from mast.commands import demo, train

    seen = {}

    def fake_train(db, config, tracking_uri=None, progress=None):
        seen["random_state"] = config.random_state
        return object()

    monkeypatch.setattr(training, "train", fake_train)
    monkeypatch.setattr(train, "print_result", lambda result: None)
    monkeypatch.setattr(demo, "_download_reports", lambda result, out: [])
    demo._train(tmp_path / "mast.duckdb", "sqlite:///x.db", 4321)
    assert seen["random_state"] == 4321 != training.TrainConfig.from_toml().random_state


def test_the_demo_says_clearly_when_it_cannot_make_the_pdf(monkeypatch, tmp_path, capsys):
    """Without Chromium the demo still writes the transparency record and says why no PDF."""
    import json

    from mast.commands import demo
    from mast.progress import console
    from tests.audit.test_transparency import CARD

    monkeypatch.setenv("MAST_CHROMIUM", str(tmp_path / "no-such-chromium"))
    report = tmp_path / "report.html"
    report.write_text("<html><body>report</body></html>")
    card = tmp_path / "model_card.json"
    card.write_text(json.dumps(CARD))
    with console.capture() as captured:
        made = demo._governance_files([report, card])
    assert "No PDF of the board's report" in captured.get()
    assert "chromium" in captured.get().lower()
    assert {p.name for p in made} == {"transparency_record.json", "transparency_record.html"}
    assert not (tmp_path / "report.pdf").exists()


def test_each_default_is_written_once_in_the_settings_tree():
    """The CLI, the service, training and the simulator read one set of defaults."""
    import tomllib

    import settings
    import training
    from mast import settings as cli_settings
    from synthetic import SimulationConfig

    assert cli_settings.get_settings is settings.get_settings
    assert training.TrainConfig().random_state == settings.DEFAULT_RANDOM_STATE
    assert SimulationConfig().random_state == settings.DEFAULT_RANDOM_STATE
    # The training config file a user copies says the same seed.
    raw = tomllib.loads(training.config.DEFAULT_CONFIG_FILE.read_text())
    assert raw["random_state"] == settings.DEFAULT_RANDOM_STATE


def test_the_service_reads_the_settings_tree_not_the_cli(env, tmp_path):
    import ast
    import inspect

    import serving.app

    tree = ast.parse(inspect.getsource(serving.app))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not any(name == "mast" or name.startswith("mast.") for name in imported)
    env.setenv("MAST_HOME", str(tmp_path))
    assert serving.app.ServingSettings.from_mast().db == tmp_path / "mast.duckdb"


def test_the_records_store_lives_in_mast_home(env, tmp_path):
    from records.store import default_url

    env.delenv("MAST_RECORDS_DB", raising=False)
    env.setenv("MAST_HOME", str(tmp_path))
    assert default_url() == f"sqlite:///{tmp_path / 'records.sqlite'}"
