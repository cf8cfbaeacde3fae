"""Extracts as a local authority writes them: every type, CSV and Parquet alike."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

import features as ft
from mast.cli import app
from store import ContractError, content_hash, load_extracts
from store.contract import parse_boolean
from tests.store import extract_writer as w


def _dump(db) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").df()
            for t in ("people", "households", "household_members", "referrals",
                      "referral_children", "screening_decisions", "agency_events")
        }  # fmt: skip
        return tables | {"_hash": content_hash(con)}
    finally:
        con.close()


@pytest.fixture
def loaded(tmp_path):
    rows = w.generate(n_people=48, random_state=16)
    csv_db, pq_db = tmp_path / "csv.duckdb", tmp_path / "pq.duckdb"
    load_extracts(csv_db, w.as_csv(rows, tmp_path / "csv"))
    load_extracts(pq_db, w.as_parquet(rows, tmp_path / "pq"))
    return rows, csv_db, pq_db


def test_csv_and_parquet_give_identical_stores_and_feature_tables(loaded):
    _, csv_db, pq_db = loaded
    a, b = _dump(csv_db), _dump(pq_db)
    assert a["_hash"] == b["_hash"]
    for table in a:
        if table != "_hash":
            pd.testing.assert_frame_equal(a[table], b[table], obj=table)
    fa = ft.build_features(duckdb.connect(str(csv_db), read_only=True)).to_frame()
    fb = ft.build_features(duckdb.connect(str(pq_db), read_only=True)).to_frame()
    pd.testing.assert_frame_equal(fa, fb)


def test_every_type_is_stored_as_written(loaded):
    rows, csv_db, _ = loaded
    stored = _dump(csv_db)
    refs = stored["referrals"].set_index("referral_id")
    for r in rows["referrals"]:
        for col in ("concern_neglect", "concern_sexual_abuse", "concern_other"):
            assert bool(refs.at[r["referral_id"], col]) is r[col], (r["referral_id"], col)
    # Not every concern is true (the old bug stored every spelling of false as True).
    assert not refs["concern_other"].all()
    people = stored["people"].set_index("person_id")
    assert people.at["P000", "sex"] == "Male" and people.at["P000", "sex_detail"] == "1"
    assert (
        people.at["P000", "ethnicity"] == "White"
        and people.at["P000", "ethnicity_detail"] == "WBRI"
    )
    assert people.at["P003", "ethnicity"] == "Asian"  # "Asian: Pakistani", an ONS label
    assert people.at["P006", "ethnicity"] == "Asian"  # CHNE: ONS 2021 puts Chinese in Asian
    assert people.at["P005", "ethnicity"] == "Not recorded"  # REFU
    assert people.at["P001", "disability"] == "Yes"  # "LD,MOB"
    members = stored["household_members"].set_index("person_id")
    assert str(members.at["P005", "end_recorded_at"]) == "2023-03-10 14:00:00"
    assert pd.isna(members.at["P001", "end_date"])
    events = stored["agency_events"].set_index("event_id")
    assert events.at["E000", "severity"] == 1 and pd.isna(events.at["E001", "severity"])
    homes = stored["households"].set_index("household_id")
    assert pd.isna(homes.at["H0", "imd_decile"]) and homes.at["H1", "imd_decile"] == 2


@pytest.mark.parametrize("spelling", w.TRUE_SPELLINGS + w.FALSE_SPELLINGS)
def test_every_boolean_spelling(spelling):
    assert parse_boolean(spelling) is (spelling in w.TRUE_SPELLINGS)


@pytest.mark.parametrize("bad", ["maybe", "2", "ja", "-1"])
def test_any_other_boolean_is_a_named_error(tmp_path, bad):
    rows = w.generate(n_people=8)
    rows["referrals"][1]["concern_neglect"] = bad
    with pytest.raises(ContractError) as info:
        load_extracts(tmp_path / "db.duckdb", w.as_csv(rows, tmp_path / "x"))
    (p,) = info.value.problems
    assert (p.table, p.row, p.column) == ("referrals", 2, "concern_neglect") and repr(
        bad
    ) in p.problem


def test_unknown_columns_are_reported_and_strict_refuses_them(tmp_path):
    rows = w.generate(n_people=8)
    for r in rows["people"]:
        r["nhs_number"] = "123"
    x = w.as_csv(rows, tmp_path / "x")
    report = load_extracts(tmp_path / "a.duckdb", x)
    assert report.dropped_columns == [("people", "nhs_number")]
    with pytest.raises(ContractError, match="nhs_number"):
        load_extracts(tmp_path / "b.duckdb", x, strict=True)
    result = CliRunner().invoke(app, ["load", "--db", str(tmp_path / "c.duckdb"), str(x)])
    assert result.exit_code == 0 and "nhs_number" in result.output


def test_a_referral_with_no_children_is_named(tmp_path):
    rows = w.generate(n_people=8)
    lonely = rows["referral_children"].pop(0)["referral_id"]
    with pytest.raises(ContractError) as info:
        load_extracts(tmp_path / "db.duckdb", w.as_csv(rows, tmp_path / "x"))
    assert [p.problem for p in info.value.problems] == [
        f"referral {lonely!r} names no child in referral_children"
    ]


def test_uk_dates_are_one_problem_per_column_unless_dayfirst(tmp_path):
    rows = w.generate(n_people=40)
    x = w.as_csv(rows, tmp_path / "x")
    path = x / "agency_events.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).dt.strftime("%d/%m/%Y %H:%M")
    frame.to_csv(path, index=False)
    with pytest.raises(ContractError) as info:
        load_extracts(tmp_path / "db.duckdb", x)
    (p,) = info.value.problems
    assert (p.table, p.row, p.column) == ("agency_events", None, "occurred_at")
    assert "--date-format dayfirst" in p.problem
    load_extracts(tmp_path / "db.duckdb", x, date_format="dayfirst")
    con = duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True)
    got = con.execute("SELECT occurred_at FROM agency_events WHERE event_id = 'E002'").fetchone()[0]
    assert str(got) == "2022-03-05 23:00:00"  # 05/03/2022: 5 March, not 3 May


def test_problems_are_summarised_per_table_and_column_before_the_list(tmp_path):
    rows = w.generate(n_people=200)
    for r in rows["people"]:
        r["ethnicity"] = "Martian"
    with pytest.raises(ContractError) as info:
        load_extracts(tmp_path / "db.duckdb", w.as_csv(rows, tmp_path / "x"))
    text = str(info.value)
    summary, listed = text.split("First problems:")
    assert "people.csv, column 'ethnicity': unknown category" in summary
    assert "200 time(s); first row(s) 2, 3, 4, 5, 6, ...; e.g. 'Martian'" in summary
    assert "DfE codes such as WBRI" in summary  # says that a mapping exists
    assert listed.count("\n  - ") == 50 and "and 150 more" in listed
