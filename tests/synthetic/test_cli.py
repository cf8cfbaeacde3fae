"""``mast simulate`` from the command line."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from mast.cli import app

runner = CliRunner()


def test_help_explains_the_options():
    result = runner.invoke(app, ["simulate", "--help"])
    assert result.exit_code == 0
    for option in ("--children", "--years", "--seed", "--db", "--report", "--exposure-bias"):
        assert option in result.output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--children", "5"], "--children"),
        (["--years", "0"], "--years"),
        (["--exposure-bias", "-1"], "--exposure-bias"),
        (["--si-multiplier", "0"], "--si-multiplier"),
        (["--start", "not-a-date"], "--start"),
    ],
)
def test_bad_parameters_are_named_and_nothing_is_written(tmp_path, args, named):
    db = tmp_path / "never.duckdb"
    result = runner.invoke(app, ["simulate", "--db", str(db), *args])
    assert result.exit_code == 2
    assert named in result.output
    assert "Nothing was written" in result.output
    assert not db.exists()


def test_small_run_writes_the_store_and_prints_the_report(tmp_path):
    db = tmp_path / "w.duckdb"
    args = ["simulate", "--children", "1500", "--years", "2", "--burn-in-years", "1"]
    result = runner.invoke(app, [*args, "--seed", "5", "--db", str(db), "--report"])
    assert result.exit_code == 0, result.output
    assert "Calibration against England" in result.output
    con = duckdb.connect(str(db), read_only=True)
    n_events = con.execute("SELECT count(*) FROM agency_events").fetchone()[0]
    n_truth = con.execute("SELECT count(*) FROM truth.latent_harm").fetchone()[0]
    config = con.execute("SELECT value FROM mast_meta WHERE key = 'synthetic_config'").fetchone()
    con.close()
    assert n_events > 1000 and n_truth > 10
    assert '"random_state":5' in config[0]
    # Replacing: a second run with another seed replaces, never appends.
    again = runner.invoke(app, [*args, "--seed", "6", "--db", str(db)])
    assert again.exit_code == 0, again.output
    con = duckdb.connect(str(db), read_only=True)
    n_people = con.execute("SELECT count(*) FROM people").fetchone()[0]
    dupes = con.execute("SELECT count(*) - count(DISTINCT person_id) FROM people").fetchone()[0]
    con.close()
    assert n_people > 0 and dupes == 0


def test_the_printed_table_keeps_bracketed_notes():
    """A quantity's note ("[only 18 incidents: ...]") is text, not rich markup to drop."""
    import pandas as pd
    from rich.console import Console

    from mast.commands.simulate import _report_table

    note = "serious incidents: under 1 [only 18 incidents: use a larger run or a multiplier]"
    frame = pd.DataFrame(
        [dict(quantity=note, achieved=6.0, target=4.0, low=2.0, high=5.0, source="x", within=False)]
    )
    console = Console(width=300, record=True)
    console.print(_report_table(frame))
    assert "[only 18 incidents: use a larger run or a multiplier]" in console.export_text()
