"""Records behind features from memory equal ``features.evidence`` from the store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import FEATURE_NAMES, StoreSnapshot, build_features, evidence
from features.definitions import SPECS_BY_NAME
from features.inputs import check_referrals
from features.memory_evidence import evidence_frame, ondemand_evidence
from tests.features.edge_world import RECORD_TABLES, edge_world
from tests.features.world import random_world, store_of


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a total order (``evidence`` leaves exact ties in any order)."""
    frame = frame.astype(object).where(frame.notna(), None)
    frame["detail"] = frame["detail"].map(lambda x: x or None)
    cols = list(frame.columns)
    return frame.sort_values(cols, key=lambda c: c.astype(str)).reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 6])
def test_every_feature_lists_the_same_records_as_the_sql(seed):
    tables = random_world(seed)
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    checked = 0
    for rid in tables["referrals"]["referral_id"][:3]:
        refs = tables["referrals"][tables["referrals"]["referral_id"] == rid]
        referral_children = tables["referral_children"][
            tables["referral_children"]["referral_id"] == rid
        ]
        records = check_referrals(refs, referral_children)
        pids = list(referral_children["person_id"])
        got = ondemand_evidence(snapshot, *records, {p: FEATURE_NAMES for p in pids})
        # Which features to check is decided by the SQL's values, not by the code
        # under test: every count the SQL finds non-zero must have records behind
        # it (a feature that wrongly lists none is caught), and a sample of the
        # zeros must list exactly what evidence() lists (evidence() costs a query
        # each: all 153 for every child is minutes).
        values = build_features(con, refs, referral_children).to_frame().set_index("person_id")
        for pid in pids:
            counted = [
                n
                for n in FEATURE_NAMES
                if SPECS_BY_NAME[n].record.table in RECORD_TABLES and values.at[pid, n] > 0
            ]
            zero = [n for n in FEATURE_NAMES if n not in counted]
            sample = list(np.random.default_rng(seed).choice(zero, min(5, len(zero)), False))
            for name in counted:
                assert got[(pid, name)], f"{name} is {values.at[pid, name]} but lists no records"
            for name in counted + sample:
                want = evidence(con, rid, pid, name)
                mine = evidence_frame(got[(pid, name)])
                assert len(mine) == len(want), (rid, pid, name)
                pd.testing.assert_frame_equal(_canonical(mine), _canonical(want))
                # and in the order evidence() gives, up to exact ties
                keys = ["occurred_at", "recorded_at", "person_id"]
                assert mine[keys].astype(str).values.tolist() == (
                    want[keys].astype(str).values.tolist()
                )
                checked += len(want)
    assert checked > 100  # the worlds have records behind the features


def test_unknown_child_or_feature_is_refused():
    tables = random_world(3)
    con = store_of(tables)
    snapshot = StoreSnapshot.load(con)
    refs = tables["referrals"].iloc[[0]]
    referral_children = tables["referral_children"][
        tables["referral_children"]["referral_id"] == refs["referral_id"].iloc[0]
    ]
    records = check_referrals(refs, referral_children)
    with pytest.raises(ValueError, match="not a child on this referral"):
        ondemand_evidence(snapshot, *records, {"P-NOBODY": ["child_injuries_ever"]})
    with pytest.raises(ValueError, match="Unknown feature 'shoe_size'"):
        ondemand_evidence(
            snapshot, *records, {referral_children["person_id"].iloc[0]: ["shoe_size"]}
        )


def test_the_edge_world_lists_the_same_records_as_the_sql():
    """Every feature of the child the edge world surrounds, in memory and by SQL.

    Among its boundaries: a parent and a sibling who joined two of the child's
    homes the same day, the second joining recorded only at the referral.
    Memory once listed both memberships (one recorded after the referral).
    """
    edge = edge_world()
    tables, con = edge.world.tables, edge.world.con
    refs = tables["referrals"][tables["referrals"]["referral_id"] == edge.referral_id]
    referral_children = tables["referral_children"][
        (tables["referral_children"]["referral_id"] == edge.referral_id)
        & (tables["referral_children"]["person_id"] == edge.child)
    ]
    got = ondemand_evidence(
        StoreSnapshot.load(con),
        *check_referrals(refs, referral_children),
        {edge.child: FEATURE_NAMES},
    )
    as_of = refs["received_at"].iloc[0]
    for name in FEATURE_NAMES:
        want = evidence(con, edge.referral_id, edge.child, name)
        mine = evidence_frame(got[(edge.child, name)])
        history = mine[mine["event_type"] != "this referral"]
        assert (pd.to_datetime(history["recorded_at"]) < as_of).all(), name
        pd.testing.assert_frame_equal(_canonical(mine), _canonical(want), obj=name)
