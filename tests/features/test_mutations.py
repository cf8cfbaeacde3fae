"""Mutation test: every point-in-time comparison in the feature SQL is pinned by a test.

The no-leakage rule lives in a few dozen ``<`` / ``<=`` / ``>=`` / ``>`` in
:func:`features.sql.feature_query`: "recorded strictly before ``as_of``",
"started on or before ``as_of``", "happened before the 18th birthday", "at
or after the start of the window", "in the narrowest window ``wb <= k``".
An off-by-one in any of them leaks a record or loses one only when a
timestamp falls exactly on the boundary, which ordinary data rarely does.

Here each comparison is found in the SQL text (so a comparison added later
is covered without editing this file; the helpers, shared with
``test_evidence_mutations.py``, are in ``mutants.py``), flipped to its off-by-one twin
(``<`` <-> ``<=``, ``>`` <-> ``>=``) one at a time, and the mutated query
must disagree with the brute-force reference (``reference.py``, which
computes every column) on at least one of the random worlds of
``world.py``, which put records exactly on every boundary.  A mutation that
survives means the tests could not tell the bug from the code.
"""

from __future__ import annotations

import numpy as np

import features.build as build
from features import build_features
from features.sql import feature_query
from tests.features.mutants import comparisons, worlds

# Comparisons whose off-by-one twin cannot change any result, each with why,
# keyed by ``Mutation.name`` ("<comparison> (CTE ..., column ...)").
ADULT_REFERRALS_REFUSED = (
    "the data contract refuses a referral child aged 18 or over on received_at "
    "(store.contract.adult_referral_children), so no stored referral about a person "
    "is received at their 18th birthday: < and <= agree on every store"
)
EQUIVALENT: dict[str, str] = {
    "h.received_at < h.adult_at (CTE ref_agg, column childhood_referrals)": (
        ADULT_REFERRALS_REFUSED
    ),
}


def _first_difference(table, expected) -> str | None:
    """The first column where the built table and the reference differ, or None."""
    if list(table["referral_id"]) != list(expected["referral_id"]) or list(
        table["person_id"]
    ) != list(expected["person_id"]):
        return "the rows"
    for col in expected.columns.drop(["referral_id", "person_id"]):
        got, want = table[col].to_numpy(), expected[col].to_numpy()
        if got.dtype.kind in "fiub" or want.dtype.kind in "fiub":
            same = np.array_equal(got.astype(float), want.astype(float), equal_nan=True)
        else:
            same = list(got) == list(want)
        if not same:
            return col
    return None


def _detects(monkeypatch, sql: str) -> tuple[int, str] | None:
    """(seed, column) of the first world where ``sql`` disagrees with the reference."""
    monkeypatch.setattr(build, "feature_query", lambda *args, **kwargs: sql)
    try:
        for w in worlds():
            column = _first_difference(build_features(w.con).to_frame(), w.expected)
            if column is not None:
                return w.seed, column
        return None
    finally:
        monkeypatch.undo()


def test_the_sql_has_the_comparisons_the_rules_need():
    """The finder sees the point-in-time comparisons (a broken regex would pass vacuously)."""
    texts = [m.text for m in comparisons(feature_query())]
    for expected in [
        "m.recorded_at < ct.as_of",
        "m.start_date <= ct.as_of",
        "m.end_date < ct.as_of",
        "m.end_recorded_at < ct.as_of",
        "o.end_recorded_at < ch.as_of",
        "ec.recorded_at < pt.as_of",
        "r.received_at < pt.as_of",
        "dd.decided_at < pt.as_of",
        "ec.occurred_at < pt.adult_at",
        "ec.occurred_at < pt.non_mobile_until",
        "h.received_at < h.adult_at",
        "h.wb <= 2",
        "ec.occurred_at >= pt.since_12m",
        "r.received_at >= pt.since_24m",
    ]:
        assert expected in texts, expected
    # One per event group for "recorded before as_of": each group is its own join.
    assert texts.count("ec.recorded_at < pt.as_of") >= 4
    # The bit tests and "another person" are "<>" (not equal), never a comparison.
    sql = feature_query()
    assert sql.count("<>") > 10
    assert not any(sql[m.position : m.position + 2] == "<>" for m in comparisons(sql))


def test_every_point_in_time_comparison_is_pinned_by_the_reference(monkeypatch):
    """About 15 s: each mutated query is planned afresh and runs until a world tells it apart."""
    base = feature_query()
    for w in worlds():
        assert _first_difference(build_features(w.con).to_frame(), w.expected) is None, w.seed
    mutations = comparisons(base)
    assert len(mutations) > 50
    survivors, killed = [], 0
    for mutation in mutations:
        if mutation.name in EQUIVALENT:
            continue
        if _detects(monkeypatch, mutation.apply(base)) is None:
            survivors.append(str(mutation))
        else:
            killed += 1
    assert not survivors, (
        f"{len(survivors)} of {len(mutations)} off-by-one mutations of the feature SQL "
        f"survive (no world of world.py tells them from the reference):\n  "
        + "\n  ".join(survivors)
    )
    assert killed == len(mutations) - sum(m.name in EQUIVALENT for m in mutations)
