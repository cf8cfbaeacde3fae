"""A tiny FastAPI app around the records router, for tests (in-process and under uvicorn).

Referral ids decide the fake scoring side's answer, so no model is needed:
``R-F...`` is a flagged referral, any other ``R-...`` an unflagged one, and
anything else is unknown.  ``R-S...`` (unflagged) meets the physical-injury
statutory trigger; ``R-FS...`` is flagged and meets it too.  The fuzz tests use :func:`lookup_any` instead,
so generated ids reach the rules and the write rather than a 404.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

import records


def statutory_for(referral_id: str) -> tuple[records.statutory.Triggered, ...]:
    """What the rules say of an ``R-S...``/``R-FS...`` referral alleging an injury (else nothing)."""
    if not referral_id.startswith(("R-S", "R-FS")):
        return ()
    facts = records.statutory.ReferralFacts(
        referral_id, datetime(2025, 1, 6, 10), frozenset({"neglect"}), injury_alleged=True
    )
    return records.statutory.evaluate(facts, [records.statutory.ChildHistory("C1")])


def lookup(referral_id: str) -> records.ReferralStatus | None:
    if not referral_id.startswith("R-"):
        return None
    flagged = referral_id.startswith("R-F")
    return records.ReferralStatus(
        flagged=flagged,
        score=17 if flagged else 4,
        model_version="test-1",
        statutory=statutory_for(referral_id),
        statutory_rules=records.statutory.default_rules().log(),
    )


def lookup_any(referral_id: str) -> records.ReferralStatus:
    """Every id is a known referral, a third of them flagged (fixed by the id's CRC)."""
    flagged = zlib.crc32(referral_id.encode()) % 3 == 0
    return records.ReferralStatus(
        flagged=flagged, score=17 if flagged else 4, model_version="test-1"
    )


def build_app(
    store: records.RecordsStore,
    lookup: Callable[[str], records.ReferralStatus | None] = lookup,
) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/health")
    def health() -> dict:
        return {"status": "ok"}

    records.install(app, store, lookup)
    return app


def create_app() -> FastAPI:
    """Factory for ``uvicorn --factory``: the database URL comes from ``MAST_RECORDS_DB``."""
    return build_app(records.RecordsStore(os.environ["MAST_RECORDS_DB"]))
