"""The search's prepared SQL gives exactly what Splink's own call gives (issue #20, speed)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from linkage.search import FOUND, NOT_FOUND, POSSIBLE, AdultQuery, PersonSearch
from tests.serving.named_fixtures import trained_model, write_linked_store


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "s.duckdb"
    write_linked_store(path, trained_model())
    with duckdb.connect(str(path), read_only=True) as con:
        search = PersonSearch.from_store(con)
        records = con.execute(
            "SELECT given_name, family_name, date_of_birth, postcode, recorded_at "
            "FROM agency_records WHERE agency_record_id LIKE 'SIM-%' AND given_name IS NOT NULL "
            "ORDER BY agency, agency_record_id"
        ).df()
    return search, records


def _queries(records: pd.DataFrame) -> tuple[list[AdultQuery], list]:
    """Adults as referrers type them: exact, surname only, no date, a date a day out, a stranger."""
    rows = records.iloc[::37].head(24)
    queries, as_of = [], []
    for i, r in enumerate(rows.itertuples(index=False)):
        dob = None if pd.isna(r.date_of_birth) else pd.Timestamp(r.date_of_birth).date()
        kind = i % 4
        if kind == 0:
            q = AdultQuery(f"{r.given_name} {r.family_name}", dob, r.postcode)
        elif kind == 1:
            q = AdultQuery(str(r.family_name))
        elif kind == 2:
            q = AdultQuery(f"{r.given_name} {r.family_name}")
        else:
            later = None if dob is None else (pd.Timestamp(dob) + pd.Timedelta(days=1)).date()
            q = AdultQuery(f"{str(r.given_name)[:3]} {r.family_name}", later)
        queries.append(q)
        # Half of them as of a moment some records were not yet held.
        as_of.append(None if i % 2 else pd.Timestamp(r.recorded_at) + pd.Timedelta(days=30))
    queries.append(AdultQuery("Zebedee Quuxworth"))
    as_of.append(None)
    return queries, as_of


def _plain(result):
    return (
        result.status,
        [
            (c.person_key, c.match_probability, c.agreeing_fields, c.disagreeing_fields, c.records)
            for c in result.candidates
        ],
    )


def test_prepared_and_fresh_splink_sql_give_the_same_candidates_and_probabilities(searched):
    search, records = searched
    queries, as_of = _queries(records)
    fresh = [
        search.search_many([q], [t], cached=False)[0] for q, t in zip(queries, as_of, strict=True)
    ]
    assert search._prepared is None  # the uncached path never fills the cache
    prepared = [search.search(q, as_of=t) for q, t in zip(queries, as_of, strict=True)]
    assert search._prepared is not None
    again = [search.search(q, as_of=t) for q, t in zip(queries, as_of, strict=True)]
    batch = search.search_many(queries, as_of)
    for f, p, a, b in zip(fresh, prepared, again, batch, strict=True):
        assert _plain(p) == _plain(f)  # exactly: same SQL, same data
        assert _plain(a) == _plain(f)
        assert _plain(b) == _plain(f)
    statuses = {r.status for r in fresh}
    assert FOUND in statuses and NOT_FOUND in statuses and POSSIBLE in statuses, statuses
    assert sum(len(r.candidates) for r in fresh) >= 10  # not a trivially empty comparison


def test_the_prepared_sql_leaves_no_table_behind_and_is_the_saved_models(searched):
    search, records = searched
    before = set(search._con.execute("SELECT table_name FROM duckdb_tables()").fetchall())
    search.search(AdultQuery(f"{records.given_name[0]} {records.family_name[0]}"))
    after = set(search._con.execute("SELECT table_name FROM duckdb_tables()").fetchall())
    assert after == before
    prepared = search._prepared
    assert prepared.key == (search.saved.run_id, search.saved.rule_version)
    assert prepared.steps[-1][0] == prepared.predictions


def test_sql_prepared_for_another_linkage_run_is_not_used(searched):
    search, records = searched
    query = AdultQuery(f"{records.given_name[3]} {records.family_name[3]}", None)
    expected = _plain(search.search_many([query], [None], cached=False)[0])
    search.search(query)
    stale = search._prepared
    search._prepared = stale.__class__(
        ("another run", stale.key[1]), (("nowhere", "SELECT broken"),), "nowhere"
    )
    # The key does not match the saved model: Splink generates the SQL afresh.
    assert _plain(search.search(query)) == expected
    assert search._prepared.key == stale.key
