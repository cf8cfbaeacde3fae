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
