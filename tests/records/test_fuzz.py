"""Bounded fuzzing of the records endpoints: malformed input is never a 5xx.

Schemathesis generates valid and invalid requests from the OpenAPI schema;
each endpoint is called with a token of a role allowed to use it, so the
requests reach the validation and the rules rather than stopping at 403,
and every referral id is a known referral (``lookup_any``), so they reach
the write rather than stopping at 404.
Every case runs on SQLite and on PostgreSQL (``@both``): the two reject
different input (PostgreSQL's text cannot hold a NUL character, its
integers are bounded differently), so each needs its own fuzzing.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode

import records
from records import roles
from tests.fuzz import fuzz
from tests.records.app import build_app, lookup_any
from tests.records.conftest import both

MAX_EXAMPLES = 30
PG_MIN_EXAMPLES = 15


def _examples(store, scale: float) -> int:
    """Cases per endpoint and mode: all of them on SQLite; on PostgreSQL, scaled in CI.

    A PostgreSQL case costs about twice a SQLite one; CI (``scale < 1``)
    runs at least :data:`PG_MIN_EXAMPLES` there, a full run (scale 1) all of them.
    """
    if store.db.dialect == "postgresql":
        return max(PG_MIN_EXAMPLES, int(MAX_EXAMPLES * scale))
    return MAX_EXAMPLES


ROLE_FOR = {action: sorted(allowed)[0] for action, allowed in records.ROLE_MATRIX.items()}


@pytest.fixture
def api_schema(store):
    return schemathesis.openapi.from_asgi("/openapi.json", build_app(store, lookup_any))


@both
@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"]
)
@pytest.mark.parametrize("endpoint", roles.RECORDS_ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]}")
def test_no_server_errors(api_schema, tokens, store, endpoint, mode, scale):
    method, path, action = endpoint
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {tokens[ROLE_FOR[action]]}"}
    seen = fuzz(operation, headers, mode, _examples(store, scale))
    assert seen, "the fuzzer sent nothing"
    assert store.verify().ok  # whatever was accepted kept the chain intact
