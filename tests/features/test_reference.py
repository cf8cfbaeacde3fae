"""The SQL agrees exactly with a brute-force reference on nasty small timelines."""

from __future__ import annotations

import pandas as pd
import pytest

from features import build_features
from tests.features.reference import assert_features_equal, reference_features
from tests.features.world import random_world, store_of


@pytest.mark.parametrize("seed", range(8))
def test_sql_matches_brute_force_reference(seed):
    tables = random_world(seed)
    table = build_features(store_of(tables)).to_frame()
    expected = reference_features(tables)
    assert len(table) == len(expected) == len(tables["referral_children"])
    assert_features_equal(table, expected)


def test_world_exercises_the_edge_cases():
    """The random timelines really contain the cases the reference must agree on."""
    hits = {"at": 0, "late": 0, "multi": 0, "left": 0, "joined": 0}
    hits |= dict.fromkeys(["start_at", "end_at", "end_recorded_at", "edge", "just_before_18"], 0)
    for seed in range(8):
        t = random_world(seed)
        times = set(t["referrals"]["received_at"])
        ev = t["agency_events"]
        mem = t["household_members"]
        hits["start_at"] += int(mem["start_date"].isin(times).sum())
        hits["end_at"] += int(mem["end_date"].isin(times).sum())
        hits["end_recorded_at"] += int(mem["end_recorded_at"].isin(times).sum())
        received = t["referrals"]["received_at"]
        hits["edge"] += sum(
            int(received.isin({x - pd.Timedelta(days=n) for x in times}).sum())
            for n in (91, 182, 365, 730)
        )
        born = t["people"].set_index("person_id")["date_of_birth"]
        rc = t["referral_children"].merge(t["referrals"], on="referral_id")
        at_18 = pd.to_datetime(born.loc[rc["person_id"]].values) + pd.DateOffset(years=18)
        # The last day before the 18th birthday (at it, the contract refuses the referral).
        before = at_18.to_numpy() - rc["received_at"].to_numpy()
        hits["just_before_18"] += int(
            ((before > pd.Timedelta(0)) & (before <= pd.Timedelta(days=1))).sum()
        )
        hits["at"] += int(ev["recorded_at"].isin(times).sum())
        for when in times:
            hits["late"] += int(((ev["occurred_at"] < when) & (ev["recorded_at"] >= when)).sum())
        hits["multi"] += int((t["referral_children"].groupby("referral_id").size() > 1).sum())
        hits["left"] += int(t["household_members"]["end_date"].notna().sum())
        hits["joined"] += int(
            (t["household_members"]["start_date"] > pd.Timestamp("2018-01-01")).sum()
        )
    assert all(n > 0 for n in hits.values()), hits


def test_reference_sees_nonzero_values():
    """A reference that only ever says 0 would agree with a broken SQL too."""
    frames = [reference_features(random_world(seed)) for seed in range(8)]
    ref = pd.concat(frames)
    for col in [
        "child_prior_referrals_ever",
        "child_prior_nfa_ever",
        "child_prior_referrals_same_concern_ever",
        "child_injuries_12m",
        "child_injuries_non_mobile_ever",
        "child_cp_plan_current",
        "household_new_adult_12m",
        "adults_da_perpetrator_ever_sum",
        "adults_childhood_csc_events_max",
        "siblings_prior_referrals_ever_sum",
        "parent_age_at_birth_min",
    ]:
        assert (ref[col].fillna(0) > 0).any(), col
