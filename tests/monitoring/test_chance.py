"""A month's PSI against what chance alone gives with the same number of referrals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring import load_monitoring_policy, monitor_periods, psi, psi_reading
from monitoring.chance import chance_check, null_psi, shift_words

POLICY = load_monitoring_policy()


def _null_by_hand(expected, n, n_draws, seed):
    """The simple reference: one month at a time, through the public ``psi``."""
    rng = np.random.default_rng(seed)
    e = np.asarray(expected) / np.sum(expected)
    return np.array([psi(e, rng.multinomial(n, e) / n) for _ in range(n_draws)])


def test_the_null_matches_a_month_by_month_computation():
    p = [0.5, 0.3, 0.15, 0.05, 0.0]
    np.testing.assert_allclose(null_psi(p, 80, 300, 7), _null_by_hand(p, 80, 300, 7))
    np.testing.assert_array_equal(null_psi(p, 80, 300, 7), null_psi(p, 80, 300, 7))


def test_the_mean_no_change_psi_is_about_k_minus_1_over_n():
    # No bin small enough to stay empty, so the chi-square approximation holds.
    p = np.full(5, 0.2)
    for n in (100, 400):
        assert null_psi(p, n, 4000, 0).mean() == pytest.approx(4 / n, rel=0.1)


def test_p_values_of_no_change_months_are_uniform():
    """A no-change month falls below level 0.05 about one time in twenty, as it should."""
    p = np.array([0.6, 0.25, 0.1, 0.04, 0.01, 0.0])
    rng = np.random.default_rng(3)
    hits = [
        chance_check(p, psi(p, rng.multinomial(50, p) / 50), 50, 0.05, i, 2000).beyond_chance
        for i in range(400)
    ]
    assert 0.02 <= np.mean(hits) <= 0.09


RARE_BIN_REFERENCE = {
    "features": {
        "n_children": {"edges": [1.0, 2.0, 3.0], "proportions": [0.45, 0.3, 0.2, 0.05, 0.0]}
    },
    "referral_score_proportions": [0.05] * 20,
}


def _month_without_the_rare_bin() -> pd.DataFrame:
    """60 referrals, none about four or more children (5% of the reference's rows)."""
    return pd.DataFrame(
        {
            "period": "2026-01",
            "referral_id": [f"R{i}" for i in range(60)],
            "n_children": np.repeat([1.0, 2.0, 3.0], [27, 18, 15]),
            "probability": 0.1,
            "referral_score": np.arange(60) % 20 + 1,
            "flag": 0,
            "overridden": False,
            "y_true": np.nan,
        }
    )


def test_a_rare_bin_left_empty_by_a_small_month_is_chance_not_drift():
    """Before: an empty 5% bin alone gave PSI 0.31 and a breach; it happens in 1 month in 22."""
    (r,) = monitor_periods(
        _month_without_the_rare_bin(), RARE_BIN_REFERENCE, POLICY, 0.1, n_draws=5000
    )
    assert r.judged and r.feature_psi["n_children"] >= POLICY.psi_breach
    check = r.feature_chance["n_children"]
    assert not check.beyond_chance and check.line > r.feature_psi["n_children"]
    assert r.breaches == []
    assert "look like those the model learned from" in r.inputs_sentence(POLICY.psi_moderate)
    reading = psi_reading(r.feature_psi["n_children"], chance=check)
    assert reading.startswith("within what chance alone gives with 60 referrals")


def test_which_way_an_input_moved_in_words():
    ref = [0.5, 0.3, 0.2, 0.0]
    assert shift_words(ref, [0.2, 0.3, 0.5, 0.0]).startswith("higher values")
    assert shift_words(ref, [0.7, 0.2, 0.1, 0.0]).startswith("lower values")
    assert shift_words(ref, [0.3, 0.2, 0.1, 0.4]) == "more often not recorded"
    assert shift_words([0.4, 0.3, 0.1, 0.2], [0.5, 0.4, 0.1, 0.0]) == "recorded more often"


def test_a_real_change_names_the_input_and_its_direction():
    reference = {
        "features": {"police": {"edges": [0.0, 1.0], "proportions": [0.3, 0.4, 0.3, 0.0]}},
        "referral_score_proportions": [0.05] * 20,
    }
    n = 300
    scored = pd.DataFrame(
        {
            "period": "2026-02",
            "referral_id": [f"R{i}" for i in range(n)],
            "police": np.repeat([0.0, 1.0, 2.0], [240, 45, 15]),  # police record far less
            "probability": 0.1,
            "referral_score": np.arange(n) % 20 + 1,
            "flag": 0,
            "overridden": False,
            "y_true": np.nan,
        }
    )
    (r,) = monitor_periods(
        scored, reference, POLICY, 0.1, labels={"police": "Police notifications"}, n_draws=5000
    )
    assert r.feature_chance["police"].beyond_chance
    sentence = r.inputs_sentence(POLICY.psi_moderate, {"police": "Police notifications"})
    assert "look unlike those the model learned from in 1 input" in sentence
    assert "Police notifications (lower values more common" in sentence
    assert any("Police notifications, lower values" in b for b in r.breaches)


def test_the_policy_refuses_a_chance_outside_0_and_1(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('version = "x"\n[drift]\nchance = 1.5\n')
    with pytest.raises(ValueError, match=r"drift\.chance"):
        load_monitoring_policy(f)


def test_the_board_reads_the_sentence_and_the_chance_line(tmp_path):
    """The report and the printed lines say, in words, whether the month's referrals look alike."""
    from monitoring.report import summary_lines, write_report

    results = monitor_periods(
        _month_without_the_rare_bin(), RARE_BIN_REFERENCE, POLICY, 0.1, n_draws=5000
    )
    labels = {"n_children": "Number of children on this referral"}
    html = write_report(tmp_path / "m.html", results, POLICY, labels, {}).read_text()
    assert "The referrals this month look like those the model learned from" in html
    assert "chance alone reaches" in html
    assert "within what chance alone gives with 60 referrals" in html
    assert "Nothing flagged" in html
    lines = summary_lines(results, POLICY)
    assert any("look like those the model learned from" in line for line in lines)
    named = summary_lines(
        monitor_periods(
            _month_without_the_rare_bin().assign(n_children=5.0),
            RARE_BIN_REFERENCE,
            POLICY,
            0.1,
            labels=labels,
            n_draws=5000,
        ),
        POLICY,
        labels,
    )
    assert any("Number of children on this referral (higher values" in line for line in named)
    assert not any("n_children" in line for line in named)
    assert any("scores PSI" in line and "beyond chance" in line for line in lines)
