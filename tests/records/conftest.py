"""Fixtures for the records tests: a fresh store, a token per role, an in-process client."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient

import records
from tests.records.app import build_app

_ids = itertools.count(1)


def new_id(prefix: str = "id") -> str:
    """A fresh client-side record id (decision_id, override_id, view_id)."""
    return f"{prefix}-{next(_ids):08d}"


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
