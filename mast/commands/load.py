"""``mast load``: ingest a local authority's extracts into the store."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from mast.progress import console, progress_bar
from mast.settings import get_settings


class ExtractFormat(StrEnum):
    contract = "contract"
    ssd = "ssd"


class DateFormat(StrEnum):
    iso = "iso"
    dayfirst = "dayfirst"


def load(
    directory: Path = typer.Argument(
        ...,
        help="Folder of extracts: one <table>.csv or <table>.parquet per contract table "
        "(or, with --format ssd, the Standard Safeguarding Dataset's ssd_*.csv files).",
    ),
    db: Path = typer.Option(None, "--db", help="DuckDB store to load into (created if missing)."),
    fmt: ExtractFormat = typer.Option(
        ExtractFormat.contract,
        "--format",
        help="contract: MAST's own tables; ssd: Data to Insight's Standard Safeguarding Dataset.",
    ),
    append: bool = typer.Option(
        False,
        "--append",
        help="A day's delta: new rows are added and a stored row with the same key is updated.",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse columns the data contract does not have."
    ),
    date_format: DateFormat = typer.Option(
        DateFormat.iso,
        "--date-format",
        help="iso: YYYY-MM-DD only; dayfirst: also UK dates written dd/mm/yyyy.",
    ),
    local_authority: str = typer.Option(
        "Not recorded",
        "--local-authority",
        help="With --format ssd: the local authority's name (the SSD does not hold it).",
    ),
    wait: float = typer.Option(
        60.0, "--wait", help="Seconds to keep retrying while `mast serve` has the store open."
    ),
) -> None:
    """Validate extracts against the data contract and load them atomically.

    A malformed extract is rejected whole, with a summary per table and
    column and then the first problems by row, and nothing is written.
    """
    from store import ContractError, StoreBusyError, load_extracts, load_tables
    from store.ssd import read_ssd

    db = db or get_settings().db
    mode = "append" if append else "load"
    try:
        with progress_bar() as progress:
            if fmt is ExtractFormat.ssd:
                extract = read_ssd(
                    directory,
                    strict=strict,
                    date_format=date_format.value,
                    local_authority=local_authority,
                    progress=progress,
                )
                report = load_tables(
                    db,
                    extract,
                    mode=mode,
                    progress=progress,
                    wait_seconds=wait,
                    source=f"ssd:{directory}",
                )
            else:
                report = load_extracts(
                    db,
                    directory,
                    mode=mode,
                    strict=strict,
                    date_format=date_format.value,
                    progress=progress,
                    wait_seconds=wait,
                )
    except ContractError as err:
        console.print("Rejected:", style="red")
        console.print(str(err), markup=False, highlight=False)
        raise typer.Exit(code=2) from err
    except StoreBusyError as err:
        console.print(f"[red]Not loaded:[/red] {err}")
        raise typer.Exit(code=3) from err
    table = Table(
        "table", "rows added", "rows updated", "rows unchanged", title=f"Loaded into {db}"
    )
    for name in report.inserted:
        table.add_row(
            name,
            f"{report.inserted[name]:,}",
            f"{report.updated.get(name, 0):,}",
            f"{report.unchanged.get(name, 0):,}",
        )
    console.print(table)
    if report.dropped_columns:
        console.print(
            "[yellow]Columns left out[/yellow] (the data contract has no place for them):"
        )
        for table_name, column in report.dropped_columns:
            console.print(f"  {table_name}: {column}", markup=False)
        console.print("Give --strict to refuse an extract that has such columns.")


def register(app: typer.Typer) -> None:
    app.command("load")(load)
