"""A tiny FastAPI app around the records router, for tests (in-process and under uvicorn).

Referral ids decide the fake scoring side's answer, so no model is needed:
``R-F...`` is a flagged referral, any other ``R-...`` an unflagged one, and
anything else is unknown.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

import records


def lookup(referral_id: str) -> records.ReferralStatus | None:
    if not referral_id.startswith("R-"):
        return None
    flagged = referral_id.startswith("R-F")
    return records.ReferralStatus(
        flagged=flagged, score=17 if flagged else 4, model_version="test-1"
    )


def build_app(store: records.RecordsStore) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/health")
    def health() -> dict:
        return {"status": "ok"}

    records.install(app, store, lookup)
    return app


def create_app() -> FastAPI:
    """Factory for ``uvicorn --factory``: the database URL comes from ``MAST_RECORDS_DB``."""
    return build_app(records.RecordsStore(os.environ["MAST_RECORDS_DB"]))
