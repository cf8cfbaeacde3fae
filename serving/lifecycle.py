"""A service that stops cleanly: workers that die with ``mast serve``, and a port check.

uvicorn's worker processes outlived a SIGKILLed master (nothing tells them
it is gone), kept serving, and held the port, so the next ``mast serve``
failed with "Address already in use".  Two guards:

* :func:`watch_master` runs in each worker: a daemon thread that notices
  the master is gone (the worker's parent changes) and stops the worker
  the way SIGTERM does (finishing requests, signing the trail's head), or
  at once if that does not happen within a few seconds.
* :func:`port_holder` names the process listening on a port, so
  ``mast serve`` can refuse to start saying which PID to stop, rather than
  failing with a bare socket error.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import threading
import time
from pathlib import Path

ENV_MASTER = "MAST_SERVE_MASTER_PID"
POLL_S = 0.5
GRACE_S = 10.0


def watch_master(poll_s: float = POLL_S, grace_s: float = GRACE_S) -> threading.Thread | None:
    """In a worker of ``mast serve``: stop when the master process is gone.

    Does nothing outside a worker (no ``MAST_SERVE_MASTER_PID``, or this
    process is the master itself, as with ``--workers 1``).
    """
    master = os.environ.get(ENV_MASTER)
    if not master or int(master) == os.getpid():
        return None
    master_pid = int(master)

    def watch() -> None:
        while os.getppid() == master_pid:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown
        time.sleep(grace_s)
        os._exit(1)

    thread = threading.Thread(target=watch, name="mast-watch-master", daemon=True)
    thread.start()
    return thread


def port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails because something is listening there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def port_holder(port: int) -> tuple[int, str] | None:
    """The PID and command line of the process listening on TCP ``port`` (Linux ``/proc``).

    ``None`` when it cannot be found (another user's process, or no ``/proc``).
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                    return int(proc.name), cmd
        except OSError:
            continue
    return None
