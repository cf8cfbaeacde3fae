"""``mast load``: ingest a local authority's extracts into the store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mast.progress import console
from mast.settings import get_settings


def load(
    directory: Path = typer.Argument(
        ..., help="Folder of extracts: one <table>.csv or <table>.parquet per contract table."
    ),
    db: Path = typer.Option(None, "--db", help="DuckDB store to load into (created if missing)."),
) -> None:
    """Validate extracts against the data contract and load them atomically.

    A malformed extract is rejected whole, with a report naming each table,
    row, column and problem, and nothing is written.
    """
    from store import ContractError, load_extracts

    db = db or get_settings().db
    try:
        counts = load_extracts(db, directory)
    except ContractError as err:
        console.print(f"[red]Rejected:[/red] {err}")
        raise typer.Exit(code=2) from err
    table = Table("table", "rows loaded", title=f"Loaded into {db}")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("load")(load)
