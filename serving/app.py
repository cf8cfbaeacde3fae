"""The FastAPI application: routes, error handling and start-up.

:func:`create_app` loads the champion and warms it up *before* it returns,
so a service that cannot score never starts listening.  CPU-bound endpoints
are plain ``def`` functions: FastAPI runs them in its thread pool, where
DuckDB and LightGBM release the GIL, instead of blocking the event loop.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from records.rules import RuleViolation
from serving import access, errors, limits
from serving.model import NoChampionError, load_champion
from serving.partner_api import make_partner_router, record_chronology_view
from serving.register import ReferralRegister
from serving.schemas import (
    AmendmentIn,
    ChronologyOut,
    HealthOut,
    ModelOut,
    Problem,
    ReferralIn,
    SaneDatetime,
    ScoreOut,
)
from serving.scoring import EngineConfig, ScoringEngine, ServingError

PERSON_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class ServingSettings(BaseModel):
    """Where the service finds its store and its model, and how it explains scores."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    db: Path
    tracking_uri: str
    model_name: str
    alias: str = "champion"
    top_reasons: int = Field(5, ge=1, le=20)
    max_records: int = Field(10, ge=1, le=200)
    late_after_days: int = Field(30, ge=1)
    records_url: str | None = Field(
        None, description="SQLAlchemy URL of the records store (default: records.default_url())."
    )

    @classmethod
    def from_mast(cls, **overrides) -> ServingSettings:
        """Defaults from :func:`settings.get_settings`, with ``overrides`` on top."""
        from settings import get_settings

        s = get_settings()
        values = {"db": s.db, "tracking_uri": s.tracking_uri, "model_name": s.model_name}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def check_champion(settings: ServingSettings) -> str:
    """The version the champion alias points at; raises :class:`NoChampionError` if none.

    A cheap registry look-up, so ``mast serve`` can refuse with a clear
    message before it spawns workers that would each fail the same way.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    try:
        return str(client.get_model_version_by_alias(settings.model_name, settings.alias).version)
    except MlflowException as err:
        raise NoChampionError(
            f"No '{settings.alias}' version of model {settings.model_name!r} in the MLflow "
            f"registry at {settings.tracking_uri}. Train one with `mast train`, pass the "
            "governance gate and `mast promote` it before starting the service."
        ) from err


def app_from_env() -> FastAPI:
    """The app for a uvicorn worker, configured from ``MAST_*`` variables."""
    from serving.launch import DEFAULT_THREADS
    from serving.lifecycle import watch_master

    threads = int(os.environ.get("MAST_SERVE_THREADS", DEFAULT_THREADS))
    watch_master()  # this worker stops when `mast serve` is gone
    limits.log_to_stderr()
    return create_app(ServingSettings.from_mast(), threads=threads)


def build_engine(settings: ServingSettings) -> ScoringEngine:
    """Load the champion, open the store read-only and warm both up."""
    model = load_champion(settings.tracking_uri, settings.model_name, settings.alias)
    started = time.perf_counter()
    engine = ScoringEngine(
        settings.db,
        model,
        EngineConfig(
            top_reasons=settings.top_reasons,
            max_records=settings.max_records,
            late_after_days=settings.late_after_days,
        ),
    )
    engine.warm_up()
    snap = engine.snapshot
    # One line per worker, so an operator sees the start-up cost of holding the store in memory.
    print(
        f"MAST worker {os.getpid()}: store held in memory ({snap.n_events:,} agency events, "
        f"{snap.nbytes() / 1e9:.2f} GB) and model warmed up in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return engine


_ERRORS = {
    401: {"model": Problem, "description": "Not signed in."},
    403: {"model": Problem, "description": "The role may not use this endpoint."},
    404: {"model": Problem, "description": "Unknown child."},
    422: {"description": "Malformed or impossible input; the body names the field."},
}


def create_app(
    settings: ServingSettings | None = None,
    *,
    engine: ScoringEngine | None = None,
    threads: int | None = None,
    records_store=None,
) -> FastAPI:
    """The MAST scoring service.

    Parameters
    ----------
    settings
        Store, tracking URI and model; defaults from ``MAST_*`` settings.
    engine
        An engine already built (tests and the demo reuse one); when given,
        ``settings`` is not used to load anything.
    records_store
        A :class:`records.RecordsStore` already open; by default one is
        opened at ``settings.records_url``.
    threads
        Size of the thread pool that runs the ``def`` endpoints.  On two cores
        a small pool keeps requests from time-slicing each other into the tail.
    """
    settings = settings or (ServingSettings.from_mast() if engine is None else None)
    if engine is None:
        engine = build_engine(settings)
    if records_store is None:
        import records

        records_store = records.RecordsStore(settings.records_url if settings else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if threads is not None:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        records_store.anchor.flush()  # sign the head this worker wrote, at shutdown

    # No anonymous schema or interactive docs: anonymous callers get only
    # /v1/health.  The schema is served below to any signed-in role.
    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        title="MAST scoring service",
        version="1",
        description=(
            "Advisory decision support for the MASH front door. Scores are advisory and do "
            "not replace professional judgement: a person always decides."
        ),
    )
    app.state.engine = engine
    # Referrals and decisions in the records store are history at once
    # (serving/live.py); a test's stand-in engine may not follow anything.
    if hasattr(engine, "follow"):
        engine.follow(records_store)
    guard = access.Guard(records_store)
    app.state.guard = guard
    guard.install(app)
    register = ReferralRegister(guard, engine)
    guard.register = app.state.register = register
    _mount_page(app)
    from serving.matches import make_matches_router  # issue 20: possible matches

    app.include_router(make_matches_router())
    app.include_router(make_partner_router())  # issue 17: a partner lead's invited chronology
    from serving.queue_api import make_queue_router  # the work queue as JSON

    app.include_router(make_queue_router())
    limits.install(app, records_store)  # body limit, access log, no-store, refusals
    errors.install(app)  # 422s in plain English, naming each field (serving/errors.py)

    @app.exception_handler(ServingError)
    def _refused(request: Request, err: ServingError) -> JSONResponse:
        return JSONResponse(status_code=err.status, content={"detail": err.detail})

    @app.exception_handler(RuleViolation)
    def _broken_rule(request: Request, err: RuleViolation) -> JSONResponse:
        # The register's refusals (409 naming the fields that differ): nothing was written.
        return JSONResponse(status_code=err.status, content={"detail": err.as_detail()})

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_schema(user=Depends(guard.dependency("model"))) -> dict:
        """The OpenAPI schema, for any signed-in role."""
        return app.openapi()

    @app.get("/v1/health", response_model=HealthOut, tags=["service"])
    def health() -> dict:
        """Liveness and which model is loaded; open to anyone."""
        return {"status": "ok", "model_version": engine.model.version, "store": engine.db.name}

    @app.get("/v1/model", response_model=ModelOut, responses=_ERRORS, tags=["service"])
    def model_info(user=Depends(guard.dependency("model"))) -> dict:
        """The model version, its flag policy and the governance gate's verdict."""
        m = engine.model
        return {
            "model_name": m.name,
            "model_version": m.version,
            "alias": m.alias,
            "run_id": m.run_id,
            "policy": m.policy,
            "gate": m.gate,
            "feature_names": m.feature_names,
            "loaded_at": m.loaded_at,
        }

    @app.post("/v1/referrals/score", response_model=ScoreOut, responses=_ERRORS, tags=["scoring"])
    def score_referral(
        referral: ReferralIn,
        records: bool = Query(
            True,
            description="List the records behind each reason (false: reasons only, faster).",
        ),
        features: bool = Query(
            False,
            description="Add each child's feature values (name -> value), as the model saw them.",
        ),
        user=Depends(guard.dependency("score")),
    ) -> Response:
        """Score each child on a referral, with reasons for and against.

        Advisory only: the response says so in words, and the screener decides.
        The first time MAST receives a ``referral_id`` its content is fixed:
        the same content again is scored the same; other content is refused
        with 409 naming the fields (correct it with an amendment).
        In blind-first mode a screener must record an initial view of this
        referral first, before seeing the score of any referral about the same
        children, so the API cannot be used to see the score before forming one.
        """
        refusal = register.blind_first_refusal(user, referral)
        if refusal:
            raise ServingError(409, refusal)
        result, pending = register.score(referral, with_records=records, with_features=features)
        return _shown(user, referral, result, pending)

    def _shown(user, referral, result: dict, pending: dict | None = None) -> Response:
        # Checked against the contract *before* it is logged as shown, and
        # serialised here, once, in this worker thread (FastAPI would
        # validate the dict again on another thread hop).
        body = ScoreOut.model_validate(result).model_dump_json()
        register.shown(user, referral, result, pending)
        return Response(body, media_type="application/json")

    @app.post(
        "/v1/referrals/{referral_id}/amendments",
        status_code=201,
        response_model=ScoreOut,
        responses={**_ERRORS, 409: {"model": Problem, "description": "Replay, or no change."}},
        tags=["scoring"],
    )
    def amend_referral(
        body: AmendmentIn,
        referral_id: str = _referral_id_path(),
        user=Depends(guard.dependency("amend")),
    ) -> Response:
        """Correct a referral's content: a new version, audited, re-scored; every version is kept.

        A manager may amend; a screener must give a reason.  The referral's
        flag stays the highest of every version's until a manager overrides it.
        """
        referral = body.referral(referral_id)
        refusal = register.blind_first_refusal(user, referral)
        if refusal:
            raise ServingError(409, refusal)
        result = register.amend(user, referral, reason=body.reason, amendment_id=body.amendment_id)
        response = _shown(user, referral, result)
        response.status_code = 201
        return response

    @app.get(
        "/v1/children/{person_id}/chronology",
        response_model=ChronologyOut,
        responses=_ERRORS,
        tags=["chronology"],
    )
    def child_chronology(
        person_id: str = _person_id_path(),
        referral_id: str | None = Query(
            None,
            pattern=PERSON_ID_PATTERN,
            description="Required: the referral naming this child that the chronology is opened "
            "for. It is recorded with the view in the audit trail.",
        ),
        as_of: SaneDatetime | None = Query(
            None,
            description="The cut-off (1900-2100; default: when the referral was received). Pass "
            "the current time to see the chronology as of now.",
        ),
        user=Depends(guard.dependency("chronology")),
    ) -> dict:
        """The merged multi-agency chronology of a child named on a referral, as of that referral.

        What was on record before the referral was received: the child,
        every adult who lived with the child at any time in the 24 months
        before, and the siblings named on it.  What has been recorded since
        is kept apart in ``recorded_since``.  An adult's chronology is not
        served on its own: adults' records appear in the chronology of the
        child they lived with.
        """
        referral = _purpose(register, person_id, referral_id)
        result = engine.chronology(person_id, as_of, referral=referral)
        record_chronology_view(guard, user, referral_id, person_id, result)
        return result

    return app


