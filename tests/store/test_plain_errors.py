"""`mast load` says what is wrong in words: file, row as the file numbers it, field, what is allowed.

Tested from outside: CSV text as a local authority writes it, through the
command line, and the store is checked to hold nothing afterwards.
"""

from __future__ import annotations

import re

import duckdb
import pandera.pandas as pa
import pytest
from typer.testing import CliRunner

from mast.cli import app
from store import table_counts
from store.wording import check_words
from tests.store.conftest import valid_extract, write_csvs

runner = CliRunner()

# Library wording a person must never read.
LIBRARY = re.compile(
    r"fails check|greater_than|less_than|in_range\(|isin\(|str_matches|str_length|"
    r"coerce_dtype|dtype\(|Int64|datetime64|not_nullable|field_uniqueness|"
    r"multiple_fields_uniqueness|TypeError|ValueError|Traceback|pandera|pyarrow|"
    r"CSV parse error|SchemaError"
)

NAMED = (
    "referral_id,adult_number,name,date_of_birth,date_of_birth_approximate,postcode,address,"
    "relationship,lives_at_address\n"
    "R1,1,Jay Smith,1990-07-01,yes,LS1 4AB,,mothers_new_partner,no\n"
)
RECORDS = (
    "agency,agency_record_id,given_name,family_name,date_of_birth,sex,postcode,address,"
    "nhs_number,upn,pnc_id,recorded_at\n"
    "health,GP1,Amy,Smith,2021-05-01,Female,LS1 4AB,,9434765919,,,2021-05-02\n"
)

# (file, the CSV text with the bad cell, row as a spreadsheet numbers it, field, words)
CASES = {
    "number below its minimum": (
        "referral_named_adults.csv",
        NAMED + "R2,0,Dan Brown,,,,,relative,yes\n",
        3,
        "adult_number",
        "'0' is too small: adult_number must be 1 or more",
    ),
    "empty text that must be given": (
        "referral_named_adults.csv",
        NAMED + "R2,1,,,,,,relative,yes\n",
        3,
        "name",
        "name is empty, but a value is required",
    ),
    "a value outside its list": (
        "referral_named_adults.csv",
        NAMED + "R2,1,Dan,,,,,boyfriend,yes\n",
        3,
        "relationship",
        "'boyfriend' is not one of the allowed values of relationship: mothers_new_partner,",
    ),
    "a repeated key of two columns": (
        "referral_named_adults.csv",
        NAMED + "R1,1,Dan,,,,,relative,yes\n",
        3,
        "referral_id, adult_number",
        "duplicate key 'R1', '1': the same referral_id and adult_number are on more than one row",
    ),
    "a number where a whole number is needed": (
        "referral_named_adults.csv",
        NAMED + "R2,first,Dan,,,,,relative,yes\n",
        3,
        "adult_number",
        "'first' is not a whole number",
    ),
    "a pattern not followed": (
        "agency_records.csv",
        RECORDS + "police,PN1,Amy,Smith,,,,,,,123456,2021-05-02\n",
        3,
        "pnc_id",
        "'123456' is not written as pnc_id should be: two digits, a slash, up to seven digits "
        "and a capital letter, such as 19/123456A",
    ),
    "a number out of its range": (
        "households.csv",
        "household_id,imd_decile,local_authority\nH1,11,Synthshire\n",
        2,
        "imd_decile",
        "'11' is out of range: imd_decile must be from 1 to 10",
    ),
    "a missing required value": (
        "households.csv",
        "household_id,imd_decile,local_authority\nH1,2,\n",
        2,
        "local_authority",
        "local_authority is empty, but a value is required",
    ),
    "a repeated key of one column": (
        "people.csv",
        "person_id,date_of_birth,sex,ethnicity,disability\n"
        "C1,2021-05-01,Female,White,No\nC2,2018-02-11,Male,White,No\n"
        "A1,1995-07-09,Female,White,No\nA2,1990-01-20,Male,Black,No\n"
        "A2,1990-01-20,Male,Black,No\n",
        6,
        "person_id",
        "duplicate key 'A2': the same person_id is on more than one row",
    ),
    "a date that is not a date": (
        "referrals.csv",
        None,  # the valid referrals with one date broken, below
        3,
        "received_at",
        "'last Tuesday' is not a date written YYYY-MM-DD",
    ),
    "a severity outside its list": (
        "agency_events.csv",
        None,
        2,
        "severity",
        "'9' is not one of the allowed values of severity: 1, 2 or 3",
    ),
}


