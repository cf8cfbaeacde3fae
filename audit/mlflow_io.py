"""The audit's contract with training, through MLflow.

Training logs the test-period predictions of every run as the artifact
``evaluation/test_predictions.parquet`` with :data:`PREDICTION_COLUMNS`;
``mast audit --run RUN_ID`` downloads and audits it.  The verdict goes back
to MLflow as tags on the run and on the model version (see
:func:`log_gate_verdict`), where ``mast promote`` and ``mast models`` read it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from audit.fairness_gate import GateVerdict, gate_tags
from audit.frame import AuditInputError, require_columns
from features import KEY_COLUMNS, PROTECTED_COLUMNS

PREDICTIONS_ARTIFACT = "evaluation/test_predictions.parquet"
# The agreed columns: one row per (referral, child) in the test period.
PREDICTION_COLUMNS = (
    *KEY_COLUMNS,  # referral_id, person_id, received_at
    "y_true",  # proxy label, 0/1
    "y_harm",  # simulated ground-truth harm, 0/1, nullable
    "y_prob",  # calibrated probability
    "score",  # 1-20
    "flag",  # 0/1, the advisory flag
    "human_flag",  # 0/1: screeners decided strategy_discussion; nullable
    *PROTECTED_COLUMNS,  # the audit groups, carried beside the features
)
REQUIRED_COLUMNS = ("referral_id", "y_true", "y_prob", "score", "flag")


def load_run_predictions(run_id: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """Download a run's ``evaluation/test_predictions.parquet`` and read it.

    Raises
    ------
    AuditInputError
        When the run or the artifact cannot be found, or required columns
        are missing (naming them).
    """
    import mlflow

    with tempfile.TemporaryDirectory(prefix="mast-audit-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=PREDICTIONS_ARTIFACT,
                dst_path=tmp,
                tracking_uri=tracking_uri,
            )
        except Exception as err:  # MLflow raises several types for a missing run/artifact
            raise AuditInputError(
                f"could not download {PREDICTIONS_ARTIFACT} from run {run_id!r}"
                f"{f' at {tracking_uri}' if tracking_uri else ''}: {err}"
            ) from err
        frame = pd.read_parquet(Path(local))
    require_columns(frame, REQUIRED_COLUMNS)
    return frame


def log_gate_verdict(
    verdict: GateVerdict,
    *,
    run_id: str | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    tracking_uri: str | None = None,
) -> dict[str, str]:
    """Set the verdict's tags (:func:`audit.gate_tags`) on a run and/or a model version."""
    from mlflow import MlflowClient

    # The registry is the tracking store's own (as training's client_for): without it a
    # registry URI set earlier in the process would receive the version's tags.
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    tags = gate_tags(verdict)
    for key, value in tags.items():
        if run_id is not None:
            client.set_tag(run_id, key, value)
        if model_name is not None and model_version is not None:
            client.set_model_version_tag(model_name, str(model_version), key, value)
    return tags
