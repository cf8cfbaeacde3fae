"""Judge a linkage run against the simulator's truth and log it to MLflow.

Only evaluation reads ``truth.agency_record_people``: the linkage itself
never does (``tests/linkage`` checks this).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

from linkage.quality import age_band, cluster_quality, naive_person_key, pairwise_quality

EXPERIMENT = "mast-linkage"


def has_truth(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'truth' AND table_name = 'agency_record_people'"
        ).fetchone()[0]
    )


def truth_of_records(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each record's true person and that person's ethnicity, sex and age band."""
    truth = con.execute(
        """
        SELECT t.agency || ':' || t.agency_record_id AS unique_id, t.person_id,
               p.ethnicity, p.sex, p.date_of_birth
        FROM truth.agency_record_people t JOIN people p USING (person_id)
        """
    ).df()
    as_of = con.execute("SELECT max(recorded_at) FROM agency_events").fetchone()[0]
    truth["age_band"] = age_band(truth["date_of_birth"], as_of or pd.Timestamp.now())
    return truth.drop(columns="date_of_birth")


def evaluate_links(
    links: pd.DataFrame, records: pd.DataFrame, truth: pd.DataFrame, random_state: int = 0
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Pairwise quality by group (MAST and the naive baseline) and cluster quality.

    Returns
    -------
    (DataFrame, dict)
        The pairwise table (column ``method``: ``splink`` or
        ``naive exact match``) and the headline metrics.
    """
    judged = links[["unique_id", "person_key"]].merge(truth, on="unique_id", validate="1:1")
    groups = judged[["ethnicity", "sex", "age_band"]]
    ours = pairwise_quality(
        judged["person_key"], judged["person_id"], groups, random_state=random_state
    )
    naive_key = naive_person_key(
        records.set_index("unique_id").loc[judged["unique_id"]].reset_index()
    )
    naive = pairwise_quality(naive_key, judged["person_id"], groups, random_state=random_state)
    table = pd.concat([ours.assign(method="splink"), naive.assign(method="naive exact match")])
    overall = ours.iloc[0]
    metrics = {
        "pairwise_precision": overall["precision"],
        "pairwise_recall": overall["recall"],
        "pairwise_f1": overall["f1"],
        "naive_pairwise_precision": naive.iloc[0]["precision"],
        "naive_pairwise_recall": naive.iloc[0]["recall"],
        "naive_pairwise_f1": naive.iloc[0]["f1"],
        **cluster_quality(judged["person_key"], judged["person_id"]),
    }
    groups_only = ours[ours["grouping"] != "overall"]
    metrics["largest_recall_gap"] = float((overall["recall"] - groups_only["recall"]).max())
    return table, metrics


def log_to_mlflow(
    tracking_uri: str,
    table: pd.DataFrame,
    metrics: dict[str, float],
    params: dict[str, str],
    model_json: dict,
) -> str:
    """One MLflow run in experiment ``mast-linkage``: metrics, settings, the group table."""
    import mlflow

    from training.tracking import setup_tracking

    experiment_id = setup_tracking(tracking_uri, experiment=EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment_id, run_name="mast link") as run:
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for row in table[table["method"] == "splink"].itertuples(index=False):
            if row.grouping == "overall":
                continue
            name = f"{row.grouping}.{row.group}".replace(" ", "_")
            mlflow.log_metrics({f"recall.{name}": row.recall, f"precision.{name}": row.precision})
        with tempfile.TemporaryDirectory() as tmp:
            table.to_csv(Path(tmp) / "linkage_quality_by_group.csv", index=False)
            (Path(tmp) / "splink_model.json").write_text(
                json.dumps(model_json, indent=1, default=str)
            )
            mlflow.log_artifacts(tmp, artifact_path="linkage")
        return run.info.run_id
