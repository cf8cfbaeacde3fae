"""'Not recorded' survives end to end: CSV -> metrics.json -> report.html."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from mast.cli import app
from store.vocabulary import NOT_RECORDED


def test_not_recorded_survives_csv_to_json_to_report(tmp_path, predictions):
    frame = predictions.head(1200).copy()
    n_missing = int(frame["ethnicity"].isna().sum())
    assert n_missing > 0
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)  # missing ethnicity becomes an empty CSV cell
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "--predictions",
            str(path),
            "--y-true",
            "y_true",
            "--flag",
            "flag",
            "--group",
            "ethnicity",
            "--group",
            "deprivation_quintile",
            "--out",
            str(out),
            "--n-boot",
            "50",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["groups"]["ethnicity"][NOT_RECORDED]["n"] == n_missing
    assert sum(e["n"] for e in doc["groups"]["ethnicity"].values()) == len(frame)
    # The intersection keeps it too.
    inter = doc["groups"]["ethnicity × deprivation_quintile"]
    assert any(k.startswith(NOT_RECORDED + " × ") for k in inter)
    html = (out / "report.html").read_text()
    table = re.search(r'data-attribute="ethnicity">(.*?)</table>', html, re.S).group(1)
    assert NOT_RECORDED in table
    assert f">{n_missing:,}<" in table
