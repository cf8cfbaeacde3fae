"""``mast load``: valid extracts load atomically; bad ones are rejected whole."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from store import (
    ContractError,
    connect,
    content_hash,
    contract_version,
    load_extracts,
    table_counts,
)
from store.vocabulary import CONTRACT_VERSION
from tests.store.conftest import write_csvs


def test_valid_extract_loads_and_records_contract_version(tmp_path, extract):
    write_csvs(extract, tmp_path / "x")
    counts = load_extracts(tmp_path / "db.duckdb", tmp_path / "x").inserted
    assert counts == {name: len(frame) for name, frame in extract.items()}
    con = connect(tmp_path / "db.duckdb")
    assert contract_version(con) == CONTRACT_VERSION
    row = con.execute(
        "SELECT recorded_at, role, severity FROM agency_events WHERE event_id = 'E1'"
    ).fetchone()
    assert str(row[0]) == "2019-08-02 10:00:00" and row[1] == "perpetrator" and row[2] == 2
    assert con.execute("SELECT imd_decile FROM households").fetchone()[0] == 2


def _store_state(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return table_counts(con), content_hash(con)
    finally:
        con.close()


BAD_CASES = {
    "missing column": (
        lambda t: t["people"].drop(columns=["sex"]),
        "people",
        ("people", None, "sex", "required column is missing"),
    ),
    "wrong type": (
        lambda t: t["agency_events"].assign(occurred_at=["2019-08-01", "yesterday"]),
        "agency_events",
        ("agency_events", 2, "occurred_at", "'yesterday' is not a date written YYYY-MM-DD"),
    ),
    "unknown category": (
        lambda t: t["referrals"].assign(source=["family", "carrier_pigeon"]),
        "referrals",
        ("referrals", 2, "source", "'carrier_pigeon' is not one of the allowed values of source"),
    ),
    "dangling person_id": (
        lambda t: t["referral_children"].assign(person_id=["C1", "C2", "NOBODY"]),
        "referral_children",
        ("referral_children", 3, "person_id", "'NOBODY' is not a person_id in people"),
    ),
    "recorded before occurred": (
        lambda t: t["agency_events"].assign(recorded_at=["2019-07-01 00:00:00", "2022-01-20"]),
        "agency_events",
        ("agency_events", 1, "recorded_at", "recorded_at is earlier than occurred_at"),
    ),
    "duplicate key": (
        lambda t: t["people"].assign(person_id=["C1", "C2", "A1", "A1"]),
        "people",
        ("people", {3, 4}, "person_id", "duplicate key 'new-A1'"),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_extract_is_rejected_whole_with_a_named_problem(tmp_path, extract, case):
    db = tmp_path / "db.duckdb"
    # A store that already holds data must come out of a failed load untouched.
    write_csvs(extract, tmp_path / "good")
    load_extracts(db, tmp_path / "good")
    before = _store_state(db)

    breaker, table, (p_table, p_row, p_col, p_text) = BAD_CASES[case]
    bad = {name: frame.copy() for name, frame in extract.items()}
    bad[table] = breaker(bad)
    # Fresh keys so that only the planted problem can fail the load.
    for frame in bad.values():
        for key in ("person_id", "household_id", "referral_id", "event_id"):
            if key in frame.columns:
                frame[key] = frame[key].map(lambda v: v if v == "NOBODY" else f"new-{v}")
    write_csvs(bad, tmp_path / "bad")

    with pytest.raises(ContractError) as info:
        load_extracts(db, tmp_path / "bad")
    matches = [
        p
        for p in info.value.problems
        if p.table == p_table
        and (p.row in p_row if isinstance(p_row, set) else p.row == p_row)
        and p.column == p_col
        and p_text in p.problem
    ]
    assert matches, f"expected {p_table}/{p_row}/{p_col}/{p_text!r} in {info.value.problems}"
    assert len(info.value.problems) == len(matches), info.value.problems
    assert _store_state(db) == before


def test_reloading_the_same_extract_is_refused_as_duplicate_keys(tmp_path, extract):
    db = tmp_path / "db.duckdb"
    write_csvs(extract, tmp_path / "x")
    load_extracts(db, tmp_path / "x")
    before = _store_state(db)
    with pytest.raises(ContractError, match="already in the store"):
        load_extracts(db, tmp_path / "x")
    assert _store_state(db) == before


def test_partial_extract_may_refer_to_people_already_stored(tmp_path, extract):
    db = tmp_path / "db.duckdb"
    write_csvs(extract, tmp_path / "x")
    load_extracts(db, tmp_path / "x")
    later = {
        "agency_events": pd.DataFrame(
            {
                "event_id": ["E9"],
                "person_id": ["C2"],
                "agency": ["education"],
                "event_type": ["school_absence"],
                "occurred_at": ["2022-09-01"],
                "recorded_at": ["2022-09-02"],
            }
        )
    }
    write_csvs(later, tmp_path / "later")
    assert load_extracts(db, tmp_path / "later").inserted == {"agency_events": 1}


def test_parquet_extracts_load_too(tmp_path, extract):
    (tmp_path / "pq").mkdir()
    for name, frame in extract.items():
        frame.to_parquet(tmp_path / "pq" / f"{name}.parquet")
    assert load_extracts(tmp_path / "db.duckdb", tmp_path / "pq").inserted["people"] == 4


def test_unknown_file_is_named(tmp_path, extract):
    write_csvs(extract, tmp_path / "x")
    (tmp_path / "x" / "sausages.csv").write_text("a\n1\n")
    with pytest.raises(ContractError, match="sausages"):
        load_extracts(tmp_path / "db.duckdb", tmp_path / "x")
    assert not (tmp_path / "db.duckdb").exists()
