"""The cluster bootstrap: intervals, narrowing, referrals kept together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from audit import AuditColumns, audit_predictions
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
        tripled, AuditColumns(groups=["sex"]), n_boot=300, random_state=1, mitigation=False
    )
    by_row = audit_predictions(
        tripled,
        AuditColumns(groups=["sex"], referral_col=None),
        n_boot=300,
        random_state=1,
        mitigation=False,
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


def _tie_heavy(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    s = rng.integers(0, 6, n) / 5.0  # six distinct scores: nearly every pair is tied
    return y, s


def test_the_one_auc_equals_sklearn_on_tie_heavy_weighted_data():
    """Training's evaluation, the audit's per-group AUC and weighted_auc agree with sklearn."""
    from audit.bootstrap import GroupPlan, ReferralBootstrap
    from training.evaluate import _Ranked

    y, s = _tie_heavy()
    ref = np.repeat(np.arange(200), 2)
    boot = ReferralBootstrap(ref)
    counts = np.concatenate(list(boot.weight_chunks(5, random_state=1)))
    w = boot.row_weights(counts)
    groups = (np.arange(len(y)) % 3).astype(np.int64)
    plan = GroupPlan(groups, 3, boot.codes, boot.n_referrals, y, (s > 0.5).astype(float), y_score=s)
    per_group = plan.aucs(counts)
    direct = weighted_auc(w, y, s)
    for k in range(len(w)):
        want = roc_auc_score(y, s, sample_weight=w[k])
        assert direct[k] == pytest.approx(want, abs=1e-12)
        assert _Ranked(y, s).metrics(w[k], True)["auc"] == pytest.approx(want, abs=1e-12)
        for g in range(3):
            in_g = groups == g
            want_g = roc_auc_score(y[in_g], s[in_g], sample_weight=w[k, in_g])
            assert per_group[k, g] == pytest.approx(want_g, abs=1e-12)


def test_the_one_auc_is_undefined_with_one_class():
    y, s = _tie_heavy(50)
    assert np.isnan(weighted_auc(np.ones((1, 50)), np.ones(50), s)).all()
    assert np.isnan(weighted_auc(np.ones((1, 0)), np.ones(0), np.ones(0))).all()


def test_training_and_audit_draw_the_same_replicates():
    """One seed, one resample: the training interval and the audit interval share draws."""
    from audit.bootstrap import ReferralBootstrap

    ref = np.array(["a", "b", "a", "c", "d", "c", "e"])
    boot = ReferralBootstrap(ref)
    a = np.concatenate(list(boot.weight_chunks(40, random_state=7, chunk=15)))
    b = np.concatenate(list(cluster_weight_chunks(boot.n_referrals, 40, random_state=7)))
    assert (a == b).all()
    w = boot.row_weights(a)
    # Children of one referral always carry the same weight.
    assert (w[:, 0] == w[:, 2]).all() and (w[:, 3] == w[:, 5]).all()
    rows = boot.rows(a[0])
    assert len(rows) == w[0].sum()
