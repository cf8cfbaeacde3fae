"""Every `mast` command, given a bad parameter, names it in words: no traceback, no library text.

A bad path, a bad date, an option value that is not one of its choices, a
number that is not a number: each case runs the command as a person would
and reads what they would read.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mast.cli import app

runner = CliRunner()

# What must never reach the person: tracebacks and libraries' own wording.
LIBRARY = re.compile(
    r"Traceback|Input should|Value error|value_error|type=|pydantic|unable to parse|"
    r"Error\(|Exception\b|sqlalchemy|psycopg|sqlalche\.me|tomllib|Expected '='|"
    r"Errno|UnsupportedModelRegistry|MlflowException|IOException|"
    r"KeyError|TypeError|AttributeError"
)


def _cases(tmp):
    missing = str(tmp / "missing.duckdb")
    a_file = tmp / "a-file.txt"
    a_file.write_text("not = [toml\n")
    records = f"sqlite:///{tmp / 'records.sqlite'}"
    # (arguments, what names the parameter, words the message must hold)
    return {
        "simulate, a date that is not one": (
            ["simulate", "--start", "2020-13-45", "--db", str(tmp / "s.duckdb")],
            "--start",
            "must be a date written YYYY-MM-DD, not '2020-13-45'",
        ),
        "simulate, too few children": (
            ["simulate", "--children", "5", "--db", str(tmp / "s.duckdb")],
            "--children",
            "must be at least 200, not 5",
        ),
        "simulate, a number that is not one": (
            ["simulate", "--years", "ten"],
            "--years",
            "must be a whole number, not 'ten'",
        ),
        "load, a folder that does not exist": (
            ["load", str(tmp / "nope"), "--db", missing],
            str(tmp / "nope"),
            "is not a directory",
        ),
        "load, a format it does not know": (
            ["load", str(tmp), "--format", "xml"],
            "--format",
            "'xml' is not one of 'contract', 'ssd'",
        ),
        "load, a date format it does not know": (
            ["load", str(tmp), "--date-format", "american"],
            "--date-format",
            "'american' is not one of 'iso', 'dayfirst'",
        ),
        "load, a wait that is not a number": (
            ["load", str(tmp), "--wait", "soon"],
            "--wait",
            "must be a number, not 'soon'",
        ),
        "link, no store": (["link", "--db", missing], missing, "No MAST store"),
        "link, a threshold out of range": (
            ["link", "--db", missing, "--threshold", "2"],
            "--threshold",
            "between 0 and 1",
        ),
        "features, no store": (["features", "--db", missing], missing, "No MAST store"),
        "features, an engine it does not know": (
            ["features", "--db", missing, "--engine", "oracle"],
            "--engine",
            "must be duckdb or spark",
        ),
        "train, no store": (["train", "--db", missing], "--db", "No MAST store"),
        "train, a config that does not exist": (
            ["train", "--config", str(tmp / "missing.toml")],
            "--config",
            "does not exist",
        ),
        "train, a config that is not TOML": (
            ["train", "--config", str(a_file)],
            "--config",
            "cannot be read as a TOML settings file at line 1",
        ),
        "promote, a tracking address MLflow cannot use": (
            ["promote", "7", "--tracking-uri", "nosuch://x"],
            "--tracking-uri",
            "is not an MLflow address MAST can use",
        ),
        "models, a tracking address MLflow cannot use": (
            ["models", "--tracking-uri", "nosuch://x"],
            "--tracking-uri",
            "is not an MLflow address MAST can use",
        ),
        "audit, a predictions file that does not exist": (
            [
                "audit",
                "--predictions",
                str(tmp / "missing.csv"),
                "--y-true",
                "y",
                "--flag",
                "f",
                "--group",
                "g",
                "--out",
                str(tmp / "audit"),
            ],
            str(tmp / "missing.csv"),
            "not found",
        ),
        "audit, a bootstrap count that is not a number": (
            ["audit", "--n-boot", "many"],
            "--n-boot",
            "must be a whole number, not 'many'",
        ),
        "audit-log, a database address it cannot use": (
            ["audit-log", "verify", "--db", "nosuch://x"],
            "'nosuch://x'",
            "is not a database address MAST can use",
        ),
        "audit-log, a state it does not know": (
            ["audit-log", "blind-first", "maybe", "--db", records],
            "state",
            "must be on, off or status",
        ),
        "monitor, a start that is not a date": (
            ["monitor", "--start", "yesterday", "--db", missing],
            "--start",
            "is not a date (YYYY-MM-DD)",
        ),
        "monitor, an end that is not a date": (
            ["monitor", "--end", "2024-02-30", "--db", missing],
            "--end",
            "is not a date (YYYY-MM-DD)",
        ),
        "serve, a port that is not a number": (
            ["serve", "--port", "abc"],
            "--port",
            "must be a whole number, not 'abc'",
        ),
        "serve, no store": (
            ["serve", "--db", missing, "--tracking-uri", f"sqlite:///{tmp / 'ml.db'}"],
            missing,
            "No MAST store",
        ),
        "demo, a home that is a file": (
            ["demo", "--home", str(a_file)],
            "--home",
            "is a file; give a folder",
        ),
        "tokens, a role it does not know": (
            ["tokens", "create", "--role", "wizard", "--name", "A", "--db", records],
            "role",
            "choose one of screener",
        ),
        "tokens, a database that does not answer": (
            ["tokens", "list", "--db", "postgresql://nobody@127.0.0.1:1/x"],
            "'postgresql://nobody@127.0.0.1:1/x'",
            "nothing answered at that address",
        ),
    }


def _names() -> list[str]:
    """The cases' names, for parametrize (the cases themselves are built in each test's folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        return sorted(_cases(Path(tmp)))


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """Each case in its own MAST home, MLflow's process-wide address put back after it."""
    import mlflow

    monkeypatch.setenv("MAST_HOME", str(tmp_path / "home"))
    before = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(before)


@pytest.mark.parametrize("case", _names())
def test_a_bad_parameter_is_named_in_words(tmp_path, case):
    args, named, words = _cases(tmp_path)[case]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    out = " ".join(result.output.split())
    assert result.exit_code != 0, out
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case}: {type(result.exception).__name__}: {result.exception}"
    )
    # A long path may be wrapped anywhere by the terminal: compare it without spaces.
    assert re.sub(r"\s+", "", named) in re.sub(r"\s+", "", out), out
    assert words in out, out
    assert not LIBRARY.search(out), (LIBRARY.search(out), out)


def test_an_unexpected_error_is_one_plain_line_and_verbose_shows_it(tmp_path, monkeypatch):
    """A bug in a command reads as one line pointing at --verbose, which shows the details."""

    def broken(*args, **kwargs):
        raise KeyError("registered_model_name")

    monkeypatch.setattr("training.list_versions", broken)
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    result = runner.invoke(app, ["models", "--tracking-uri", uri])
    out = " ".join(result.output.split())
    assert result.exit_code == 1, (result.exception, out)
    assert "mast models stopped: it met an unexpected problem" in out, out
    assert "mast --verbose" in out and "registered_model_name" not in out
    loud = runner.invoke(app, ["--verbose", "models", "--tracking-uri", uri])
    assert isinstance(loud.exception, KeyError)
