"""Bounded, repeatable schemathesis fuzzing of one OpenAPI operation.

The records and serving tests fuzz their own endpoints the same way: cases
generated from the schema (valid or invalid), derandomised and bounded, each
response below 500 and, when a success, matching its documented schema.
(Schemathesis's pytest plugin does not run under pytest 9, so the cases are
drawn with ``operation.as_strategy`` inside hypothesis.)
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance


def fuzz(operation, headers: dict, mode, max_examples: int) -> list[int]:
    """Call ``operation`` with generated cases; the status codes seen, in order."""
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=max_examples,
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
    return seen
