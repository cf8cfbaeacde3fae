"""Contract 1.1: agency records, their checks, and stores written under 1.0."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from store import ContractError, connect, contract_version, validate_tables, write_tables
from store.identities import validate_identity_tables, write_identity_tables
from store.vocabulary import CONTRACT_VERSION


def _records(**change) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "agency": ["police", "health"],
            "agency_record_id": ["PN1", "GP1"],
            "given_name": ["AMY", "Amy"],
            "family_name": ["SMITH", None],
            "date_of_birth": ["1990-01-20", None],
            "sex": ["Female", None],
            "postcode": ["LS1 4AB", None],
            "address": ["1 High Street", None],
            "nhs_number": [None, "9434765919"],
            "upn": [None, None],
            "pnc_id": ["09/123456A", None],
            "recorded_at": ["2020-01-01", "2019-05-01 10:00:00"],
        }
    )
    for column, (row, value) in change.items():
        frame.loc[row, column] = value
    return frame


def test_a_valid_extract_with_missing_fields_passes():
    clean = validate_identity_tables({"agency_records": _records()})
    assert clean["agency_records"]["date_of_birth"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    ("change", "column", "words"),
    [
        ({"nhs_number": (1, "94347 65919")}, "nhs_number", "should be: ten digits"),
        ({"pnc_id": (0, "123456")}, "pnc_id", "should be: two digits, a slash"),
        ({"agency": (0, "ambulance")}, "agency", "is not one of the allowed values of agency"),
        ({"agency_record_id": (1, "PN1"), "agency": (1, "police")}, None, "duplicate"),
        (
            {"recorded_at": (0, None)},
            "recorded_at",
            "recorded_at is empty, but a value is required",
        ),
    ],
)
def test_bad_records_are_named_by_row_and_column(change, column, words):
    with pytest.raises(ContractError) as err:
        validate_identity_tables({"agency_records": _records(**change)})
    problems = err.value.problems
    assert any(words in p.problem and (column is None or p.column == column) for p in problems)


def test_event_links_must_point_at_a_record_of_the_events_agency():
    events = pd.DataFrame({"event_id": ["E1", "E2"], "agency": ["police", "police"]})
    links = pd.DataFrame(
        {
            "event_id": ["E1", "E2", "E9"],
            "agency": ["police", "health", "police"],
            "agency_record_id": ["PN1", "GP1", "PN7"],
        }
    )
    with pytest.raises(ContractError) as err:
        validate_identity_tables(
            {"agency_records": _records(), "agency_event_records": links}, events
        )
    text = str(err.value)
    assert "row 2" in text and "'police''s, not 'health''s" in text
    assert "row 3" in text and "'PN7'" in text and "'E9'" in text


@pytest.mark.parametrize("old", ["1.0.0", "1.1.0"])
def test_a_store_written_under_an_earlier_version_is_upgraded_in_place(tmp_path, old):
    """A store as 1.0.0 or 1.1.0 wrote it (no ``*_detail`` columns, no ``store_loads``)."""
    from tests.store.conftest import valid_extract

    path = tmp_path / "old.duckdb"
    con = connect(path)
    write_tables(con, validate_tables(valid_extract()))
    people = con.execute("SELECT person_id FROM people ORDER BY 1").fetchall()
    con.close()
    with duckdb.connect(str(path)) as con:
        con.execute("DROP INDEX mast_people_person")  # DuckDB alters no indexed table
        for col in ("sex_detail", "ethnicity_detail", "disability_detail"):
            con.execute(f"ALTER TABLE people DROP COLUMN {col}")
        con.execute("CREATE INDEX mast_people_person ON people (person_id)")  # as 1.x made it
        con.execute("DROP TABLE store_loads")
        con.execute(f"UPDATE mast_meta SET value = '{old}' WHERE key = 'contract_version'")
    con = connect(path)
    assert contract_version(con) == CONTRACT_VERSION == "1.3.0"
    columns = {r[0] for r in con.execute("DESCRIBE people").fetchall()}
    assert {"sex_detail", "ethnicity_detail", "disability_detail"} <= columns
    assert con.execute("SELECT person_id FROM people ORDER BY 1").fetchall() == people
    assert con.execute("SELECT count(*) FROM store_loads").fetchone()[0] == 0
    con.close()


def test_a_store_from_an_unknown_version_is_refused(tmp_path):
    path = tmp_path / "future.duckdb"
    connect(path).close()
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE mast_meta SET value = '9.0.0' WHERE key = 'contract_version'")
    with pytest.raises(RuntimeError, match="9.0.0"):
        connect(path)


def test_identities_are_written_with_the_world_or_not_at_all(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    records = validate_identity_tables({"agency_records": _records()})
    bad_truth = pd.DataFrame({"agency": ["police"], "agency_record_id": ["PN1"]})  # no person_id

    def also(c):
        write_identity_tables(c, records, bad_truth)

    with pytest.raises(KeyError):
        write_tables(con, {}, also=also)
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert "agency_records" not in tables
    write_tables(con, {}, also=lambda c: write_identity_tables(c, records))
    assert con.execute("SELECT count(*) FROM agency_records").fetchone()[0] == 2
    con.close()


def _identity_csvs(directory, events=True, records=True):
    if records:
        _records().to_csv(directory / "agency_records.csv", index=False)
    if events:
        pd.DataFrame(
            {
                "event_id": ["E1", "E2"],
                "agency": ["police", "health"],
                "agency_record_id": ["PN1", "GP1"],
            }
        ).to_csv(directory / "agency_event_records.csv", index=False)


def test_mast_load_reads_identity_extracts_with_the_rest(tmp_path):
    from store import load_extracts
    from tests.store.conftest import valid_extract, write_csvs

    extract = tmp_path / "x"
    extract.mkdir()
    write_csvs(valid_extract(), extract)
    _identity_csvs(extract)
    counts = load_extracts(tmp_path / "s.duckdb", extract).inserted
    assert counts["agency_records"] == 2 and counts["agency_event_records"] == 2
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM agency_event_records").fetchone()[0] == 2


def test_identity_extracts_can_refer_to_the_store_and_never_overwrite_it(tmp_path):
    from store import load_extracts
    from tests.store.conftest import valid_extract, write_csvs

    first, second, third = (tmp_path / n for n in ("a", "b", "c"))
    for d in (first, second, third):
        d.mkdir()
    write_csvs(valid_extract(), first)
    _identity_csvs(first, events=False)
    load_extracts(tmp_path / "s.duckdb", first)
    _identity_csvs(second, records=False)  # events of records already in the store
    assert load_extracts(tmp_path / "s.duckdb", second).inserted["agency_event_records"] == 2
    _identity_csvs(third, events=False)  # the same records again
    with pytest.raises(ContractError, match="already in the store|duplicate"):
        load_extracts(tmp_path / "s.duckdb", third)


def test_a_bad_identity_extract_rejects_the_whole_load(tmp_path):
    from store import load_extracts
    from tests.store.conftest import valid_extract, write_csvs

    extract = tmp_path / "x"
    extract.mkdir()
    write_csvs(valid_extract(), extract)
    _records(nhs_number=(0, "12345")).to_csv(extract / "agency_records.csv", index=False)
    with pytest.raises(ContractError, match=r"agency_records.csv, row 2, column 'nhs_number'"):
        load_extracts(tmp_path / "s.duckdb", extract)
    # A refused first load leaves no store at all, so nothing half-written.
    assert not (tmp_path / "s.duckdb").exists()


def test_identity_extracts_are_reconciled_by_key_in_an_append(tmp_path):
    """``mast load --append``: a re-sent record is unchanged, a changed one updated."""
    from store import load_extracts
    from tests.store.conftest import valid_extract, write_csvs

    db = tmp_path / "s.duckdb"
    first, again, moved = (tmp_path / n for n in ("a", "b", "c"))
    for d in (first, again, moved):
        d.mkdir()
    write_csvs(valid_extract(), first)
    _identity_csvs(first, events=False)
    load_extracts(db, first)
    _identity_csvs(again)  # the same records, and events of them
    report = load_extracts(db, again, mode="append")
    assert report.unchanged == {"agency_records": 2}
    assert report.inserted == {"agency_records": 0, "agency_event_records": 2}
    _records(postcode=(0, "LS2 9XY")).to_csv(moved / "agency_records.csv", index=False)
    report = load_extracts(db, moved, mode="append")
    assert report.updated == {"agency_records": 1} and report.unchanged == {"agency_records": 1}
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT agency_record_id, postcode FROM agency_records ORDER BY 1"
        ).fetchall()
        loads = con.execute("SELECT count(*) FROM store_loads").fetchone()[0]
    assert rows == [("GP1", None), ("PN1", "LS2 9XY")]
    assert loads == 3
