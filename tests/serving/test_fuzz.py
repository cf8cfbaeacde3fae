"""Bounded fuzzing of the service's OpenAPI schema: malformed input is never a 5xx.

Schemathesis generates requests from the schema itself, valid and invalid
(negative mode), for the service's own endpoints; every response must be
below 500 and, when it is a success, match the documented response schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

MY_PATHS = r"^/v1/(health|model|referrals/score|children/\{person_id\}/chronology)$"
MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=MY_PATHS)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case, tokens):
    response = case.call(headers={"Authorization": f"Bearer {tokens['screener']}"})
    assert response.status_code < 500, (case.method, case.path, case.body, response.text)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
