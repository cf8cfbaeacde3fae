"""Starting the service for the demo and the benchmark, and stopping it again.

Both run the real thing: ``mast serve`` in a subprocess (what an operator
runs), or uvicorn in a background thread of this process (quicker to start,
still real HTTP on loopback).  Either way the caller gets a base URL and the
service is stopped when the ``with`` block ends, by its own process id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from uvicorn.protocols.http.h11_impl import H11Protocol

# What `mast serve` runs by default (docs/serving.md, "Performance"): on two
# cores, two processes of two request threads.  Python runs one thread at a
# time per process, so one worker uses one core for the service and engine's
# Python work whatever its thread count; a second process uses the second.
# Measured with a stub engine burning 2.5 ms of CPU a referral, 4 clients:
# 1 x 4 served 172-178/s (p99 35 ms), 2 x 2 served 250-298/s (p99 24-27 ms).
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 2


def stop_group(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop a server started in its own session, uvicorn's worker processes with it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def free_port() -> int:
    """A TCP port on loopback nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(
    base_url: str,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll ``/v1/health`` until it answers; fail with the server's output if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = log_path.read_text() if log_path is not None else ""
            raise RuntimeError(f"mast serve exited with code {proc.returncode}:\n{out}")
        try:
            if httpx.get(f"{base_url}/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the service at {base_url} did not become healthy in {timeout:.0f} s")


def serve_command(
    db: str | Path,
    tracking_uri: str,
    port: int,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
) -> list[str]:
    """The ``mast serve`` command line on loopback, as the benchmarks and tests run it."""
    return [
        sys.executable,
        "-m",
        "mast.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        str(db),
        "--tracking-uri",
        tracking_uri,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]


@contextmanager
def serve_subprocess(
    db: str | Path,
    tracking_uri: str,
    *,
    port: int | None = None,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    log_path: str | Path | None = None,
) -> Iterator[str]:
    """Run ``mast serve`` in a subprocess; yields its base URL.

    The server's output goes to ``log_path`` (a temporary file by default),
    never to a pipe nobody reads, which would stall the server once full.
    """
    port = port or free_port()
    cmd = serve_command(db, tracking_uri, port, workers, threads)
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="mast-serve-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    log_path = Path(log_path)
    log = log_path.open("w")
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, timeout, proc, log_path)
        yield base_url
    finally:
        log.close()
        stop_group(proc)


@contextmanager
def serve_in_thread(app, *, port: int | None = None, timeout: float = 60.0) -> Iterator[str]:
    """Run ``app`` under uvicorn in a daemon thread of this process; yields its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="mast-serve", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, timeout)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with Nagle's algorithm off on every connection.

    asyncio turns ``TCP_NODELAY`` on only for sockets whose ``proto`` is
    ``IPPROTO_TCP``.  With ``--workers`` above 1, uvicorn binds the listening
    socket itself (``proto`` 0) and hands it to the worker processes, so the
    connections they accept kept Nagle's algorithm: a response written as
    headers then body waited for the client's delayed ACK, about 40 ms on
    *every* request (measured: ``GET /v1/health`` 48 ms with 2 workers,
    1.5 ms with 1).  Setting the option here fixes every worker count.
    """

    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def run_server(factory: str, host: str, port: int, workers: int = DEFAULT_WORKERS) -> None:
    """Run uvicorn on the app factory ``factory`` ("module:function"), as ``mast serve`` does.

    One place for the server's settings, so the benchmarks measure exactly
    what an operator runs.  The request threads per worker are read by the
    factory (``MAST_SERVE_THREADS``), because each worker builds its own app.
    """
    import uvicorn

    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http="serving.launch:NoDelayH11Protocol",
        log_level="warning",
        access_log=False,
    )
