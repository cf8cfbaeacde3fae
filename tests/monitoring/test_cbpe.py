"""CBPE-style estimates against a simulation of the labels the probabilities promise."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from monitoring import expected_auc, expected_flag_metrics, referral_probability


def test_expected_auc_matches_the_mean_realised_auc_of_simulated_labels():
    rng = np.random.default_rng(1)
    p = rng.beta(1.2, 6, size=3000)
    realised = [roc_auc_score(rng.random(p.size) < p, p) for _ in range(300)]
    assert expected_auc(p) == pytest.approx(np.mean(realised), abs=0.004)


def test_expected_auc_with_ties_and_a_separate_ranking():
    rng = np.random.default_rng(2)
    p = rng.beta(2, 5, size=2000)
    score = np.round(p * 5)  # a coarse score with many ties
    realised = [roc_auc_score(rng.random(p.size) < p, score) for _ in range(300)]
    assert expected_auc(p, score) == pytest.approx(np.mean(realised), abs=0.005)
    # Probabilities that say nothing: a coin toss.
    assert expected_auc(np.full(500, 0.3)) == pytest.approx(0.5)


def test_expected_auc_refuses_a_value_that_is_not_a_probability():
    with pytest.raises(ValueError, match="y_prob"):
        expected_auc(np.array([0.2, 1.3]))


def test_expected_precision_and_recall_are_the_expected_counts():
    rng = np.random.default_rng(3)
    p = rng.beta(1, 4, size=1000)
    flag = p > np.quantile(p, 0.9)
    draws = rng.random((400, p.size)) < p
    got = expected_flag_metrics(p, flag)
    assert got["expected_precision"] == pytest.approx(draws[:, flag].mean(), abs=0.01)
    recall = (draws[:, flag].sum(axis=1) / draws.sum(axis=1)).mean()
    assert got["expected_recall"] == pytest.approx(recall, abs=0.01)


def test_referral_probability_is_at_least_one_child():
    got = referral_probability(np.array([0.5, 0.5, 0.2]), np.array(["a", "a", "b"]))
    assert got == pytest.approx({"a": 0.75, "b": 0.2})
