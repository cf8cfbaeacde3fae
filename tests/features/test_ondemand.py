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

from features import FEATURE_NAMES, StoreSnapshot, build_features, ondemand
from features.sql import event_classes, referral_classes
from tests.features.world import random_world, store_of


def _both(con, snapshot, refs, referral_children):
    sql = build_features(con, refs, referral_children).to_frame()
    memory = build_features(None, refs, referral_children, snapshot=snapshot).to_frame()
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
        referral_children = tables["referral_children"][
            tables["referral_children"]["referral_id"] == rid
        ]
        one_sql, one_memory = _both(con, snapshot, refs, referral_children)
        pd.testing.assert_frame_equal(one_memory, one_sql)


def test_a_batch_of_new_referrals_sees_its_own_earlier_members():
    """New referrals not in the store count as history for later ones, as in the SQL."""
    tables = random_world(5)
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    referral_children = tables["referral_children"]
    child = referral_children["person_id"].value_counts().index[0]
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
    new_children = pd.DataFrame({"referral_id": refs["referral_id"], "person_id": child})
    sql, memory = _both(con, snapshot, refs, new_children)
    pd.testing.assert_frame_equal(memory, sql)
    # The batch really did see itself: the last referral counts the three before it.
    assert memory["child_prior_referrals_3m"].iloc[-1] >= 2


def test_unknown_child_and_records_input_agree_with_the_sql():
    tables = random_world(8)
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    refs = tables["referrals"].iloc[[2]]
    referral_children = pd.DataFrame(
        {"referral_id": refs["referral_id"].iloc[0], "person_id": ["P9999", "P0001"]}
    )
    sql, memory = _both(con, snapshot, refs, referral_children)
    pd.testing.assert_frame_equal(memory, sql)
    assert np.isnan(memory.loc[memory["person_id"] == "P9999", "child_age_months"]).all()
    records = build_features(
        None, refs.to_dict("records"), referral_children.to_dict("records"), snapshot=snapshot
    ).to_frame()
    pd.testing.assert_frame_equal(records, memory)


def test_simulated_world_equals_the_training_table():
    import synthetic  # a project package: missing it is a failure, not a skip

    world = synthetic.small_world(random_state=4, n_children=1_200, years=3)
    con = store_of(world.tables)
    trained = build_features(con).to_frame()
    snapshot = StoreSnapshot.load(con)
    served = build_features(
        None, world.tables["referrals"], world.tables["referral_children"], snapshot=snapshot
    ).to_frame()
    pd.testing.assert_frame_equal(served, trained)
    assert (served[FEATURE_NAMES] != 0).any().mean() > 0.8  # the values are not trivially zero


def test_snapshot_bits_are_the_feature_sqls_own_classes():
    """Every counter tests a bit of the SQL's own record classes (or none, for "any referral")."""
    n_event, n_referral = len(event_classes()), len(referral_classes())
    assert all(0 < int(b) < 1 << n_event for b in ondemand._EC_MASK)
    assert all(0 <= int(b) < 1 << n_referral for b in ondemand._RC_MASK)
    # "prior referrals ever" has no static condition; counters by source have one.
    names = [c.name for c in ondemand.d.REFERRAL_COUNTERS]
    assert ondemand._RC_MASK[names.index("prior_referrals_ever")] == 0
    assert ondemand._RC_MASK[names.index("prior_referrals_family_ever")] != 0


def test_bad_records_name_the_row_and_column():
    tables = random_world(2)
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    refs = tables["referrals"].iloc[[0]].to_dict("records")
    referral_children = [{"referral_id": refs[0]["referral_id"], "person_id": "P0001"}]
    with pytest.raises(ValueError, match=r"referrals row 1, column 'source'"):
        build_features(
            None, [{**refs[0], "source": "carrier_pigeon"}], referral_children, snapshot=snapshot
        )
    with pytest.raises(
        ValueError, match=r"referrals row 1 is missing column\(s\) \['received_at'\]"
    ):
        row = {k: x for k, x in refs[0].items() if k != "received_at"}
        build_features(None, [row], referral_children, snapshot=snapshot)
    with pytest.raises(ValueError, match="received_at is not a timestamp"):
        build_features(
            None, [{**refs[0], "received_at": "soon"}], referral_children, snapshot=snapshot
        )
    with pytest.raises(ValueError, match="training path"):
        build_features(con, snapshot=snapshot)


def test_adults_own_childhood_referrals_agree_with_the_sql():
    """The referral age limit ("before their 18th birthday") counts for adults, as in the SQL."""
    tables = {k: t.copy() for k, t in random_world(9).items()}
    members = tables["household_members"]
    adults = members[members["role"].isin(["parent", "partner"])]["person_id"].unique()[:4]
    people = tables["people"].set_index("person_id")
    template = tables["referrals"].iloc[[0]]
    rows, referral_children = [], []
    for i, pid in enumerate(adults):
        born = pd.Timestamp(people.loc[pid, "date_of_birth"])
        # one referral at 10, one a second before the 18th birthday, one after it
        for j, when in enumerate(
            [
                born + pd.DateOffset(years=10),
                born + pd.DateOffset(years=18) - pd.Timedelta(seconds=1),
                born + pd.DateOffset(years=18),
            ]
        ):
            rid = f"R-CH{i}{j}"
            rows.append(template.assign(referral_id=rid, received_at=when))
            referral_children.append({"referral_id": rid, "person_id": pid})
    tables["referrals"] = pd.concat([tables["referrals"], *rows], ignore_index=True)
    tables["referral_children"] = pd.concat(
        [tables["referral_children"], pd.DataFrame(referral_children)], ignore_index=True
    )
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    sql, memory = _both(con, snapshot, tables["referrals"], tables["referral_children"])
    pd.testing.assert_frame_equal(memory, sql)
    assert memory["adults_childhood_referrals_max"].max() >= 2
