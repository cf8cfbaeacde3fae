"""Features on linked persons: the store keyed by ``mast link``'s persons (store.linked).

The reference and the point-in-time property of ``tests/features`` are run
again on a small simulated world whose persons come from linkage, not from
the simulator's shared ``person_id``.
"""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import build_features
from linkage import LinkageRules, link_records, prepare_records
from store import connect, create_schema, get_meta, write_tables
from store import vocabulary as v
from store.identities import validate_identity_tables, write_identity_tables
from store.linked import linked_tables, read_linked, write_linked_store
from synthetic import SimulationConfig, simulate
from synthetic.identities import simulate_agency_identities
from tests.features.reference import assert_features_equal, reference_features
from tests.features.world import add_named_adults, store_of

CONFIG = SimulationConfig(n_children=800, years=2, burn_in_years=1, random_state=5)
RULES = LinkageRules(u_pairs=2e5, em_pairs=2e5, random_state=5)


@cache
def _linked():
    world = simulate(CONFIG)
    identities = simulate_agency_identities(world.tables, CONFIG.random_state)
    result = link_records(prepare_records(identities.tables["agency_records"]), RULES)
    return world, identities, result


def _relink(tables, identities, links):
    ids = identities.tables
    return linked_tables(tables, links, ids["person_records"], ids["agency_event_records"])


def test_person_records_are_valid_and_name_every_person():
    world, identities, _ = _linked()
    clean = validate_identity_tables(identities.tables, world.tables["agency_events"])
    anchors = clean["person_records"]
    assert set(anchors["person_id"]) == set(world.tables["people"]["person_id"])
    # The local authority's own record: children's social care's where it holds one.
    referred = set(world.tables["referral_children"]["person_id"])
    assert (anchors[anchors["person_id"].isin(referred)]["agency"] == "children_social_care").all()


def test_perfect_links_give_back_the_same_features():
    """Keyed by the true persons, the linked store is the original store renamed."""
    world, identities, _ = _linked()
    truth = identities.truth.assign(person_key="T" + identities.truth["person_id"])
    linked = _relink(world.tables, identities, truth)
    assert linked.merged_people == 0 and linked.unreached_events == 0
    # Every linked person keeps the local authority's own id: the same store exactly.
    for name, table in world.tables.items():
        pd.testing.assert_frame_equal(
            linked.tables[name].reset_index(drop=True), table.reset_index(drop=True), obj=name
        )
    before = build_features(store_of(world.tables)).to_frame()
    after = build_features(store_of(linked.tables)).to_frame()
    pd.testing.assert_frame_equal(after, before)


def test_splink_links_rekey_events_by_their_agency_record():
    world, identities, result = _linked()
    linked = _relink(world.tables, identities, result.links)
    events = linked.tables["agency_events"].set_index("event_id")["person_id"]
    key = result.links.set_index(["agency", "agency_record_id"])["person_key"]
    ev = identities.tables["agency_event_records"].set_index("event_id").loc[events.index]
    link = key.reindex(pd.MultiIndex.from_frame(ev[["agency", "agency_record_id"]])).to_numpy()
    # An event's person is its record's linked person, named as the local
    # authority names the person whose own record is in that linked person.
    anchors = identities.tables["person_records"]
    anchor_link = key.reindex(pd.MultiIndex.from_frame(anchors[["agency", "agency_record_id"]]))
    name = pd.Series(anchors["person_id"].to_numpy(), index=anchor_link.to_numpy())
    name = name.groupby(level=0).min()
    want = pd.Series(link).map(name).fillna(pd.Series(link)).to_numpy()
    assert (events.to_numpy() == want).all()
    # Linkage is not perfect on this world: some events' person really changes.
    truth = identities.truth.set_index(["agency", "agency_record_id"])["person_id"]
    true_person = truth.reindex(pd.MultiIndex.from_frame(ev[["agency", "agency_record_id"]]))
    assert (events.to_numpy() != true_person.to_numpy()).any()
    assert set(linked.tables["referral_children"]["person_id"]) <= set(
        linked.tables["people"]["person_id"]
    )


def test_sql_matches_brute_force_reference_on_linked_persons():
    world, identities, result = _linked()
    # Issue #20: with adults named on the referrals, found among the linked persons.
    tables = add_named_adults(_relink(world.tables, identities, result.links).tables, 3)
    table = build_features(store_of(tables)).to_frame()
    expected = reference_features(tables)
    assert len(table) == len(expected) == len(tables["referral_children"]) > 50
    assert_features_equal(table, expected)
    # Not a trivially empty world: the reference sees history on linked persons.
    assert (expected["child_prior_referrals_ever"].fillna(0) > 0).any()
    assert (expected["adults_da_perpetrator_ever_sum"].fillna(0) > 0).any()
    assert (expected["named_adults_da_perpetrator_ever_sum"].fillna(0) > 0).any()
    assert expected["named_adults_found"].isna().any()  # and some never searched


