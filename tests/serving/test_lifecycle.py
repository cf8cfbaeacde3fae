"""``mast serve`` stops cleanly: its workers die with it, and a held port is named.

Before: SIGKILL of the master left both workers serving, and the next
``mast serve`` on the port failed with "Address already in use".
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from serving.launch import free_port, serve_command, wait_healthy


def _children(pid: int) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(proc.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _serve(store_path, tracking_uri, port: int, tmp_path, **popen) -> subprocess.Popen:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MAST_RECORDS_DB": f"sqlite:///{tmp_path / 'records.sqlite'}",
    }
    return subprocess.Popen(
        serve_command(store_path, tracking_uri, port), env=env, text=True, **popen
    )


def _started(store_path, tracking_uri, port: int, tmp_path) -> subprocess.Popen:
    """``mast serve`` in its own session, healthy; its output in ``tmp_path/serve.log``."""
    log_path = tmp_path / "serve.log"
    with log_path.open("a") as log:
        proc = _serve(
            store_path,
            tracking_uri,
            port,
            tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_healthy(f"http://127.0.0.1:{port}", 120, proc, log_path)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def test_workers_die_with_a_killed_master_and_the_port_is_free_again(
    store_path, tracking_uri, tmp_path
):
    port = free_port()
    master = _started(store_path, tracking_uri, port, tmp_path)
    try:
        workers = [p for p in _children(master.pid) if _alive(p)]
        assert workers, "mast serve started no worker processes"
        master.send_signal(signal.SIGKILL)
        master.wait()
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "workers outlived the master"
        _stop(_started(store_path, tracking_uri, port, tmp_path))  # the port serves again
    finally:
        _stop(master)


def test_a_held_port_is_refused_naming_its_pid(store_path, tracking_uri, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _serve(
            store_path,
            tracking_uri,
            port,
            tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = result.communicate(timeout=120)
    assert result.returncode == 2, out
    assert f"held by process {os.getpid()}" in " ".join(out.split()), out
