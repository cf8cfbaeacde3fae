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


# -- issue #14: never the referrer, never silence as safety ----------------------


def _family_row():
    import features

    row = dict.fromkeys(features.FEATURE_NAMES, 0.0)
    row |= {
        "referral_source_family": 1.0,
        "referrer_grandparent": 1.0,
        "referral_concern_neglect": 1.0,
        "child_age_months": 176.0,
        "child_prior_nfa_ever": 2.0,
        "child_prior_malicious_ever": 1.0,
        "child_prior_referrals_family_ever": 3.0,
        "child_ed_attendances_ever": 1.0,
        "household_n_adults": 2.0,
        "household_days_since_adult_joined": 61.0,
    }
    return row


@pytest.mark.parametrize("seed", range(10))
def test_lowering_reasons_never_cite_who_referred_a_decision_or_a_silence(space, seed):
    from serving.reasons import choose_reasons, is_silent, not_found

    values = space.values(_family_row())
    # Every reason pulls the score down, some hard: only those that may are shown.
    c = -np.random.default_rng(seed).uniform(0.01, 1.0, len(space.names))
    c[space.names.index("referral_source")] = -5.0
    c[space.names.index("child_prior_malicious_ever")] = -4.0
    raising, lowering = choose_reasons(space, c, values, top=len(space.names))
    assert raising == []
    for r in lowering:
        spec = space.describers[r]
        assert not is_silent(values[r])
        assert r not in ("referral_source", "referrer") and not spec.about_referrer
        assert spec.nature == "what happened" and spec.name != "child_ed_attendances_ever"
    assert lowering and set(lowering) <= {
        "child_age_months",
        "household_n_adults",
        "household_days_since_adult_joined",
        "referral_concern_neglect",
        "referral_n_concerns",
        "referral_n_children",
        "parent_age_at_birth_min",
        "parent_age_at_birth_max",
        "household_n_siblings",
    }
    held = {"police": pd.Timestamp("2025-02-28 16:00"), "children_social_care": "2025-03-01"}
    missing = not_found(space, c, values, held, top=len(space.names))
    texts = [m["text"] for m in missing]
    assert len(texts) == len(set(texts)) > 0
    for m in missing:
        assert is_silent(values[m["feature"]])
        assert m["text"].startswith("No ") and "not evidence of safety" in m["text"]
    police = next(t for t in texts if "perpetrator" in t and "joined" in t)
    assert "ever found for the adult who joined the household 2 months ago" in police
    assert "MAST holds police records to 28 February 2025" in police


def test_raising_reasons_never_cite_a_concern_the_referral_does_not_raise(space):
    from serving.reasons import choose_reasons

    values = space.values(_family_row())
    c = np.zeros(len(space.names))
    c[space.names.index("referral_concern_emotional_abuse")] = 2.0  # not raised: value 0
    c[space.names.index("referral_concern_neglect")] = 1.0
    raising, _ = choose_reasons(space, c, values, top=5)
    assert raising == ["referral_concern_neglect"]


def test_codes_read_in_words():
    from serving.reasons import plain, who_referred

    assert plain("ed_attendance") == "emergency-department attendance"
    assert plain("section47_enquiry") == "child protection enquiry (section 47)"
    assert plain("strategy_discussion") == "strategy discussion (multi-agency review)"
    assert who_referred("family") == "a family member" and who_referred("police") == "the police"
    assert plain("health") == "health" and plain("police") == "police"
    assert who_referred("grandparent") == "the child's grandparent"
    assert plain("children_social_care") == "children's social care"


def test_an_earlier_referral_reads_with_its_source_in_words():
    from serving.reasons import plain

    assert plain("referral from la_service") == "referral from a local authority service"
    assert plain("referral from family") == "referral from a family member"
