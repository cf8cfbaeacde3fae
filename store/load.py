"""Ingest a local authority's CSV or Parquet extracts into the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from store.contract import REFERENCES, SCHEMAS, ContractError, Problem, validate_tables
from store.database import connect, write_tables
from store.identities import (
    IDENTITY_KEYS,
    IDENTITY_SCHEMAS,
    validate_identity_load,
    write_identity_tables,
)


def read_extracts(directory: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``<table>.csv`` or ``<table>.parquet`` for each contract table found.

    CSVs are read as text so that the contract, not pandas' guesswork,
    decides every type.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ContractError([Problem("(extract)", None, None, f"{directory} is not a directory")])
    tables: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".csv", ".parquet"):
            continue
        table = path.stem
        if table not in SCHEMAS and table not in IDENTITY_SCHEMAS:
            problems.append(Problem(table, None, None, f"unknown table (file {path.name})"))
            continue
        if table in tables:
            problems.append(Problem(table, None, None, "given both as CSV and as Parquet"))
            continue
        if path.suffix == ".csv":
            tables[table] = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        else:
            tables[table] = pd.read_parquet(path)
    if not tables and not problems:
        problems.append(
            Problem("(extract)", None, None, f"no contract tables found in {directory}")
        )
    if problems:
        raise ContractError(problems)
    return tables


def load_extracts(db_path: str | Path, directory: str | Path) -> dict[str, int]:
    """Validate every extract in ``directory``, then append all of them atomically.

    Returns
    -------
    dict
        Rows written per table.

    Raises
    ------
    ContractError
        Naming each table, row, column and problem; the store is untouched.
    """
    tables = read_extracts(directory)
    identities = {t: tables.pop(t) for t in list(tables) if t in IDENTITY_SCHEMAS}  # contract 1.1
    con = connect(db_path)
    try:
        existing = {
            (parent, pcol): set(
                r[0] for r in con.execute(f"SELECT DISTINCT {pcol} FROM {parent}").fetchall()
            )
            for _, _, parent, pcol in REFERENCES
            if parent not in tables
        }
        clean = validate_tables(tables, existing_keys=existing)
        identities = validate_identity_load(con, identities, clean.get("agency_events"))
        _check_keys_are_new(con, clean | identities)
        also = (lambda c: write_identity_tables(c, identities)) if identities else None
        write_tables(con, clean, also=also)
    finally:
        con.close()
    return {t: len(f) for t, f in clean.items()} | {t: len(f) for t, f in identities.items()}


_KEYS = {
    "people": ["person_id"],
    "households": ["household_id"],
    "referrals": ["referral_id"],
    "screening_decisions": ["referral_id"],
    "agency_events": ["event_id"],
    "referral_children": ["referral_id", "person_id"],
    "household_members": ["person_id", "household_id", "start_date"],
    **IDENTITY_KEYS,
}


def _check_keys_are_new(con, clean: dict[str, pd.DataFrame]) -> None:
    problems: list[Problem] = []
    for table, frame in clean.items():
        keys = _KEYS[table]
        con.register("_incoming_keys", frame[keys].reset_index())
        clash = con.execute(
            f"SELECT i.index FROM _incoming_keys i JOIN {table} t USING ({', '.join(keys)}) ORDER BY 1"
        ).fetchall()
        con.unregister("_incoming_keys")
        problems += [
            Problem(table, int(idx) + 1, ", ".join(keys), "duplicate key: already in the store")
            for (idx,) in clash
        ]
    if problems:
        raise ContractError(problems)
