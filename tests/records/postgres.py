"""A throw-away PostgreSQL cluster for the records tests.

The records store claims to run on PostgreSQL as well as SQLite; compiling
statements cannot show that the trigger, the table lock or the driver's
types behave.  :class:`Cluster` runs a real server from the machine's own
binaries (Debian's ``postgresql`` package): ``initdb`` into a temporary
folder, ``pg_ctl start`` listening only on a Unix socket in that folder
(so no port can clash, even with one cluster per xdist worker), and a
fresh schema per test (:meth:`Cluster.fresh_url`, about 2 ms).

``initdb`` refuses to run as root, and CI runs as root: the server then
runs as the ``postgres`` user (or ``nobody``), with the folder handed to
it.  Durability is switched off (``fsync=off``): these tests check
behaviour, not crash safety of the server's disk; a server process crash
(:meth:`Cluster.crash`) is still a fair test, since the operating system
keeps what the server wrote.  ``synchronous_commit=off`` is the setting
a busy site might choose: MAST must not depend on the server's choice.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REQUIRE_ENV = "CI_REQUIRE_POSTGRES"
_PORT = 5432  # only names the socket file: the server listens on no TCP port
_SUPERUSER = "mast"
_DATABASE = "mast"


def find_bin_dir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None``.

    ``PATH`` first, then Debian's versioned ``/usr/lib/postgresql/<N>/bin``
    (not on ``PATH`` by default), newest version first.
    """
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    candidates += [Path(p) for p in reversed(versions)]
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: ``None`` (this user) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither user 'postgres' nor 'nobody' exists")


@dataclass
class Cluster:
    """One running server; :meth:`start` makes it, :meth:`stop` removes every trace.

    Attributes
    ----------
    root
        The temporary folder: ``data/`` (the cluster), the socket and ``log``.
    startup_seconds
        How long ``initdb``, ``pg_ctl start`` and ``createdb`` took (about 1.3 s here).
    """

    bin_dir: Path
    root: Path
    user: pwd.struct_passwd | None
    startup_seconds: float = 0.0
    _schemas: int = 0

    @classmethod
    def start(cls, bin_dir: Path) -> Cluster:
        started = time.perf_counter()
        user = _server_user()
        root = Path(tempfile.mkdtemp(prefix="mast-pg-"))  # short: a socket path is <= 107 bytes
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        cluster = cls(bin_dir, root, user)
        try:
            cluster._run(
                "initdb",
                "--pgdata",
                str(root / "data"),
                "--username",
                _SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            )
            cluster._pg_start()
            cluster._run(
                "createdb", "--host", str(root), "--port", str(_PORT), "-U", _SUPERUSER, _DATABASE
            )
        except BaseException:
            cluster.stop()
            raise
        cluster.startup_seconds = time.perf_counter() - started
        return cluster

    def _pg_start(self) -> None:
        options = " ".join(
            [
                "-c listen_addresses=''",
                f"-c unix_socket_directories='{self.root}'",
                f"-c port={_PORT}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c shared_buffers=16MB",
                "-c max_connections=200",
            ]
        )
        self._run(
            "pg_ctl",
            "start",
            "--wait",
            "--pgdata",
            str(self.root / "data"),
            "--log",
            str(self.root / "log"),
            "-o",
            options,
        )

    def crash(self) -> None:
        """Stop the server as a crash does: ``-m immediate`` (SIGQUIT), nothing flushed.

        Every server process exits at once; what was only in shared memory
        (WAL not yet written) is gone, and the next start replays the WAL.
        ``fsync=off`` does not weaken this: the operating system survives,
        so what the server wrote to it does too.
        """
        self._run("pg_ctl", "stop", "--pgdata", str(self.root / "data"), "-m", "immediate")

    def restart(self) -> None:
        """Start the server again after :meth:`crash` (crash recovery runs first)."""
        self._pg_start()

    def _run(self, program: str, *args: str) -> None:
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        result = subprocess.run(
            [str(self.bin_dir / program), *args],
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            capture_output=True,
            text=True,
            timeout=120,
            **kwargs,
        )
        if result.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{program} failed ({result.returncode}):\n{result.stdout}{result.stderr}{tail}"
            )

    def url(self, schema: str | None = None) -> str:
        """The SQLAlchemy URL of the test database (psycopg 3, Unix socket).

        With ``schema``, every connection works in that schema alone
        (``search_path``): tables, triggers and the trigger function.
        """
        url = f"postgresql+psycopg://{_SUPERUSER}@/{_DATABASE}?host={self.root}&port={_PORT}"
        return f"{url}&options=-csearch_path%3D{schema}" if schema else url

    def fresh_url(self) -> str:
        """The URL of a new, empty schema: each test starts from nothing.

        A schema (about 2 ms) rather than a database: ``CREATE DATABASE``
        costs 80-400 ms here, most of it the checkpoints it forces.
        """
        import psycopg

        self._schemas += 1
        name = f"t{os.getpid()}_{self._schemas}"
        with psycopg.connect(
            host=str(self.root), port=_PORT, user=_SUPERUSER, dbname=_DATABASE, autocommit=True
        ) as con:
            con.execute(f"CREATE SCHEMA {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (immediately: nothing here needs saving) and delete its folder."""
        if (self.root / "data" / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "stop", "--pgdata", str(self.root / "data"), "-m", "immediate")
            except RuntimeError:
                pass  # already gone; the folder is removed all the same
        shutil.rmtree(self.root, ignore_errors=True)
