"""The agency identities the simulator writes: realistic, seeded, and the truth kept apart."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mast.cli import app
from store.identities import validate_identity_tables
from synthetic.identities import fold_accents, simulate_agency_identities


@pytest.fixture(scope="module")
def identities(small, small_config):
    return simulate_agency_identities(small.tables, small_config.random_state)


def _joined(identities, small):
    records = identities.tables["agency_records"].merge(
        identities.truth, on=["agency", "agency_record_id"]
    )
    return records.merge(
        small.tables["people"], on="person_id", suffixes=("", "_true"), validate="m:1"
    )


def test_tables_keep_the_contract_and_every_event_has_its_record(identities, small):
    validate_identity_tables(identities.tables, small.tables["agency_events"])
    links = identities.tables["agency_event_records"]
    assert len(links) == len(small.tables["agency_events"])
    assert links["agency_record_id"].notna().all()


def test_same_seed_same_identities_other_seed_differs(identities, small, small_config):
    again = simulate_agency_identities(small.tables, small_config.random_state)
    pd.testing.assert_frame_equal(
        again.tables["agency_records"], identities.tables["agency_records"]
    )
    other = simulate_agency_identities(small.tables, small_config.random_state + 1)
    assert not other.tables["agency_records"]["given_name"].equals(
        identities.tables["agency_records"]["given_name"]
    )


def test_records_carry_no_person_id_and_the_truth_names_every_record(identities, small):
    records = identities.tables["agency_records"]
    assert "person_id" not in records.columns
    truth = identities.truth
    assert len(truth) == len(records)
    assert set(truth["person_id"]) <= set(small.tables["people"]["person_id"])
    # Identifiers are agency-specific and say nothing of the person: no record
    # id contains a person_id.
    assert not records["agency_record_id"].isin(small.tables["people"]["person_id"]).any()


def test_errors_are_present_at_realistic_rates(identities, small):
    rec = _joined(identities, small)
    dob_wrong = (rec["date_of_birth"] != rec["date_of_birth_true"]) & rec["date_of_birth"].notna()
    assert 0.005 < dob_wrong.mean() < 0.08
    transposed = (rec["date_of_birth"].dt.day == rec["date_of_birth_true"].dt.month) & (
        rec["date_of_birth"].dt.month == rec["date_of_birth_true"].dt.day
    )
    assert (transposed & dob_wrong).sum() > 0
    # Several records of one person disagree on the name for some people.
    names = rec.assign(name=rec["given_name"].str.lower() + " " + rec["family_name"].str.lower())
    per_person = names.groupby("person_id")["name"].nunique()
    assert 0.03 < (per_person > 1).mean() < 0.5
    # Some agency holds the same person twice.
    assert identities.truth.duplicated(["agency", "person_id"]).any()


def test_nhs_numbers_are_missing_more_often_for_adults(identities, small):
    rec = _joined(identities, small)
    health = rec[rec["agency"] == "health"]
    adult = (pd.Timestamp("2020-01-01") - health["date_of_birth_true"]).dt.days > 18 * 365
    missing = health["nhs_number"].isna()
    assert missing[adult].mean() > missing[~adult].mean()


def test_names_of_many_origins_and_twins_appear(identities, small):
    rec = _joined(identities, small)
    accented = rec["family_name"].dropna().map(lambda s: s != fold_accents(s))
    assert accented.any()
    members = small.tables["household_members"]
    kids = members[members["role"] == "child"].merge(small.tables["people"], on="person_id")
    assert kids.duplicated(["household_id", "date_of_birth"]).any()  # twins


def test_fold_accents():
    assert fold_accents("Łukasz Zięcik") == "Lukasz Ziecik"
    assert fold_accents("Güçlü") == "Guclu"


def test_cli_writes_identities_only_when_asked(tmp_path):
    runner = CliRunner()
    plain, with_ids = tmp_path / "plain.duckdb", tmp_path / "ids.duckdb"
    base = ["simulate", "--children", "500", "--years", "2", "--burn-in-years", "1", "--seed", "5"]
    assert runner.invoke(app, [*base, "--db", str(plain)]).exit_code == 0
    result = runner.invoke(app, [*base, "--db", str(with_ids), "--agency-identities"])
    assert result.exit_code == 0, result.output
    with (
        duckdb.connect(str(plain), read_only=True) as a,
        duckdb.connect(str(with_ids), read_only=True) as b,
    ):
        tables = {
            r[0] for r in a.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        assert "agency_records" not in tables
        # The world itself is the same with identities on or off.
        for table in ("people", "agency_events", "referrals"):
            left = a.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
            right = b.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
            pd.testing.assert_frame_equal(left, right)
        n = b.execute("SELECT count(*) FROM agency_records").fetchone()[0]
        m = b.execute("SELECT count(*) FROM truth.agency_record_people").fetchone()[0]
        assert n == m > 0
        assert np.isclose(
            b.execute("SELECT count(*) FROM agency_event_records").fetchone()[0],
            b.execute("SELECT count(*) FROM agency_events").fetchone()[0],
        )
        # Adults named on the referrals (contract 1.3), who they are in truth only.
        named = b.execute("SELECT * FROM referral_named_adults").df()
        who = b.execute("SELECT * FROM truth.referral_named_adult_people").df()
        assert len(named) == len(who) > 0 and "person_id" not in named.columns
        assert (
            named["referral_id"]
            .isin(b.execute("SELECT referral_id FROM referrals").df()["referral_id"])
            .all()
        )
