"""Fixtures for the records tests: a fresh store, a token per role, an in-process client.

``store`` is SQLite unless a test asks for more: ``@both`` runs it on
SQLite and on a real PostgreSQL server (:mod:`tests.records.postgres`,
one throw-away cluster per test session or xdist worker, started only
if a PostgreSQL test runs, and a fresh database per test).  Without
PostgreSQL's binaries or the psycopg driver those tests skip, saying
why, unless ``CI_REQUIRE_POSTGRES=1`` (set by ``.ci/run``): then they
fail, so CI can never pass without having run them.
"""

from __future__ import annotations

import itertools
import os

import pytest
from fastapi.testclient import TestClient

import records
from tests.records.app import build_app
from tests.records.postgres import REQUIRE_ENV, Cluster, find_bin_dir

BACKENDS = ("sqlite", "postgresql")
both = pytest.mark.parametrize("store", BACKENDS, indirect=True)

_ids = itertools.count(1)


def new_id(prefix: str = "id") -> str:
    """A fresh client-side record id (decision_id, override_id, view_id)."""
    return f"{prefix}-{next(_ids):08d}"


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL tests cannot run: {reason}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} (and {REQUIRE_ENV}=1 requires them)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _anchors_in_tmp(tmp_path, monkeypatch):
    """Each test's anchor files (and keys) under its own folder, never in the clone.

    SQLite trails keep theirs beside the database already; a PostgreSQL
    trail's default place is under ``MAST_HOME``, and a fresh database of a
    later run can have an earlier one's name.
    """
    monkeypatch.setenv("MAST_HOME", str(tmp_path / "mast-home"))


@pytest.fixture(scope="session")
def postgres_cluster():
    """A PostgreSQL server for this session (or xdist worker), removed at the end."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the psycopg driver is not installed (pip install -e '.[dev]')")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        _unavailable(
            "no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)"
        )
    cluster = Cluster.start(bin_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster) -> str:
    """The URL of a new, empty PostgreSQL database."""
    return postgres_cluster.fresh_url()


@pytest.fixture
def store(request, tmp_path):
    """A fresh records store: SQLite by default, or ``request.param`` (see :data:`both`)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'records.sqlite'}"
    elif backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        raise ValueError(f"store backend {backend!r}: use one of {BACKENDS}")
    s = records.RecordsStore(url)
    yield s
    s.close()


@pytest.fixture
def tokens(store) -> dict[str, str]:
    """A token per role, keyed by role."""
    return {role: store.create_token(f"{role} person", role)[0] for role in records.ROLES}


@pytest.fixture
def client(store) -> TestClient:
    with TestClient(build_app(store)) as c:
        yield c


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