@cache
def _features_before():
    world, identities, result = _linked()
    tables = add_named_adults(_relink(world.tables, identities, result.links).tables, 3)
    return build_features(store_of(tables))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    referral=st.integers(0, 10_000),
    record=st.integers(0, 10_000_000),
    after_us=st.sampled_from([0, 0, 1, 1_000_000, 86_400_000_000 * 400]),
    before_days=st.sampled_from([0, 1, 30, 3000]),
    pair=st.sampled_from([(a, t) for a, types in v.EVENT_TYPES.items() for t in types]),
)
def test_a_record_recorded_at_or_after_as_of_never_changes_linked_features(
    referral, record, after_us, before_days, pair
):
    """An agency event recorded at or after a referral, about any agency record
    (so any linked person), leaves that referral's features as they were."""
    world, identities, result = _linked()
    refs = world.tables["referrals"]
    ref = refs.iloc[referral % len(refs)]
    recorded = ref["received_at"] + pd.Timedelta(microseconds=after_us)
    records = identities.tables["agency_records"]
    target = records[records["agency"] == pair[0]]
    target = target.iloc[record % len(target)]
    tables = dict(world.tables)
    event = {
        "event_id": "NEW",
        "person_id": identities.truth.set_index(["agency", "agency_record_id"]).loc[
            (target["agency"], target["agency_record_id"]), "person_id"
        ],
        "agency": pair[0],
        "event_type": pair[1],
        "occurred_at": recorded - pd.Timedelta(days=before_days),
        "recorded_at": recorded,
        "role": None,
        "severity": None,
    }
    tables["agency_events"] = pd.concat([tables["agency_events"], pd.DataFrame([event])])
    ids = dict(identities.tables)
    ids["agency_event_records"] = pd.concat(
        [
            ids["agency_event_records"],
            pd.DataFrame(
                [
                    {k: event[k] for k in ("event_id", "agency")}
                    | {"agency_record_id": target["agency_record_id"]}
                ]
            ),
        ]
    )
    linked = linked_tables(tables, result.links, ids["person_records"], ids["agency_event_records"])
    rid = ref["referral_id"]
    rc = linked.tables["referral_children"].query("referral_id == @rid")
    store = store_of(add_named_adults(linked.tables, 3))  # the same named adults as before
    got = build_features(store, refs.query("referral_id == @rid"), rc).to_frame()
    before = _features_before().to_frame()
    want = before[before["referral_id"] == rid].reset_index(drop=True)
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want)


def simulated_store(path, with_truth: bool = False):
    """The small world written to a store at ``path`` with its agency identities (no links yet)."""
    world, identities, _ = _linked()
    con = connect(path)
    create_schema(con)
    write_tables(
        con,
        world.tables,
        truth=world.truth if with_truth else None,
        also=lambda c: write_identity_tables(c, identities.tables, identities.truth),
    )
    return con


def test_write_linked_store_round_trip(tmp_path):
    from linkage import write_links

    _, _, result = _linked()
    con = simulated_store(tmp_path / "mast.duckdb")
    with pytest.raises(LookupError, match="mast link"):
        read_linked(con)
    write_links(con, result)
    out = tmp_path / "linked.duckdb"
    linked = write_linked_store(con, out)
    con.close()
    stored = connect(out, read_only=True)
    try:
        assert stored.execute("SELECT count(*) FROM agency_events").fetchone()[0] == len(
            linked.tables["agency_events"]
        )
        assert get_meta(stored, "persons").startswith("linked: run ")
        schemas = {
            r[0] for r in stored.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()
        }
        assert "truth" not in schemas
        # Children keep the local authority's own ids (the API and the page name them so).
        keys = set(
            stored.execute("SELECT DISTINCT person_id FROM referral_children").df()["person_id"]
        )
        assert keys <= set(linked.person_key)
        assert keys == set(linked.tables["referral_children"]["person_id"])
    finally:
        stored.close()
    assert not (tmp_path / "linked.duckdb.partial").exists()


def test_a_record_without_a_link_is_named():
    world, identities, result = _linked()
    links = result.links.iloc[1:]
    gone = result.links.iloc[0]
    with pytest.raises(LookupError, match=gone["agency_record_id"]):
        _relink(world.tables, identities, links)


def test_a_linked_store_carries_the_named_adults_as_linked_persons(tmp_path):
    """``mast link --linked-store`` (issue #20): the adults found, keyed by linked person."""
    from features import SQLEngine
    from features.definitions import NAMED_ADULT_NAMES
    from linkage import write_links, write_named_adult_links
    from synthetic.named_adults import simulate_named_adults

    world, identities, result = _linked()
    con = simulated_store(tmp_path / "mast.duckdb")
    named = simulate_named_adults(
        world.tables, identities.tables["agency_records"], identities.truth, 5
    )
    write_identity_tables(con, {"referral_named_adults": named.table})
    write_links(con, result)
    written = write_named_adult_links(con)
    assert (written["status"] == "found").any()
    here = SQLEngine(con).features().to_frame().groupby("referral_id")[NAMED_ADULT_NAMES].first()
    write_linked_store(con, tmp_path / "linked.duckdb")
    con.close()
    stored = connect(tmp_path / "linked.duckdb", read_only=True)
    try:
        links = stored.execute("SELECT * FROM named_adult_links WHERE status = 'found'").df()
        people = set(stored.execute("SELECT person_id FROM people").df()["person_id"])
        there = SQLEngine(stored).features().to_frame()
    finally:
        stored.close()
    there = there.groupby("referral_id")[NAMED_ADULT_NAMES].first()
    assert links["person_id"].notna().all() and set(links["person_id"]) & people
    counts = ["named_adults_found", "named_adults_not_found"]
    pd.testing.assert_frame_equal(here[counts], there[counts])
    assert (there.drop(columns=counts).fillna(0).to_numpy() > 0).any()
