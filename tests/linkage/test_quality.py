"""Linkage quality measures, checked against a brute-force count of record pairs."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from linkage.quality import age_band, cluster_quality, naive_person_key, pairwise_quality


def _reference(pred, true, group=None):
    """Every pair of records, enumerated: (tp, linked pairs touching the group, true pairs in it)."""
    n = len(pred)
    group = np.ones(n, dtype=bool) if group is None else group
    tp = linked = true_pairs = 0
    for i, j in combinations(range(n), 2):
        same_pred, same_true = pred[i] == pred[j], true[i] == true[j]
        if same_pred and (group[i] or group[j]):
            linked += 1
        if same_true and group[i] and group[j]:
            true_pairs += 1
            tp += same_pred
    return tp, linked, true_pairs


@pytest.mark.parametrize("seed", range(6))
def test_pairwise_counts_match_every_pair_enumerated(seed):
    rng = np.random.default_rng(seed)
    n = 60
    true = rng.integers(0, 25, n)
    # A linkage that merges and splits some of the truth.
    pred = np.where(rng.random(n) < 0.2, rng.integers(0, 25, n), true)
    pred = np.where(rng.random(n) < 0.1, 100 + np.arange(n), pred)
    colour = rng.choice(["red", "blue"], 25)[true]  # a group is a property of the true person
    q = pairwise_quality(
        pd.Series(pred), pd.Series(true), pd.DataFrame({"colour": colour}), n_boot=20
    )
    for row in q.itertuples(index=False):
        mask = None if row.grouping == "overall" else colour == row.group
        tp, linked, true_pairs = _reference(pred, true, mask)
        assert (row.true_positive_pairs, row.linked_pairs, row.true_pairs) == (
            tp,
            linked,
            true_pairs,
        )
        assert row.precision == pytest.approx(tp / linked)
        assert row.recall == pytest.approx(tp / true_pairs)
        assert row.recall_low <= row.recall + 1e-12 and row.recall <= row.recall_high + 1e-12


def test_perfect_and_all_merged_linkages():
    true = pd.Series(["a", "a", "b", "b", "b", "c"])
    perfect = pairwise_quality(true, true, n_boot=10).iloc[0]
    assert perfect["precision"] == perfect["recall"] == perfect["f1"] == 1.0
    merged = pairwise_quality(pd.Series(["x"] * 6), true, n_boot=10).iloc[0]
    assert merged["recall"] == 1.0 and merged["precision"] == pytest.approx(4 / 15)
    assert cluster_quality(true, true)["cluster_f1"] == 1.0
    split = cluster_quality(pd.Series(range(6)).astype(str), true)
    assert split["cluster_precision"] == pytest.approx(1 / 6)  # only "c" is exact
    assert split["cluster_recall"] == pytest.approx(1 / 3)


def test_age_bands_use_whole_years():
    dob = pd.Series(pd.to_datetime(["2015-06-02", "2015-06-01", "2002-06-02", "1970-01-01"]))
    assert age_band(dob, pd.Timestamp("2020-06-01")).tolist() == [
        "0-4",
        "5-9",
        "10-17",
        "45 and over",
    ]


def test_naive_key_needs_all_three_fields():
    records = pd.DataFrame(
        {
            "unique_id": ["a", "b", "c"],
            "given_name": ["amy", "amy", None],
            "family_name": ["lee", "lee", "lee"],
            "dob_text": ["2001-01-01", "2001-01-01", "2001-01-01"],
        }
    )
    key = naive_person_key(records)
    assert key[0] == key[1] and key[2] == "alone:c"
