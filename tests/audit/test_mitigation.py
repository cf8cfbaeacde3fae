"""Group thresholds are reported for information and never applied."""

from __future__ import annotations

import numpy as np
import pytest

from audit import audit_predictions
from audit.mitigation import equal_fpr_thresholds


def test_mitigation_is_reported_but_never_applied(predictions, audit_result):
    without = audit_predictions(predictions, n_boot=200, random_state=7, mitigation=False)
    assert without.mitigation is None
    mit = audit_result.mitigation
    assert mit["applied"] is False and "never applies" in mit["note"]
    # The audited flag is the file's flag, whatever the mitigation analysis found.
    assert audit_result.primary.overall == without.primary.overall
    assert audit_result.primary.overall["selection_rate"]["value"] == pytest.approx(
        predictions["flag"].mean()
    )
    for analysis in (mit, mit["equal_fpr_same_capacity"]):
        if "before" in analysis:
            assert analysis["recall_cost"] == pytest.approx(
                analysis["after"]["tpr"] - analysis["before"]["tpr"]
            )


def test_equal_fpr_thresholds_equalise_fpr_at_the_same_workload():
    rng = np.random.default_rng(0)
    n = 20_000
    groups = rng.choice(["a", "b"], n)
    y = rng.binomial(1, 0.2, n).astype(float)
    score = rng.random(n) + 0.3 * (groups == "b") + 0.5 * y
    flag = (score >= np.quantile(score, 0.9)).astype(float)
    out = equal_fpr_thresholds(y, flag, score, groups)
    fprs = [v["after"]["fpr"] for v in out["by_group"].values()]
    before = [v["before"]["fpr"] for v in out["by_group"].values()]
    assert abs(before[0] - before[1]) > 0.05
    assert abs(fprs[0] - fprs[1]) < 0.002
    assert out["after"]["fpr"] == pytest.approx(out["target_fpr"], abs=0.002)
    assert abs(out["flag_rate_change"]) < 0.05  # FPR is held; the flag rate moves a little
