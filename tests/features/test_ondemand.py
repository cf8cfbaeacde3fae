"""The in-memory engine (StoreSnapshot + features.ondemand) equals the SQL, column for column.

The SQL is itself checked against a brute-force reference (test_reference)
and the point-in-time property (test_point_in_time); here every column the
service uses, protected characteristics included, must come out identical
from both engines on timelines built to hit the edge cases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import FEATURE_NAMES, StoreSnapshot, build_features
from features.snapshot import event_bits, referral_bits
from tests.features.world import random_world, store_of


def _both(con, snapshot, refs, kids):
    sql = build_features(con, refs, kids).to_frame()
    memory = build_features(None, refs, kids, snapshot=snapshot).to_frame()
    return sql, memory


@pytest.mark.parametrize("seed", range(12))
def test_every_column_equals_the_sql_on_random_timelines(seed):
    tables = random_world(seed)
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    sql, memory = _both(con, snapshot, tables["referrals"], tables["referral_children"])
    pd.testing.assert_frame_equal(memory, sql)
    # and one referral at a time, as the service asks
    for rid in tables["referrals"]["referral_id"][:5]:
        refs = tables["referrals"][tables["referrals"]["referral_id"] == rid]
        kids = tables["referral_children"][tables["referral_children"]["referral_id"] == rid]
        one_sql, one_memory = _both(con, snapshot, refs, kids)
        pd.testing.assert_frame_equal(one_memory, one_sql)


def test_a_batch_of_new_referrals_sees_its_own_earlier_members():
    """New referrals not in the store count as history for later ones, as in the SQL."""
    tables = random_world(5)
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    kids = tables["referral_children"]
    child = kids["person_id"].value_counts().index[0]
    template = tables["referrals"].iloc[[0]]
    refs = pd.concat(
        [
            template.assign(
                referral_id=f"R-NEW{i}",
                received_at=pd.Timestamp("2023-06-01") + pd.Timedelta(days=40 * i),
                source=source,
            )
            for i, source in enumerate(["family", "police", "family", "anonymous"])
        ],
        ignore_index=True,
    )
    new_kids = pd.DataFrame({"referral_id": refs["referral_id"], "person_id": child})
    sql, memory = _both(con, snapshot, refs, new_kids)
    pd.testing.assert_frame_equal(memory, sql)
    # The batch really did see itself: the last referral counts the three before it.
    assert memory["child_prior_referrals_3m"].iloc[-1] >= 2


def test_unknown_child_and_records_input_agree_with_the_sql():
    tables = random_world(8)
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    refs = tables["referrals"].iloc[[2]]
    kids = pd.DataFrame(
        {"referral_id": refs["referral_id"].iloc[0], "person_id": ["P9999", "P0001"]}
    )
    sql, memory = _both(con, snapshot, refs, kids)
    pd.testing.assert_frame_equal(memory, sql)
    assert np.isnan(memory.loc[memory["person_id"] == "P9999", "child_age_months"]).all()
    records = build_features(
        None, refs.to_dict("records"), kids.to_dict("records"), snapshot=snapshot
    ).to_frame()
    pd.testing.assert_frame_equal(records, memory)


def test_simulated_world_equals_the_training_table():
    synthetic = pytest.importorskip("synthetic")
    world = synthetic.small_world(random_state=4, n_children=1_200, years=3)
    con = store_of(world.tables)
    trained = build_features(con).to_frame()
    snapshot = StoreSnapshot.load(con)
    served = build_features(
        None, world.tables["referrals"], world.tables["referral_children"], snapshot=snapshot
    ).to_frame()
    pd.testing.assert_frame_equal(served, trained)
    assert (served[FEATURE_NAMES] != 0).any().mean() > 0.8  # the values are not trivially zero


def test_snapshot_bits_come_from_the_feature_sql():
    """Each static predicate is one bit; the list is built from the definitions."""
    bits = event_bits()
    assert len(bits) == len({k for k, _ in bits}) <= 63
    assert all(" e." in f" {sql}" for _, sql in bits)
    assert len(referral_bits()) <= 63


def test_bad_records_name_the_row_and_column():
    tables = random_world(2)
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    refs = tables["referrals"].iloc[[0]].to_dict("records")
    kids = [{"referral_id": refs[0]["referral_id"], "person_id": "P0001"}]
    with pytest.raises(ValueError, match=r"referrals row 1, column 'source'"):
        build_features(None, [{**refs[0], "source": "carrier_pigeon"}], kids, snapshot=snapshot)
    with pytest.raises(
        ValueError, match=r"referrals row 1 is missing column\(s\) \['received_at'\]"
    ):
        row = {k: x for k, x in refs[0].items() if k != "received_at"}
        build_features(None, [row], kids, snapshot=snapshot)
    with pytest.raises(ValueError, match="received_at is not a timestamp"):
        build_features(None, [{**refs[0], "received_at": "soon"}], kids, snapshot=snapshot)
    with pytest.raises(ValueError, match="training path"):
        build_features(con, snapshot=snapshot)
