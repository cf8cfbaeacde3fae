"""Reason ranking against a plain pandas reference (sort by contribution, then by name)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.reasons import MIN_CONTRIBUTION, name_order, rank_reasons


def _reference(c: pd.Series, top: int) -> tuple[list[str], list[str]]:
    frame = pd.DataFrame({"feature": c.index, "c": c.to_numpy(float)})
    up = frame[frame["c"] > MIN_CONTRIBUTION].sort_values(["c", "feature"], ascending=[False, True])
    down = frame[frame["c"] < -MIN_CONTRIBUTION].sort_values(
        ["c", "feature"], ascending=[True, True]
    )
    return list(up["feature"][:top]), list(down["feature"][:top])


@pytest.mark.parametrize("seed", range(20))
def test_ranking_equals_the_reference_with_ties(seed):
    rng = np.random.default_rng(seed)
    names = [f"f{int(i):03d}" for i in rng.permutation(60)]
    # Few distinct values, so ties (broken by name) are common; some under the threshold.
    values = rng.choice([-0.5, -0.2, -0.0005, 0.0, 0.0004, 0.2, 0.5, 1.0], size=60)
    c = pd.Series(values, index=names)
    want = _reference(c, top=5)
    assert rank_reasons(c, 5) == want
    assert rank_reasons(values, 5, names=names, order=name_order(names)) == want


# -- one reason per categorical field of the referral ---------------------------


@pytest.fixture(scope="module")
def space():
    import features
    from serving.reasons import ReasonSpace

    catalogue = {s.name: s for s in features.catalogue()}
    return ReasonSpace(list(features.FEATURE_NAMES), catalogue)


def _field_of(feature: str) -> str:
    """The reference grouping, written out from the feature names."""
    for prefix in ("referral_source_", "referrer_"):
        if feature.startswith(prefix):
            return prefix.rstrip("_")
    return feature


def test_source_and_referrer_are_one_reason_each_and_concerns_stay_apart(space):
    import features

    assert set(space.fields) == {"referral_source", "referrer"}
    assert sorted(space.names) == sorted(dict.fromkeys(map(_field_of, features.FEATURE_NAMES)))
    assert all(n in space.names for n in features.FEATURE_NAMES if "concern_" in n)


@pytest.mark.parametrize("seed", range(5))
def test_combined_contributions_equal_a_groupby_reference(space, seed):
    import features

    names = list(features.FEATURE_NAMES)
    C = np.random.default_rng(seed).normal(size=(4, len(names)))
    want = pd.DataFrame(C, columns=names).T.groupby(_field_of, sort=False).sum().T
    got = pd.DataFrame(space.combine(C), columns=space.names)
    pd.testing.assert_frame_equal(got[list(want.columns)], want, rtol=1e-12, atol=1e-12)
    # SHAP additivity survives: a child's reasons still add up to its margin.
    np.testing.assert_allclose(space.combine(C).sum(axis=1), C.sum(axis=1), rtol=1e-12)


def test_a_field_reads_as_its_category_and_is_backed_by_that_column(space):
    import features

    row = dict.fromkeys(features.FEATURE_NAMES, 0.0)
    row["referral_source_family"] = 1.0
    values = space.values(row)
    assert values["referral_source"] == "family"
    assert values["referrer"] is None
    source = space.describers["referral_source"]
    assert source.describe("family") == "referred by a family member"
    assert space.describers["referrer"].describe(None) == "referrer: not recorded"
    assert space.evidence_feature("referral_source", values) == "referral_source_family"
    assert space.evidence_feature("referrer", values) is None
    assert space.evidence_feature("child_age_months", values) == "child_age_months"
