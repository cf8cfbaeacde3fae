"""Where MAST keeps its store, its tracking data and its reports, and its seed.

The one settings tree of MAST, below every package that reads it: the CLI
(``mast/``), the service (``serving/``), the records store (``records/``),
training and the simulator take their defaults from here, so each default
is written once:

- :data:`DEFAULT_HOME` (``mast-data``), the folder for stores and reports;
- :data:`DEFAULT_TRACKING_URI` (``sqlite:///mlflow/mlflow.db``), MLflow's store;
- :data:`DEFAULT_RANDOM_STATE`, the seed of every random step;
- :data:`DEFAULT_INVITATION_DAYS`, how long a partner agency's invitation to
  a referral lasts (:func:`invitation_days`).

Each value can be set by an environment variable ``MAST_<NAME>`` and most by
a command-line option; the option wins.  The MLflow tracking URI is taken,
first found wins, from ``--tracking-uri``, ``MAST_TRACKING_URI``,
``MLFLOW_TRACKING_URI`` (MLflow's own variable, so a user who sets it trains,
promotes and serves against one store) and the local default.  Paths are
relative to the working directory, which for the README's commands is the
root of the clone.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from models import MODEL_NAME

DEFAULT_HOME = Path("mast-data")
"""Folder for stores and reports (``MAST_HOME``)."""
DEFAULT_TRACKING_URI = "sqlite:///mlflow/mlflow.db"
"""Local MLflow tracking and registry store (``MAST_TRACKING_URI``)."""
DEFAULT_RANDOM_STATE = 20221201
"""Seed for every random step when none is given (``MAST_RANDOM_STATE``)."""
DEFAULT_INVITATION_DAYS = 30
"""How many days a partner lead's invitation to a referral lasts (``MAST_INVITATION_DAYS``)."""
MAX_INVITATION_DAYS = 366


class Settings(BaseModel):
    """Where MAST keeps its store, its tracking data and its reports."""

    home: Path = Field(DEFAULT_HOME, description="Folder for stores and reports.")
    db: Path | None = Field(
        None, description="The DuckDB multi-agency store (default: <home>/mast.duckdb)."
    )
    tracking_uri: str = Field(
        DEFAULT_TRACKING_URI, description="MLflow tracking URI (local SQLite by default)."
    )
    model_name: str = Field(MODEL_NAME, description="Registered model name in MLflow.")
    random_state: int = Field(
        DEFAULT_RANDOM_STATE, description="Default seed for every random step."
    )

    @model_validator(mode="after")
    def _store_in_home(self) -> Settings:
        # MAST_HOME moves everything MAST keeps, the store included.
        if self.db is None:
            self.db = self.home / "mast.duckdb"
        return self


# Environment variables read under another name when MAST_<NAME> is unset
# (an older MAST name, or the library's own variable).
_FALLBACK_ENV = {"random_state": "MAST_SEED", "tracking_uri": "MLFLOW_TRACKING_URI"}


def get_settings() -> Settings:
    """Read settings from ``MAST_*`` environment variables over the defaults.

    ``MLFLOW_TRACKING_URI`` is honoured when ``MAST_TRACKING_URI`` is unset.
    """
    values = {}
    for name in Settings.model_fields:
        env = os.environ.get(f"MAST_{name.upper()}")
        if env is None and name in _FALLBACK_ENV:
            env = os.environ.get(_FALLBACK_ENV[name])
        if env is not None:
            values[name] = env
    return Settings(**values)


def home() -> Path:
    """``MAST_HOME`` or :data:`DEFAULT_HOME`, without validating the other settings."""
    return Path(os.environ.get("MAST_HOME", DEFAULT_HOME))


def invitation_days() -> int:
    """How many days a new partner invitation lasts: ``MAST_INVITATION_DAYS``, else 30.

    Read on every invitation (not cached), so a changed setting applies to
    the next one; an invitation already sent keeps the expiry it was given.
    Read by the records store alone, so it is not a field of :class:`Settings`
    (a bad value stops an invitation, not every ``mast`` command).

    Raises
    ------
    ValueError
        If the setting is not a whole number of days from 1 to 366 (named, in words).
    """
    raw = os.environ.get("MAST_INVITATION_DAYS", "").strip()
    if not raw:
        return DEFAULT_INVITATION_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_INVITATION_DAYS:
        raise ValueError(
            f"MAST_INVITATION_DAYS must be a whole number of days from 1 to "
            f"{MAX_INVITATION_DAYS}, got {raw!r}"
        )
    return days


__all__ = [
    "DEFAULT_HOME",
    "DEFAULT_INVITATION_DAYS",
    "DEFAULT_RANDOM_STATE",
    "DEFAULT_TRACKING_URI",
    "MODEL_NAME",
    "Settings",
    "get_settings",
    "home",
    "invitation_days",
]
