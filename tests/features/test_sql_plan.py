"""The shape the feature SQL relies on for speed holds for the current definitions.

The query classifies each record once into bits (``event_classes``) and
counts event counters in groups (``event_families``), each over the events
whose bits fall in that group.  That is only the same count as one big
aggregation if no event can carry bits of two groups; these tests check it
from the definitions, so adding a counter that links two groups cannot
silently undercount.
"""

from __future__ import annotations

import itertools

import duckdb
import pytest

from features import definitions as d
from features import sql
from store import vocabulary as v


def _bits_of_every_possible_event() -> list[int]:
    """The class bits of one event of every agency, type, role and severity (DuckDB evaluates them)."""
    classes = sql.event_classes()
    mask = " + ".join(
        f"CASE WHEN {pred} THEN {1 << k} ELSE 0 END" for k, (_, pred) in enumerate(classes)
    )
    rows = [
        (agency, etype, role, severity)
        for agency, types in v.EVENT_TYPES.items()
        for etype in types
        for role, severity in itertools.product([None, *v.EVENT_ROLES], [None, 1, 2, 3])
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE e (agency VARCHAR, event_type VARCHAR, role VARCHAR, severity INT)")
    con.executemany("INSERT INTO e VALUES (?, ?, ?, ?)", rows)
    return [r[0] for r in con.execute(f"SELECT {mask} FROM e").fetchall()]


def test_no_event_carries_bits_of_two_groups():
    groups = [set(g) for g in sql.event_families()]
    seen = 0
    for bits in _bits_of_every_possible_event():
        owners = [i for i, g in enumerate(groups) if any(bits >> k & 1 for k in g)]
        assert len(owners) <= 1, (bits, owners)
        seen += bool(owners)
    assert seen > 0


def test_groups_partition_the_bits_and_cover_every_counter():
    groups = sql.event_families()
    flat = [k for g in groups for k in g]
    assert sorted(flat) == list(range(len(sql.event_classes())))
    assert len(groups) > 1
    query = sql.feature_query()
    # Every counter read per person is a column; one only counted across a
    # group (d.GROUP_EVENT_COUNTERS) is its group's column.
    for c in [*d.EVENT_COUNTERS, *d.EVENT_STATES]:
        names = [c.name, f"{c.name}__start"]
        names += [g.name for g in d.GROUP_EVENT_COUNTERS if g.counter == c.name]
        assert any(f" AS {n}" in query for n in names), c.name


@pytest.mark.parametrize("n", [1, 2, 3, 50])
def test_any_number_of_groups_is_a_partition(n):
    groups = sql.event_families(n)
    assert sorted(k for g in groups for k in g) == list(range(len(sql.event_classes())))
    assert 1 <= len(groups) <= n


def test_bit_test_reads_the_right_bit():
    con = duckdb.connect()
    mask = (1 << 3) + (1 << 40)
    got = con.execute(
        f"SELECT {sql.DUCKDB.has_bit(str(mask), 3)}, {sql.DUCKDB.has_bit(str(mask), 4)}, "
        f"{sql.DUCKDB.has_bit(str(mask), 40)}, {sql.DUCKDB.has_bit_any(str(mask), [0, 1, 40])}"
    ).fetchone()
    assert got == (True, False, True, True)
