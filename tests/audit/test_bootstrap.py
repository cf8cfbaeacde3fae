"""The cluster bootstrap: intervals, narrowing, referrals kept together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from audit import audit_predictions
from audit.bootstrap import cluster_weight_chunks, row_weights, weighted_auc

from .conftest import make_predictions

RATES = ("base_rate", "selection_rate", "tpr", "fnr", "fpr", "precision", "auc")


def test_intervals_contain_the_point_estimate(audit_result):
    checked = 0
    for groups in audit_result.primary.groups.values():
        for entry in groups.values():
            if entry["too_small"]:
                continue
            for metric in RATES:
                est = entry[metric]
                if est["value"] is None or est["ci_low"] is None:
                    continue
                assert est["ci_low"] - 1e-12 <= est["value"] <= est["ci_high"] + 1e-12, (
                    metric,
                    est,
                )
                checked += 1
    assert checked > 50


def _width(n_referrals: int) -> dict[str, float]:
    result = audit_predictions(
        make_predictions(n_referrals, random_state=11),
        n_boot=200,
        random_state=3,
        mitigation=False,
    )
    overall = result.primary.overall
    return {m: overall[m]["ci_high"] - overall[m]["ci_low"] for m in ("tpr", "fpr", "auc")}


def test_intervals_narrow_as_n_grows():
    small, large = _width(300), _width(3000)
    for metric in small:
        # Ten times the data: about 1/sqrt(10) = 0.32 of the width; allow noise.
        assert large[metric] < 0.6 * small[metric], (metric, small[metric], large[metric])


def test_cluster_bootstrap_keeps_a_referrals_rows_together():
    clusters = np.array([0, 0, 0, 1, 2, 2, 3, 4, 4, 4])
    for counts in cluster_weight_chunks(5, 50, random_state=0, chunk=20):
        w = row_weights(counts, clusters)
        for c in range(5):
            rows = w[:, clusters == c]
            assert (rows == rows[:, [0]]).all()
        # Each replicate draws as many referrals as there are.
        assert (counts.sum(axis=1) == 5).all()


def test_bootstrap_is_seeded():
    a = np.concatenate(list(cluster_weight_chunks(30, 120, random_state=5, chunk=50)))
    b = np.concatenate(list(cluster_weight_chunks(30, 120, random_state=5, chunk=50)))
    c = np.concatenate(list(cluster_weight_chunks(30, 120, random_state=6, chunk=50)))
    assert a.shape == (120, 30)
    assert (a == b).all()
    assert not (a == c).all()


def test_cluster_intervals_are_wider_than_row_intervals_for_duplicated_children():
    # Every referral has three identical children: resampling rows would treat
    # them as independent evidence and give too narrow an interval.
    base = make_predictions(400, random_state=2)
    base = base.drop_duplicates("referral_id").reset_index(drop=True)
    tripled = pd.concat([base] * 3, ignore_index=True)
    by_referral = audit_predictions(
        tripled, n_boot=300, random_state=1, mitigation=False, groups=["sex"]
    )
    by_row = audit_predictions(
        tripled, n_boot=300, random_state=1, mitigation=False, groups=["sex"], referral_col=None
    )

    def width(r):
        e = r.primary.overall["base_rate"]
        return e["ci_high"] - e["ci_low"]

    # sqrt(3) = 1.73 in expectation.
    assert width(by_referral) > 1.4 * width(by_row)


def test_weighted_auc_matches_sklearn_with_weights_and_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(float)
    s = np.round(rng.random(200), 1)  # many ties
    w = rng.integers(0, 4, (3, 200)).astype(float)
    got = weighted_auc(w, y, s)
    for k in range(3):
        assert got[k] == pytest.approx(roc_auc_score(y, s, sample_weight=w[k]))
