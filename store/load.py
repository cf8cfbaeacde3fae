"""Ingest a local authority's CSV or Parquet extracts into the store.

Two modes share every contract check:

- a **load** (the default) adds tables whose keys must all be new;
- an **append** (``mode="append"``) adds a day's delta: new rows are
  inserted, and a row whose key is already stored is an *update* of that row
  (a membership's end date learnt later, a person's corrected ethnicity).
  An identical row is skipped, so re-sending a delta changes nothing.  A
  referral, a screening decision or an agency event is history that features
  are built from, so a changed one is refused, naming its key, unless the
  delta marks the row as a correction (a ``correction`` column that is true).

Contract 1.1's agency identity tables (``agency_records``,
``agency_event_records``, see ``store.identities``) go the same way: read
from the folder, checked against themselves and the store, keyed by
:data:`KEYS` for a load or a delta, and written in the same transaction.

Either way the whole extract is validated first, then written in one DuckDB
transaction together with a ``store_loads`` row (load id, time, mode, row
counts), so readers see all of it or none of it and can tell the store changed.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from store.contract import (
    REFERENCES,
    SCHEMAS,
    ContractError,
    Problem,
    parse_boolean,
    validate_tables,
)
from store.database import connect, write_tables
from store.identities import (
    IDENTITY_KEYS,
    IDENTITY_SCHEMAS,
    validate_identity_load,
    write_identity_tables,
)

Progress = Callable[[str, float, float], None]

KEYS = {
    "people": ["person_id"],
    "households": ["household_id"],
    "referrals": ["referral_id"],
    "screening_decisions": ["referral_id"],
    "agency_events": ["event_id"],
    "referral_children": ["referral_id", "person_id"],
    "household_members": ["person_id", "household_id", "start_date"],
    **IDENTITY_KEYS,
}
# Tables whose stored rows a delta may only change as a marked correction.
HISTORY_TABLES = ("referrals", "screening_decisions", "agency_events")
# A membership update may change only these (the move out, learnt later).
MEMBER_UPDATABLE = ("end_date", "end_recorded_at")
CORRECTION = "correction"
MODES = ("load", "append")


@dataclass
class LoadReport:
    """What a load did: rows inserted and updated per table, and what it left out."""

    load_id: str
    mode: str
    inserted: dict[str, int]
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    dropped_columns: list[tuple[str, str]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Rows written (inserted or updated) per table."""
        return {t: self.inserted.get(t, 0) + self.updated.get(t, 0) for t in self.inserted}


@dataclass
class Extract:
    """Tables read from a folder, and the columns that no contract table has."""

    tables: dict[str, pd.DataFrame]
    dropped_columns: list[tuple[str, str]] = field(default_factory=list)
    corrections: dict[str, pd.Series] = field(default_factory=dict)
    # Table -> the file it was read from, so a report names the file and its rows.
    files: dict[str, str] = field(default_factory=dict)


def _read_csv(path: Path) -> pd.DataFrame:
    """Every column as text (the contract decides types); empty cells are missing.

    pyarrow's reader is several times faster than pandas' and, told that every
    column is a string, never guesses a type.
    """
    import pyarrow as pa
    import pyarrow.csv as pv

    header = pv.read_csv(path, read_options=pv.ReadOptions(block_size=1 << 16)).column_names
    table = pv.read_csv(
        path,
        convert_options=pv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            strings_can_be_null=True,
            null_values=[""],
        ),
    )
    return table.to_pandas()


