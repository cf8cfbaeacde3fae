"""Authentication and the role matrix, as one FastAPI dependency.

Usage in any router::

    from records.auth import require
    from records.roles import SCORE_REFERRAL

    @router.post("/v1/referrals/score")
    def score(body: ..., principal: Principal = Depends(require(SCORE_REFERRAL))): ...

The dependency finds the :class:`~records.store.RecordsStore` at
``request.app.state.records`` (set by :func:`records.install`), checks the
``Authorization: Bearer <token>`` header, and answers 401 (no or bad token)
or 403 (role not allowed) before the endpoint runs.  The token is read from
the database on every request (no cache: a revocation applies at once);
with SQLite that read takes ~0.02 ms and runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from records.roles import ROLE_MATRIX, allowed
from records.store import RecordsStore
from records.tokens import Principal

COOKIE_NAME = "mast_token"
_bearer = HTTPBearer(
    auto_error=False, description="A MAST API token: `mast tokens create --role ROLE --name NAME`."
)


def get_store(request: Request) -> RecordsStore:
    """The app's records store; a clear error if :func:`records.install` was not called."""
    store = getattr(request.app.state, "records", None)
    if store is None:
        raise RuntimeError(
            "records store not installed: call records.install(app, store, referral_lookup)"
        )
    return store


def require(action: str, *, cookie: bool = False) -> Callable[..., Principal]:
    """A dependency that lets through only roles allowed to perform ``action``.

    Parameters
    ----------
    action
        A key of :data:`records.roles.ROLE_MATRIX`.
    cookie
        Also accept the token from the ``mast_token`` cookie (the screener's
        page).  Off for the JSON API, so a browser's cookie can never be
        used to post to it from another site.
    """
    if action not in ROLE_MATRIX:
        raise ValueError(f"unknown action {action!r}; known: {sorted(ROLE_MATRIX)}")

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        token = (
            credentials.credentials
            if credentials
            else (request.cookies.get(COOKIE_NAME) if cookie else None)
        )
        if not token:
            raise HTTPException(
                401,
                "sign in: send the header 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        store = get_store(request)
        if store.db.dialect == "sqlite":
            # One indexed read on this thread's own connection (~0.02 ms):
            # cheaper here than the two thread switches a sync dependency costs.
            principal = store.verify_token(token)
        else:  # a network round trip: not on the event loop
            principal = await anyio.to_thread.run_sync(store.verify_token, token)
        if principal is None:
            raise HTTPException(
                401,
                "this token is not valid (unknown, malformed or revoked)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.principal = principal  # also for the access log of a refusal
        if not allowed(principal.role, action):
            raise HTTPException(403, f"role {principal.role!r} may not {action.replace('_', ' ')}")
        return principal

    dependency.mast_action = action  # read by route_actions()
    dependency.__name__ = f"require_{action}"
    return dependency


def route_actions(app: FastAPI) -> dict[tuple[str, str], str | None]:
    """Every (method, path) of ``app`` and the action its :func:`require` enforces.

    ``None`` means the route is not protected by the matrix: a test asserts
    that only ``/v1/health`` (and documentation routes, if enabled) are.
    """
    found: dict[tuple[str, str], str | None] = {}
    for route in _flat_routes(app):
        dependant = getattr(route, "dependant", None)
        if dependant is None:  # documentation and static routes
            continue
        action = _find_action(dependant)
        for method in route.methods or ():
            found[(method, route.path)] = action
    return found


def _flat_routes(app: FastAPI):
    """Routes with included routers flattened (FastAPI >= 0.16x includes routers lazily)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are copied into app.routes
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [
        ctx for ctx in iter_route_contexts(app.routes) if isinstance(ctx.original_route, APIRoute)
    ]


def _find_action(dependant) -> str | None:
    for dep in dependant.dependencies:
        action = getattr(dep.call, "mast_action", None) or _find_action(dep)
        if action:
            return action
    return None
