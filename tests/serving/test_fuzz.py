"""Bounded fuzzing of the service's OpenAPI schema: malformed input is never a 5xx.

Schemathesis generates requests from the schema itself, both valid and
invalid (positive and negative modes), for each of the service's own
endpoints; every response must be below 500 and, when it is a success,
match the documented response schema.  Hypothesis is derandomised and
bounded, so the run is repeatable and takes seconds.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis import GenerationMode

from tests.fuzz import fuzz

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# Negative mode needs something to break: a body or parameters.
CASES = [
    ("/v1/health", "GET", POSITIVE),
    ("/v1/model", "GET", POSITIVE),
    ("/v1/referrals/score", "POST", POSITIVE),
    ("/v1/referrals/score", "POST", NEGATIVE),
    ("/v1/children/{person_id}/chronology", "GET", POSITIVE),
    ("/v1/children/{person_id}/chronology", "GET", NEGATIVE),
    ("/v1/referrals/{referral_id}/amendments", "POST", POSITIVE),
    ("/v1/referrals/{referral_id}/amendments", "POST", NEGATIVE),
]
MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def api_schema(app, tokens):
    headers = {"Authorization": f"Bearer {tokens['screener']}"}
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)


@pytest.mark.parametrize("path, method, mode", CASES)
def test_no_server_errors(api_schema, tokens, path, method, mode):
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {tokens['screener']}"}
    seen = fuzz(operation, headers, mode, MAX_EXAMPLES)
    assert seen, "the fuzzer sent nothing"


def test_known_children_at_any_moment_never_5xx(client):
    """Real children at arbitrary moments and offsets reach the engine: 200 or 422, never 5xx."""
    from datetime import datetime, timedelta, timezone

    from hypothesis import strategies as st

    from store import vocabulary as v

    # The extremes of the type with the extremes of the offsets: 0001-01-01 at
    # +23:59 is before year 1 in UTC, and 9999-12-31 at -23:59 after 9999.
    moments = st.one_of(
        st.datetimes(min_value=datetime(2026, 6, 3), max_value=datetime(2026, 11, 1)),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        st.sampled_from([datetime.min, datetime.max, datetime(1899, 12, 31, 23, 59)]),
    )
    offsets = st.one_of(
        st.none(),
        st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
        st.sampled_from([timezone.max, timezone.min, timezone(timedelta(hours=-12))]),
    )
    children = st.lists(
        st.sampled_from(["C1", "C2", "NB", "C1", "C2", "AD"]), min_size=1, max_size=3, unique=True
    )
    concerns = st.lists(st.sampled_from(v.CONCERNS), min_size=1, max_size=3, unique=True)
    statuses = []
    ids = iter(range(10**6))

    @given(moment=moments, tz=offsets, child_ids=children, cs=concerns)
    @settings(max_examples=80, deadline=None, derandomize=True, database=None)
    def run(moment, tz, child_ids, cs):
        body = {
            "referral_id": f"FUZZ{next(ids)}",
            "received_at": moment.replace(tzinfo=tz).isoformat(),
            "source": "school",
            "referrer_relationship": "teacher",
            "concerns": cs,
            "children": child_ids,
        }
        r = client.post("/v1/referrals/score", json=body)
        statuses.append(r.status_code)
        assert r.status_code in (200, 422), (body, r.status_code, r.text)

    run()
    assert 200 in statuses and 422 in statuses