def read_directory(
    directory: str | Path,
    strict: bool = False,
    progress: Progress | None = None,
    allow_corrections: bool = False,
) -> Extract:
    """Read ``<table>.csv`` or ``<table>.parquet`` for each contract table found.

    A column no contract table has is left out and reported in
    ``Extract.dropped_columns``; with ``strict`` it is a problem instead.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ContractError([Problem("(extract)", None, None, f"{directory} is not a directory")])
    tables: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    problems: list[Problem] = []
    paths = [p for p in sorted(directory.iterdir()) if p.suffix in (".csv", ".parquet")]
    for i, path in enumerate(paths):
        if progress:
            progress("Reading extracts", i, len(paths))
        table = path.stem
        if table not in SCHEMAS and table not in IDENTITY_SCHEMAS:
            problems.append(Problem(table, None, None, f"unknown table (file {path.name})"))
            continue
        if table in tables:
            problems.append(Problem(table, None, None, "given both as CSV and as Parquet"))
            continue
        try:
            tables[table] = _read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
            files[table] = path.name
        except Exception as err:  # a file that is not CSV/Parquet at all
            problems.append(Problem(table, None, None, unreadable(path, err)))
    if progress:
        progress("Reading extracts", len(paths), len(paths))
    if not tables and not problems:
        problems.append(
            Problem("(extract)", None, None, f"no contract tables found in {directory}")
        )
    extract = Extract(tables, files=files)
    for table, frame in tables.items():
        if allow_corrections and table in HISTORY_TABLES and CORRECTION in frame.columns:
            marks = frame[CORRECTION].map(lambda x: x is not None and x == x and parse_boolean(x))
            bad = marks.isna()
            problems += [
                Problem(
                    table,
                    int(i) + 1,
                    CORRECTION,
                    f"{frame.at[i, CORRECTION]!r} is not a yes/no value",
                )
                for i in frame.index[bad]
            ]
            extract.corrections[table] = marks.fillna(False).astype(bool).reset_index(drop=True)
            frame = tables[table] = frame.drop(columns=[CORRECTION])
        for col in frame.columns:
            if col not in _columns(table):
                extract.dropped_columns.append((table, col))
    if strict:
        problems += [
            Problem(
                t, None, c, "unknown column (--strict refuses columns the contract does not have)"
            )
            for t, c in extract.dropped_columns
        ]
    if problems:
        raise ContractError(problems, files)
    return extract


_COLUMNS = re.compile(r"Expected (?P<want>\d+) columns?, got (?P<got>\d+): ?(?P<row>.*)", re.S)


def unreadable(path: Path, err: Exception) -> str:
    """Why a file could not be read at all, in words; never the reader's own text.

    The usual cause is a row with more or fewer values than the header has
    columns (a comma inside an unquoted cell); its line is found and named.
    """
    if path.suffix == ".parquet":
        return f"cannot read {path.name}: it is not a Parquet file (save it again, or as CSV)"
    m = _COLUMNS.search(str(err))
    if m:
        line = _line_of(path, m["row"].strip())
        at = f"row {line}" if line else "a row"
        return (
            f"cannot read {path.name}: {at} has {m['got']} values where the header has "
            f"{m['want']} columns (a comma inside a value needs the value in double quotes)"
        )
    if isinstance(err, UnicodeDecodeError) or "UTF8" in str(err) or "utf-8" in str(err).lower():
        return f"cannot read {path.name}: it is not UTF-8 text (save it as CSV UTF-8)"
    return f"cannot read {path.name}: it is not a CSV file with a header row"


def _line_of(path: Path, row_text: str) -> int | None:
    """The 1-based line of ``path`` that reads ``row_text`` (the header is line 1), if found."""
    if not row_text:
        return None
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if line.rstrip("\r\n") == row_text:
                return number
    return None


def _columns(table: str) -> list[str]:
    """The columns of a contract table, 1.0 or identity (1.1)."""
    schema = SCHEMAS[table] if table in SCHEMAS else IDENTITY_SCHEMAS[table]
    return list(schema.columns)


def read_extracts(directory: str | Path) -> dict[str, pd.DataFrame]:
    """The contract tables of a folder of extracts (see :func:`read_directory`)."""
    return read_directory(directory).tables


def _existing_keys(con, tables: dict[str, pd.DataFrame]) -> dict[tuple[str, str], set]:
    needed = {(parent, pcol) for _, _, parent, pcol in REFERENCES}
    if "referrals" in tables:
        needed.add(("referral_children", "referral_id"))
    return {
        (t, c): {r[0] for r in con.execute(f"SELECT DISTINCT {c} FROM {t}").fetchall()}
        for t, c in needed
    }


def load_extracts(
    db_path: str | Path,
    directory: str | Path,
    *,
    mode: str = "load",
    strict: bool = False,
    date_format: str = "iso",
    progress: Progress | None = None,
    wait_seconds: float = 0.0,
) -> LoadReport:
    """Validate every extract in ``directory``, then write all of them atomically.

    Parameters
    ----------
    mode
        ``"load"``: every key must be new.  ``"append"``: a delta; see the module.
    strict
        Refuse columns the contract does not have, rather than report them.
    date_format
        ``"iso"`` or ``"dayfirst"`` (UK ``dd/mm/yyyy``), see ``store.contract``.
    wait_seconds
        How long to retry while another process holds the store (``mast serve``
        refreshing); the wait ends with a clear error, never a half-written store.

    Raises
    ------
    ContractError
        Naming each table, row, column and problem; the store is untouched.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    extract = read_directory(directory, strict, progress, allow_corrections=mode == "append")
    try:
        return load_tables(
            db_path,
            extract,
            mode=mode,
            date_format=date_format,
            progress=progress,
            wait_seconds=wait_seconds,
            source=str(directory),
        )
    except ContractError as err:
        # The same problems, said with the files' names and rows as they number them.
        raise ContractError(err.problems, extract.files) from None


