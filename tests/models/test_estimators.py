import numpy as np
import pandas as pd
import pytest

from models import Calibrator, RuleScorer


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrators_are_monotone_and_calibrated_in_the_large(method):
    rng = np.random.default_rng(5)
    margin = rng.normal(size=5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-(2 * margin - 1)))).astype(int)
    cal = Calibrator(method).fit(margin, y)
    grid = np.linspace(-3, 3, 50)
    p = cal.predict(grid)
    assert np.all(np.diff(p) >= -1e-12) and p.min() >= 0 and p.max() <= 1
    assert cal.predict(margin).mean() == pytest.approx(y.mean(), abs=0.01)


def test_calibrator_errors():
    with pytest.raises(ValueError, match="calibration method"):
        Calibrator("beta")
    with pytest.raises(ValueError, match="one class"):
        Calibrator().fit(np.arange(5.0), np.zeros(5))


def test_predict_frame_flags_rows_at_threshold(fitted_scorer):
    scorer, X, _ = fitted_scorer
    out = scorer.predict_frame(X)
    assert list(out.columns) == ["probability", "score", "flag"]
    assert out["score"].between(1, 20).all()
    assert (out["flag"] == (out["score"] >= scorer.policy.threshold_score)).all()
    # Probability is monotone in score (both monotone in the margin).
    by = out.groupby("score")["probability"].agg(["min", "max"])
    assert (by["min"].to_numpy()[1:] >= by["max"].to_numpy()[:-1] - 1e-12).all()


def test_input_errors_name_the_column(fitted_scorer):
    scorer, X, _ = fitted_scorer
    with pytest.raises(ValueError, match="noise"):
        scorer.predict_frame(X.drop(columns="noise"))
    with pytest.raises(ValueError, match="shape"):
        scorer.raw_margin(np.zeros((2, 2)))


def test_rule_scorer_uses_its_column_and_names_a_missing_one():
    X = pd.DataFrame({"child_prior_referrals_12m": [0.0, 3.0, np.nan], "x": [1.0, 2.0, 3.0]})
    rule = RuleScorer("child_prior_referrals_12m", list(X.columns))
    assert rule.raw_margin(X).tolist() == [0.0, 3.0, 0.0]
    with pytest.raises(ValueError, match="referrals_12m"):
        RuleScorer("referrals_12m", ["x"])


def test_calibrator_names_bad_labels_lengths_and_margins():
    margin = np.linspace(-2, 2, 10)
    y = np.array([0, 1] * 5)
    bad = y.copy()
    bad[3] = 2
    with pytest.raises(ValueError, match=r"y_true: must be 0 or 1; row 3 is 2\.0"):
        Calibrator().fit(margin, bad)
    with pytest.raises(ValueError, match=r"y_true: must be 0 or 1; row 3 is 2\.0"):
        Calibrator("platt").fit(margin, bad)
    with pytest.raises(ValueError, match="y_true: has 9 rows but margin has 10"):
        Calibrator().fit(margin, y[:-1])
    m2 = margin.copy()
    m2[6] = np.nan
    with pytest.raises(ValueError, match=r"margin: row 6 is nan"):
        Calibrator().fit(m2, y)
    # Booleans are labels too.
    assert Calibrator().fit(margin, y.astype(bool)).predict(margin).shape == (10,)
