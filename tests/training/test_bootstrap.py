import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training import ReferralBootstrap, evaluate_predictions


def _frame(n_ref=400, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 4, n_ref)
    ref = np.repeat([f"R{i}" for i in range(n_ref)], sizes)
    rng.shuffle(ref)  # children of one referral need not be adjacent
    p = rng.random(len(ref))
    y = (rng.random(len(ref)) < p).astype(int)
    flag = pd.Series(p).groupby(ref).transform("max").to_numpy() > 0.8
    return ref, y, p, flag


def test_rows_gather_every_child_of_each_drawn_referral():
    ref, *_ = _frame(60)
    b = ReferralBootstrap(ref)
    draw = b.draws(1, random_state=3)[0]
    rows = b.rows(draw)
    names = pd.factorize(pd.Series(ref))[1]
    want = np.concatenate([np.flatnonzero(ref == names[d]) for d in draw])
    assert sorted(rows.tolist()) == sorted(want.tolist())


def test_point_estimates_and_intervals():
    ref, y, p, flag = _frame()
    res = evaluate_predictions(ref, y, p, flag, n_bootstrap=200, random_state=0)
    assert res["auc"]["value"] == pytest.approx(roc_auc_score(y, p))
    from sklearn.metrics import average_precision_score

    assert res["average_precision"]["value"] == pytest.approx(average_precision_score(y, p))
    ref_frame = pd.DataFrame({"r": ref, "y": y, "f": flag}).groupby("r").max()
    assert res["flag_rate"]["value"] == pytest.approx(ref_frame["f"].mean())
    assert res["recall"]["value"] == pytest.approx(ref_frame.loc[ref_frame["y"] == 1, "f"].mean())
    assert res["precision"]["value"] == pytest.approx(ref_frame.loc[ref_frame["f"], "y"].mean())
    for m in ("auc", "average_precision", "brier", "flag_rate", "precision", "recall"):
        assert res[m]["ci_low"] <= res[m]["value"] <= res[m]["ci_high"], m
    # Deterministic given random_state.
    again = evaluate_predictions(ref, y, p, flag, n_bootstrap=200, random_state=0)
    assert again["auc"] == res["auc"]


def test_resampling_by_referral_widens_intervals_when_children_are_alike():
    """Identical children of one referral: a row bootstrap would understate the spread."""
    rng = np.random.default_rng(1)
    n_ref = 300
    p_ref = rng.random(n_ref)
    y_ref = (rng.random(n_ref) < p_ref).astype(int)
    k = 4
    ref = np.repeat(np.arange(n_ref), k)
    y, p = np.repeat(y_ref, k), np.repeat(p_ref, k)
    res = evaluate_predictions(ref, y, p, p > 0.5, n_bootstrap=300, random_state=0)
    row = evaluate_predictions(np.arange(len(ref)), y, p, p > 0.5, n_bootstrap=300, random_state=0)
    width = lambda r: r["auc"]["ci_high"] - r["auc"]["ci_low"]  # noqa: E731
    assert width(res) > 1.5 * width(row)


def test_missing_rows_are_dropped_not_counted():
    ref, y, p, flag = _frame()
    human = flag.astype(float)
    human[:50] = np.nan
    res = evaluate_predictions(ref, y, human, human, is_probability=False, n_bootstrap=20)
    assert res["n_rows"]["value"] == len(ref) - 50
    assert np.isnan(res["brier"]["value"])


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_metrics_equal_sklearn_on_an_explicit_resample(ties):
    """A replicate by weights equals sklearn on the rows actually gathered."""
    from sklearn.metrics import average_precision_score, brier_score_loss

    from training.evaluate import _Ranked

    ref, y, p, flag = _frame(200, seed=5)
    if ties:
        p = np.round(p, 1)
    b = ReferralBootstrap(ref)
    draw = b.draws(1, random_state=9)[0]
    rows = b.rows(draw)
    got = _Ranked(y, p).metrics(b.referral_weights(draw)[b.codes], True)
    assert got["auc"] == pytest.approx(roc_auc_score(y[rows], p[rows]))
    assert got["average_precision"] == pytest.approx(average_precision_score(y[rows], p[rows]))
    assert got["brier"] == pytest.approx(brier_score_loss(y[rows], p[rows]))
