"""Linkage quality and what linkage costs each group, for the board's report.

Two things a board must see once MAST links people without a shared
identifier (issue 20):

- how well the linkage did against the simulator's truth, overall and by
  ethnicity, sex and age band, with intervals (:func:`linkage_section`);
- what linkage error does to the model's figures for each group: the same
  model scored on features built from *linked* persons and from *true*
  persons, side by side (:func:`linkage_cost`).  A group whose records link
  worse loses history, so its children may be flagged less often.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from audit import plain

GROUP_WORDS = {"overall": "Everyone", "ethnicity": "Ethnicity", "sex": "Sex", "age_band": "Age"}


def _pct(x: float | None) -> str:
    return "no pairs" if x is None or x != x else f"{x:.1%}"


def _interval(x: float, low: float, high: float) -> str:
    if x != x:
        return "no pairs"
    return f"{x:.1%} ({low:.1%} to {high:.1%})"


def linkage_section(
    table: pd.DataFrame, metrics: dict[str, float], cost: pd.DataFrame | None = None
) -> dict[str, Any]:
    """The report's linkage section as plain rows (``metadata["linkage"]``).

    Parameters
    ----------
    table, metrics
        :func:`linkage.evaluate.evaluate_links` output.
    cost
        :func:`linkage_cost` output, or ``None``.
    """
    ours = table[table["method"] == "splink"]
    rows = []
    for r in ours.itertuples(index=False):
        group = GROUP_WORDS[r.grouping]
        if r.grouping != "overall":
            group += f": {r.group}"
        rows.append(
            {
                "group": group,
                "records": f"{int(r.records):,}",
                "precision": _interval(r.precision, r.precision_low, r.precision_high),
                "recall": _interval(r.recall, r.recall_low, r.recall_high),
                "f1": _pct(r.f1),
            }
        )
    worst = ours[ours["grouping"] != "overall"].sort_values("recall").head(1)
    summary = (
        f"MAST joined {metrics['pairwise_recall']:.1%} of the pairs of records that truly belong "
        f"to one person, and {metrics['pairwise_precision']:.1%} of the pairs it joined were "
        f"right. {metrics['cluster_recall']:.1%} of people had all their records brought "
        "together exactly."
    )
    if len(worst):
        w = worst.iloc[0]
        summary += (
            " The group whose records were brought together least often: "
            f"{GROUP_WORDS[w['grouping']].lower()} {str(w['group']).lower()}, "
            f"{w['recall']:.1%} of pairs found, "
            f"{metrics['largest_recall_gap'] * 100:.1f} points below everyone."
        )
    out: dict[str, Any] = {"summary": summary, "rows": rows}
    if cost is not None:
        out["cost"] = cost.to_dict("records")
    return out


def linkage_cost(
    flag: Callable[[pd.DataFrame], np.ndarray],
    features_true: pd.DataFrame,
    features_linked: pd.DataFrame,
    person_key: pd.Series,
    y_true: pd.Series,
    groups: pd.DataFrame,
) -> pd.DataFrame:
    """The model's group figures on true persons and on linked persons, side by side.

    Parameters
    ----------
    flag
        The model: feature rows -> whether each is flagged.
    features_true, features_linked
        Feature tables (``referral_id``, ``person_id``, features) built from
        the store keyed by true persons and by linked persons.
    person_key
        True ``person_id`` -> linked person (:class:`store.linked.LinkedStore`).
    y_true
        Outcome of each row of ``features_true`` (1 = harm), by position.
    groups
        Protected characteristics of each row of ``features_true``, by position.

    Returns
    -------
    DataFrame
        Per group: children, flag rate and recall (share of harmed children
        flagged) on true and on linked persons, and the change in points.
    """
    true_flag = np.asarray(flag(features_true), dtype=bool)
    linked_flag_of = pd.Series(
        np.asarray(flag(features_linked), dtype=bool),
        index=pd.MultiIndex.from_frame(features_linked[["referral_id", "person_id"]]),
    )
    # Each true child is scored as the linked person it became (two children
    # wrongly merged share one linked score).
    keys = pd.MultiIndex.from_arrays(
        [features_true["referral_id"], features_true["person_id"].map(person_key)]
    )
    linked_flag = linked_flag_of.reindex(keys).fillna(False).to_numpy(dtype=bool)
    changed = _history_changed(features_true, features_linked, keys)
    y = np.asarray(y_true, dtype=bool)
    rows = []
    frame = groups.reset_index(drop=True)
    parts = [("overall", "Everyone", np.ones(len(y), dtype=bool))]
    for col in frame.columns:
        for g in sorted(frame[col].dropna().unique(), key=_natural):
            parts.append((col, str(g), (frame[col] == g).to_numpy()))
    for attr, group, mask in parts:
        harmed = mask & y
        row = {
            "attribute": "Everyone"
            if attr == "overall"
            else plain.attribute_label(attr).capitalize(),
            "group": group,
            "children": int(mask.sum()),
            "history_changed": float(changed[mask].mean()) if mask.any() else float("nan"),
            "flag_rate_true": float(true_flag[mask].mean()) if mask.any() else float("nan"),
            "flag_rate_linked": float(linked_flag[mask].mean()) if mask.any() else float("nan"),
            "recall_true": float(true_flag[harmed].mean()) if harmed.any() else float("nan"),
            "recall_linked": float(linked_flag[harmed].mean()) if harmed.any() else float("nan"),
        }
        row["recall_change_points"] = (row["recall_linked"] - row["recall_true"]) * 100
        row["flag_rate_change_points"] = (row["flag_rate_linked"] - row["flag_rate_true"]) * 100
        rows.append(row)
    return pd.DataFrame(rows)


def _natural(group) -> tuple:
    """Age bands in age order ("under 1", "1-4", ... "15-17"), other groups alphabetically."""
    text = str(group)
    digits = re.match(r"\d+", text)
    if text.startswith("under"):
        return (0, 0, text)
    return (1, int(digits.group()), text) if digits else (2, 0, text)


def _history_changed(
    features_true: pd.DataFrame, features_linked: pd.DataFrame, keys: pd.MultiIndex
) -> np.ndarray:
    """Whether any numeric feature of a child differs between true and linked persons."""
    columns = [
        c
        for c in features_true.columns
        if c not in ("referral_id", "person_id", "received_at")
        and c in features_linked.columns
        and features_true[c].dtype.kind in "fiub"
    ]
    linked = features_linked.set_index(["referral_id", "person_id"])[columns].reindex(keys)
    true = features_true[columns].to_numpy(dtype=float, na_value=np.nan)
    other = linked.to_numpy(dtype=float, na_value=np.nan)
    same = (true == other) | (np.isnan(true) & np.isnan(other))
    return ~same.all(axis=1)


def has_linkage(con) -> bool:
    """Whether the store holds a linkage run, the records it links and the simulator's answer."""
    found = {
        tuple(r)
        for r in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    }
    needed = {
        ("main", "person_links"),
        ("main", "person_records"),
        ("main", "agency_event_records"),
        ("truth", "agency_record_people"),
    }
    return needed <= found and con.execute("SELECT count(*) FROM person_links").fetchone()[0] > 0


