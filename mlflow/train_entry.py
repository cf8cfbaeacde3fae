"""Entry point of the MLflow Project: ``mast train`` inside an MLflow-managed run.

``mlflow run`` creates the run and passes its id and tracking URI in the
environment (``MLFLOW_RUN_ID``, ``MLFLOW_TRACKING_URI``); training logs into
that run instead of starting its own.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> int:
    import mlflow

    from training import TrainConfig, train

    parser = argparse.ArgumentParser(description="Train MAST inside an MLflow Project run.")
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--config", default="default", help='TOML file, or "default".')
    args = parser.parse_args()
    config = None if args.config in ("", "default") else args.config
    result = train(
        args.db,
        TrainConfig.from_toml(config),
        tracking_uri=mlflow.get_tracking_uri(),
        run_id=os.environ.get("MLFLOW_RUN_ID"),
    )
    print(f"run {result.run_id}: model version {result.model_version}, gate {result.gate_verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
