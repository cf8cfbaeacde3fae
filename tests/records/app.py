"""A tiny FastAPI app around the records router, for tests (in-process and under uvicorn).

Referral ids decide the fake scoring side's answer, so no model is needed:
``R-F...`` is a flagged referral, any other ``R-...`` an unflagged one, and
anything else is unknown.  The fuzz tests use :func:`lookup_any` instead,
so generated ids reach the rules and the write rather than a 404.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable

from fastapi import FastAPI

import records


def lookup(referral_id: str) -> records.ReferralStatus | None:
    if not referral_id.startswith("R-"):
        return None
    flagged = referral_id.startswith("R-F")
    return records.ReferralStatus(
        flagged=flagged, score=17 if flagged else 4, model_version="test-1"
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
