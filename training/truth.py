"""The one door to the simulator's ground truth, for evaluation only.

``truth.latent_harm`` is the harm the simulated children really suffered.
It is read here, by name, and nowhere else in ``training/``; the result is
used only to evaluate predictions beside the proxy label, never as a label
or a feature (``tests/training/test_ground_truth_apart.py`` checks this).

Harm label: a child has ground-truth harm for a referral when a latent harm
episode of at least ``min_severity`` is active at the referral's
``received_at`` or starts within the label horizon, i.e. the episode
``[start_date, end_date]`` overlaps ``[received_at, received_at + horizon]``.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from store import TRUTH_SCHEMA


def harm_labels(
    con: duckdb.DuckDBPyConnection,
    keys: pd.DataFrame,
    horizon_months: int,
    min_severity: int = 1,
) -> np.ndarray | None:
    """Ground-truth harm (0/1) per row of ``keys``; ``None`` if the store has no truth.

    A real local authority's store has no ``truth`` schema; then every
    ground-truth figure is reported as unavailable, not as zero.
    """
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = ? AND table_name = 'latent_harm'",
        [TRUTH_SCHEMA],
    ).fetchone()[0]
    if not exists:
        return None
    frame = keys[["person_id", "received_at"]].reset_index(drop=True).copy()
    frame["_row"] = np.arange(len(frame), dtype=np.int64)
    frame["received_at"] = pd.to_datetime(frame["received_at"])
    h = int(horizon_months)
    con.register("_harm_keys", frame)
    try:
        out = (
            con.execute(
                f"""
                SELECT k._row, count(t.person_id) > 0 AS y
                FROM _harm_keys k
                LEFT JOIN {TRUTH_SCHEMA}.latent_harm t
                  ON t.person_id = k.person_id
                 AND t.severity >= {int(min_severity)}
                 AND t.start_date <= CAST(k.received_at + INTERVAL {h} MONTH AS DATE)
                 AND t.end_date >= CAST(k.received_at AS DATE)
                GROUP BY k._row
                """
            )
            .df()
            .sort_values("_row")
        )
    finally:
        con.unregister("_harm_keys")
    return out["y"].to_numpy(dtype=np.int64)
