import numpy as np
import pytest

from models import DEFAULT_POLICY_FILE, FlagPolicy, load_policy, resolve_policy


def test_default_policy_file_is_capacity_ten_percent():
    p = load_policy(DEFAULT_POLICY_FILE)
    assert p.mode == "capacity" and p.capacity == pytest.approx(0.10) and p.version


@pytest.mark.parametrize("capacity", [0.05, 0.10, 0.25])
def test_capacity_flags_at_most_the_capacity_and_no_lower_threshold_would(capacity):
    rng = np.random.default_rng(3)
    scores = rng.integers(1, 21, 5000)
    r = resolve_policy(FlagPolicy(version="t", capacity=capacity), scores)
    assert (scores >= r.threshold_score).mean() <= capacity
    assert r.achieved_flag_rate == pytest.approx((scores >= r.threshold_score).mean())
    # Reference: the lowest threshold that respects capacity.
    ref = min(t for t in range(1, 22) if (scores >= t).mean() <= capacity)
    assert r.threshold_score == ref
    assert (scores >= r.threshold_score - 1).mean() > capacity


def test_sensitivity_target_is_reached_with_the_highest_threshold():
    rng = np.random.default_rng(4)
    scores = rng.integers(1, 21, 3000)
    labels = rng.random(3000) < scores / 25
    r = resolve_policy(FlagPolicy(version="s", mode="sensitivity", sensitivity=0.7), scores, labels)
    recall = lambda t: (scores[labels] >= t).mean()  # noqa: E731
    assert recall(r.threshold_score) >= 0.7
    assert r.threshold_score == 21 or recall(r.threshold_score + 1) < 0.7
    assert r.achieved_sensitivity == pytest.approx(recall(r.threshold_score))


def test_bad_policies_are_named(tmp_path):
    with pytest.raises(ValueError, match="capacity"):
        FlagPolicy(version="x", capacity=1.5)
    with pytest.raises(ValueError, match="mode"):
        FlagPolicy(version="x", mode="quota")
    f = tmp_path / "p.toml"
    f.write_text('[policy]\nversion = "1"\ncapcity = 0.1\n')
    with pytest.raises(ValueError, match="capcity"):
        load_policy(f)
    f.write_text('[policy]\nmode = "capacity"\n')
    with pytest.raises(ValueError, match="version"):
        load_policy(f)
    with pytest.raises(ValueError, match="sensitivity"):
        resolve_policy(FlagPolicy(version="x", mode="sensitivity"), np.array([1, 2]))


def test_capacity_that_no_threshold_can_meet_flags_nothing_and_says_why():
    scores = np.array([20] * 30 + [5] * 70)  # 30% share the top score
    r = resolve_policy(FlagPolicy(version="t", capacity=0.10), scores)
    assert r.threshold_score == 21 and r.achieved_flag_rate == 0.0
    assert "too coarse" in r.note
    assert resolve_policy(FlagPolicy(version="t", capacity=0.30), scores).note == ""


def test_bad_scores_and_labels_name_the_parameter_and_row():
    scores = np.array([3.0, 20.0, np.nan, 7.0, np.nan])
    with pytest.raises(ValueError, match=r"referral_scores: .*row 2 is nan \(2 such"):
        resolve_policy(FlagPolicy(version="t"), scores)
    with pytest.raises(ValueError, match=r"referral_scores: .*row 1 is 2\.5"):
        resolve_policy(FlagPolicy(version="t"), np.array([1, 2.5]))
    with pytest.raises(ValueError, match=r"referral_scores: .*row 0 is 0\.0"):
        resolve_policy(FlagPolicy(version="t"), np.array([0, 2]))
    sens = FlagPolicy(version="s", mode="sensitivity")
    with pytest.raises(ValueError, match=r"y_true: must be 0 or 1; row 1 is 2\.0"):
        resolve_policy(sens, np.array([4, 5, 6]), y_true=np.array([0, 2, 1]))
    with pytest.raises(ValueError, match=r"y_true: must have one entry per referral score \(3\)"):
        resolve_policy(sens, np.array([4, 5, 6]), y_true=np.array([0, 1]))
    r = resolve_policy(sens, np.array([4, 5, 6, 12]), y_true=np.array([0, 0, 1, 1]))
    assert r.threshold_score == 6 and r.achieved_sensitivity == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_closures_policy_flags_from_the_lowest_score_where_closures_reach_the_yield(seed):
    """Issue #14: "flag when at least 1 in 5 closures with a score that high had the outcome",
    against a plain loop over thresholds."""
    rng = np.random.default_rng(seed)
    n = 3000
    scores = rng.integers(1, 21, n)
    y = (rng.random(n) < scores / 40).astype(int)
    closed = rng.random(n) < 0.5
    policy = FlagPolicy(version="t", mode="closures", closure_yield=0.2)
    got = resolve_policy(policy, scores, y, closed)
    want = next(t for t in range(1, 22) if t == 21 or y[closed & (scores >= t)].mean() >= 0.2)
    assert got.threshold_score == want
    assert got.mode == "closures" and got.target == 0.2
    if want > 1:
        assert y[closed & (scores >= want - 1)].mean() < 0.2
    with pytest.raises(ValueError, match="closed"):
        resolve_policy(policy, scores, y)
    with pytest.raises(ValueError, match="closure_yield"):
        FlagPolicy(version="t", mode="closures", closure_yield=0)


def test_the_policy_file_records_the_closures_option():
    text = DEFAULT_POLICY_FILE.read_text()
    assert "closure_yield" in text and '"closures"' in text
    assert load_policy().closure_yield == 0.2
