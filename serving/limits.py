"""What every request passes through before and after its route: size limit, access log, refusals.

Two pure ASGI middlewares, installed by :func:`install`:

* :class:`BodyLimit` refuses a body larger than ``MAST_MAX_BODY_BYTES``
  (default 256 KB, far above the largest real referral) with 413, *before*
  anything parses it: at once when ``Content-Length`` says so, otherwise
  by counting the bytes as they arrive (chunked bodies, or a
  ``Content-Length`` that lies), so a worker never holds more than the
  limit of one request's body.
* :class:`AccessLog` gives each request an id (``X-Request-ID``), logs one
  line per request to the ``mast.access`` logger (method, path, status,
  role, request id, time; never a body or a query string, which can hold a
  child's id), adds ``Cache-Control: no-store`` to every response that does
  not set its own (the service's replies carry children's data), and
  writes repeated refusals (401/403) from one client to the audit trail.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import deque

import anyio.to_thread
from starlette.exceptions import HTTPException

_log = logging.getLogger("mast.access")
ENV_MAX_BODY = "MAST_MAX_BODY_BYTES"
DEFAULT_MAX_BODY = 256 * 1024
REFUSALS_TO_RECORD = 5  # refusals from one client within the window before the trail hears of it
REFUSAL_WINDOW_S = 60.0


class BodyTooLarge(HTTPException):
    """Raised into the app from ``receive`` when the body passes the limit.

    An ``HTTPException``, because FastAPI turns any other error met while
    reading a body into "400 There was an error parsing the body".
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than this service accepts ({max_bytes:,} bytes); "
            "nothing was read or recorded",
            headers={"Connection": "close"},
        )


def _json_response(status: int, detail: str, extra: list | None = None):
    import json

    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *(extra or []),
    ]
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before they are parsed."""

    def __init__(self, app, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        if max_bytes < 1:
            raise ValueError(f"{ENV_MAX_BODY} must be at least 1, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return BodyTooLarge(self.max_bytes).detail

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False  # the server itself refuses a malformed length
            if too_big:
                for message in _json_response(413, self._message()):
                    await send(message)
                return
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                for message in _json_response(413, self._message()):
                    await send(message)


class RefusalCounter:
    """Refusals per client in a sliding window; says when one should go to the trail.

    At most one trail entry per client per window, so a flood of bad tokens
    cannot flood the trail.
    """

    def __init__(self, threshold: int = REFUSALS_TO_RECORD, window_s: float = REFUSAL_WINDOW_S):
        self.threshold = threshold
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}
        self._recorded: dict[str, float] = {}
        self._lock = threading.Lock()

    def refused(self, client: str, now: float | None = None) -> int | None:
        """Count one refusal; the count in the window when it is time to record, else ``None``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._seen.setdefault(client, deque())
            times.append(now)
            while times and times[0] < now - self.window_s:
                times.popleft()
            if len(times) < self.threshold:
                return None
            if now - self._recorded.get(client, -1e18) < self.window_s:
                return None
            self._recorded[client] = now
            if len(self._seen) > 10_000:  # bound memory under a spray of addresses
                self._seen = {client: times}
            return len(times)


class AccessLog:
    """Request ids, one log line per request, ``no-store``, and refusals to the trail."""

    def __init__(self, app, store=None, counter: RefusalCounter | None = None) -> None:
        self.app = app
        self.store = store
        self.counter = counter or RefusalCounter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def wrapped_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                names = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, wrapped_send)
        finally:
            principal = (scope.get("state") or {}).get("principal")
            role = principal.role if principal is not None else "-"
            _log.info(
                "%s %s %s role=%s request_id=%s %.1fms",
                scope.get("method"),
                scope.get("path"),
                status,
                role,
                request_id,
                (time.perf_counter() - started) * 1000,
            )
            if status in (401, 403) and self.store is not None:
                await self._refused(scope, status, principal, request_id)

    async def _refused(self, scope, status: int, principal, request_id: str) -> None:
        client = (scope.get("client") or ("unknown", 0))[0]
        count = self.counter.refused(client)
        if count is None:
            return
        from records import kinds

        await anyio.to_thread.run_sync(
            lambda: self.store.views.append(
                kind=kinds.ACCESS_REFUSED,
                actor=principal.name if principal is not None else "anonymous",
                role=principal.role if principal is not None else "none",
                payload={
                    "client": client,
                    "refusals": count,
                    "window_seconds": self.counter.window_s,
                    "last_status": status,
                    "last_method": scope.get("method"),
                    "last_path": scope.get("path", "")[:200],
                    "request_id": request_id,
                },
            )
        )


def log_to_stderr() -> None:
    """Send the access log to stderr, one line per request (``mast serve``'s workers call this)."""
    if not _log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        _log.addHandler(handler)
        _log.setLevel(logging.INFO)
        _log.propagate = False


def max_body_bytes() -> int:
    """``MAST_MAX_BODY_BYTES``, else 256 KB."""
    return int(os.environ.get(ENV_MAX_BODY) or DEFAULT_MAX_BODY)


def install(app, store, max_bytes: int | None = None) -> None:
    """Add the access log (outermost, so it sees 413s too) and the body limit to ``app``."""
    app.add_middleware(BodyLimit, max_bytes=max_bytes or max_body_bytes())
    app.add_middleware(AccessLog, store=store)
