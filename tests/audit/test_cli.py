"""``mast audit``: help, happy path, and clear errors with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mast.cli import app
from store.vocabulary import NOT_RECORDED
from tests.audit.frames import six_rows

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
        "--y-true",
        "--score",
        "--threshold",
        "--flag",
        "--group",
        "--out",
        "--referral-col",
        "--policy",
        "--random-state",
        "--run",
        "--tracking-uri",
    ):
        assert option in result.output


def test_audit_writes_report_and_metrics(csv_path, tmp_path):
    out = tmp_path / "out"
    result = invoke(
        "--predictions",
        str(csv_path),
        "--y-true",
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
        "--random-state",
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
    result = _flag_run(csv_path, out, n_boot=50)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "metrics.json").read_text())
    assert "auc" not in doc["groups"]["sex"]["Female"]


def _bad_csv(tmp_path, **changes):
    frame = six_rows("s", **changes)
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("changes", "args", "message"),
    [
        ({}, ["--y-true", "nope", "--flag", "f", "--group", "g"], "'nope'"),
        ({"y": [0, 1, 2, 1, 1, 0]}, ["--y-true", "y", "--flag", "f", "--group", "g"], "binary"),
        (
            {"s": [0.1, "high", 0.2, 0.8, 0.7, 0.3]},
            ["--y-true", "y", "--score", "s", "--threshold", "0.5", "--group", "g"],
            "numeric",
        ),
        ({"g": [None] * 6}, ["--y-true", "y", "--flag", "f", "--group", "g"], "empty"),
        (
            {},
            ["--y-true", "y", "--flag", "f", "--score", "s", "--threshold", "0.5", "--group", "g"],
            "exactly one",
        ),
        ({}, ["--y-true", "y", "--group", "g"], "exactly one"),
        (
            {},
            ["--y-true", "y", "--flag", "f", "--threshold", "0.5", "--group", "g"],
            "--threshold needs --score",
        ),
        ({}, ["--y-true", "y", "--score", "s", "--group", "g"], "--threshold"),
        ({}, ["--y-true", "y", "--flag", "f"], "--group"),
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
        "--y-true",
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


# --- scikit-learn option names, old names kept as hidden aliases -----------


def test_help_shows_new_names_and_hides_old_ones():
    result = invoke("--help")
    assert result.exit_code == 0
    text = result.output
    for option in ("--y-true", "--y-prob", "--y-harm", "--random-state"):
        assert option in text, option
    for old in ("--label", "--prob ", "--harm ", "--seed"):
        assert old not in text, old


def _small_run(csv_path, out, *names: str) -> dict:
    y_true, y_prob, y_harm, random_state = names
    result = invoke(
        "--predictions",
        str(csv_path),
        y_true,
        "y_true",
        "--flag",
        "flag",
        y_prob,
        "y_prob",
        y_harm,
        "y_harm",
        "--group",
        "sex",
        "--referral-col",
        "referral_id",
        random_state,
        "9",
        "--n-boot",
        "30",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text())


def test_old_option_names_still_work_and_agree(csv_path, tmp_path):
    new = _small_run(
        csv_path, tmp_path / "new", "--y-true", "--y-prob", "--y-harm", "--random-state"
    )
    old = _small_run(csv_path, tmp_path / "old", "--label", "--prob", "--harm", "--seed")
    assert new["meta"]["random_state"] == old["meta"]["random_state"] == 9
    assert "tool_vs_harm" in new["lenses"] and "tool_vs_harm" in old["lenses"]
    assert new["meta"]["has_probability"] and old["meta"]["has_probability"]
    assert new["groups"] == old["groups"]  # same columns, same seed: the same figures


def test_new_and_old_names_that_disagree_are_refused(csv_path, tmp_path):
    out = tmp_path / "o"
    result = invoke(
        "--predictions",
        str(csv_path),
        "--y-true",
        "y_true",
        "--label",
        "flag",
        "--flag",
        "flag",
        "--group",
        "sex",
        "--out",
        str(out),
    )
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "--y-true and its old name --label disagree" in message
    assert not out.exists()


# --- the output folder is replaced all or nothing ---------------------------


def _flag_run(csv_path, out, *extra: str, n_boot: int = 20):
    """An audit of the flag column by sex, into ``out``."""
    return invoke(
        "--predictions",
        str(csv_path),
        "--y-true",
        "y_true",
        "--flag",
        "flag",
        "--group",
        "sex",
        "--n-boot",
        str(n_boot),
        "--out",
        str(out),
        *extra,
    )


def _leftovers(parent, name):
    return [p.name for p in parent.iterdir() if p.name.startswith(f".{name}-")]


def test_a_stale_output_of_an_earlier_run_does_not_survive(csv_path, tmp_path):
    out = tmp_path / "audit"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF-1.4 an earlier run's report")
    (out / "metrics.json").write_text('{"stale": true}')
    result = _flag_run(csv_path, out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "report.html"]
    assert "stale" not in json.loads((out / "metrics.json").read_text())
    assert not _leftovers(tmp_path, "audit")


def test_other_files_in_a_shared_folder_are_kept_but_stale_outputs_go(csv_path, tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    (out / "notes.txt").write_text("the board's own notes")
    (out / "report.pdf").write_bytes(b"%PDF-1.4 an earlier run's report")
    result = _flag_run(csv_path, out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "notes.txt", "report.html"]
    assert (out / "notes.txt").read_text() == "the board's own notes"
    assert not _leftovers(tmp_path, "shared")


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_failing_run_leaves_the_previous_output_untouched(csv_path, tmp_path, monkeypatch):
    out = tmp_path / "audit"
    assert _flag_run(csv_path, out).exit_code == 0
    before = _snapshot(out)
    assert set(before) == {"metrics.json", "report.html"}
    # The PDF fails after metrics.json and report.html were already written.
    monkeypatch.setenv("MAST_CHROMIUM", str(tmp_path / "no-such-chromium"))
    result = _flag_run(csv_path, out, "--pdf", "--random-state", "99")
    assert result.exit_code == 2, result.output
    assert "Chromium is not installed" in " ".join(result.output.split())
    assert _snapshot(out) == before
    assert not _leftovers(tmp_path, "audit")


def test_an_unexpected_error_while_writing_leaves_the_previous_output(
    csv_path, tmp_path, monkeypatch
):
    import audit as au

    out = tmp_path / "audit"
    assert _flag_run(csv_path, out).exit_code == 0
    before = _snapshot(out)

    def broken(folder, *args, **kwargs):
        (Path(folder) / "report.html").write_text("half a report")
        raise OSError("disk full")

    monkeypatch.setattr(au, "write_governance_report", broken)
    result = _flag_run(csv_path, out, "--random-state", "99")
    # One plain line, no traceback (mast/errors.py); `mast --verbose` would show the error.
    assert result.exit_code == 1
    assert "mast audit stopped" in result.output and "disk full" not in result.output
    assert _snapshot(out) == before
    assert not _leftovers(tmp_path, "audit")


def test_out_that_is_a_file_is_refused_before_any_work(csv_path, tmp_path):
    out = tmp_path / "report.html"
    out.write_text("not a folder")
    result = _flag_run(csv_path, out)
    assert result.exit_code == 2
    assert "is a file" in " ".join(result.output.split())
    assert out.read_text() == "not a folder"
