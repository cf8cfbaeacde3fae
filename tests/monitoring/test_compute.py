"""A simulated drift is caught: a partner agency changes what it records."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from monitoring import build_reference, load_monitoring_policy, monitor_periods, wilson_interval

POLICY = load_monitoring_policy()
NAMES = ["police_notifications_12m", "school_absence_rate", "prior_referrals_12m"]


class _Scorer:
    """A stand-in scorer: probability from the features; flags about a quarter."""

    feature_names = NAMES
    policy = SimpleNamespace(threshold_score=10)

    def predict_referrals(self, X, referral_id):
        m = X["police_notifications_12m"].fillna(0) + X["prior_referrals_12m"].fillna(0)
        prob = 1 / (1 + np.exp(-(m.to_numpy() - 4)))
        score = np.clip(np.ceil(prob * 20), 1, 20).astype(int)
        return pd.DataFrame(
            {
                "probability": prob,
                "score": score,
                "referral_score": score,
                "referral_flag": (score >= 10).astype(int),
            }
        )


def _world(n, rng, police_recording=1.0):
    X = pd.DataFrame(
        {
            "police_notifications_12m": rng.poisson(1.5 * police_recording, n).astype(float),
            "school_absence_rate": rng.beta(2, 20, n),
            "prior_referrals_12m": rng.poisson(1.0, n).astype(float),
        }
    )
    return X


def _scored(X, period, scorer, rng):
    ref = np.array([f"{period}-{i}" for i in range(len(X))])
    out = scorer.predict_referrals(X, ref)
    return X.assign(
        period=period,
        referral_id=ref,
        probability=out["probability"].to_numpy(),
        referral_score=out["referral_score"].to_numpy(),
        flag=out["referral_flag"].to_numpy(),
        overridden=False,
        y_true=np.nan,
    )


@pytest.fixture
def reference():
    rng = np.random.default_rng(0)
    X = _world(20_000, rng)
    cal = _world(5000, rng)
    window = SimpleNamespace(
        train=(pd.Timestamp("2016-01-01"), pd.Timestamp("2020-01-01")),
        calibration=(pd.Timestamp("2020-01-01"), pd.Timestamp("2021-01-01")),
    )
    ref = np.arange(len(cal)).astype(str)
    return build_reference(_Scorer(), X, cal, ref, rng.random(len(cal)) < 0.2, window)


def test_a_partner_agency_that_stops_recording_is_caught(reference):
    rng = np.random.default_rng(1)
    scorer = _Scorer()
    before = _scored(_world(800, rng), "2026-01", scorer, rng)
    # From February the police record a fifth of what they did (a system change).
    after = _scored(_world(800, rng, police_recording=0.2), "2026-02", scorer, rng)
    labels = {"police_notifications_12m": "Police notifications in the last 12 months"}
    results = monitor_periods(
        pd.concat([before, after], ignore_index=True),
        reference,
        POLICY,
        expected_flag_rate=reference["flag_rate"],
        labels=labels,
    )
    jan, feb = results
    assert jan.breaches == []
    assert jan.top_drift(1)[0][1] < POLICY.psi_moderate
    assert feb.top_drift(1)[0][0] == "police_notifications_12m"
    assert feb.feature_psi["police_notifications_12m"] >= POLICY.psi_breach
    assert feb.feature_psi["school_absence_rate"] < POLICY.psi_moderate
    text = " ".join(feb.breaches)
    assert "Police notifications in the last 12 months" in text
    # Fewer police records lower the scores: the flag rate falls and is caught too.
    assert feb.flag_rate < jan.flag_rate
    assert any("flagged" in b for b in feb.breaches)


def test_a_small_month_is_reported_but_not_judged(reference):
    rng = np.random.default_rng(2)
    small = _scored(_world(10, rng, police_recording=0.1), "2026-03", _Scorer(), rng)
    (r,) = monitor_periods(small, reference, POLICY, reference["flag_rate"])
    assert not r.judged and r.breaches == []
    assert r.n_referrals == 10


def test_wilson_interval_against_a_textbook_value():
    lo, hi = wilson_interval(10, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.0552, 0.1744)
