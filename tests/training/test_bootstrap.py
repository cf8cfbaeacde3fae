import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training import ReferralBootstrap, calibration_points, evaluate_predictions


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
    counts = next(b.weight_chunks(1, random_state=3))[0]
    rows = b.rows(counts)
    names = pd.factorize(pd.Series(ref))[1]
    draw = np.repeat(np.arange(len(names)), counts.astype(int))
    want = np.concatenate([np.flatnonzero(ref == names[d]) for d in draw])
    assert sorted(rows.tolist()) == sorted(want.tolist())
    # Each replicate draws as many referrals as there are.
    assert counts.sum() == len(names)


def test_the_draws_are_the_sequential_draws_of_referrals():
    """A replicate is ``n`` referrals drawn with replacement, replicate after replicate."""
    ref, *_ = _frame(37)
    b = ReferralBootstrap(ref)
    got = np.concatenate(list(b.weight_chunks(25, random_state=4, chunk=10)))
    rng = np.random.default_rng(4)
    want = np.stack([np.bincount(rng.integers(0, 37, 37), minlength=37) for _ in range(25)]).astype(
        float
    )
    assert (got == want).all()


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
    counts = next(b.weight_chunks(1, random_state=9))[0]
    rows = b.rows(counts)
    got = _Ranked(y, p).metrics(b.row_weights(counts), True)
    assert got["auc"] == pytest.approx(roc_auc_score(y[rows], p[rows]))
    assert got["average_precision"] == pytest.approx(average_precision_score(y[rows], p[rows]))
    assert got["brier"] == pytest.approx(brier_score_loss(y[rows], p[rows]))


def test_scikit_learn_names_are_the_keywords():
    ref, y, p, flag = _frame(100)
    by_name = evaluate_predictions(
        referral_id=ref, y_true=y, y_prob=p, y_pred=flag, n_bootstrap=20, random_state=0
    )
    assert by_name["auc"]["value"] == pytest.approx(roc_auc_score(y, p))
    pts = calibration_points(y_true=y, y_prob=p, n_bins=5)
    assert len(pts) == 5 and pts["observed"].between(0, 1).all()


@pytest.mark.parametrize("which", ["y_true", "y_prob", "y_pred"])
def test_arrays_of_different_lengths_name_the_parameter(which):
    ref, y, p, flag = _frame(100)
    args = {"y_true": y, "y_prob": p, "y_pred": flag}
    args[which] = args[which][:-3]
    with pytest.raises(ValueError, match=rf"^{which}: has {len(ref) - 3} rows but referral_id"):
        evaluate_predictions(ref, n_bootstrap=10, **args)


def test_labels_and_flags_other_than_0_1_name_the_first_bad_row():
    ref, y, p, flag = _frame(100)
    y2 = y.copy()
    y2[[7, 30]] = 2
    with pytest.raises(ValueError, match=r"y_true: must be 0 or 1.*row 7 is 2\.0 \(2 such"):
        evaluate_predictions(ref, y2, p, flag, n_bootstrap=10)
    f2 = flag.astype(int)
    f2[11] = -1
    with pytest.raises(ValueError, match=r"y_pred: .*row 11 is -1\.0"):
        evaluate_predictions(ref, y, p, f2, n_bootstrap=10)
    with pytest.raises(ValueError, match=r"y_true: .*row 7"):
        calibration_points(y2, p)


def test_scores_must_be_finite_and_probabilities_in_range():
    ref, y, p, flag = _frame(100)
    p2 = p.copy()
    p2[4] = np.inf
    with pytest.raises(ValueError, match=r"y_prob: row 4 is inf"):
        evaluate_predictions(ref, y, p2, flag, n_bootstrap=10)
    p2[4] = 1.5
    with pytest.raises(ValueError, match=r"y_prob: must be a probability.*row 4 is 1\.5"):
        evaluate_predictions(ref, y, p2, flag, n_bootstrap=10)
    # A ranking score need not be a probability.
    res = evaluate_predictions(ref, y, p2, flag, is_probability=False, n_bootstrap=10)
    assert np.isnan(res["brier"]["value"]) and res["n_rows"]["value"] == len(ref)
    with pytest.raises(ValueError, match="y_true: expected numbers"):
        evaluate_predictions(ref, np.array(["yes"] * len(ref)), p, flag, n_bootstrap=10)


def test_a_bootstrap_built_on_other_rows_is_refused():
    ref, y, p, flag = _frame(100)
    other = ReferralBootstrap(ref[:-1])
    with pytest.raises(ValueError, match="bootstrap: built on"):
        evaluate_predictions(ref, y, p, flag, n_bootstrap=10, bootstrap=other)
