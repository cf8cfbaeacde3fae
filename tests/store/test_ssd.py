"""``mast load --format ssd``: an SSD sample plus a police extract -> load -> features."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import features as ft
from mast.cli import app
from store import ContractError, connect, load_tables
from store.ssd import read_ssd
from tests.store import ssd_sample


@pytest.fixture
def sample(tmp_path):
    return ssd_sample.write(tmp_path / "ssd", n_families=10, random_state=3)


def test_ssd_sample_and_police_extract_give_the_planted_features(tmp_path, sample):
    db = tmp_path / "db.duckdb"
    result = CliRunner().invoke(app, ["load", "--format", "ssd", "--db", str(db), str(sample)])
    assert result.exit_code == 0, result.output
    con = connect(db)
    table = ft.build_features(con).to_frame().set_index(["referral_id", "person_id"])
    for key, expected in ssd_sample.PLANTED.items():
        for name, value in expected.items():
            assert table.loc[key, name] == value, (key, name)
    # Codes kept for audit beside their groups.
    row = con.execute(
        "SELECT ethnicity, ethnicity_detail, sex, disability, disability_detail "
        "FROM people WHERE person_id = 'C2'"
    ).fetchone()
    assert row == ("Mixed", "MWBC", "Male", "Yes", "COMM")
    # The police reference was resolved to the SSD person through linked identifiers.
    assert con.execute(
        "SELECT person_id FROM agency_events WHERE event_id = 'POL-1'"
    ).fetchone() == ("P1",)
    decisions = dict(
        con.execute("SELECT referral_id, decision FROM screening_decisions").fetchall()
    )
    assert decisions["SSD-R1"] == "assessment" and decisions["SSD-R3"] == "strategy_discussion"
    assert "SSD-R2" not in decisions  # still open in the extract
    con.close()


def test_ssd_events_are_seen_only_from_the_day_after(sample):
    events = read_ssd(sample).tables["agency_events"].set_index("event_id")
    row = events.loc["ssd_cp_plans:cp_plan_start:CP1"]
    assert (
        row["occurred_at"] == "2023-05-01 00:00:00" and row["recorded_at"] == "2023-05-02 00:00:00"
    )


def test_an_identifier_linked_to_two_people_is_refused(sample):
    with open(sample / "ssd_linked_identifiers.csv", "a") as fh:
        fh.write("L2,M1,Police reference,PNC-77,2020-01-01,\n")
    with pytest.raises(ContractError, match="linked to more than one person"):
        read_ssd(sample)


def test_missing_ssd_person_is_named(sample, tmp_path):
    (sample / "ssd_person.csv").unlink()
    with pytest.raises(ContractError, match="ssd_person"):
        read_ssd(sample)
    assert not (tmp_path / "db.duckdb").exists()


def test_an_unknown_referral_source_code_is_named(sample, tmp_path):
    text = (sample / "ssd_cin_episodes.csv").read_text().replace(",6,Police,", ",66,Police,")
    (sample / "ssd_cin_episodes.csv").write_text(text)
    with pytest.raises(ContractError) as info:
        load_tables(tmp_path / "db.duckdb", read_ssd(sample))
    assert any("'66'" in p.problem and p.table == "ssd_cin_episodes" for p in info.value.problems)


def test_shipped_sample_is_what_the_generator_writes(tmp_path):
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ssd"
    fresh = ssd_sample.write(tmp_path / "fresh")
    for path in sorted(fresh.iterdir()):
        assert (shipped / path.name).read_text() == path.read_text(), path.name


def test_a_second_ssd_extract_appends_only_what_changed(tmp_path, sample):
    db = tmp_path / "db.duckdb"
    load_tables(db, read_ssd(sample))
    with open(sample / "ssd_cp_plans.csv", "a") as fh:
        fh.write("CP9,SSD-R1,,C1,2024-05-01,,Neglect\n")
    report = load_tables(db, read_ssd(sample), mode="append")
    assert report.inserted["agency_events"] == 1 and not report.updated
    assert report.unchanged["referrals"] == len(read_ssd(sample).tables["referrals"])


def test_cli_refuses_a_bad_ssd_extract_with_exit_code_2(tmp_path, sample):
    text = (sample / "ssd_person.csv").read_text().replace(",MWBC,", ",Martian,", 1)
    (sample / "ssd_person.csv").write_text(text)
    db = tmp_path / "db.duckdb"
    result = CliRunner().invoke(app, ["load", "--format", "ssd", "--db", str(db), str(sample)])
    assert result.exit_code == 2 and "Martian" in result.output
    assert not db.exists()
