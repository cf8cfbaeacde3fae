"""Loading the store into a StoreSnapshot: by person ranges, and refusing broken keys.

The engine built on the snapshot is held equal to the SQL in test_ondemand
and test_memory_evidence; here the load itself: reading a range of people
at a time gives the same arrays whatever the chunk size and whatever order
the rows lie in on disk, the per-person arrays equal a plain pandas
reference, and a row pointing at a person, household or referral that is
not in the store (or an id that appears twice) is refused with an error
naming the table, the field and the key, never silently dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import StoreSnapshot
from features.sql import event_classes, predicate_mask
from tests.features.world import random_world, store_of


def _arrays(snapshot: StoreSnapshot) -> dict[str, np.ndarray]:
    return {k: x for k, x in vars(snapshot).items() if isinstance(x, np.ndarray)}


def _assert_same(a: StoreSnapshot, b: StoreSnapshot) -> None:
    left, right = _arrays(a), _arrays(b)
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].dtype == right[name].dtype, name
        np.testing.assert_array_equal(left[name], right[name], err_msg=name)
    assert a.person == b.person and a.household == b.household and a.referral == b.referral


@pytest.fixture(scope="module")
def tables():
    """A random world plus ties: events of one person recorded at the same moment, and
    a person with three spells in one household."""
    tables = random_world(3)
    members = tables["household_members"]
    spells = members.iloc[[0, 0]].assign(
        start_date=pd.to_datetime(["2023-05-01", "2022-05-01"]),
        recorded_at=pd.to_datetime(["2023-05-02", "2022-05-02"]),
    )
    events = tables["agency_events"]
    tie = events.iloc[[0, 0, 0]].assign(
        event_id=["E99997", "E99999", "E99998"],
        recorded_at=pd.Timestamp("2021-03-04 05:06:07"),
        occurred_at=pd.to_datetime(["2021-01-01", "2021-01-03", "2021-01-02"]),
    )
    return {
        **tables,
        "household_members": pd.concat([members, spells], ignore_index=True),
        "agency_events": pd.concat([events, tie], ignore_index=True),
    }


def _shuffle(con):
    """Rewrite the tables grouped by person in a scrambled order (a store not written sorted)."""
    for table in ("household_members", "referral_children", "agency_events"):
        con.execute(f"CREATE TEMP TABLE shuffled AS SELECT * FROM {table}")
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM shuffled ORDER BY hash(shuffled::VARCHAR)")
        con.execute("DROP TABLE shuffled")
    # Really unsorted: judged on every row (the first few can fall in order by chance).
    rows = con.execute("SELECT person_id FROM agency_events").fetchall()
    assert rows != sorted(rows)
    return con


@pytest.fixture(scope="module")
def whole(tables):
    """The snapshot read in one chunk per table."""
    return StoreSnapshot.load(store_of(tables), chunk_rows=10**9)


def _us(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype="datetime64[us]").astype(np.int64)


@pytest.mark.parametrize("chunk_rows", [1, 7, 50])
def test_the_arrays_do_not_depend_on_the_chunk_size(tables, whole, chunk_rows):
    seen = []
    con = store_of(tables)
    chunked = StoreSnapshot.load(
        con, progress=lambda s, c, t: seen.append((c, t)), chunk_rows=chunk_rows
    )
    _assert_same(chunked, whole)
    # Progress counts rows and ends complete; each range of people is a step.
    rows = sum(len(tables[t]) for t in ("household_members", "referral_children", "agency_events"))
    assert seen[-1] == (1 + rows, 1 + rows)
    assert len(seen) > 10
    one_chunk = []
    StoreSnapshot.load(con, progress=lambda s, c, t: one_chunk.append(c), chunk_rows=10**9)
    assert one_chunk == sorted(one_chunk) and len(one_chunk) == 5  # people etc., then 3 tables


def test_the_arrays_do_not_depend_on_the_order_rows_lie_in(tables, whole):
    """Ranges are cut by person id, not by position: a store written unsorted loads the same."""
    _assert_same(StoreSnapshot.load(_shuffle(store_of(tables)), chunk_rows=9), whole)


def test_events_and_members_equal_a_pandas_reference(tables):
    """Rows in the contract's sort order (ties on recorded_at by event_id), counted per person."""
    snap = StoreSnapshot.load(_shuffle(store_of(tables)), chunk_rows=11)
    people = sorted(tables["people"]["person_id"])
    assert list(snap.person_ids) == people
    events = tables["agency_events"].sort_values(["person_id", "recorded_at", "event_id"])
    np.testing.assert_array_equal(snap.e_recorded, _us(events["recorded_at"]))
    np.testing.assert_array_equal(snap.e_occurred, _us(events["occurred_at"]))
    np.testing.assert_array_equal(
        snap.e_severity, events["severity"].fillna(-1).to_numpy(dtype=np.int8)
    )
    per_person = events["person_id"].value_counts().reindex(people, fill_value=0)
    np.testing.assert_array_equal(np.diff(snap.e_offsets), per_person.to_numpy())
    members = tables["household_members"].sort_values(
        ["person_id", "household_id", "start_date", "recorded_at"]
    )
    np.testing.assert_array_equal(snap.person_ids[snap.m_person], members["person_id"])
    np.testing.assert_array_equal(snap.household_ids[snap.m_household], members["household_id"])
    np.testing.assert_array_equal(snap.m_start, _us(members["start_date"]))
    referral_children = tables["referral_children"].sort_values(["person_id", "referral_id"])
    np.testing.assert_array_equal(
        snap.referral_ids[snap.rc_referral], referral_children["referral_id"]
    )
    counts = referral_children["person_id"].value_counts().reindex(people, fill_value=0)
    np.testing.assert_array_equal(np.diff(snap.rc_offsets), counts.to_numpy())


