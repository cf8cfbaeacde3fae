"""Adults named on simulated referrals: seeded, about real adults, typed with error, truth apart."""

from __future__ import annotations

import pandas as pd
import pytest

from store import vocabulary as v
from synthetic.identities import simulate_agency_identities
from synthetic.named_adults import NAMED_ADULT_COLUMNS, simulate_named_adults


@pytest.fixture(scope="module")
def identities(small, small_config):
    return simulate_agency_identities(small.tables, small_config.random_state)


@pytest.fixture(scope="module")
def named(small, identities):
    return simulate_named_adults(
        small.tables, identities.tables["agency_records"], identities.truth, 11
    )


def test_seeded_and_the_truth_is_not_in_the_table(small, identities, named):
    again = simulate_named_adults(
        small.tables, identities.tables["agency_records"], identities.truth, 11
    )
    pd.testing.assert_frame_equal(again.table, named.table)
    other = simulate_named_adults(
        small.tables, identities.tables["agency_records"], identities.truth, 12
    )
    assert not other.table.equals(named.table)
    assert tuple(named.table.columns) == NAMED_ADULT_COLUMNS
    assert "person_id" not in named.table.columns
    assert len(named.table) == len(named.truth) > 20


def test_each_named_adult_is_an_adult_partner_or_visitor_of_a_real_referral(small, named):
    referrals = small.tables["referrals"].set_index("referral_id")["received_at"]
    assert named.table["referral_id"].isin(referrals.index).all()
    assert set(named.table["relationship"]) <= set(v.NAMED_ADULT_RELATIONSHIPS)
    assert set(named.table["lives_at_address"]) <= set(v.LIVES_AT_ADDRESS)
    born = small.tables["people"].set_index("person_id")["date_of_birth"]
    truth = named.truth.merge(named.table, on=["referral_id", "adult_number"])
    age = (truth["referral_id"].map(referrals) - truth["person_id"].map(born)).dt.days / 365.25
    assert (age >= 16).all()
    # A partner who moves in after the referral does not live there yet.
    members = small.tables["household_members"]
    start = members[members["role"] == "partner"].groupby("person_id")["start_date"].min()
    later = truth[truth["relationship"] == "mothers_new_partner"]
    joins_after = later["person_id"].map(start) > later["referral_id"].map(referrals)
    assert (later.loc[joins_after, "lives_at_address"] == "no").all()


def test_names_are_typed_as_a_referrer_types_them(named, identities, small):
    records = identities.tables["agency_records"].merge(identities.truth)
    truth = named.truth.merge(named.table, on=["referral_id", "adult_number"])
    full = (records["given_name"].fillna("") + " " + records["family_name"].fillna("")).str.strip()
    held = set(zip(records["person_id"], full, strict=True))
    as_held = [(p, n) in held for p, n in zip(truth["person_id"], truth["name"], strict=True)]
    share = sum(as_held) / len(as_held)
    assert 0.4 < share < 0.95  # most as an agency holds it; some nicknamed, misspelt, surname only
    assert truth["date_of_birth"].isna().mean() > 0.3
    assert truth["date_of_birth_approximate"].any()


def test_the_table_keeps_the_contract(small, named):
    from store.identities import validate_identity_tables

    clean = validate_identity_tables(
        {"referral_named_adults": named.table},
        referral_ids=small.tables["referrals"]["referral_id"],
    )
    assert len(clean["referral_named_adults"]) == len(named.table)
