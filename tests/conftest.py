"""Shared fixtures.

``scale`` shrinks the slow checks in CI: ``MAST_TEST_SCALE`` (default 1.0)
multiplies the size of every run marked ``slow``.  ``store`` is a fresh
records store (tokens and the audit trail) in SQLite, for the records and
serving tests.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def scale() -> float:
    value = float(os.environ.get("MAST_TEST_SCALE", "1.0"))
    if not 0 < value <= 1:
        raise ValueError(f"MAST_TEST_SCALE must be in (0, 1], got {value}")
    return value


@pytest.fixture
def store(tmp_path):
    import records

    s = records.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _mlflow_uris_restored():
    """Put MLflow's process-wide tracking and registry URIs back after each test.

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` (and training's
    ``setup_tracking``) set globals and the ``MLFLOW_*_URI`` environment
    variables; a client made later with only ``tracking_uri=`` then registers
    models in an earlier test's store (``tests/models/test_pyfunc.py`` left its
    registry to ``tests/audit/test_mlflow_run.py``).  Costs nothing until
    MLflow is imported.
    """
    import sys

    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    env = {k: os.environ.get(k) for k in keys}
    saved = _mlflow_globals() if "mlflow" in sys.modules else (None, None)
    yield
    if "mlflow" not in sys.modules:
        return
    if _mlflow_globals() != saved:
        import mlflow

        mlflow.set_tracking_uri(saved[0])
        mlflow.set_registry_uri(saved[1])
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _mlflow_globals() -> tuple[str | None, str | None]:
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    return tracking._tracking_uri, registry._registry_uri
