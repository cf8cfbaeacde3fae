import numpy as np
import pandas as pd
import pytest

from training import assign_periods, plan_periods

KW = dict(
    horizon_months=24,
    burn_in_months=6,
    test_months=12,
    calibration_months=12,
    min_train_months=12,
    recording_allowance_days=30,
)


def _keys(n_ref=3000, seed=0):
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2012-01-01")
    rows = []
    for i in range(n_ref):
        at = start + pd.Timedelta(minutes=int(rng.integers(0, 10 * 365 * 24 * 60)))
        for _ in range(int(rng.integers(1, 4))):
            rows.append((f"R{i}", f"C{rng.integers(0, 5000)}", at))
    return pd.DataFrame(rows, columns=["referral_id", "person_id", "received_at"]), start


def test_periods_are_ordered_with_the_label_horizon_gap():
    keys, start = _keys()
    end = start + pd.DateOffset(years=10)
    p = plan_periods(start, end, **KW)
    gap = pd.DateOffset(months=24)
    allowance = pd.Timedelta(days=30)
    assert p.train_start < p.train_end < p.calibration_start < p.calibration_end
    assert p.calibration_end < p.test_start < p.test_end < p.data_end
    # Every label window, plus allowance, closes before the next period starts.
    assert p.train_end + gap + allowance <= p.calibration_start
    assert p.calibration_end + gap + allowance <= p.test_start
    assert p.test_end + gap + allowance <= p.data_end
    assert p.train_start == start + pd.DateOffset(months=6)


def test_assignment_matches_a_simple_reference_and_keeps_referrals_whole():
    keys, start = _keys()
    p = plan_periods(start, start + pd.DateOffset(years=10), **KW)
    got = assign_periods(keys, p)

    def reference(at):
        for name in ("train", "calibration", "test"):
            s, e = p.bounds(name)
            if s <= at < e:
                return name
        return "excluded"

    assert got.tolist() == [reference(at) for at in keys["received_at"]]
    per_ref = pd.DataFrame({"r": keys["referral_id"], "p": got}).groupby("r")["p"].nunique()
    assert (per_ref == 1).all()
    assert set(got) == {"train", "calibration", "test", "excluded"}
    # Temporal order: every training referral precedes every calibration one, and so on.
    at = keys["received_at"]
    assert at[got == "train"].max() < at[got == "calibration"].min()
    assert at[got == "calibration"].max() < at[got == "test"].min()
    horizon = pd.DateOffset(months=24)
    assert (at[got == "train"] + horizon).max() < p.calibration_start
    assert (at[got == "calibration"] + horizon).max() < p.test_start


def test_children_of_one_referral_with_different_times_are_an_error():
    keys = pd.DataFrame(
        {
            "referral_id": ["R1", "R1"],
            "person_id": ["a", "b"],
            "received_at": pd.to_datetime(["2020-01-01", "2020-01-02"]),
        }
    )
    p = plan_periods(pd.Timestamp("2010-01-01"), pd.Timestamp("2021-01-01"), **KW)
    with pytest.raises(ValueError, match="R1"):
        assign_periods(keys, p)


def test_a_short_store_is_refused_naming_the_parameters():
    start = pd.Timestamp("2018-01-01")
    with pytest.raises(ValueError, match="split.min_train_months") as err:
        plan_periods(start, start + pd.DateOffset(years=6), **KW)
    assert "years" in str(err.value) and "horizon" in str(err.value)


def test_no_random_split_is_imported_anywhere():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for package in ("features", "models", "training"):
        for f in (root / package).rglob("*.py"):
            assert "train_test_split" not in f.read_text(), f
