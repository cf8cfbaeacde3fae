"""``mast features``: build the point-in-time feature table for every referral."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from mast.progress import console, progress_bar
from mast.settings import get_settings


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _engine(ft, name: str, con):
    """The feature engine ``--engine`` names, over the store behind ``con``."""
    if name == "spark":
        return ft.SparkEngine(con)
    return ft.SQLEngine(con)


def features_command(
    db: Path = typer.Option(None, "--db", help="The DuckDB store (default: settings)."),
    out: Path = typer.Option(
        None, "--out", help="Parquet file for the table (default: <home>/features.parquet)."
    ),
    catalogue: str = typer.Option(
        None,
        "--catalogue",
        help="Also write the feature catalogue: FILE.md, FILE.json, or a stem for both.",
        show_default=False,
    ),
    catalogue_only: bool = typer.Option(
        False,
        "--catalogue-only",
        help="Write the catalogue (to --catalogue, else <home>/feature-catalogue.md and .json) "
        "and skip building the table.",
    ),
    engine: str = typer.Option(
        "duckdb",
        "--engine",
        help="Where the feature SQL runs: duckdb (one machine), or spark (local Spark, "
        "2 cores; needs the 'spark' extra and Java 17). Both give the same table.",
    ),
) -> None:
    """Build one row per (referral, child), as of each referral's arrival.

    Every feature uses only records recorded strictly before the referral
    was received.  Protected characteristics are written beside the features
    (for audit), never among them.
    """
    import features as ft
    from store import connect

    settings = get_settings()
    if catalogue is not None and catalogue.startswith("-"):
        console.print(
            f"[red]--catalogue took {catalogue!r} as its FILE: give a FILE, or put --catalogue last.[/red]"
        )
        raise typer.Exit(code=2)
    if catalogue is not None or catalogue_only:
        target = Path(catalogue) if catalogue else settings.home / "feature-catalogue"
        written = ft.write_catalogue(target)
        console.print(
            f"Feature catalogue ({len(ft.catalogue())} features): "
            + ", ".join(str(p) for p in written)
        )
        if catalogue_only:
            return
    if engine not in ("duckdb", "spark"):
        console.print(f"[red]--engine must be duckdb or spark, not {engine!r}.[/red]")
        raise typer.Exit(code=2)
    db = db or settings.db
    out = out or settings.home / "features.parquet"
    try:
        con = connect(db, read_only=True)
    except FileNotFoundError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(code=2) from err
    try:
        with progress_bar() as progress:
            chosen = _engine(ft, engine, con)
            try:
                table = chosen.features(progress=progress)
            finally:
                getattr(chosen, "close", lambda: None)()
    except RuntimeError as err:  # the Spark engine without pyspark or Java
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(code=2) from err
    finally:
        con.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        table.to_frame().to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    console.print(
        f"Wrote {len(table):,} (referral, child) rows x {len(table.feature_names)} features "
        f"to {out} ({_human(out.stat().st_size)})"
    )


def register(app: typer.Typer) -> None:
    app.command("features")(features_command)
