"""The calibration report, against a reference and against England.

The fast tests check the report's arithmetic against a plain pandas
reference on a small world.  The slow ones simulate a mid-sized authority
(200,000 children over 5 years, shrunk by ``scale`` but never below 100,000
children, because the published ranges are narrow and a small authority's
rates are too noisy to test honestly) and require every modelled row to land
inside its range.
"""

from __future__ import annotations

import pandas as pd
import pytest

import store
from synthetic import SimulationConfig, calibration_report, simulate

MAIN_ROWS = (
    "referrals per 100 child-years",
    "referrals that are re-referrals within 12 months (%)",
    "referred children referred again within 6 years (%)",
    "children in need (assessed) at some point in 6 years (%)",
    "referral source: police (%)",
    "referral source: schools (%)",
    "referral source: health (%)",
    "section 47 enquiries per 100 child-years",
    "section 47 enquiries going on to an ICPC (%)",
    "children on a child protection plan (%) on a given day",
    "children looked after (%) on a given day",
    "latent significant-harm episodes per 100 child-years",
    "harmed children referred within a year of harm starting (%)",
)


def _row(report: pd.DataFrame, quantity: str) -> pd.Series:
    match = report[report["quantity"] == quantity]
    assert len(match) == 1, quantity
    return match.iloc[0]


def _reference_rates(world, config) -> dict[str, float]:
    """Referral rate, re-referral share and s47 rate, the slow obvious way."""
    t = world.tables
    ws, we = pd.Timestamp(config.window_start), pd.Timestamp(config.window_end)
    child_ids = t["household_members"].query("role == 'child'")["person_id"].unique()
    people = t["people"].set_index("person_id").loc[child_ids]
    years = 0.0
    for dob in people["date_of_birth"]:
        lo, hi = max(dob, ws), min(dob + pd.DateOffset(years=18), we)
        years += max(0, (hi - lo).days) / 365.25
    rc = t["referral_children"].merge(t["referrals"][["referral_id", "received_at"]])
    rc = rc.sort_values(["person_id", "received_at"])
    rc["prev"] = rc.groupby("person_id")["received_at"].shift()
    inside = rc[(rc["received_at"] >= ws) & (rc["received_at"] < we)]
    rerefs = inside["prev"].notna() & (
        inside["prev"] >= inside["received_at"] - pd.Timedelta(days=365)
    )
    e = t["agency_events"]
    s47 = e[(e["event_type"] == "section47_enquiry") & e["person_id"].isin(child_ids)]
    s47 = s47[(s47["occurred_at"] >= ws) & (s47["occurred_at"] < we)]
    return {
        "referrals per 100 child-years": 100 * len(inside) / years,
        "referrals that are re-referrals within 12 months (%)": 100 * rerefs.mean(),
        "section 47 enquiries per 100 child-years": 100 * len(s47) / years,
    }


def test_report_matches_a_reference_implementation(small, small_config):
    report = calibration_report(small, small_config)
    assert list(report.columns) == [
        "quantity",
        "achieved",
        "target",
        "low",
        "high",
        "within",
        "source",
    ]
    for quantity, expected in _reference_rates(small, small_config).items():
        assert _row(report, quantity)["achieved"] == pytest.approx(expected, rel=1e-6)


def test_report_is_the_same_from_the_store(tmp_path, small, small_config):
    con = store.connect(tmp_path / "c.duckdb")
    store.write_tables(con, small.tables, truth=small.truth, replace=True)
    from_store = calibration_report(con, small_config)
    con.close()
    from_world = calibration_report(small, small_config)
    pd.testing.assert_frame_equal(from_store, from_world)


def test_six_year_rows_say_when_the_run_is_too_short(small, small_config):
    report = calibration_report(small, small_config)  # 3 + 2 years: too short
    row = _row(report, "referred children referred again within 6 years (%)")
    assert pd.isna(row["achieved"]) and not row["within"]


@pytest.fixture(scope="module")
def mid_sized(scale):
    """200,000 children x 5 years (at least 100,000 whatever the scale), SI x 20.

    The serious-incident multiplier leaves every other table unchanged
    (tested in test_determinism_contract), so one run serves both checks.
    """
    config = SimulationConfig(
        n_children=max(int(200_000 * scale), 100_000),
        years=5,
        random_state=20221201,
        serious_incident_multiplier=20.0,
    )
    world = simulate(config)
    return calibration_report(world, config)


@pytest.mark.slow
def test_mid_sized_run_lands_inside_england_ranges(mid_sized):
    rows = mid_sized[
        mid_sized["quantity"].isin(MAIN_ROWS) | mid_sized["quantity"].str.startswith("ethnicity")
    ]
    assert len(rows) == len(MAIN_ROWS) + 5
    _assert_inside(rows)


@pytest.mark.slow
def test_serious_incident_profile_with_a_multiplier(mid_sized):
    rows = mid_sized[mid_sized["quantity"].str.startswith("serious incidents")]
    assert len(rows) == 9
    _assert_inside(rows)


def _assert_inside(rows):
    """Inside the published range, judged from the numbers, not the report's own verdict."""
    inside = (rows["low"] <= rows["achieved"]) & (rows["achieved"] <= rows["high"])
    assert inside.all(), rows[~inside].to_string()
    # And the report's verdict agrees with the numbers.
    assert (rows["within"] == inside).all(), rows.to_string()


def test_a_handful_of_serious_incidents_is_flagged_not_judged(small, small_config):
    report = calibration_report(small, small_config)
    profile = report[report["quantity"].str.startswith("serious incidents: ")]
    assert len(profile) == 8
    assert profile["quantity"].str.contains("use a larger run or a multiplier").all()