def load_tables(
    db_path: str | Path,
    extract: Extract,
    *,
    mode: str = "load",
    date_format: str = "iso",
    progress: Progress | None = None,
    wait_seconds: float = 0.0,
    source: str | None = None,
) -> LoadReport:
    """Validate and write an :class:`Extract` already in memory (see :func:`load_extracts`)."""
    tables = dict(extract.tables)
    identities = {t: tables.pop(t) for t in list(tables) if t in IDENTITY_SCHEMAS}
    # The store is held only to read its keys and then to write: DuckDB admits
    # no reader (a serving worker refreshing) while a writer has the file open,
    # so the long part, validation, runs with the file closed.
    existing: dict[tuple[str, str], set] = {}
    if Path(db_path).exists():
        con = connect(db_path, read_only=True, wait_seconds=wait_seconds)
        try:
            existing = _existing_keys(con, tables)
        finally:
            con.close()
    clean = validate_tables(
        tables, existing_keys=existing, date_format=date_format, progress=progress
    )
    fresh = not Path(db_path).exists()
    con = connect(db_path, wait_seconds=wait_seconds)
    try:
        # Identity extracts are small beside the events they name; they are
        # checked here, against the store's events and records (contract 1.1).
        clean |= validate_identity_load(
            con, identities, clean.get("agency_events"), clean.get("referrals")
        )
        if mode == "load":
            _check_keys_are_new(con, clean)
            inserts, deletes, updated, unchanged = clean, {}, {}, {}
        else:
            inserts, deletes, updated, unchanged = _plan_delta(con, clean, extract.corrections)
        report = LoadReport(
            load_id=uuid.uuid4().hex,
            mode=mode,
            inserted={t: len(f) for t, f in inserts.items()},
            updated=updated,
            unchanged=unchanged,
            dropped_columns=list(extract.dropped_columns),
        )
        record = {
            "load_id": report.load_id,
            "mode": mode,
            "source": source,
            "row_counts": json.dumps(
                {"inserted": report.inserted, "updated": updated, "unchanged": unchanged},
                sort_keys=True,
            ),
        }
        ids = {t: inserts.pop(t) for t in list(inserts) if t in IDENTITY_SCHEMAS}
        write_tables(
            con,
            inserts,
            delete=deletes,
            load_record=record,
            progress=progress,
            also=(lambda c: write_identity_tables(c, ids)) if ids else None,
        )
    except BaseException:
        con.close()
        if fresh:  # a refused first load leaves no empty store behind
            _remove_store(Path(db_path))
        raise
    con.close()
    return report