def _extract(tmp_path, file: str, text: str | None):
    directory = tmp_path / "extract"
    tables = valid_extract()
    if file == "referrals.csv":
        tables["referrals"].loc[1, "received_at"] = "last Tuesday"
    if file == "agency_events.csv":
        tables["agency_events"]["severity"] = "2"
        tables["agency_events"].loc[0, "severity"] = "9"
    write_csvs(tables, directory)
    if file == "agency_records.csv":
        # The events' links to records are not part of this case.
        for name in ("agency_event_records.csv", "person_records.csv"):
            (directory / name).unlink(missing_ok=True)
    if text is not None:
        (directory / file).write_text(text, encoding="utf-8")
    return directory


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_cell_is_named_by_file_row_and_field_in_words(tmp_path, case):
    file, text, row, field, words = CASES[case]
    db = tmp_path / "store.duckdb"
    result = runner.invoke(app, ["load", "--db", str(db), str(_extract(tmp_path, file, text))])
    out = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 2, result.output
    assert "nothing was written" in out
    assert f"{file}, row {row}, column '{field}': {words}" in out, out
    assert not LIBRARY.search(out), LIBRARY.search(out)
    assert not db.exists()  # a refused first load leaves no store behind


def test_a_refused_load_into_a_store_leaves_it_as_it_was(tmp_path):
    db = tmp_path / "store.duckdb"
    good = tmp_path / "good"
    write_csvs(valid_extract(), good)
    assert runner.invoke(app, ["load", "--db", str(db), str(good)]).exit_code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        before = table_counts(con)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "households.csv").write_text("household_id,imd_decile,local_authority\nH9,0,X\n")
    result = runner.invoke(app, ["load", "--db", str(db), str(bad)])
    assert result.exit_code == 2
    assert "households.csv, row 2, column 'imd_decile': '0' is out of range" in result.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert table_counts(con) == before


def test_a_row_with_too_many_values_is_named_by_its_line(tmp_path):
    directory = tmp_path / "extract"
    directory.mkdir()
    (directory / "households.csv").write_text(
        "household_id,imd_decile,local_authority\nH1,2,Synthshire\nH2,3,Leeds, West Yorkshire\n"
    )
    result = runner.invoke(app, ["load", "--db", str(tmp_path / "s.duckdb"), str(directory)])
    out = " ".join(result.output.split())
    assert result.exit_code == 2
    assert (
        "cannot read households.csv: row 3 has 4 values where the header has 3 columns "
        "(a comma inside a value needs the value in double quotes)"
    ) in out, out
    assert not LIBRARY.search(out)


# Every built-in pandera check, worded without its name; the reference says what must appear.
BUILT_IN = [
    (pa.Check.ge(1), 0, "must be 1 or more"),
    (pa.Check.gt(0), 0, "must be more than 0"),
    (pa.Check.le(3), 4, "must be 3 or less"),
    (pa.Check.lt(3), 4, "must be less than 3"),
    (pa.Check.eq(2), 4, "must be 2"),
    (pa.Check.ne(3), 3, "is not allowed in"),
    (pa.Check.in_range(1, 10), 11, "must be from 1 to 10"),
    (pa.Check.in_range(0, 1, include_min=False), 0, "must be more than 0 and 1"),
    (pa.Check.isin(["a", "b"]), "c", "allowed values of f: a or b"),
    (pa.Check.notin(["x"]), "x", "is not allowed in f"),
    (pa.Check.str_matches(r"^\d{10}$"), "12", "ten digits"),
    (pa.Check.str_matches(r"^Z+$"), "12", "in the form docs/data-contract.md gives"),
    (pa.Check.str_contains("q"), "x", "is not written as f should be"),
    (pa.Check.str_startswith("x"), "q", "must begin with 'x'"),
    (pa.Check.str_endswith("z"), "q", "must end with 'z'"),
    (pa.Check.str_length(2, 3), "q", "from 2 to 3 characters long"),
    (pa.Check.str_length(min_value=1), "", "f is empty, but a value is required"),
    (pa.Check.unique_values_eq(["x"]), False, "must hold exactly the values x"),
]


@pytest.mark.parametrize(("check", "value", "words"), BUILT_IN, ids=lambda x: str(x)[:30])
def test_every_built_in_check_is_worded(check, value, words):
    said = check_words(check, str(check), "f", value)
    assert words in said, said
    assert not LIBRARY.search(said), said
    assert check.name not in said


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("coerce_dtype('Int64')", "x", "'x' is not a whole number"),
        ("dtype('float64')", "x", "'x' is not a number"),
        ("coerce_dtype('datetime64[us]')", "x", "'x' is not a date, written YYYY-MM-DD"),
        ("coerce_dtype('boolean')", "x", "'x' is not a yes/no value"),
        ("not_nullable", None, "f is empty, but a value is required"),
        ("field_uniqueness", "k", "duplicate key 'k'"),
        ("column_in_dataframe", None, "required column is missing"),
        ("some_future_check(3)", 7, "'7' is not an allowed value of f"),
    ],
)
def test_pandera_own_failures_are_worded(name, value, words):
    said = check_words(None, name, "f", value)
    assert words in said and not LIBRARY.search(said), said
