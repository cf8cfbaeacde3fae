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
