"""The gate passes and fails on crafted inputs, and the policy file is checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit import (
    DEFAULT_POLICY_PATH,
    AuditColumns,
    PolicyError,
    audit_predictions,
    evaluate_gate,
    gate_tags,
    load_policy,
)


def crafted(fpr_b: float, n: int = 2000, small_group_fpr: float | None = None) -> pd.DataFrame:
    """Two groups with exact rates: FPR 10% in A and ``fpr_b`` in B; TPR 60% in both."""
    rows = []
    for grp, fpr in (("A", 0.10), ("B", fpr_b)):
        n_pos, n_neg = n // 5, n - n // 5
        flags_pos = np.r_[np.ones(int(0.6 * n_pos)), np.zeros(n_pos - int(0.6 * n_pos))]
        flags_neg = np.r_[np.ones(int(fpr * n_neg)), np.zeros(n_neg - int(fpr * n_neg))]
        rows += [(grp, 1, f) for f in flags_pos] + [(grp, 0, f) for f in flags_neg]
    if small_group_fpr is not None:
        rows += (
            [("C", 1, 1)] * 5
            + [("C", 0, 1)] * int(20 * small_group_fpr)
            + [("C", 0, 0)] * (20 - int(20 * small_group_fpr))
        )
    df = pd.DataFrame(rows, columns=["grp", "y", "flag"])
    df["rid"] = np.arange(len(df))
    return df


def run(df: pd.DataFrame, policy=None):
    result = audit_predictions(
        df,
        AuditColumns(
            y_true="y",
            flag="flag",
            score=None,
            y_prob=None,
            band=None,
            groups=["grp"],
            referral_col="rid",
        ),
        n_boot=200,
        random_state=0,
        policy=policy,
        mitigation=False,
    )
    return result, evaluate_gate(result, policy)


def test_equal_rates_pass():
    _, verdict = run(crafted(0.10))
    assert verdict.passed, verdict.reasons
    assert verdict.reasons == []
    assert verdict.checks > 0
    assert verdict.policy_version == load_policy().version


def test_tripled_fpr_fails_with_a_reason_naming_group_and_metric():
    _, verdict = run(crafted(0.30))
    assert not verdict.passed
    assert any("grp = B" in r and "false-positive rate" in r for r in verdict.reasons)


def test_small_group_is_noted_not_judged():
    _, verdict = run(crafted(0.10, small_group_fpr=0.9))
    assert verdict.passed, verdict.reasons
    assert any("too small to conclude" in note and "C (n=25)" in note for note in verdict.notes)


def test_interval_versus_point_judgement(tmp_path):
    # FPR ratio 1.7 on small groups: the point estimate breaches 1.5 but the
    # interval reaches below it, so only the "point" policy fails.
    df = crafted(0.17, n=300)
    text = DEFAULT_POLICY_PATH.read_text()
    point = tmp_path / "point.toml"
    point.write_text(text.replace('judged_on = "interval"', 'judged_on = "point"'))
    _, by_interval = run(df)
    _, by_point = run(df, load_policy(point))
    assert by_interval.passed, by_interval.reasons
    assert not by_point.passed


def test_gate_tags_for_mlflow():
    _, verdict = run(crafted(0.30))
    tags = gate_tags(verdict)
    assert tags["mast.gate.passed"] == "false"
    assert tags["mast.gate.policy_version"] == verdict.policy_version
    assert "grp = B" in tags["mast.gate.reasons"]


def test_policy_errors_name_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('version = "x"\n[[gate.rules]]\nmetric = "fpr"\nkind = "ratio"\n')
    with pytest.raises(PolicyError, match=r"gate.rules\[0\].limit"):
        load_policy(bad)
    bad.write_text('version = "x"\n[[gate.rules]]\nmetric = "fpr"\nkind = "most"\nlimit = 1\n')
    with pytest.raises(PolicyError, match="kind"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "missing.toml")


def test_zero_events_do_not_prove_a_breach():
    """No false positives among 20 negatives: FPR 0, but not conclusive against 10%."""
    df = crafted(0.10)
    extra = pd.DataFrame(
        [("D", 0, 0)] * 20 + [("D", 1, 1)] * 21 + [("D", 1, 0)] * 14, columns=["grp", "y", "flag"]
    )
    df = pd.concat([df, extra], ignore_index=True)
    df["rid"] = np.arange(len(df))
    result, verdict = run(df)
    d = result.primary.groups["grp"]["D"]["fpr"]
    assert d["value"] == 0.0 and d["interval"] == "exact"
    # Clopper-Pearson upper bound for 0 of 20 at 95%: 1 - 0.025**(1/20) = 0.168,
    # 1.68 times the reference's 10%: the bootstrap's [0, 0] would have "failed" it.
    assert d["ci_high"] == pytest.approx(1 - 0.025 ** (1 / 20))
    assert not any("grp = D" in r for r in verdict.reasons), verdict.reasons
    assert verdict.passed


def test_zero_events_in_a_large_group_still_fail():
    """0 of 200 negatives flagged against 10%: the exact bound (1.8%) is a clear breach."""
    df = crafted(0.10)
    extra = pd.DataFrame(
        [("D", 0, 0)] * 200 + [("D", 1, 1)] * 30 + [("D", 1, 0)] * 20, columns=["grp", "y", "flag"]
    )
    df = pd.concat([df, extra], ignore_index=True)
    df["rid"] = np.arange(len(df))
    _, verdict = run(df)
    assert any("grp = D" in r and "false-positive" in r for r in verdict.reasons)


def who_referred(miss_family: float, n: int = 1500) -> pd.DataFrame:
    """Professional and family referrals, each with ground-truth harm in 40%; the tool
    misses 50% of harmed professional referrals and ``miss_family`` of harmed family ones.
    The proxy label is the same for both groups, so only the harm lens can see a gap."""
    rows = []
    for grp, source, miss in (
        ("professional", "professional", 0.5),
        ("family, friend, anonymous or self", "family", miss_family),
    ):
        n_pos = int(0.4 * n)
        caught = n_pos - int(miss * n_pos)
        for i in range(n):
            harmed = i < n_pos
            flag = int(harmed and i < caught)
            rows.append((grp, source, int(harmed), flag, flag))
    df = pd.DataFrame(
        rows, columns=["family_or_community", "source_group", "y_harm", "flag", "y_true"]
    )
    df["rid"] = np.arange(len(df))
    df["grp"] = "all"
    return df


def run_who(df, groups=("grp", "family_or_community", "source_group"), y_harm="y_harm"):
    result = audit_predictions(
        df,
        AuditColumns(
            y_true="y_true",
            flag="flag",
            score=None,
            y_prob=None,
            band=None,
            groups=list(groups),
            referral_col="rid",
            y_harm=y_harm,
            human_flag=None,
        ),
        n_boot=200,
        random_state=0,
        mitigation=False,
    )
    return result, evaluate_gate(result)


def test_the_gate_judges_missed_family_referrals_against_ground_truth():
    """Issue #14: the default gate checks the false-negative rate against harm, family and
    community referrals against professional ones, with its interval."""
    result, fair = run_who(who_referred(0.5))
    assert "family_or_community" in result.lenses["tool_vs_harm"].groups
    assert not any("family_or_community" in r for r in fair.reasons), fair.reasons
    _, unfair = run_who(who_referred(0.95))
    failed = [r for r in unfair.reasons if "family_or_community" in r]
    assert failed and "false-negative rate" in failed[0] and "CI" in failed[0]
    assert "ground-truth harm" in failed[0] and "times that of professional" in failed[0]


def test_without_ground_truth_the_who_referred_rule_is_noted_not_passed_silently():
    df = who_referred(0.95).drop(columns="y_harm")
    _, verdict = run_who(df, groups=("grp", "family_or_community"), y_harm=None)
    assert any("not in this audit, so not judged" in n and "fnr" not in n for n in verdict.notes)
    assert any("family_or_community" in n for n in verdict.notes)