def _purpose(register: ReferralRegister, person_id: str, referral_id: str | None):
    """The referral a chronology is opened for; refuses, in plain words, any other use.

    A chronology lists the police, health and probation records of the
    adults around a child: it is opened only for a child named on a
    referral on record, never for an adult on their own.
    """
    if referral_id is None:
        raise ServingError(
            422,
            "referral_id is required: a chronology is opened for a child named on a referral. "
            "Pass the id of the referral you are screening.",
        )
    referral = register.current(referral_id)
    if referral is None:
        raise ServingError(404, f"No referral {referral_id!r} is on record: score it first.")
    if person_id not in referral.children:
        raise ServingError(
            403,
            f"{person_id!r} is not a child named on referral {referral_id}. A chronology is "
            "opened only for a child named on the referral being screened; the records of "
            "adults appear in the chronology of the child they lived with.",
        )
    return referral


def _mount_page(app: FastAPI) -> None:
    """Mount the screener's page (``serving/page``, the records engineer's) when present."""
    import importlib.util

    if importlib.util.find_spec("serving.page") is None:
        return
    from serving.page import make_page_router
    from serving.page.review import make_review_router

    app.include_router(make_page_router())
    from serving.page.matches import make_matches_page_router  # issue 20: possible matches

    app.include_router(make_matches_page_router())
    app.include_router(make_review_router())  # issue 17: review record and partner pages


def _referral_id_path():
    from fastapi import Path as PathParam

    return PathParam(..., pattern=PERSON_ID_PATTERN, description="The referral's id.")


def _person_id_path():
    from fastapi import Path as PathParam

    return PathParam(..., pattern=PERSON_ID_PATTERN, description="The child's person_id.")
