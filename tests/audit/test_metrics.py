"""Every metric matches a direct numpy computation on hand-built cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score, roc_auc_score

from audit import AuditColumns, audit_predictions
from audit.bootstrap import GroupPlan
from audit.metrics import point_estimates
from store.vocabulary import NOT_RECORDED


def hand_built() -> pd.DataFrame:
    # Group A: 8 rows; group B: 6 rows; one row with no group recorded.
    rows = [
        # group, y, flag, prob, score
        ("A", 1, 1, 0.9, 19),
        ("A", 1, 1, 0.7, 15),
        ("A", 1, 0, 0.4, 9),
        ("A", 0, 1, 0.6, 13),
        ("A", 0, 0, 0.2, 4),
        ("A", 0, 0, 0.1, 2),
        ("A", 0, 0, 0.3, 6),
        ("A", 0, 1, 0.8, 17),
        ("B", 1, 1, 0.8, 17),
        ("B", 1, 0, 0.3, 6),
        ("B", 0, 0, 0.2, 4),
        ("B", 0, 0, 0.3, 6),
        ("B", 0, 1, 0.5, 10),
        ("B", 0, 0, 0.1, 1),
        (None, 1, 1, 0.6, 12),
    ]
    df = pd.DataFrame(rows, columns=["grp", "y", "f", "p", "s"])
    df["rid"] = np.arange(len(df))
    return df


def direct(y, f, p, s):
    """The textbook definitions, written out."""
    y, f, p = map(np.asarray, (y, f, p))
    bands = np.searchsorted((4, 8, 12, 16), s, side="left")
    ece = sum(abs(y[bands == b].sum() - p[bands == b].sum()) for b in np.unique(bands)) / len(y)
    return {
        "base_rate": y.mean(),
        "selection_rate": f.mean(),
        "tpr": f[y == 1].mean(),
        "fnr": 1 - f[y == 1].mean(),
        "fpr": f[y == 0].mean() if (y == 0).any() else np.nan,
        "precision": y[f == 1].mean(),
        "auc": roc_auc_score(y, p) if len(set(y)) == 2 else np.nan,
        "calibration_gap": y.mean() - p.mean(),
        "ece": ece,
    }


@pytest.fixture(scope="module")
def hand_result():
    return audit_predictions(
        hand_built(),
        AuditColumns(
            y_true="y",
            flag="f",
            score="p",
            y_prob="p",
            band="s",
            groups=["grp"],
            referral_col="rid",
        ),
        n_boot=200,
        random_state=1,
        mitigation=False,
    )


@pytest.mark.parametrize("group", ["A", "B", NOT_RECORDED])
def test_group_metrics_match_direct_computation(hand_result, group):
    df = hand_built()
    sub = df[df["grp"].fillna(NOT_RECORDED) == group]
    expected = direct(sub["y"], sub["f"], sub["p"], sub["s"])
    got = hand_result.primary.groups["grp"][group]
    assert got["n"] == len(sub)
    for metric, value in expected.items():
        if np.isnan(value):
            assert got[metric]["value"] is None, metric
        else:
            assert got[metric]["value"] == pytest.approx(value), metric


def test_known_answers_by_hand(hand_result):
    a = hand_result.primary.groups["grp"]["A"]
    # Group A: 3 positives, 2 of them flagged; 5 negatives, 2 flagged; 4 flagged.
    assert a["tpr"]["value"] == pytest.approx(2 / 3)
    assert a["fpr"]["value"] == pytest.approx(2 / 5)
    assert a["precision"]["value"] == pytest.approx(2 / 4)
    assert a["selection_rate"]["value"] == pytest.approx(4 / 8)
    # The one "Not recorded" child has the outcome only: FPR is undefined, not 0.
    nr = hand_result.primary.groups["grp"][NOT_RECORDED]
    assert nr["fpr"]["value"] is None
    assert nr["too_small"] is True


def test_overall_matches_direct(hand_result):
    df = hand_built()
    expected = direct(df["y"], df["f"], df["p"], df["s"])
    for metric, value in expected.items():
        assert hand_result.primary.overall[metric]["value"] == pytest.approx(value), metric


def test_disparity_difference_and_ratio(hand_result):
    disp = hand_result.primary.disparities["grp"]
    assert disp["reference"] == "A"  # the largest group
    b_vs_a = disp["by_group"]["B"]["fpr"]
    assert b_vs_a["difference"]["value"] == pytest.approx(1 / 4 - 2 / 5)
    assert b_vs_a["ratio"]["value"] == pytest.approx((1 / 4) / (2 / 5))


def test_rate_functions_agree_with_fairlearn_and_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    f = rng.integers(0, 2, 300)
    g = rng.choice(["x", "y", "z"], 300)
    by_group, overall = point_estimates(y, f, g)
    for grp in ["x", "y", "z"]:
        m = g == grp
        assert by_group.loc[grp, "tpr"] == pytest.approx(true_positive_rate(y[m], f[m]))
        assert by_group.loc[grp, "fpr"] == pytest.approx(false_positive_rate(y[m], f[m]))
        assert by_group.loc[grp, "fnr"] == pytest.approx(false_negative_rate(y[m], f[m]))
        assert by_group.loc[grp, "selection_rate"] == pytest.approx(selection_rate(y[m], f[m]))
        assert by_group.loc[grp, "precision"] == pytest.approx(precision_score(y[m], f[m]))
        assert by_group.loc[grp, "n"] == m.sum()
    assert overall["tpr"] == pytest.approx(true_positive_rate(y, f))


def test_bootstrap_formulas_with_unit_weights_equal_metricframe(predictions):
    from audit.frame import prepare_frame

    prep = prepare_frame(
        predictions,
        y_true="y_true",
        groups=["ethnicity"],
        flag="flag",
        score="y_prob",
        y_prob="y_prob",
        band="score",
        referral_col="referral_id",
    )
    names = sorted(set(prep.groups["ethnicity"]))
    codes = pd.Categorical(prep.groups["ethnicity"], categories=names).codes.astype(np.int64)
    plan = GroupPlan(
        codes,
        len(names),
        prep.clusters,
        prep.n_clusters,
        prep.y_true,
        prep.y_pred,
        prep.y_prob,
        prep.bands,
        len(prep.band_labels),
        prep.y_score,
    )
    ones = np.ones((1, prep.n_clusters))
    boot = plan.rates(ones)
    boot["auc"] = plan.aucs(ones)
    by_group, _ = point_estimates(
        prep.y_true,
        prep.y_pred,
        prep.groups["ethnicity"],
        y_score=prep.y_score,
        y_prob=prep.y_prob,
        bands=prep.bands,
    )
    for j, g in enumerate(names):
        for metric in (
            "base_rate",
            "selection_rate",
            "tpr",
            "fnr",
            "fpr",
            "precision",
            "calibration_gap",
            "ece",
            "auc",
        ):
            assert boot[metric][0, j] == pytest.approx(by_group.loc[g, metric]), (g, metric)
