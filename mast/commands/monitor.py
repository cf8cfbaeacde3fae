"""``mast monitor``: how the champion has behaved since it went live, month by month."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from mast.progress import console
from mast.settings import get_settings


def monitor(
    db: Path = typer.Option(None, "--db", help="The MAST store (default: <home>/mast.duckdb)."),
    records_db: str = typer.Option(
        None,
        "--records-db",
        help="The decision record's database URL (default: MAST_RECORDS_DB or "
        "mast-data/records.sqlite).",
    ),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    start: str = typer.Option(
        None, "--start", help="First day (YYYY-MM-DD, UTC); default: the first score it made."
    ),
    end: str = typer.Option(None, "--end", help="Last day (YYYY-MM-DD, UTC); default: today."),
    policy: Path = typer.Option(
        None,
        "--policy",
        help="Monitoring policy TOML (default: monitoring/monitoring_policy.toml).",
    ),
    out: Path = typer.Option(
        None, "--out", help="Folder for the report (default: <home>/reports)."
    ),
    no_mlflow: bool = typer.Option(
        False, "--no-mlflow", help="Do not log the report to the champion's MLflow run."
    ),
) -> None:
    """Report each month's referrals scored, flag rate, drift, overrides and performance.

    Reads the decision record (the scores screeners were shown) and the store,
    compares each month with the data the champion learned from, flags any
    breach of the monitoring policy, writes an HTML report and logs it to the
    champion's MLflow run.
    """
    import records
    from monitoring.run import run_monitor

    settings = get_settings()

    def day(text: str | None, name: str) -> date | None:
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError as err:
            console.print(f"[red]{name}:[/red] {text!r} is not a date (YYYY-MM-DD)")
            raise typer.Exit(code=2) from err

    first, last = day(start, "--start"), day(end, "--end")
    store = Path(db or settings.db)
    check_store(store)
    try:
        result = run_monitor(
            store,
            records_db or records.default_url(),
            tracking_uri or settings.tracking_uri,
            settings.model_name,
            out or settings.home / "reports",
            start=first,
            end=last,
            policy_file=policy,
            log_to_mlflow=not no_mlflow,
        )
    except (ValueError, FileNotFoundError) as err:
        console.print(f"[red]Cannot monitor:[/red] {err}")
        raise typer.Exit(code=2) from err
    print_monitor(result)


def check_store(store: Path) -> None:
    """Refuse, naming the path, when the MAST store is not there (exit 2).

    Checked before the champion model or the decision record is looked at,
    so the first thing a person reads is the thing that is missing.
    """
    if store.is_dir():
        console.print(
            f"[red]--db:[/red] {store} is a folder, not a MAST store; give the store's file "
            "(e.g. mast-data/mast.duckdb).",
            highlight=False,
        )
        raise typer.Exit(code=2)
    if not store.exists():
        console.print(
            f"[red]--db: No MAST store at {store}.[/red] Run `mast simulate` or `mast load` "
            "first, or give --db the store's path.",
            highlight=False,
        )
        raise typer.Exit(code=2)


def print_monitor(result) -> None:
    """The flag-rate and drift lines, and where the report is."""
    console.print(
        f"Monitoring {result.results and len(result.results)} month(s) of version "
        f"{result.version} (policy {result.policy.version}):"
    )
    for line in result.lines:
        style = "red" if "BREACH" in line or line.startswith("WARNING") else None
        console.print(f"  {line}", style=style, soft_wrap=True, markup=False, highlight=False)
    console.print(f"Monitoring report: {result.report}")


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
