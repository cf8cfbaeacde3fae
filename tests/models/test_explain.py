import numpy as np
import pandas as pd
import pytest

from models import normalise_shap_output, shap_contributions


@pytest.mark.parametrize(
    "layout",
    ["list_of_two", "three_d", "two_d", "pair_base"],
)
def test_adapter_reduces_every_known_layout_to_n_by_p(layout):
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(5, 3))
    if layout == "list_of_two":
        values, base = [-pos, pos], [-0.5, 0.5]
    elif layout == "three_d":
        values, base = np.stack([-pos, pos], axis=2), np.array([-0.5, 0.5])
    elif layout == "two_d":
        values, base = pos, 0.5
    else:
        values, base = pos, np.array([0.5])
    got, b = normalise_shap_output(values, base, 5, 3)
    assert got.shape == (5, 3)
    np.testing.assert_array_equal(got, pos)
    assert b == 0.5


def test_adapter_rejects_unknown_layouts():
    with pytest.raises(ValueError, match="expected"):
        normalise_shap_output(np.zeros((5, 4)), 0.0, 5, 3)
    with pytest.raises(ValueError, match="3 arrays"):
        normalise_shap_output([np.zeros((5, 3))] * 3, 0.0, 5, 3)
    with pytest.raises(ValueError, match="expected_value"):
        normalise_shap_output(np.zeros((5, 3)), [0, 1, 2], 5, 3)


def test_real_shap_output_has_shape_and_additivity(fitted_scorer):
    scorer, X, _ = fitted_scorer
    sample = X.iloc[:200]
    contrib, base = scorer.contributions(sample)
    assert contrib.shape == (200, len(scorer.feature_names))
    assert list(contrib.columns) == scorer.feature_names
    assert isinstance(base, float)
    margin = scorer.raw_margin(sample)
    np.testing.assert_allclose(contrib.to_numpy().sum(axis=1) + base, margin, atol=1e-6)
    # Same through the bare adapter, on one row (SHAP may drop the row axis).
    one, b1 = shap_contributions(scorer.explainer, sample.iloc[:1].to_numpy())
    assert one.shape == (1, len(scorer.feature_names))
    assert one.sum() + b1 == pytest.approx(margin[0], abs=1e-6)


def test_explainer_is_built_once_and_not_pickled(fitted_scorer):
    import pickle

    scorer, X, _ = fitted_scorer
    first = scorer.explainer
    scorer.contributions(X.iloc[:3])
    assert scorer.explainer is first
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone._explainer is None
    pd.testing.assert_frame_equal(
        clone.contributions(X.iloc[:3])[0], scorer.contributions(X.iloc[:3])[0]
    )
