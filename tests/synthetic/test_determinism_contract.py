"""Seeds, the data contract, the config's guard rails and the store round trip."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from pydantic import ValidationError

import store
from synthetic import SimulationConfig, World, simulate, small_world


def frame_hashes(world: World) -> dict[str, str]:
    """One content hash per table (and the truth), order included."""
    out = {}
    for name, frame in {**world.tables, "truth": world.truth}.items():
        digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy())
        out[name] = digest.hexdigest()
    return out


def test_same_seed_gives_identical_tables(small, small_config):
    again = simulate(small_config)
    assert frame_hashes(again) == frame_hashes(small)


def test_different_seed_gives_different_tables(small, small_config):
    other = simulate(small_config.model_copy(update={"random_state": 12}))
    a, b = frame_hashes(small), frame_hashes(other)
    assert all(a[name] != b[name] for name in ("people", "referrals", "agency_events", "truth"))


def test_same_seed_same_store_content_hash(tmp_path, small_config):
    hashes = []
    for i in range(2):
        world = simulate(small_config)
        con = store.connect(tmp_path / f"s{i}.duckdb")
        store.write_tables(con, world.tables, truth=world.truth, replace=True)
        hashes.append(store.content_hash(con, include_truth=True))
        con.close()
    assert hashes[0] == hashes[1]


def test_small_run_passes_the_data_contract(small):
    clean = store.validate_tables(small.tables)
    assert set(clean) == set(store.TABLES)
    assert all(len(clean[name]) == len(small.tables[name]) for name in clean)


def test_world_writes_to_the_store_with_truth_apart(tmp_path, small):
    con = store.connect(tmp_path / "w.duckdb")
    store.write_tables(con, small.tables, truth=small.truth, replace=True)
    counts = store.table_counts(con)
    assert counts == {name: len(frame) for name, frame in small.tables.items()}
    n_truth = con.execute("SELECT count(*) FROM truth.latent_harm").fetchone()[0]
    assert n_truth == len(small.truth) > 0
    main_tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    assert "latent_harm" not in main_tables


def test_small_world_is_quick_and_store_ready():
    world = small_world(random_state=3)
    store.validate_tables(world.tables)
    assert len(world.tables["referrals"]) > 50
    assert world.truth.columns.tolist() == [
        "person_id",
        "start_date",
        "end_date",
        "harm_type",
        "severity",
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_children", 10),
        ("years", 0),
        ("years", 40),
        ("exposure_bias", -1.0),
        ("serious_incident_multiplier", 0.0),
        ("random_state", -5),
        ("history_weight", 1.5),
    ],
)
def test_bad_parameters_name_the_parameter(field, value):
    with pytest.raises(ValidationError) as err:
        SimulationConfig(**{field: value})
    assert field in str(err.value)


def test_unknown_parameter_is_rejected():
    with pytest.raises(ValidationError, match="n_kids"):
        SimulationConfig(n_kids=5)


def test_serious_incident_multiplier_changes_nothing_else(small, small_config):
    many = simulate(small_config.model_copy(update={"serious_incident_multiplier": 200.0}))
    a, b = frame_hashes(small), frame_hashes(many)
    assert {k for k in a if a[k] != b[k]} == {"agency_events"}
    si = "event_type == 'serious_incident'"
    assert len(many.tables["agency_events"].query(si)) > 5 * max(
        1, len(small.tables["agency_events"].query(si))
    )
    rest = [
        w.tables["agency_events"].query("event_type != 'serious_incident'").drop(columns="event_id")
        for w in (small, many)
    ]
    pd.testing.assert_frame_equal(rest[0].reset_index(drop=True), rest[1].reset_index(drop=True))


def test_no_referral_names_an_adult(small):
    """Every referral child is under 18 on received_at (a plain reference: birthday arithmetic by hand)."""
    t = small.tables
    born = dict(zip(t["people"]["person_id"], t["people"]["date_of_birth"], strict=True))
    received = dict(zip(t["referrals"]["referral_id"], t["referrals"]["received_at"], strict=True))
    for rid, pid in zip(
        t["referral_children"]["referral_id"], t["referral_children"]["person_id"], strict=True
    ):
        dob, on = born[pid], received[rid]
        age = on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))
        assert age < 18, (rid, pid, dob, on)
    # and every referral written names a child
    assert set(t["referrals"]["referral_id"]) == set(t["referral_children"]["referral_id"])
