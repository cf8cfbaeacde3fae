"""Settings shared by every ``mast`` command.

Each value can be set by an environment variable ``MAST_<NAME>`` and most by
a command-line option; the option wins.  Paths are relative to the working
directory, which for the README's commands is the root of the clone.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from models import MODEL_NAME


class Settings(BaseModel):
    """Where MAST keeps its store, its tracking data and its reports."""

    home: Path = Field(Path("mast-data"), description="Folder for stores and reports.")
    db: Path = Field(Path("mast-data/mast.duckdb"), description="The DuckDB multi-agency store.")
    tracking_uri: str = Field(
        "sqlite:///mlflow/mlflow.db", description="MLflow tracking URI (local SQLite by default)."
    )
    model_name: str = Field(MODEL_NAME, description="Registered model name in MLflow.")
    seed: int = Field(20221201, description="Default random seed for every random step.")


def get_settings() -> Settings:
    """Read settings from ``MAST_*`` environment variables over the defaults."""
    values = {}
    for name in Settings.model_fields:
        env = os.environ.get(f"MAST_{name.upper()}")
        if env is not None:
            values[name] = env
    return Settings(**values)
