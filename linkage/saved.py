"""The trained linkage model, kept in the store beside the links it made.

``mast link`` trains a Splink model without labels and clusters records with
it.  The same model must score an adult a referrer names (``linkage.search``),
so a search weighs a nickname or a transposed date exactly as the run that
made ``person_links`` did.  One row per run: the latest replaces the others,
as the links do (``linkage.store.write_links``), in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from linkage.model import LinkageResult

MODEL_TABLE = "linkage_models"
MODEL_DDL = f"""CREATE TABLE IF NOT EXISTS {MODEL_TABLE} (
    run_id VARCHAR PRIMARY KEY, rule_version VARCHAR NOT NULL, threshold DOUBLE NOT NULL,
    review_floor DOUBLE NOT NULL, model_json VARCHAR NOT NULL)"""


@dataclass(frozen=True)
class SavedModel:
    """A linkage run's model and the governance settings it linked at."""

    run_id: str
    rule_version: str
    threshold: float
    review_floor: float
    model_json: dict


def save_model(con: duckdb.DuckDBPyConnection, result: LinkageResult, run_id: str) -> None:
    """Replace the stored model with ``result``'s, inside the caller's transaction.

    A result without its rules (made by hand) is not saved: a search must
    never guess the threshold governance set.
    """
    con.execute(MODEL_DDL)
    con.execute(f"DELETE FROM {MODEL_TABLE}")
    if result.rules is None:
        return
    con.execute(
        f"INSERT INTO {MODEL_TABLE} VALUES (?, ?, ?, ?, ?)",
        [
            run_id,
            result.rule_version,
            result.rules.threshold,
            result.rules.review_floor,
            json.dumps(result.model_json, default=str),
        ],
    )


def load_model(con: duckdb.DuckDBPyConnection) -> SavedModel | None:
    """The model of the run that wrote the store's ``person_links``, or ``None``.

    ``None`` when the store was never linked, or was linked before models
    were kept (run ``mast link`` again), or when the links present come
    from another run than the model (the two are written together, so that
    means the store was edited by hand).
    """
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        f"WHERE table_schema = 'main' AND table_name IN ('{MODEL_TABLE}', 'person_links')"
    ).fetchone()[0]
    if exists < 2:
        return None
    row = con.execute(
        f"SELECT m.run_id, m.rule_version, m.threshold, m.review_floor, m.model_json "
        f"FROM {MODEL_TABLE} m WHERE m.run_id = (SELECT any_value(run_id) FROM person_links)"
    ).fetchone()
    if row is None:
        return None
    return SavedModel(row[0], row[1], float(row[2]), float(row[3]), json.loads(row[4]))