def _remove_store(path: Path) -> None:
    """Delete a store this load created (and DuckDB's write-ahead log beside it)."""
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def _check_keys_are_new(con, clean: dict[str, pd.DataFrame]) -> None:
    problems: list[Problem] = []
    for table, frame in clean.items():
        for idx in _stored_rows(con, table, frame).index:
            problems.append(
                Problem(
                    table,
                    int(idx) + 1,
                    ", ".join(KEYS[table]),
                    "duplicate key: already in the store (use `mast load --append` for a delta)",
                )
            )
    if problems:
        raise ContractError(problems)


def _stored_rows(con, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The stored row for each incoming row whose key is already stored, indexed like ``frame``."""
    keys = KEYS[table]
    columns = _columns(table)
    con.register("_incoming_keys", frame[keys].reset_index(names="_row"))
    stored = con.execute(
        f"SELECT i._row, {', '.join(f't.{c}' for c in columns)} "
        f"FROM _incoming_keys i JOIN {table} t USING ({', '.join(keys)}) ORDER BY 1"
    ).df()
    con.unregister("_incoming_keys")
    return stored.set_index("_row")


def _same(a: pd.DataFrame, b: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Row-wise equality over ``columns``, with two missing values equal."""
    out = pd.Series(True, index=a.index)
    for c in columns:
        x, y = a[c], b[c]
        if pd.api.types.is_datetime64_any_dtype(x) or pd.api.types.is_datetime64_any_dtype(y):
            x, y = pd.to_datetime(x), pd.to_datetime(y)
        both_missing = x.isna() & y.isna()
        equal = (x.astype(object) == y.astype(object)).fillna(False).astype(bool)
        out &= both_missing | equal
    return out


def _plan_delta(con, clean: dict[str, pd.DataFrame], corrections: dict[str, pd.Series]):
    """Split a validated delta into inserts, updates (delete + insert) and unchanged rows."""
    problems: list[Problem] = []
    inserts: dict[str, pd.DataFrame] = {}
    deletes: dict[str, pd.DataFrame] = {}
    updated: dict[str, int] = {}
    unchanged: dict[str, int] = {}
    for table, frame in clean.items():
        columns = _columns(table)
        stored = _stored_rows(con, table, frame)
        here = frame.loc[stored.index]
        same = _same(here, stored, columns)
        changed = here.index[~same]
        corrected = corrections.get(table, pd.Series(False, index=frame.index))
        for idx in changed:
            key = ", ".join(f"{k}={frame.at[idx, k]!s}" for k in KEYS[table])
            if table in HISTORY_TABLES and not corrected.get(idx, False):
                problems.append(
                    Problem(
                        table,
                        int(idx) + 1,
                        ", ".join(KEYS[table]),
                        f"{key} is already stored with different content; mark the row "
                        f"`{CORRECTION}` = true if it corrects the stored one",
                    )
                )
            elif table == "household_members":
                fixed = [c for c in columns if c not in MEMBER_UPDATABLE]
                if not _same(here.loc[[idx]], stored.loc[[idx]], fixed).all():
                    problems.append(
                        Problem(
                            table,
                            int(idx) + 1,
                            ", ".join(KEYS[table]),
                            f"{key}: an update may change only end_date and end_recorded_at",
                        )
                    )
        new = frame.drop(index=stored.index)
        inserts[table] = pd.concat([new, frame.loc[changed]]) if len(changed) else new
        if len(changed):
            deletes[table] = frame.loc[changed, KEYS[table]]
            updated[table] = len(changed)
        if same.sum():
            unchanged[table] = int(same.sum())
    if problems:
        raise ContractError(problems)
    return inserts, deletes, updated, unchanged
