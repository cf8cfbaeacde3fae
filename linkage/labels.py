"""People's verdicts on possible matches, and how the next ``mast link`` obeys them.

A screener or manager confirms a possible match ("the same person") or
rejects it ("different people"); the verdict is an entry of the audit trail
(``possible_match_review``).  The next ``mast link`` reads the latest verdict
on each pair and uses it as a label in the clustering:

- a confirmed pair is linked, whatever its score;
- a rejected pair is kept apart: its own link is dropped and, if other
  links still join the two records, the weakest link on the path between
  them is cut, again and again, until they are in different persons.

Labels are *not* fed to Splink's parameter estimation: a handful of
reviewed pairs, chosen because they were hard, would pull m and u towards
the hardest cases; estimation stays unsupervised and reproducible, and the
verdicts act where a person meant them to, on the pairs they judged.
"""

from __future__ import annotations

from collections import defaultdict, deque

import pandas as pd

SAME = "same_person"
DIFFERENT = "different_people"
VERDICTS = {SAME: "the same person", DIFFERENT: "different people"}


def pair_key(a: str, b: str) -> tuple[str, str]:
    """The pair's key whichever way round it is given (``agency:agency_record_id`` ids)."""
    return (a, b) if a <= b else (b, a)


def latest_verdicts(reviews: list[dict]) -> pd.DataFrame:
    """The latest verdict on each pair, from the trail's reviews in chain order.

    Parameters
    ----------
    reviews
        Payloads of ``possible_match_review`` entries, oldest first, each
        with ``unique_id_l``, ``unique_id_r`` and ``verdict``.
    """
    latest: dict[tuple[str, str], str] = {}
    for review in reviews:
        latest[pair_key(review["unique_id_l"], review["unique_id_r"])] = review["verdict"]
    return pd.DataFrame(
        [(a, b, v) for (a, b), v in latest.items()],
        columns=["unique_id_l", "unique_id_r", "verdict"],
    )


def cluster_with_labels(
    unique_ids: pd.Series, pairs: pd.DataFrame, threshold: float, verdicts: pd.DataFrame
) -> tuple[pd.Series, dict[str, int]]:
    """Connected components of the links at ``threshold``, obeying people's verdicts.

    Parameters
    ----------
    unique_ids
        Every record.
    pairs
        Scored pairs: ``unique_id_l``, ``unique_id_r``, ``match_probability``.
    verdicts
        :func:`latest_verdicts` output.

    Returns
    -------
    (Series, dict)
        ``unique_id`` -> cluster id (the smallest ``unique_id`` in it), and
        counts: ``confirmed`` and ``rejected`` verdicts applied, ``cut`` links
        removed to keep rejected pairs apart.
    """
    strong = pairs[pairs["match_probability"] >= threshold]
    weight: dict[tuple[str, str], float] = {
        pair_key(a, b): float(p)
        for a, b, p in strong[["unique_id_l", "unique_id_r", "match_probability"]].itertuples(
            index=False
        )
    }
    known = set(unique_ids)
    verdicts = verdicts[verdicts["unique_id_l"].isin(known) & verdicts["unique_id_r"].isin(known)]
    rejected = [pair_key(a, b) for a, b, v in verdicts.itertuples(index=False) if v == DIFFERENT]
    confirmed = [pair_key(a, b) for a, b, v in verdicts.itertuples(index=False) if v == SAME]
    for key in rejected:
        weight.pop(key, None)
    for key in confirmed:
        weight[key] = float("inf")  # never cut
    adjacency: dict[str, dict[str, float]] = defaultdict(dict)
    for (a, b), w in weight.items():
        adjacency[a][b] = adjacency[b][a] = w
    cut = 0
    for a, b in rejected:
        while (path := _path(adjacency, a, b)) is not None:
            edges = list(zip(path[:-1], path[1:], strict=True))
            x, y = min(edges, key=lambda e: adjacency[e[0]][e[1]])
            if adjacency[x][y] == float("inf"):
                break  # joined only through confirmed links: people's verdicts disagree
            del adjacency[x][y], adjacency[y][x]
            cut += 1
    cluster = _components(sorted(known), adjacency)
    return cluster, {"confirmed": len(confirmed), "rejected": len(rejected), "cut": cut}


def _path(adjacency, start: str, goal: str) -> list[str] | None:
    """A shortest path from ``start`` to ``goal`` (breadth first), or ``None``."""
    before = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while before[path[-1]] is not None:
                path.append(before[path[-1]])
            return path[::-1]
        for nxt in adjacency.get(node, {}):
            if nxt not in before:
                before[nxt] = node
                queue.append(nxt)
    return None


def _components(nodes: list[str], adjacency) -> pd.Series:
    cluster: dict[str, str] = {}
    for node in nodes:  # sorted: each cluster is named by its smallest id
        if node in cluster:
            continue
        cluster[node] = node
        queue = deque([node])
        while queue:
            for nxt in adjacency.get(queue.popleft(), {}):
                if nxt not in cluster:
                    cluster[nxt] = node
                    queue.append(nxt)
    return pd.Series(cluster, name="cluster_id")