def report_linkage(con, scorer, predictions: pd.DataFrame) -> dict[str, Any]:
    """``metadata["linkage"]`` for the board's report, or ``{}`` when the store has no links.

    Linkage quality by group against the simulator's truth, and the model's
    group figures on the test referrals with features built from true
    persons and from linked persons (:func:`linkage_cost`).

    Parameters
    ----------
    con
        The store the model was trained on (read only).
    scorer
        The fitted model (:class:`models.estimators.Scorer`, with its policy).
    predictions
        The test rows: ``referral_id``, ``person_id``, ``y_true`` (and
        ``y_harm`` when the simulator's harm is known).
    """
    if not has_linkage(con):
        return {}
    import duckdb

    from features import build_features
    from linkage.evaluate import evaluate_links, truth_of_records
    from linkage.prepare import read_records
    from store import create_schema, write_tables
    from store.linked import read_linked

    records = read_records(con)
    links = con.execute(
        "SELECT agency || ':' || agency_record_id AS unique_id, person_key FROM person_links"
    ).df()
    table, metrics = evaluate_links(links, records, truth_of_records(con))
    # The whole store's feature tables (the SQL path, built for training),
    # then the test rows: the on-demand path is for a few referrals at a time.
    rows = predictions[["referral_id", "person_id"]].drop_duplicates()
    true = build_features(con).to_frame().merge(rows, on=["referral_id", "person_id"])
    linked = read_linked(con)
    linked_con = duckdb.connect()
    try:
        create_schema(linked_con)
        write_tables(linked_con, linked.tables)
        on_links = build_features(linked_con).to_frame()
    finally:
        linked_con.close()
    on_links = on_links[on_links["referral_id"].isin(rows["referral_id"])]
    outcome = (
        "y_harm"
        if predictions.get("y_harm") is not None and predictions["y_harm"].notna().all()
        else "y_true"
    )
    judged = true[["referral_id", "person_id"]].merge(
        predictions[["referral_id", "person_id", outcome]],
        on=["referral_id", "person_id"],
        how="left",
    )
    groups = true[[c for c in ("ethnicity", "sex", "age_band") if c in true.columns]]

    def flag(frame: pd.DataFrame) -> np.ndarray:
        out = scorer.predict_referrals(frame, frame["referral_id"].to_numpy())
        return out["referral_flag"].to_numpy()

    cost = linkage_cost(
        flag,
        true,
        on_links,
        linked.person_key,
        judged[outcome].fillna(0).astype(bool),
        groups,
    )
    return {"linkage": linkage_section(table, metrics, cost)}
