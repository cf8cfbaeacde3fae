"""People's verdicts on possible matches, obeyed by the next ``mast link``."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from linkage import link_records
from linkage.labels import DIFFERENT, SAME, cluster_with_labels, latest_verdicts
from tests.linkage.conftest import FAST


def _pairs(rows):
    return pd.DataFrame(rows, columns=["unique_id_l", "unique_id_r", "match_probability"])


def _verdicts(rows):
    return pd.DataFrame(rows, columns=["unique_id_l", "unique_id_r", "verdict"])


def test_confirmed_pairs_are_linked_and_rejected_pairs_kept_apart():
    ids = pd.Series(list("abcdef"))
    pairs = _pairs(
        [("a", "b", 0.99), ("b", "c", 0.95), ("c", "d", 0.97), ("e", "f", 0.5), ("a", "d", 0.3)]
    )
    cluster, counts = cluster_with_labels(
        ids, pairs, 0.9, _verdicts([("f", "e", SAME), ("a", "d", DIFFERENT)])
    )
    assert cluster["e"] == cluster["f"]
    assert cluster["a"] != cluster["d"]
    # The weakest link on the path a-b-c-d (b-c, 0.95) is the one cut.
    assert cluster["a"] == cluster["b"] and cluster["c"] == cluster["d"]
    assert counts == {"confirmed": 1, "rejected": 1, "cut": 1}


def _reference(ids, pairs, threshold, verdicts):
    """Brute force: try cutting every subset of links, smallest total weight first."""
    edges = [(a, b, p) for a, b, p in pairs.itertuples(index=False) if p >= threshold]
    same = {frozenset((a, b)) for a, b, v in verdicts.itertuples(index=False) if v == SAME}
    diff = [(a, b) for a, b, v in verdicts.itertuples(index=False) if v == DIFFERENT]
    edges = [e for e in edges if frozenset(e[:2]) not in {frozenset(d) for d in diff}]

    def comps(es):
        parent = {i: i for i in ids}

        def find(x):
            while parent[x] != x:
                x = parent[x]
            return x

        for a, b in [e[:2] for e in es] + [tuple(s) for s in same]:
            parent[find(a)] = find(b)
        return find

    for k in range(len(edges) + 1):
        for cut in itertools.combinations(range(len(edges)), k):
            kept = [e for i, e in enumerate(edges) if i not in cut]
            find = comps(kept)
            if all(find(a) != find(b) for a, b in diff):
                return k, find
    raise AssertionError("unreachable")


@pytest.mark.parametrize("seed", range(6))
def test_random_graphs_keep_every_rejected_pair_apart(seed):
    rng = np.random.default_rng(seed)
    ids = [f"r{i}" for i in range(8)]
    rows = [
        (a, b, float(rng.uniform(0.85, 1.0)))
        for a, b in itertools.combinations(ids, 2)
        if rng.random() < 0.35
    ]
    pairs = _pairs(rows)
    diff = [tuple(rng.choice(ids, 2, replace=False)) for _ in range(2)]
    verdicts = _verdicts([(a, b, DIFFERENT) for a, b in diff])
    cluster, counts = cluster_with_labels(pd.Series(ids), pairs, 0.9, verdicts)
    for a, b in diff:
        assert cluster[a] != cluster[b]
    # No more cuts than links, and at least the minimum a brute force needs.
    minimum, _ = _reference(ids, pairs, 0.9, verdicts)
    assert minimum <= counts["cut"] <= len(rows)
    # Without verdicts: plain connected components, as Splink clusters them.
    plain, _ = cluster_with_labels(pd.Series(ids), pairs, 0.9, _verdicts([]))
    _, find = _reference(ids, pairs, 0.9, _verdicts([]))
    for a, b in itertools.combinations(ids, 2):
        assert (plain[a] == plain[b]) == (find(a) == find(b))


def test_latest_verdict_wins_whichever_way_round():
    got = latest_verdicts(
        [
            {"unique_id_l": "x", "unique_id_r": "y", "verdict": SAME},
            {"unique_id_l": "y", "unique_id_r": "x", "verdict": DIFFERENT},
        ]
    )
    assert got.to_dict("records") == [
        {"unique_id_l": "x", "unique_id_r": "y", "verdict": DIFFERENT}
    ]


def test_the_next_link_obeys_verdicts_on_a_simulated_world(records, linked):
    possible = linked.possible.iloc[:2]
    confirm, reject_pair = possible.iloc[0], None
    ids = lambda row, s: f"{row[f'agency_{s}']}:{row[f'agency_record_id_{s}']}"  # noqa: E731
    # Reject one pair the first run linked: two records of one linked person.
    person = linked.links.groupby("person_key")["unique_id"].agg(list)
    pair = next(p for p in person if len(p) >= 2)
    reject_pair = (pair[0], pair[1])
    verdicts = _verdicts([(ids(confirm, "l"), ids(confirm, "r"), SAME), (*reject_pair, DIFFERENT)])
    again = link_records(records, FAST, verdicts=verdicts)
    key = again.links.set_index("unique_id")["person_key"]
    assert key[ids(confirm, "l")] == key[ids(confirm, "r")]
    assert key[reject_pair[0]] != key[reject_pair[1]]
    assert again.labels["confirmed"] == 1 and again.labels["rejected"] == 1
    assert len(possible) == 2
