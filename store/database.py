"""The DuckDB multi-agency store: schema, connection and atomic writes.

The store keeps the contract tables in DuckDB's ``main`` schema.  The
simulator's ground truth lives apart, in the ``truth`` schema, which no
feature or model reads (``tests/features`` checks this).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from store.contract import OPTIONAL_COLUMNS, SCHEMAS
from store.vocabulary import COMPATIBLE_CONTRACT_VERSIONS, CONCERN_COLUMNS, CONTRACT_VERSION

TRUTH_SCHEMA = "truth"

# Optional statutory-trigger facts on a referral (store.contract.STATUTORY_REFERRAL_COLUMNS):
# nullable, and added to a store written before they existed when it is next opened for writing.
_STATUTORY_DDL = {
    "injury_alleged": "BOOLEAN",
    "images_held_by": "VARCHAR",
    "non_mobile_child": "BOOLEAN",
}
assert tuple(_STATUTORY_DDL) == OPTIONAL_COLUMNS["referrals"]

_DDL = {
    "people": """
        person_id VARCHAR NOT NULL, date_of_birth DATE NOT NULL, sex VARCHAR NOT NULL,
        ethnicity VARCHAR NOT NULL, disability VARCHAR NOT NULL, sex_detail VARCHAR,
        ethnicity_detail VARCHAR, disability_detail VARCHAR""",
    "households": """
        household_id VARCHAR NOT NULL, imd_decile INTEGER, local_authority VARCHAR NOT NULL""",
    "household_members": """
        person_id VARCHAR NOT NULL, household_id VARCHAR NOT NULL, role VARCHAR NOT NULL,
        start_date DATE NOT NULL, end_date DATE, recorded_at TIMESTAMP NOT NULL,
        end_recorded_at TIMESTAMP""",
    "referrals": """
        referral_id VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL,
        referrer_relationship VARCHAR NOT NULL, """
    + ", ".join(f"{c} BOOLEAN NOT NULL" for c in CONCERN_COLUMNS)
    + ", "
    + ", ".join(f"{c} {t}" for c, t in _STATUTORY_DDL.items()),
    "referral_children": "referral_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL",
    "screening_decisions": """
        referral_id VARCHAR NOT NULL, decided_at TIMESTAMP NOT NULL, decision VARCHAR NOT NULL,
        closure_reason VARCHAR""",
    "agency_events": """
        event_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, agency VARCHAR NOT NULL,
        event_type VARCHAR NOT NULL, occurred_at TIMESTAMP NOT NULL, recorded_at TIMESTAMP NOT NULL,
        role VARCHAR, severity INTEGER""",
}
assert set(_DDL) == set(SCHEMAS), "every contract table needs DDL"

# The order each table's rows are written in.  DuckDB keeps min/max "zone
# maps" per row group, so a table stored sorted by the column a lookup filters
# on lets an equality filter skip all but one or two row groups instead of
# scanning the table: serving looks people up by ``person_id`` and referrals by
# ``referral_id`` (see ``features.build._narrowed_tables``).  The trailing
# columns only make the order total, so the same extract is always laid out
# the same way.
SORT_ORDER = {
    "people": ("person_id",),
    "households": ("household_id",),
    "household_members": ("person_id", "household_id", "start_date", "recorded_at"),
    "referrals": ("referral_id",),
    "referral_children": ("person_id", "referral_id"),
    "screening_decisions": ("referral_id", "decided_at"),
    "agency_events": ("person_id", "recorded_at", "event_id"),
}
assert set(SORT_ORDER) == set(_DDL), "every contract table needs a sort order"

# Secondary (ART) indexes for serving's point lookups.  A row group holds
# ~122,880 rows, so even on a sorted table an equality filter decompresses and
# compares a whole row group (2-4 ms a query); an index scan reads only the
# matching rows (~1 ms, measured in benchmarks/bench_features.py).
# agency_events is left to its person_id sort order: its per-person lookups
# return dozens of rows, where the zone maps already do as well as an index,
# and an index over tens of millions of events would cost far more to build
# and store than it saves.
LOOKUP_INDEXES = {
    "mast_people_person": ("people", "person_id"),
    "mast_households_household": ("households", "household_id"),
    "mast_members_person": ("household_members", "person_id"),
    "mast_members_household": ("household_members", "household_id"),
    "mast_referrals_referral": ("referrals", "referral_id"),
    "mast_referral_children_person": ("referral_children", "person_id"),
    "mast_decisions_referral": ("screening_decisions", "referral_id"),
}


def create_lookup_indexes(con: duckdb.DuckDBPyConnection) -> None:
    """Create :data:`LOOKUP_INDEXES` if they are missing (cheap when they exist).

    Built after a bulk write rather than with the tables, because building an
    index over rows already written is much faster than updating it row by
    row; later appends then keep it up to date.
    """
    for name, (table, column) in LOOKUP_INDEXES.items():
        con.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")


# The simulator's latent harm episodes: evaluation only, never a feature.
TRUTH_DDL = """
    person_id VARCHAR NOT NULL, start_date DATE NOT NULL, end_date DATE NOT NULL,
    harm_type VARCHAR NOT NULL, severity INTEGER NOT NULL"""


class StoreBusyError(RuntimeError):
    """Another process held the store for longer than we were willing to wait."""


def _is_lock_conflict(err: Exception) -> bool:
    return isinstance(err, duckdb.IOException) and "lock" in str(err).lower()


def connect(
    path: str | Path, read_only: bool = False, wait_seconds: float = 0.0
) -> duckdb.DuckDBPyConnection:
    """Open (or create) a store and make sure the contract tables exist.

    DuckDB lets one process write a file, and not while another has it open
    (even read-only: a serving worker refreshing its snapshot).  Those
    readers hold the file briefly, so a writer retries for up to
    ``wait_seconds`` and then raises :class:`StoreBusyError` saying so.
    """
    import time

    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"No MAST store at {path}: run `mast simulate` or `mast load` first."
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as err:
            if not _is_lock_conflict(err):
                raise
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"The store {path} is in use by another process (for example `mast serve` "
                    f"refreshing, or another load); waited {wait_seconds:g} s. Try again, "
                    "or give a longer --wait."
                ) from err
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    if not read_only:
        create_schema(con)
    return con


# One row per ``mast load``, written in the load's own transaction, so a reader
# (a serving worker refreshing its snapshot) can tell the store changed and how.
STORE_LOADS_DDL = """
    load_id VARCHAR NOT NULL PRIMARY KEY, loaded_at TIMESTAMP NOT NULL, mode VARCHAR NOT NULL,
    source VARCHAR, row_counts VARCHAR NOT NULL"""

# Additive contract changes, applied in place and in order to a store written
# under an earlier version: (from version, to version, statements).  1.1.0 only
# added the agency identity tables, which ``store.identities`` creates when
# identities are first written, so a 1.0.0 store needs no statement for it.
_MIGRATIONS = (
    ("1.0.0", "1.1.0", ()),
    (
        "1.1.0",
        "1.2.0",
        (
            "ALTER TABLE people ADD COLUMN IF NOT EXISTS sex_detail VARCHAR",
            "ALTER TABLE people ADD COLUMN IF NOT EXISTS ethnicity_detail VARCHAR",
            "ALTER TABLE people ADD COLUMN IF NOT EXISTS disability_detail VARCHAR",
        ),
    ),
    # 1.3.0 added referral_named_adults, created with the identity tables.
    ("1.2.0", "1.3.0", ()),
)
assert tuple(old for old, _, _ in _MIGRATIONS) == COMPATIBLE_CONTRACT_VERSIONS
assert _MIGRATIONS[-1][1] == CONTRACT_VERSION, "the last migration reaches this version"


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the contract tables and the metadata table if they are missing.

    A store written under an earlier contract version whose later versions
    only add columns is brought up to date in place (``_MIGRATIONS``).
    """
    for table, columns in _DDL.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
    for column, sql_type in _STATUTORY_DDL.items():
        con.execute(f"ALTER TABLE referrals ADD COLUMN IF NOT EXISTS {column} {sql_type}")
    con.execute("CREATE TABLE IF NOT EXISTS mast_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(f"CREATE TABLE IF NOT EXISTS store_loads ({STORE_LOADS_DDL})")
    con.execute(
        "INSERT INTO mast_meta VALUES ('contract_version', ?) ON CONFLICT (key) DO NOTHING",
        [CONTRACT_VERSION],
    )
    for old, new, statements in _MIGRATIONS:
        if contract_version(con) == old:
            for sql in statements:
                con.execute(sql)
            set_meta(con, "contract_version", new)
    stored = contract_version(con)
    if stored != CONTRACT_VERSION:
        raise RuntimeError(
            f"The store was written under data contract {stored}; this MAST speaks {CONTRACT_VERSION}."
        )


def contract_version(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT value FROM mast_meta WHERE key = 'contract_version'").fetchone()[0]


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute(
        "INSERT INTO mast_meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


def get_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM mast_meta WHERE key = ?", [key]).fetchone()
    return None if row is None else row[0]


def write_tables(
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, pd.DataFrame],
    truth: pd.DataFrame | None = None,
    replace: bool = False,
    delete: dict[str, pd.DataFrame] | None = None,
    load_record: dict | None = None,
    progress=None,
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> None:
    """Append (or replace) contract tables in one transaction.

    ``also(con)``, when given, writes more (the version 1.1 identity tables)
    inside the same transaction.

    Either every table is written or none is: a failure part-way rolls the
    whole write back, so the store never holds half an extract.  Each
    table's rows are written in :data:`SORT_ORDER`, so per-person and
    per-referral lookups read a row group or two rather than the whole table
    (an append is sorted within itself).

    ``delete`` gives, per table, the key columns of stored rows to remove
    first (an update is a delete and an insert in the same transaction);
    ``load_record`` is written to ``store_loads`` in the same transaction.
    ``progress(step, completed, total)`` is told of each table written.
    """
    unknown = set(tables) - set(_DDL)
    if unknown:
        raise ValueError(f"Unknown table(s) for the MAST store: {sorted(unknown)}")
    con.execute("BEGIN TRANSACTION")
    try:
        for table, keys in (delete or {}).items():
            cols = list(keys.columns)
            con.register("_delete", keys)
            con.execute(
                f"DELETE FROM {table} WHERE ({', '.join(cols)}) IN "
                f"(SELECT ({', '.join(cols)}) FROM _delete)"
            )
            con.unregister("_delete")
        for i, (table, frame) in enumerate(tables.items()):
            if progress:
                progress("Writing the store", i, len(tables))
            if replace:
                con.execute(f"DELETE FROM {table}")
            columns = list(SCHEMAS[table].columns)
            # An optional column the frame lacks is stored as null (a simulator or an old extract).
            missing = [c for c in OPTIONAL_COLUMNS.get(table, ()) if c not in frame.columns]
            frame = frame.assign(**dict.fromkeys(missing)) if missing else frame
            con.register("_incoming", frame[columns])
            order = ", ".join(f"{c} NULLS LAST" for c in SORT_ORDER[table])
            con.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT {', '.join(columns)} FROM _incoming ORDER BY {order}"
            )
            con.unregister("_incoming")
        if truth is not None:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {TRUTH_SCHEMA}")
            con.execute(f"CREATE TABLE IF NOT EXISTS {TRUTH_SCHEMA}.latent_harm ({TRUTH_DDL})")
            if replace:
                con.execute(f"DELETE FROM {TRUTH_SCHEMA}.latent_harm")
            con.register("_incoming", truth)
            con.execute(
                f"INSERT INTO {TRUTH_SCHEMA}.latent_harm "
                "SELECT person_id, start_date, end_date, harm_type, severity FROM _incoming"
            )
            con.unregister("_incoming")
        if also is not None:
            also(con)
        if load_record is not None:
            con.execute(
                "INSERT INTO store_loads (load_id, loaded_at, mode, source, row_counts) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    load_record["load_id"],
                    datetime.now(UTC).replace(tzinfo=None),
                    load_record["mode"],
                    load_record.get("source"),
                    load_record["row_counts"],
                ],
            )
        create_lookup_indexes(con)
        con.execute("COMMIT")
        if progress:
            progress("Writing the store", len(tables), len(tables))
    except Exception:
        con.execute("ROLLBACK")
        raise


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _DDL}


def content_hash(con: duckdb.DuckDBPyConnection, include_truth: bool = False) -> str:
    """A content hash of the store, independent of row order.

    Used to prove determinism and to tag MLflow runs with the data snapshot
    they were trained on.
    """
    import hashlib

    digest = hashlib.sha256()
    tables = list(_DDL)
    if include_truth:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'latent_harm'",
            [TRUTH_SCHEMA],
        ).fetchone()[0]
        if exists:
            tables.append(f"{TRUTH_SCHEMA}.latent_harm")
    for table in tables:
        n, h = con.execute(
            f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR FROM {table} AS t"
        ).fetchone()
        digest.update(f"{table}:{n}:{h};".encode())
    return digest.hexdigest()
