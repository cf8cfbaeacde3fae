"""Engine and schema of the records database.

SQLAlchemy 2 Core only, so the same code runs on the embedded SQLite default
and on PostgreSQL.  Two things are dialect-specific, and both are confined
to this module:

* SQLite: WAL journal (readers never block the single writer),
  ``synchronous=FULL`` (a commit is fsynced before it is acknowledged) and
  ``BEGIN IMMEDIATE`` for write transactions, so appends to the hash chain
  are serialised across processes, not just threads.  Writers of MAST also
  take an OS file lock (``<db>-writer.lock``, ``flock``) first: SQLite's own
  busy handler waits by sleeping 1, 2, 5, 10 ... ms and polling, which put
  milliseconds on a request whenever two server processes wrote at once;
  a blocked ``flock`` wakes the moment the lock is free.
* PostgreSQL: ``LOCK TABLE audit_log IN EXCLUSIVE MODE`` inside the write
  transaction does the same job (readers are not blocked); each write
  transaction raises ``synchronous_commit`` to ``on`` if the server has it
  ``off`` (a commit then waits for its WAL flush, as SQLite's
  ``synchronous=FULL`` does for its fsync), and read
  transactions are ``REPEATABLE READ``, so that, as on SQLite, every
  statement of one read sees the same snapshot (PostgreSQL's default,
  ``READ COMMITTED``, gives each statement its own).

Both dialects get a trigger that refuses UPDATE and DELETE on ``audit_log``
(and, on PostgreSQL, TRUNCATE, which row triggers do not see).
The trigger is a guard against accidents; the hash chain is what detects
deliberate tampering by someone who can drop the trigger.

The tables are created in one write transaction (``BEGIN IMMEDIATE`` on
SQLite, an advisory lock on PostgreSQL), so that several processes starting
at once on a new database (``mast serve --workers 2``) cannot race to
create them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

try:  # POSIX; elsewhere SQLite's own busy handler alone serialises processes
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

_log = logging.getLogger(__name__)
metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    # seq is assigned by the appender (last + 1), not by the database, so a
    # deleted entry shows up as a gap in the chain.
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("referral_id", String(64)),
    Column("person_id", String(64)),
    # Client-supplied id of a decision, override or initial view: unique, so a
    # replay can never be written twice even if a check is bypassed.
    Column("record_id", String(128), unique=True),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_log_referral", audit_log.c.referral_id, audit_log.c.kind)
Index("ix_audit_log_actor", audit_log.c.actor)
Index("ix_audit_log_at", audit_log.c.at)
Index("ix_audit_log_kind", audit_log.c.kind, audit_log.c.seq)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32)),
)

_APPEND_ONLY = "audit_log is append-only"
for _op in ("UPDATE", "DELETE"):
    event.listen(
        audit_log,
        "after_create",
        DDL(
            f"CREATE TRIGGER audit_log_no_{_op.lower()} BEFORE {_op} ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        ).execute_if(dialect="sqlite"),
    )
event.listen(
    audit_log,
    "after_create",
    DDL(
        "CREATE OR REPLACE FUNCTION mast_audit_log_append_only() RETURNS trigger AS $$ "
        f"BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$ LANGUAGE plpgsql"
    ).execute_if(dialect="postgresql"),
)
event.listen(
    audit_log,
    "after_create",
    DDL(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION mast_audit_log_append_only()"
    ).execute_if(dialect="postgresql"),
)
# TRUNCATE fires no row trigger: without this it would empty the trail silently.
_NO_TRUNCATE = (
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION mast_audit_log_append_only()"
)
event.listen(audit_log, "after_create", DDL(_NO_TRUNCATE).execute_if(dialect="postgresql"))

_IMMEDIATE = "mast_immediate"
# conn.info key: (seq before, seq after, head hash) of the entries a write transaction appended.
NEW_HEAD = "mast_new_head"
# A write is acknowledged once its commit returns, so the commit must wait for
# the WAL flush whatever the server, database or role sets: with
# synchronous_commit=off, PostgreSQL answers COMMIT before the WAL is written,
# and a server crash takes back commits MAST has already acknowledged.  Only
# "off" skips the local flush; every other level ("local", "remote_write",
# "on", "remote_apply") is kept as the site chose.
_DURABLE_COMMIT = text(
    "SELECT set_config('synchronous_commit', 'on', true) "
    "WHERE current_setting('synchronous_commit') = 'off'"
)
# pg_advisory_xact_lock key held while creating the schema ("MASTREC" in hex).
_SCHEMA_LOCK = 0x4D415354524543


def make_engine(url: str, must_exist: bool = False) -> Engine:
    """Create the engine for ``url`` and the tables if they do not exist.

    Parameters
    ----------
    url
        A SQLAlchemy URL: ``sqlite:///path/records.sqlite`` (the default) or
        ``postgresql+psycopg://user@host/db``.  In-memory SQLite is refused:
        the trail must outlive the process and be shared by its threads.
    must_exist
        Refuse to create a missing SQLite file (for read-only commands such as
        ``verify``, where a typo must not silently check an empty new trail),
        and leave an existing trail's schema as it is (no upgrade; see
        :func:`_guard_truncate`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:" or database.startswith("file::memory"):
            raise ValueError(
                f"records database URL {url!r}: an audit trail needs a file, not memory"
            )
        path = Path(database).expanduser()
        if must_exist and not path.exists():
            raise ValueError(f"records database {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        _private(path, create=not must_exist)
        engine = create_engine(
            url,
            connect_args={"timeout": 60, "check_same_thread": False},
            pool_size=8,
            max_overflow=32,
        )
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    _create_schema(engine, upgrade=not must_exist)
    return engine


def _private(path: Path, create: bool) -> None:
    """Make the SQLite file (and any journal beside it) readable by its owner only.

    The file is created empty with mode 0600 before SQLite opens it; SQLite
    gives the ``-wal`` and ``-shm`` files it creates later the database
    file's own mode.  An older trail made with the umask's 0644 is narrowed
    to 0600 when its owner opens it.
    """
    if create and not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # another worker made it first
            pass
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            st = file.stat()
            if st.st_mode & 0o077 and st.st_uid == os.getuid():
                os.chmod(file, 0o600)
        except FileNotFoundError:
            pass


def _create_schema(engine: Engine, upgrade: bool = True) -> None:
    """Create the missing tables (and triggers) in one serialised write transaction.

    ``create_all`` checks, then creates: two processes starting together on a
    new database both see no table, and the second fails (PostgreSQL: a
    duplicate ``pg_type`` key; SQLite: "database is locked" when its read
    transaction cannot become a write).  Holding the write lock from before
    the check makes the second wait, then find the tables made.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            metadata.create_all(conn)
            if engine.dialect.name == "postgresql" and upgrade:
                _guard_truncate(conn)


_INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE


def _guard_truncate(conn) -> None:
    """Add the TRUNCATE guard to a PostgreSQL trail created before it existed.

    ``create_all`` adds triggers only with a new table, so a trail made by an
    earlier MAST would otherwise stay open to ``TRUNCATE audit_log`` for good.
    A role that does not own the table (a least-privilege set-up) may not add
    it: MAST then starts as before and logs what the owner must run, rather
    than refusing to start on a trail that worked yesterday.
    """
    present = conn.execute(
        text(
            "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid = 'audit_log'::regclass AND tgname = 'audit_log_no_truncate'"
        )
    ).scalar_one()
    if present:
        return
    try:
        with conn.begin_nested():
            conn.execute(text(_NO_TRUNCATE))
    except DBAPIError as err:
        if getattr(err.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
            raise
        _log.warning(
            "audit_log has no TRUNCATE guard and this role may not add it (%s); "
            "the table's owner should run: %s",
            str(err.orig).strip(),
            _NO_TRUNCATE,
        )


_WAL_WAIT_SECONDS = 60  # as the busy timeout every other statement waits


def _use_wal(cursor) -> None:
    """Switch a new database to WAL, waiting for the lock as the busy timeout would.

    WAL is stored in the file, so an existing trail only reads its mode.  On a
    new one, the switch needs the database to itself, and SQLite answers
    "database is locked" at once, without its busy handler, while another
    process or thread starting at the same moment holds a lock (seen with
    ``mast serve --workers N`` on a new trail); so the wait it skips is done here.
    """
    import sqlite3
    import time

    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    deadline, pause = time.monotonic() + _WAL_WAIT_SECONDS, 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked: could not switch it to WAL")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _configure_sqlite(engine: Engine) -> None:
    """Take over pysqlite's transaction handling (SQLAlchemy's documented recipe).

    pysqlite starts transactions lazily and only before DML, which breaks
    SERIALIZABLE reads and makes ``BEGIN IMMEDIATE`` impossible; with
    ``isolation_level = None`` we emit BEGIN ourselves.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """An engine plus the locks that serialise writes.

    The in-process lock keeps threads of one server from queueing on the
    database's own lock (cheaper and fair); for SQLite a file lock does the
    same between processes without polling; the database lock (``BEGIN
    IMMEDIATE`` / ``LOCK TABLE``) is what guarantees it, for every writer.
    """

    def __init__(self, url: str, must_exist: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, must_exist)
        self.dialect = self.engine.dialect.name
        self._lock = threading.Lock()
        self._lock_path = _writer_lock_path(self.engine)
        self._lock_fd: int | None = None
        self._lock_pid: int | None = None
        self._sqlite_path = (
            str(Path(self.engine.url.database).expanduser()) if self.dialect == "sqlite" else None
        )
        self._local = threading.local()
        # Weak: a reader closes when its thread ends (anyio retires idle workers).
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        # Called as after_append(before_seq, seq, head_hash) once a write that
        # appended to the trail has committed (the store anchors heads with it).
        self.after_append = None

    def _file_lock_fd(self) -> int | None:
        """This process's descriptor of the writer lock file (reopened after a fork)."""
        if self._lock_path is None:
            return None
        if self._lock_pid != os.getpid():
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        return self._lock_fd

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold this process's write lock and, for SQLite, the writers' file lock."""
        with self._lock:
            fd = self._file_lock_fd()
            if fd is None:
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def write(self, *, locked: bool = False) -> Iterator[Connection]:
        """One serialised write transaction: committed on exit, rolled back on error.

        ``locked=True`` when the caller already holds :meth:`write_lock`
        (the group committer, which decides under the lock what to write).
        """
        with nullcontext() if locked else self.write_lock(), self.engine.connect() as conn:
            conn = conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                conn.info.pop(NEW_HEAD, None)
                if self.dialect == "postgresql":
                    conn.execute(_DURABLE_COMMIT)
                    conn.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))
                yield conn
            appended = conn.info.pop(NEW_HEAD, None)
            if appended is not None and self.after_append is not None:
                self.after_append(*appended)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction: a consistent snapshot of the trail.

        SQLite's read transactions are snapshots already; PostgreSQL's are
        with ``REPEATABLE READ`` (a read-only one never fails to serialise),
        so a page and its total, or a referral's decisions and its
        overrides, come from the same moment.
        """
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def read_one(self, sql: str, params: dict | None = None) -> tuple | None:
        """The first row of one read-only statement, as of the latest commit.

        For the two reads every request makes (its token, blind-first mode).
        On SQLite the statement runs on this thread's own ``sqlite3``
        connection, in autocommit mode, so it sees every commit made before
        it, by any process, and holds no lock afterwards; it costs about a
        tenth of the same read through a pooled SQLAlchemy connection.
        Elsewhere it goes through SQLAlchemy.  ``sql`` uses ``:name``
        parameters, which both accept.
        """
        params = params or {}
        if self._sqlite_path is None:
            with self.engine.connect() as conn:
                row = conn.execute(text(sql), params).first()
            return tuple(row) if row is not None else None
        return self._reader().execute(sql, params).fetchone()

    def read_all(self, sql: str, params: dict | None = None) -> list[tuple]:
        """Every row of one read-only statement, as of the latest commit (see :meth:`read_one`)."""
        params = params or {}
        if self._sqlite_path is None:
            with self.engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params)]
        return self._reader().execute(sql, params).fetchall()

    def _reader(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None or self._local.pid != os.getpid():
            con = sqlite3.connect(
                self._sqlite_path,
                timeout=60,
                isolation_level=None,
                check_same_thread=False,
                factory=_Reader,
            )
            con.execute("PRAGMA query_only=ON")
            self._local.con, self._local.pid = con, os.getpid()
            with self._readers_lock:
                self._readers.add(con)
        return con

    def dispose(self) -> None:
        """Close pooled connections, readers and the lock file (tests and CLI commands call this)."""
        self.engine.dispose()
        with self._readers_lock:
            for con in list(self._readers):
                con.close()
            self._readers = weakref.WeakSet()
        self._local = threading.local()
        if self._lock_fd is not None and self._lock_pid == os.getpid():
            os.close(self._lock_fd)
        self._lock_fd = self._lock_pid = None


class _Reader(sqlite3.Connection):
    """A thread's read connection (a subclass, so :meth:`Database.dispose` can track it weakly)."""


def _writer_lock_path(engine: Engine) -> str | None:
    """``<database file>-writer.lock`` for a SQLite file; ``None`` elsewhere."""
    if engine.dialect.name != "sqlite" or fcntl is None:
        return None
    return f"{Path(engine.url.database).expanduser()}-writer.lock"
