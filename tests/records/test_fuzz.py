"""Bounded fuzzing of the records endpoints: malformed input is never a 5xx.

Schemathesis generates valid and invalid requests from the OpenAPI schema;
each endpoint is called with a token of a role allowed to use it, so the
requests reach the validation and the rules rather than stopping at 403.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

import records
from records import roles
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
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = case.call(headers=headers)
        seen.append(response.status_code)
        assert response.status_code < 500, (
            case.body,
            case.path_parameters,
            case.query,
            response.text,
        )
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    run()
    assert seen, "the fuzzer sent nothing"
    assert store.verify().ok  # whatever was accepted kept the chain intact
