"""Adults named on past referrals, resolved as of each referral (issue #20, training)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from linkage.named import resolve_named_adults
from linkage.search import FOUND, NOT_FOUND, POSSIBLE, PersonSearch
from store.identities import write_identity_tables
from tests.serving.named_fixtures import trained_model, write_linked_store

NAMED = pd.DataFrame(
    {
        # R1 was received 2026-03-20; R0 earlier.
        "referral_id": ["R1", "R1", "R1", "R0"],
        "adult_number": [1, 2, 3, 1],
        "name": ["Darren Whitlock", "Zebedee Quuxworth", "Tyrone Baptiste", "Darren Whitlock"],
        "date_of_birth": pd.to_datetime(["1985-05-05", None, "1996-01-01", "1985-05-05"]),
        "date_of_birth_approximate": [False] * 4,
        "postcode": ["B12 9QT", None, "B5 7RD", "B12 9QT"],
        "address": [None] * 4,
        "relationship": ["mothers_new_partner", "visitor", "visitor", "visitor"],
        "lives_at_address": ["no", "unknown", "no", "no"],
    }
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("named") / "s.duckdb"
    write_linked_store(path, trained_model())
    con = duckdb.connect(str(path))
    write_identity_tables(con, {"referral_named_adults": NAMED})
    received = con.execute("SELECT referral_id, received_at FROM referrals").df()
    con.close()
    return path, received.set_index("referral_id")["received_at"]


def test_each_adult_is_searched_as_of_its_referral_exactly_as_the_service_searches(store):
    path, received = store
    with duckdb.connect(str(path), read_only=True) as con:
        search = PersonSearch.from_store(con)
        outcomes, records = resolve_named_adults(con, search)
    # One by one, as the service searches: the batch must agree adult for adult.
    from linkage.named import _query, named_adult_table

    with duckdb.connect(str(path), read_only=True) as con:
        named = named_adult_table(con)
    for row, out in zip(
        named.itertuples(index=False), outcomes.itertuples(index=False), strict=True
    ):
        alone = search.search(_query(row), as_of=pd.Timestamp(row.received_at).to_pydatetime())
        assert alone.status == out.status
        if alone.status == FOUND:
            assert alone.best.person_key == out.person_key
            assert alone.best.match_probability == pytest.approx(out.match_probability)
    by = outcomes.set_index(["referral_id", "adult_number"])
    assert by.loc[("R1", 1), "status"] == FOUND and by.loc[("R1", 1), "person_key"] == "LP04"
    assert by.loc[("R1", 2), "status"] in (NOT_FOUND, POSSIBLE)
    assert pd.isna(by.loc[("R1", 2), "person_key"])
    assert set(records.loc[records["adult_number"] == 1, "agency_record_id"]) >= {"P-A2"}


def _family(con) -> pd.DataFrame:
    """The named-adult family per referral, from the feature SQL and the in-memory engine alike."""
    from features import MemoryEngine, SQLEngine, StoreSnapshot, Targets
    from features.definitions import NAMED_ADULT_NAMES

    sql = SQLEngine(con).features().to_frame()
    refs = con.execute("SELECT * FROM referrals").df()
    children = con.execute("SELECT * FROM referral_children").df()
    memory = MemoryEngine(StoreSnapshot.load(con)).features(Targets(refs, children)).to_frame()
    pd.testing.assert_frame_equal(sql[NAMED_ADULT_NAMES], memory[NAMED_ADULT_NAMES])
    return sql.groupby("referral_id")[NAMED_ADULT_NAMES].first()


def test_mast_link_stores_the_found_adults_and_the_engines_count_them(store, tmp_path):
    """``write_named_adult_links`` (what ``mast link`` runs) is what every engine counts."""
    import shutil

    from linkage.named import write_named_adult_links

    path, _ = store
    copy = tmp_path / "copy.duckdb"
    shutil.copy(path, copy)
    with duckdb.connect(str(copy)) as con:
        unsearched = _family(con)
        assert unsearched.loc[["R0", "R1"]].isna().all().all()  # named, never resolved: unknown
        rows = write_named_adult_links(con)
        stored = con.execute("SELECT * FROM named_adult_links").df()
        assert len(stored) == len(rows) and set(stored["status"]) <= {FOUND, NOT_FOUND, POSSIBLE}
        assert stored.loc[stored["status"] != FOUND, "person_id"].isna().all()
        family = _family(con)
    r1 = family.loc["R1"]
    # Darren Whitlock: a domestic incident as perpetrator (April 2024) and a
    # violent offence (2023), both long before R1 (20 March 2026).
    assert r1["named_adults_found"] >= 2  # Darren and Tyrone
    assert r1["named_adults_not_found"] == 1  # the invented name
    assert r1["named_adults_da_perpetrator_ever_max"] == 1
    assert r1["named_adults_da_perpetrator_12m_max"] == 0
    assert r1["named_adults_violent_offences_ever_sum"] == 1
    others = family.drop(index=["R0", "R1"])
    assert (others == 0).all().all()  # naming no one counts 0


def test_a_store_never_linked_leaves_the_family_unknown(tmp_path):
    from store import connect, validate_tables, write_tables
    from tests.serving.fixtures import tables

    con = connect(tmp_path / "s.duckdb")
    write_tables(con, validate_tables(tables()))
    assert (_family(con) == 0).all().all()  # no one named
    write_identity_tables(con, {"referral_named_adults": NAMED})
    family = _family(con)
    assert family.loc[["R0", "R1"]].isna().all().all()  # named, not searched: unknown
    con.close()


def test_a_record_held_only_after_the_referral_makes_no_match(store):
    """Tyrone Baptiste's only record was first held in 2020: not findable before it."""
    path, received = store
    with duckdb.connect(str(path)) as con:
        con.execute(
            "UPDATE referrals SET received_at = TIMESTAMP '2019-06-01' WHERE referral_id = 'R0'"
        )
        con.execute(
            "UPDATE referral_named_adults SET name = 'Tyrone Baptiste', date_of_birth = DATE '1996-01-01', "
            "postcode = 'B5 7RD' WHERE referral_id = 'R0'"
        )
        outcomes, records = resolve_named_adults(con)
    by = outcomes.set_index(["referral_id", "adult_number"])
    assert by.loc[("R1", 3), "status"] == FOUND  # 2026: the 2020 record was held
    assert by.loc[("R0", 1), "status"] == NOT_FOUND  # 2019: it was not
    assert records[records["referral_id"] == "R0"].empty


def test_a_store_never_linked_is_not_searched(tmp_path):
    from store import connect, validate_tables, write_tables
    from tests.serving.fixtures import tables

    con = connect(tmp_path / "s.duckdb")
    write_tables(con, validate_tables(tables()))
    assert resolve_named_adults(con) is None
    con.close()

