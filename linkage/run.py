"""Score candidate pairs, cluster at the governance threshold, keep possible matches."""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage.labels import DIFFERENT, cluster_with_labels, pair_key
from linkage.model import LinkageResult, LinkageRules, rule_version, train_linker

# Splink's per-comparison match weight -> the field a screener reads.  A field
# "agrees" when its weight counts for a match and "disagrees" when it counts
# against; a field one record lacks counts neither way and is not listed.
FIELD_NAMES = {
    "mw_given_name_family_name": "name",
    "mw_date_of_birth": "date of birth",
    "mw_address": "address",
    "mw_nhs_number": "NHS number",
    "mw_upn": "UPN",
    "mw_pnc_id": "PNC id",
    "mw_sex": "sex",
}


def link_records(
    records: pd.DataFrame, rules: LinkageRules, db_api=None, verdicts: pd.DataFrame | None = None
) -> LinkageResult:
    """Resolve prepared agency records into linked persons.

    Parameters
    ----------
    records
        :func:`linkage.prepare.prepare_records` output.
    rules
        The governance settings: threshold and review floor.
    db_api
        Splink database API (DuckDB in memory by default).
    verdicts
        People's latest verdicts on possible matches (:mod:`linkage.labels`):
        confirmed pairs are linked, rejected pairs kept apart.

    Returns
    -------
    LinkageResult
        Every record with its person, and the possible matches below the threshold.
    """
    linker = train_linker(records, rules, db_api)
    predictions = linker.inference.predict(threshold_match_probability=rules.review_floor)
    pairs = predictions.as_pandas_dataframe()
    applied = {}
    if verdicts is not None and len(verdicts):
        cluster, applied = cluster_with_labels(
            records["unique_id"], pairs, rules.threshold, verdicts
        )
        cluster_of = cluster.rename_axis("unique_id").reset_index()
    else:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=rules.threshold
        )
        cluster_of = clusters.as_pandas_dataframe()[["unique_id", "cluster_id"]]
        clusters.drop_table_from_database_and_remove_from_cache()
    links = _links(records, cluster_of, pairs, rules.threshold)
    possible = _possible(pairs, links, rules, verdicts)
    model_json = linker.misc.save_model_to_json()
    predictions.drop_table_from_database_and_remove_from_cache()
    return LinkageResult(
        links=links,
        possible=possible,
        rule_version=rule_version(rules),
        model_json=model_json,
        n_scored_pairs=len(pairs),
        labels=applied,
        rules=rules,
    )


def _links(records, cluster_of, pairs, threshold) -> pd.DataFrame:
    strong = pairs[pairs["match_probability"] >= threshold]
    best = (
        pd.concat(
            [
                strong[["unique_id_l", "match_probability"]].set_axis(["unique_id", "p"], axis=1),
                strong[["unique_id_r", "match_probability"]].set_axis(["unique_id", "p"], axis=1),
            ]
        )
        .groupby("unique_id")["p"]
        .max()
    )
    links = records[["unique_id", "agency", "agency_record_id"]].merge(
        cluster_of, on="unique_id", how="left"
    )
    links["cluster_id"] = links["cluster_id"].fillna(links["unique_id"])
    # Person keys numbered in cluster order: the same clusters give the same keys.
    order = np.sort(links["cluster_id"].unique())
    number = pd.Series(np.arange(1, order.size + 1), index=order)
    links["person_key"] = "LP" + links["cluster_id"].map(number).astype(str).str.zfill(7)
    links["match_probability"] = links["unique_id"].map(best)
    return links[["agency", "agency_record_id", "unique_id", "person_key", "match_probability"]]


def _possible(pairs, links, rules, verdicts=None) -> pd.DataFrame:
    person = links.set_index("unique_id")["person_key"]
    below = pairs[pairs["match_probability"] < rules.threshold]
    # Pairs already in one person through other, stronger links need no review.
    below = below[below["unique_id_l"].map(person) != below["unique_id_r"].map(person)]
    weights = [c for c in FIELD_NAMES if c in below.columns]
    rows = below[weights].to_dict("records")
    agree = [", ".join(FIELD_NAMES[c] for c in weights if row[c] > 0) for row in rows]
    disagree = [", ".join(FIELD_NAMES[c] for c in weights if row[c] < 0) for row in rows]
    left = below["unique_id_l"].str.split(":", n=1, expand=True)
    right = below["unique_id_r"].str.split(":", n=1, expand=True)
    return pd.DataFrame(
        {
            "agency_l": left[0].to_numpy() if len(below) else [],
            "agency_record_id_l": left[1].to_numpy() if len(below) else [],
            "agency_r": right[0].to_numpy() if len(below) else [],
            "agency_record_id_r": right[1].to_numpy() if len(below) else [],
            "match_probability": below["match_probability"].to_numpy(),
            "agreeing_fields": agree,
            "disagreeing_fields": disagree,
            "status": _status(below, verdicts),
        }
    ).sort_values("match_probability", ascending=False, ignore_index=True)


def _status(below: pd.DataFrame, verdicts: pd.DataFrame | None) -> list[str]:
    """``possible``, or ``rejected`` where a person already judged the pair different people."""
    if verdicts is None or not len(verdicts):
        return ["possible"] * len(below)
    rejected = {
        pair_key(a, b)
        for a, b, v in verdicts[["unique_id_l", "unique_id_r", "verdict"]].itertuples(index=False)
        if v == DIFFERENT
    }
    return [
        "rejected" if pair_key(a, b) in rejected else "possible"
        for a, b in zip(below["unique_id_l"], below["unique_id_r"], strict=True)
    ]
