"""Three refusals read as sentences: a token's --days, an unknown --run, a missing --db.

Each runs the command as a person would (typer's CliRunner) and reads what
they would read: the parameter named, what it takes, a non-zero exit, and
no raw time span, no MLflow wording, no traceback.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from mast.cli import app
from tests.mast.test_bad_parameters import LIBRARY

runner = CliRunner()


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """Each test in its own MAST home, MLflow's process-wide address put back after it."""
    import mlflow

    monkeypatch.setenv("MAST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAST_TOKEN_DAYS", raising=False)
    before = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(before)


def _run(args, env=None):
    """Run ``mast ARGS``; the output as one line (the terminal may wrap it anywhere)."""
    result = runner.invoke(app, args, env={"COLUMNS": "200", **(env or {})})
    out = " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert not LIBRARY.search(out), (LIBRARY.search(out), out)
    return result.exit_code, out


@pytest.mark.parametrize(
    ("days", "shown"),
    [
        ("-3", "not -3"),
        ("0", "not 0"),
        ("-0.25", "not -0.25"),
        ("1e9", "not 1000000000"),
        ("nan", "not a number that is not finite"),
    ],
)
def test_a_token_days_that_is_not_positive_is_named_in_words(tmp_path, days, shown):
    records = tmp_path / "records.sqlite"
    args = ["tokens", "create", "--role", "screener", "--name", "A", "--days", days]
    code, out = _run([*args, "--db", f"sqlite:///{records}"])
    assert code == 2, out
    assert out.startswith("--days:"), out
    assert "a token must last more than 0 and at most 3650 days" in out, out
    assert shown in out, out
    assert "0:00:00" not in out and "days," not in out, out
    assert not records.exists(), "refused before the records store was opened"


def test_a_token_days_within_range_still_mints_one(tmp_path):
    records = f"sqlite:///{tmp_path / 'records.sqlite'}"
    args = ["tokens", "create", "--role", "screener", "--name", "A", "--days", "0.5"]
    code, out = _run([*args, "--db", records])
    assert code == 0, out
    assert re.search(r"mast_[0-9a-f]{12}_\S+", out), out


@pytest.mark.parametrize(("value", "shown"), [("-3", "not -3"), ("soon", "not 'soon'")])
def test_a_token_days_from_the_environment_is_named_in_words_too(tmp_path, value, shown):
    records = tmp_path / "records.sqlite"
    args = ["tokens", "create", "--role", "screener", "--name", "A"]
    code, out = _run([*args, "--db", f"sqlite:///{records}"], env={"MAST_TOKEN_DAYS": value})
    assert code == 2, out
    assert out.startswith("MAST_TOKEN_DAYS: a token must last more than 0 and at most 3650"), out
    assert shown in out and "0:00:00" not in out, out
    assert not records.exists(), "refused before the records store was opened"


def test_the_records_store_refuses_a_spent_lifetime_in_words(tmp_path):
    """Below the command line, the store's own refusal is a sentence too, not a time span."""
    from records import RecordsStore

    store = RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}", must_exist=False)
    try:
        with pytest.raises(ValueError, match=r"^a token must last more than 0 days, not -3$"):
            store.create_token("A", "screener", days=-3)
    finally:
        store.close()


def _store_with_one_run(tmp_path) -> tuple[str, str]:
    """An MLflow tracking store holding one empty run: (its address, the run's id)."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("leftovers"))
    client.set_terminated(run.info.run_id)
    return uri, run.info.run_id


def test_an_unknown_run_is_said_in_words_with_how_to_list_runs(tmp_path):
    uri, _ = _store_with_one_run(tmp_path)
    code, out = _run(["audit", "--run", "abc123def456", "--tracking-uri", uri])
    assert code == 2, out
    assert "--run 'abc123def456': no run with that id is in the MLflow tracking store at" in out
    assert re.sub(r"\s+", "", uri) in re.sub(r"\s+", "", out), out
    assert "`mast models`" in out and "--tracking-uri" in out, out
    assert "Run with id" not in out and "not found" not in out, out
    assert not (tmp_path / "home" / "reports").exists(), "nothing written"


def test_the_start_of_a_run_id_as_mast_models_shows_it_finds_the_run(tmp_path):
    """`mast models` shows 12 characters of a run id: those find the run (it has no predictions)."""
    uri, run_id = _store_with_one_run(tmp_path)
    code, out = _run(["audit", "--run", run_id[:12], "--tracking-uri", uri])
    assert code == 2, out
    assert "no run with that id" not in out, out
    assert run_id in re.sub(r"\s+", "", out), out  # got past the run to its missing predictions
    code, out = _run(["audit", "--run", run_id[:4], "--tracking-uri", uri])
    assert code == 2 and "no run with that id" in out, out  # too short to be taken as an id


def test_monitor_names_a_missing_store_before_the_champion(tmp_path):
    missing = tmp_path / "missing.duckdb"
    records = tmp_path / "records.sqlite"
    args = ["monitor", "--db", str(missing), "--records-db", f"sqlite:///{records}"]
    code, out = _run([*args, "--tracking-uri", f"sqlite:///{tmp_path / 'ml.db'}"])
    assert code == 2, out
    # A long path may be wrapped anywhere by the terminal: compare it without spaces.
    assert re.sub(r"\s+", "", out).startswith(f"--db:NoMASTstoreat{missing}."), out
    assert "mast simulate" in out, out
    assert "champion" not in out and "registry" not in out, out
    assert not records.exists() and not (tmp_path / "ml.db").exists(), "nothing opened or made"


def test_monitor_says_a_folder_is_not_a_store(tmp_path):
    code, out = _run(["monitor", "--db", str(tmp_path)])
    assert code == 2, out
    assert re.sub(r"\s+", "", out).startswith(f"--db:{tmp_path}isafolder,notaMASTstore"), out