def test_a_store_without_events_loads_with_empty_histories(tables):
    con = store_of(tables)
    con.execute("DELETE FROM agency_events")
    snap = StoreSnapshot.load(con, chunk_rows=3)
    assert snap.n_events == 0 and snap.e_kind.dtype == np.int16
    assert len(snap.e_offsets) == len(snap.person_ids) + 1 and not snap.e_offsets.any()


def test_chunk_rows_must_be_positive(tables):
    with pytest.raises(ValueError, match="chunk_rows"):
        StoreSnapshot.load(store_of(tables), chunk_rows=0)


# (table, field, a row of the table to break): every reference the loader checks.
REFERENCES = [
    ("agency_events", "person_id", "event_id = (SELECT min(event_id) FROM agency_events)"),
    ("household_members", "person_id", "person_id = (SELECT min(person_id) FROM people)"),
    ("household_members", "household_id", "household_id = 'H002'"),
    ("referral_children", "person_id", "referral_id = 'R0003'"),
    ("referral_children", "referral_id", "referral_id = 'R0004'"),
    (
        "screening_decisions",
        "referral_id",
        "referral_id = (SELECT min(referral_id) FROM screening_decisions)",
    ),
]


@pytest.mark.parametrize("table, field, row", REFERENCES)
# Before every id, between two, after every id: whichever range of people it falls in.
@pytest.mark.parametrize("ghost", ["A-GHOST", "P0003-GHOST", "Z-GHOST"])
def test_a_dangling_key_is_refused_naming_table_field_and_key(tables, table, field, row, ghost):
    con = store_of(tables)
    broken = con.execute(f"UPDATE {table} SET {field} = '{ghost}' WHERE {row}").fetchone()[0]
    assert broken >= 1
    with pytest.raises(ValueError) as err:
        StoreSnapshot.load(con, chunk_rows=5)
    message = str(err.value)
    assert f"{table}.{field} '{ghost}'" in message
    assert f"{broken} row(s) of {table}" in message
    assert "mast load" in message


@pytest.mark.parametrize(
    "table, field",
    [
        ("people", "person_id"),
        ("households", "household_id"),
        ("referrals", "referral_id"),
        ("screening_decisions", "referral_id"),
    ],
)
def test_a_repeated_id_is_refused_naming_table_field_and_key(tables, table, field):
    """A second row for an id would shift the position of every id after it."""
    con = store_of(tables)
    key = con.execute(f"SELECT min({field}) FROM {table}").fetchone()[0]
    con.execute(f"INSERT INTO {table} SELECT * FROM {table} WHERE {field} = '{key}'")
    with pytest.raises(ValueError, match=rf"{table}\.{field} '{key}' appears 2 times"):
        StoreSnapshot.load(con)


def test_an_intact_store_is_not_refused(tables, whole):
    """The checks above fire on the broken row only: the same store intact loads every row."""
    assert whole.n_events == len(tables["agency_events"])
    assert len(whole.m_person) == len(tables["household_members"])
    assert len(whole.rc_referral) == len(tables["referral_children"])


def _sql_masks(con) -> np.ndarray:
    """Every event's predicate bits evaluated row by row by DuckDB, in the snapshot's order."""
    rows = con.execute(
        f"""SELECT {predicate_mask(event_classes())} FROM agency_events e
        ORDER BY person_id, recorded_at, event_id"""
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def test_event_bits_equal_the_sql_predicates_row_by_row(tables):
    """Bits are evaluated once per (agency, event_type, role, severity) and looked up by code."""
    con = store_of(tables)
    snap = StoreSnapshot.load(con, chunk_rows=13)
    expected = _sql_masks(con)
    assert len(np.unique(expected)) > 10  # many classes, so a wrong lookup shows
    np.testing.assert_array_equal(snap.e_mask, expected)


def _out_of_vocabulary(con, agency: str, event_type: str, event_id: str) -> None:
    con.execute(
        f"""INSERT INTO agency_events SELECT '{event_id}', person_id, '{agency}', '{event_type}',
        occurred_at, recorded_at, NULL, NULL FROM agency_events LIMIT 1"""
    )


def test_an_unknown_event_type_keeps_its_own_bits(tables):
    """Outside the vocabulary an event codes as -1; alone there, it keeps the SQL's bits."""
    con = store_of(tables)
    _out_of_vocabulary(con, "health", "arrest", "E-ODD")  # an arrest is the police's
    snap = StoreSnapshot.load(con, chunk_rows=13)
    np.testing.assert_array_equal(snap.e_mask, _sql_masks(con))
    assert (snap.e_kind == -1).sum() == 1 and snap.e_mask[snap.e_kind == -1][0] != 0


def test_unknown_event_types_with_different_bits_are_refused(tables):
    """Two combinations the codes cannot tell apart would share bits: refused, both named."""
    con = store_of(tables)
    _out_of_vocabulary(con, "police", "made_up", "E-ODD1")
    _out_of_vocabulary(con, "health", "arrest", "E-ODD2")
    police, health = (
        con.execute(
            f"SELECT {predicate_mask(event_classes())} FROM agency_events e WHERE event_id = ?",
            [i],
        ).fetchone()[0]
        for i in ("E-ODD1", "E-ODD2")
    )
    assert police != health  # the SQL tells them apart
    with pytest.raises(
        ValueError, match=r"agency_events: .*'health', 'arrest'.*'police', 'made_up'"
    ):
        StoreSnapshot.load(con)
