"""``mast audit``: help, happy path, and clear errors with nothing written."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from mast.cli import app
from store.vocabulary import NOT_RECORDED

runner = CliRunner()
RATE_KEYS = ("base_rate", "selection_rate", "tpr", "fpr", "fnr", "precision")


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory, predictions):
    path = tmp_path_factory.mktemp("cli") / "preds.csv"
    predictions.head(900).to_csv(path, index=False)
    return path


def invoke(*args: str):
    return runner.invoke(app, ["audit", *args])


def test_help_lists_the_options():
    result = invoke("--help")
    assert result.exit_code == 0
    for option in (
        "--predictions",
        "--label",
        "--score",
        "--threshold",
        "--flag",
        "--group",
        "--out",
        "--referral-col",
        "--policy",
        "--seed",
        "--run",
        "--tracking-uri",
    ):
        assert option in result.output


def test_audit_writes_report_and_metrics(csv_path, tmp_path):
    out = tmp_path / "out"
    result = invoke(
        "--predictions",
        str(csv_path),
        "--label",
        "y_true",
        "--score",
        "y_prob",
        "--threshold",
        "0.3",
        "--group",
        "ethnicity",
        "--group",
        "sex",
        "--referral-col",
        "referral_id",
        "--out",
        str(out),
        "--seed",
        "4",
        "--n-boot",
        "100",
    )
    assert result.exit_code == 0, result.output
    assert (out / "report.html").stat().st_size > 10_000
    doc = json.loads((out / "metrics.json").read_text())
    frame = pd.read_csv(csv_path)
    for column in ("ethnicity", "sex"):
        values = frame[column].fillna(NOT_RECORDED).unique()
        assert set(doc["groups"][column]) == set(values)
        for entry in doc["groups"][column].values():
            assert isinstance(entry["n"], int)
            for key in (*RATE_KEYS, "auc"):
                assert {"value", "ci_low", "ci_high"} <= set(entry[key]), key
    # The threshold was applied: flag rate equals the share with y_prob >= 0.3.
    expected = (frame["y_prob"] >= 0.3).mean()
    assert doc["overall"]["selection_rate"]["value"] == pytest.approx(expected)
    assert doc["meta"]["random_state"] == 4
    assert "gate" in doc and isinstance(doc["gate"]["passed"], bool)


def test_flag_mode_has_no_auc(csv_path, tmp_path):
    out = tmp_path / "flag"
    result = invoke(
        "--predictions",
        str(csv_path),
        "--label",
        "y_true",
        "--flag",
        "flag",
        "--group",
        "sex",
        "--out",
        str(out),
        "--n-boot",
        "50",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "metrics.json").read_text())
    assert "auc" not in doc["groups"]["sex"]["Female"]


def _bad_csv(tmp_path, **changes):
    frame = pd.DataFrame(
        {
            "y": [0, 1, 0, 1, 1, 0],
            "s": [0.1, 0.9, 0.2, 0.8, 0.7, 0.3],
            "f": [0, 1, 0, 1, 1, 0],
            "g": ["a", "b", "a", "b", "a", "b"],
        }
    )
    for col, values in changes.items():
        frame[col] = values
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("changes", "args", "message"),
    [
        ({}, ["--label", "nope", "--flag", "f", "--group", "g"], "'nope'"),
        ({"y": [0, 1, 2, 1, 1, 0]}, ["--label", "y", "--flag", "f", "--group", "g"], "binary"),
        (
            {"s": [0.1, "high", 0.2, 0.8, 0.7, 0.3]},
            ["--label", "y", "--score", "s", "--threshold", "0.5", "--group", "g"],
            "numeric",
        ),
        ({"g": [None] * 6}, ["--label", "y", "--flag", "f", "--group", "g"], "empty"),
        (
            {},
            ["--label", "y", "--flag", "f", "--score", "s", "--threshold", "0.5", "--group", "g"],
            "exactly one",
        ),
        ({}, ["--label", "y", "--group", "g"], "exactly one"),
        (
            {},
            ["--label", "y", "--flag", "f", "--threshold", "0.5", "--group", "g"],
            "--threshold needs --score",
        ),
        ({}, ["--label", "y", "--score", "s", "--group", "g"], "--threshold"),
        ({}, ["--label", "y", "--flag", "f"], "--group"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, changes, args, message):
    path = _bad_csv(tmp_path, **changes)
    out = tmp_path / "out"
    result = invoke("--predictions", str(path), "--out", str(out), "--n-boot", "20", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_threshold_without_score_is_named(tmp_path):
    # --flag plus --threshold: both the either/or rule and the threshold rule apply;
    # with --score absent the message must mention what to do.
    path = _bad_csv(tmp_path)
    result = invoke(
        "--predictions",
        str(path),
        "--label",
        "y",
        "--threshold",
        "0.5",
        "--group",
        "g",
        "--out",
        str(tmp_path / "o"),
    )
    assert result.exit_code == 2
    assert "--score" in result.output


def test_to_dict_is_strict_json(audit_result):
    # Training logs result.to_dict() itself: it must never contain NaN.
    text = json.dumps(audit_result.to_dict(), allow_nan=False)
    assert '"Not recorded"' in text
