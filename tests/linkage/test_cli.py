"""``mast link`` from the command line: errors named, links written, figures by group."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from mast.cli import app
from store import connect, write_tables
from store.identities import write_identity_tables

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory, world, identities):
    path = tmp_path_factory.mktemp("link") / "world.duckdb"
    con = connect(path)

    def also(c):
        write_identity_tables(c, identities.tables, identities.truth, replace=True)

    write_tables(con, world.tables, truth=world.truth, replace=True, also=also)
    con.close()
    return path


@pytest.mark.parametrize(
    ("args", "named"),
    [(["--threshold", "1.5"], "--threshold"), (["--review-floor", "0.95"], "--review-floor")],
)
def test_bad_options_are_named_and_nothing_is_written(store, args, named):
    result = runner.invoke(app, ["link", "--db", str(store), *args])
    assert result.exit_code == 2
    assert named in result.output and "Nothing was written" in result.output


def test_a_store_without_agency_records_is_explained(tmp_path, world):
    path = tmp_path / "plain.duckdb"
    con = connect(path)
    write_tables(con, world.tables, replace=True)
    con.close()
    result = runner.invoke(app, ["link", "--db", str(path), "--no-mlflow"])
    assert result.exit_code == 1
    assert "mast simulate --agency-identities" in result.output


def test_link_writes_every_record_once_and_prints_figures_by_group(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MAST_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow/mlflow.db")
    from mast.progress import console

    monkeypatch.setattr(console, "width", 200)  # one table row per line, whatever ran before
    result = runner.invoke(app, ["link", "--db", str(store), "--seed", "7"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for words in (
        "linked persons",
        "possible matches",
        "Ethnicity: Asian",
        "Sex: Female",
        "Age: 0-4",
        "naive",
    ):
        assert words in result.output
    assert "Logged to MLflow" in result.output
    with duckdb.connect(str(store), read_only=True) as con:
        n_records = con.execute("SELECT count(*) FROM agency_records").fetchone()[0]
        links = con.execute("SELECT count(*), count(DISTINCT run_id) FROM person_links").fetchone()
        assert links == (n_records, 1)
        first_run = con.execute("SELECT any_value(run_id) FROM person_links").fetchone()[0]
    # A second run replaces the first whole.
    result = runner.invoke(app, ["link", "--db", str(store), "--seed", "7", "--no-evaluate"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(store), read_only=True) as con:
        runs = con.execute("SELECT DISTINCT run_id FROM person_links").fetchall()
        assert len(runs) == 1 and runs[0][0] != first_run
        assert con.execute("SELECT count(*) FROM person_links").fetchone()[0] == n_records


def test_link_obeys_verdicts_and_writes_a_linked_store(store, tmp_path, monkeypatch):
    import records

    monkeypatch.setenv("MAST_RECORDS_DB", f"sqlite:///{tmp_path}/records.sqlite")
    monkeypatch.setenv("MAST_HOME", str(tmp_path))
    first = runner.invoke(app, ["link", "--db", str(store), "--no-evaluate", "--no-mlflow"])
    assert first.exit_code == 0, first.output
    with duckdb.connect(str(store), read_only=True) as con:
        pair = con.execute(
            "SELECT agency_l || ':' || agency_record_id_l, agency_r || ':' || agency_record_id_r "
            "FROM possible_matches ORDER BY match_probability DESC LIMIT 1"
        ).fetchone()
    trail = records.RecordsStore()
    manager = records.Principal(token_id="t1", name="Ann Manager", role="manager")
    trail.record_match_review(
        manager,
        "rv-cli-1",
        {"unique_id_l": pair[0], "unique_id_r": pair[1], "verdict": "same_person", "reason": "x"},
    )
    trail.close()
    out = tmp_path / "linked.duckdb"
    again = runner.invoke(
        app,
        ["link", "--db", str(store), "--no-evaluate", "--no-mlflow", "--linked-store", str(out)],
        terminal_width=200,
    )
    assert again.exit_code == 0, again.output
    assert "1 confirmed, 0 rejected" in again.output
    assert "Wrote the store keyed by linked persons" in again.output
    with duckdb.connect(str(store), read_only=True) as con:
        keys = [
            con.execute(
                "SELECT person_key FROM person_links WHERE agency || ':' || agency_record_id = ?",
                [uid],
            ).fetchone()[0]
            for uid in pair
        ]
    assert keys[0] == keys[1]
    features = runner.invoke(
        app, ["features", "--db", str(out), "--out", str(tmp_path / "f.parquet")]
    )
    assert features.exit_code == 0, features.output
    assert (tmp_path / "f.parquet").exists()
    # Without labels, the pair is a possible match again, never merged silently.
    plain = runner.invoke(
        app, ["link", "--db", str(store), "--no-evaluate", "--no-mlflow", "--no-labels"]
    )
    assert plain.exit_code == 0, plain.output
    with duckdb.connect(str(store), read_only=True) as con:
        apart = con.execute(
            "SELECT count(DISTINCT person_key) FROM person_links "
            "WHERE agency || ':' || agency_record_id IN (?, ?)",
            list(pair),
        ).fetchone()[0]
    assert apart == 2
