"""Bounded fuzzing of the records endpoints: malformed input is never a 5xx.

Schemathesis generates valid and invalid requests from the OpenAPI schema;
each endpoint is called with a token of a role allowed to use it, so the
requests reach the validation and the rules rather than stopping at 403.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode

import records
from records import roles
from tests.fuzz import fuzz
from tests.records.app import build_app

MAX_EXAMPLES = 30
ROLE_FOR = {action: sorted(allowed)[0] for action, allowed in records.ROLE_MATRIX.items()}


@pytest.fixture
def api_schema(store):
    return schemathesis.openapi.from_asgi("/openapi.json", build_app(store))


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"]
)
@pytest.mark.parametrize("endpoint", roles.RECORDS_ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]}")
def test_no_server_errors(api_schema, tokens, store, endpoint, mode):
    method, path, action = endpoint
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {tokens[ROLE_FOR[action]]}"}
    seen = fuzz(operation, headers, mode, MAX_EXAMPLES)
    assert seen, "the fuzzer sent nothing"
    assert store.verify().ok  # whatever was accepted kept the chain intact
