"""Linkage quality against the simulator's truth, overall and by group, with intervals.

Pairwise figures count every pair of records the linkage puts in one person
(precision: how many of those are truly one person; recall: how many truly
same-person pairs it put together).  Cluster figures ask whether a linked
person is exactly a true person's set of records.  Each record is judged by
its true person's ethnicity, sex and age band: a group's recall is the share
of its own same-person pairs found, and its precision the share of the
linked pairs touching it that are right.

Intervals are 95% Poisson-bootstrap intervals over independent units: the
connected pieces of the union of true and linked persons, so that a
resampled unit carries all the pairs it decides.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

AGE_BANDS = (
    (0, 5, "0-4"),
    (5, 10, "5-9"),
    (10, 18, "10-17"),
    (18, 30, "18-29"),
    (30, 45, "30-44"),
    (45, 200, "45 and over"),
)
GROUPINGS = ("ethnicity", "sex", "age_band")


def age_band(date_of_birth: pd.Series, as_of: dt.date) -> pd.Series:
    """Whole years at ``as_of``, in :data:`AGE_BANDS`."""
    dob = pd.to_datetime(date_of_birth)
    at = pd.Timestamp(as_of)
    years = (
        at.year
        - dob.dt.year
        - ((dob.dt.month > at.month) | ((dob.dt.month == at.month) & (dob.dt.day > at.day)))
    )
    out = pd.Series("45 and over", index=dob.index, dtype=object)
    for low, high, label in AGE_BANDS:
        out[(years >= low) & (years < high)] = label
    return out


def _pairs(n: np.ndarray) -> np.ndarray:
    n = np.asarray(n, dtype=np.int64)
    return n * (n - 1) // 2


def _units(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Connected pieces of the graph joining records in one linked or one true person."""
    n = pred.size
    edges = []
    for labels in (pred, true):
        order = np.argsort(labels, kind="stable")
        same = labels[order][1:] == labels[order][:-1]
        edges.append((order[:-1][same], order[1:][same]))
    rows = np.concatenate([e[0] for e in edges])
    cols = np.concatenate([e[1] for e in edges])
    graph = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _counts(frame: pd.DataFrame, in_group: np.ndarray, n_units: int) -> np.ndarray:
    """Per unit: (true-positive pairs, linked pairs touching the group, true pairs) of a group."""
    f = frame.assign(g=in_group)
    cells = f.groupby(["pred", "true"], sort=False).agg(
        n=("g", "size"), g=("g", "sum"), u=("unit", "first")
    )
    tp = np.bincount(cells["u"], weights=_pairs(cells["g"]), minlength=n_units)
    clusters = f.groupby("pred", sort=False).agg(
        n=("g", "size"), g=("g", "sum"), u=("unit", "first")
    )
    linked = np.bincount(
        clusters["u"],
        weights=_pairs(clusters["n"]) - _pairs(clusters["n"] - clusters["g"]),
        minlength=n_units,
    )
    persons = f.groupby("true", sort=False).agg(g=("g", "sum"), u=("unit", "first"))
    true = np.bincount(persons["u"], weights=_pairs(persons["g"]), minlength=n_units)
    return np.vstack([tp, linked, true])


def _scores(c: np.ndarray) -> tuple[float, float, float]:
    tp, linked, true = c
    p = tp / linked if linked else float("nan")
    r = tp / true if true else float("nan")
    f1 = 2 * p * r / (p + r) if p + r > 0 else float("nan")
    return p, r, f1


def pairwise_quality(
    person_key: pd.Series,
    person_id: pd.Series,
    groups: pd.DataFrame | None = None,
    n_boot: int = 200,
    random_state: int = 0,
) -> pd.DataFrame:
    """Pairwise precision, recall and F1 with 95% intervals, overall and by group.

    Parameters
    ----------
    person_key, person_id
        The linked person and the true person of each record (aligned).
    groups
        Optional columns (e.g. ``ethnicity``, ``sex``, ``age_band``) of each
        record's true person.

    Returns
    -------
    DataFrame
        One row per (grouping, group): ``precision``, ``recall``, ``f1``
        with ``*_low`` and ``*_high``, and the pair counts behind them.
    """
    pred = pd.factorize(person_key)[0]
    true = pd.factorize(person_id)[0]
    unit = _units(pred, true)
    frame = pd.DataFrame({"pred": pred, "true": true, "unit": unit})
    n_units = int(unit.max()) + 1
    rng = np.random.default_rng(random_state)
    weights = rng.poisson(1.0, size=(n_boot, n_units)).astype(np.float64)
    selections = [("overall", "all records", np.ones(len(frame), dtype=bool))]
    for grouping in GROUPINGS if groups is None else groups.columns:
        if groups is None:
            break
        values = groups[grouping].to_numpy()
        order = [b[2] for b in AGE_BANDS] if grouping == "age_band" else sorted(pd.unique(values))
        for value in [v for v in order if v in set(values)]:
            selections.append((grouping, value, values == value))
    rows = []
    for grouping, value, mask in selections:
        per_unit = _counts(frame, mask, n_units)
        p, r, f1 = _scores(per_unit.sum(axis=1))
        boot = weights @ per_unit.T  # (n_boot, 3)
        with np.errstate(invalid="ignore", divide="ignore"):
            bp = boot[:, 0] / boot[:, 1]
            br = boot[:, 0] / boot[:, 2]
            bf = 2 * bp * br / (bp + br)
        row = {"grouping": grouping, "group": value, "records": int(mask.sum())}
        for name, point, sample in (("precision", p, bp), ("recall", r, br), ("f1", f1, bf)):
            low, high = (
                np.nanpercentile(sample, [2.5, 97.5])
                if np.isfinite(sample).any()
                else (np.nan, np.nan)
            )
            row |= {name: point, f"{name}_low": low, f"{name}_high": high}
        row |= dict(
            zip(
                ("true_positive_pairs", "linked_pairs", "true_pairs"),
                per_unit.sum(axis=1).astype(int),
                strict=True,
            )
        )
        rows.append(row)
    return pd.DataFrame(rows)


def cluster_quality(person_key: pd.Series, person_id: pd.Series) -> dict[str, float]:
    """Share of linked persons that are exactly a true person, and of true persons found exactly."""
    frame = pd.DataFrame({"pred": person_key.to_numpy(), "true": person_id.to_numpy()})
    cells = frame.groupby(["pred", "true"]).size().rename("n").reset_index()
    size_pred = frame.groupby("pred").size()
    size_true = frame.groupby("true").size()
    exact = cells[
        (cells["n"].to_numpy() == size_pred.reindex(cells["pred"]).to_numpy())
        & (cells["n"].to_numpy() == size_true.reindex(cells["true"]).to_numpy())
    ]
    precision = len(exact) / len(size_pred)
    recall = len(exact) / len(size_true)
    return {
        "cluster_precision": precision,
        "cluster_recall": recall,
        "cluster_f1": 2 * precision * recall / (precision + recall),
        "linked_persons": float(len(size_pred)),
        "true_persons": float(len(size_true)),
    }


def naive_person_key(records: pd.DataFrame) -> pd.Series:
    """The naive baseline: records are one person when forename, surname and date of birth are equal.

    Case and accents are ignored (as :func:`linkage.prepare.prepare_records`
    leaves them); a record missing any of the three is a person of its own.
    """
    key = records["given_name"] + "|" + records["family_name"] + "|" + records["dob_text"]
    return key.where(key.notna(), "alone:" + records["unique_id"])
