"""The named-adult family (issue #20) as a Membership of the grammar, through every engine.

The engines are held to the brute-force reference on worlds with named
adults in ``test_engines.py``; here, the rules a careful reader checks one
by one: a possible match never counts, an adult not searched makes the
family missing (not 0), a record recorded at or after the referral is not
counted, a new referral's search results are counted as the store's, and
not found is never a model input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import MemoryEngine, SQLEngine, StoreSnapshot, Targets
from features import definitions as d
from features.catalogue import model_inputs, monotone_signs
from tests.features.world import add_named_adults, random_world, store_of

NAMED = d.NAMED_ADULT_NAMES


def _world(links: list[dict], n_adults: int, events: list[dict] = ()):
    """random_world(5) whose first referral names ``n_adults`` adults resolved as ``links``."""
    tables = add_named_adults(random_world(5), 5)
    rid = sorted(tables["referrals"]["referral_id"])[0]
    named = tables["referral_named_adults"]
    template = named.iloc[0].to_dict()
    named = named[named["referral_id"] != rid]
    rows = [{**template, "referral_id": rid, "adult_number": n} for n in range(1, n_adults + 1)]
    tables["referral_named_adults"] = pd.concat([named, pd.DataFrame(rows)], ignore_index=True)
    old = tables["named_adult_links"]
    base = {"rule_version": "t", "run_id": "t", "resolved_at": pd.Timestamp("2026-01-01")}
    tables["named_adult_links"] = pd.concat(
        [
            old[old["referral_id"] != rid],
            pd.DataFrame([{**base, **x, "referral_id": rid} for x in links]),
        ],
        ignore_index=True,
    )
    if events:
        tables["agency_events"] = pd.concat(
            [tables["agency_events"], pd.DataFrame(list(events))], ignore_index=True
        )
    return tables, rid


def _both(tables, rid) -> pd.Series:
    """The referral's family by SQL, checked equal to the in-memory engine's."""
    con = store_of(tables)
    sql = SQLEngine(con).features().to_frame()
    mem = (
        MemoryEngine(StoreSnapshot.load(con))
        .features(Targets(tables["referrals"], tables["referral_children"]))
        .to_frame()
    )
    pd.testing.assert_frame_equal(sql[NAMED], mem[NAMED])
    return sql.loc[sql["referral_id"] == rid, NAMED].iloc[0]


def _busy_adult(tables) -> str:
    """A person with police records of the counted kinds."""
    e = tables["agency_events"]
    counted = e[e["event_type"].isin(["domestic_incident", "arrest", "violent_offence"])]
    return counted["person_id"].value_counts().index[0]


def test_a_possible_match_is_never_counted_as_the_adult():
    tables = random_world(5)
    busy = _busy_adult(tables)
    found, rid = _world([{"adult_number": 1, "status": "found", "person_id": busy}], 1)
    possible, _ = _world([{"adult_number": 1, "status": "possible", "person_id": busy}], 1)
    f, p = _both(found, rid), _both(possible, rid)
    assert f[d.NAMED_FOUND] == 1 and p[d.NAMED_FOUND] == 0 and p[d.NAMED_NOT_FOUND] == 1
    counters = [n for n in NAMED if n not in (d.NAMED_FOUND, d.NAMED_NOT_FOUND)]
    assert f[counters].sum() > 0
    assert (p[counters] == 0).all()


def test_an_adult_not_searched_makes_the_whole_family_missing_not_zero():
    tables, rid = _world([{"adult_number": 1, "status": "not_found", "person_id": None}], 2)
    family = _both(tables, rid)  # adult 2 has no link row: not searched
    assert family.isna().all()
    con = store_of(tables)
    con.execute("DROP TABLE named_adult_links")  # never linked
    sql = SQLEngine(con).features().to_frame()
    named = sql[sql["referral_id"].isin(tables["referral_named_adults"]["referral_id"])]
    assert named[NAMED].isna().all().all()
    others = sql[~sql["referral_id"].isin(tables["referral_named_adults"]["referral_id"])]
    assert (others[NAMED] == 0).all().all()  # naming no one counts 0


def test_a_record_recorded_on_or_after_the_referral_is_not_counted():
    tables = random_world(5)
    rid = sorted(tables["referrals"]["referral_id"])[0]
    as_of = tables["referrals"].set_index("referral_id").loc[rid, "received_at"]
    adult = sorted(tables["people"]["person_id"])[-1]
    event = {
        "event_id": "E-NAMED",
        "person_id": adult,
        "agency": "police",
        "event_type": "arrest",
        "occurred_at": as_of - pd.Timedelta(days=10),
        "role": None,
        "severity": None,
    }
    link = [{"adult_number": 1, "status": "found", "person_id": adult}]
    before, _ = _world(link, 1, [{**event, "recorded_at": as_of - pd.Timedelta(microseconds=1)}])
    at, _ = _world(link, 1, [{**event, "recorded_at": as_of}])
    assert (
        _both(before, rid)["named_adults_arrests_ever_sum"]
        == _both(at, rid)["named_adults_arrests_ever_sum"] + 1
    )


def test_a_new_referral_counts_its_search_results_as_the_store_counts_its_own():
    tables, rid = _world([], 0)
    con = store_of(tables)
    refs = tables["referrals"][tables["referrals"]["referral_id"] == rid].assign(referral_id="NEW")
    kids = tables["referral_children"][tables["referral_children"]["referral_id"] == rid]
    kids = kids.assign(referral_id="NEW")
    busy = _busy_adult(tables)
    named = [
        {"referral_id": "NEW", "adult_number": 1, "status": "found", "person_id": busy},
        {"referral_id": "NEW", "adult_number": 2, "status": "possible", "person_id": None},
    ]
    for engine in (SQLEngine(con), MemoryEngine(StoreSnapshot.load(con))):
        got = engine.features(Targets(refs, kids, named)).to_frame()[NAMED].iloc[0]
        none = engine.features(Targets(refs, kids)).to_frame()[NAMED].iloc[0]
        assert got[d.NAMED_FOUND] == 1 and got[d.NAMED_NOT_FOUND] == 1
        assert got.drop([d.NAMED_FOUND, d.NAMED_NOT_FOUND]).sum() > 0
        assert (none == 0).all()
        unsearched = [{**named[0], "status": "not_searched", "person_id": None}]
        assert np.isnan(engine.features(Targets(refs, kids, unsearched)).X[NAMED].to_numpy()).all()


def test_bad_named_adults_are_refused_naming_the_row():
    tables = random_world(5)
    refs, kids = tables["referrals"].iloc[:1], tables["referral_children"].iloc[:0]
    rid = refs["referral_id"].iloc[0]
    with pytest.raises(ValueError, match="named_adults row 1.*status"):
        Targets(
            refs,
            kids,
            [{"referral_id": rid, "adult_number": 1, "status": "maybe", "person_id": None}],
        )
    with pytest.raises(ValueError, match="named_adults row 1: only a found adult"):
        Targets(
            refs,
            kids,
            [{"referral_id": rid, "adult_number": 1, "status": "possible", "person_id": "P1"}],
        )
    with pytest.raises(ValueError, match="named_adults row 1: referral_id"):
        Targets(
            refs,
            kids,
            [{"referral_id": "X", "adult_number": 1, "status": "found", "person_id": "P1"}],
        )


def test_not_found_is_no_model_input_and_records_may_only_raise_risk():
    names = d.FEATURE_NAMES
    inputs = model_inputs(names)
    assert d.NAMED_NOT_FOUND in names and d.NAMED_NOT_FOUND not in inputs
    named_inputs = [n for n in inputs if n in NAMED]
    assert len(named_inputs) == len(NAMED) - 1
    signs = dict(zip(inputs, monotone_signs(inputs), strict=True))
    assert all(signs[n] == 1 for n in named_inputs)
