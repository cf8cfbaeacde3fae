"""``mast serve``: run the advisory scoring service."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mast.progress import console

# serving.launch.DEFAULT_WORKERS / DEFAULT_THREADS (a test keeps them equal):
# importing serving here would load MLflow into every `mast` command.
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 2


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    db: Path = typer.Option(None, "--db", help="DuckDB store (opened read-only)."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    workers: int = typer.Option(
        DEFAULT_WORKERS, "--workers", min=1, help="Worker processes; each loads the model once."
    ),
    threads: int = typer.Option(
        DEFAULT_THREADS,
        "--threads",
        min=1,
        help="Request threads per worker (FastAPI's thread pool).",
    ),
) -> None:
    """Start the scoring service with the champion model from the registry.

    The service refuses to start if the registry has no champion: it never
    scores with a model governance has not promoted.  Scores are advisory.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from serving import NoChampionError, ServingSettings
    from serving.app import check_champion
    from serving.launch import run_server

    settings = ServingSettings.from_mast(db=db, tracking_uri=tracking_uri)
    if not settings.db.exists():
        console.print(
            f"[red]No MAST store at {settings.db}[/red]: run `mast simulate` or `mast load` first."
        )
        raise typer.Exit(code=2)
    try:
        version = check_champion(settings)
    except NoChampionError as err:
        console.print(f"[red]Not starting:[/red] {err}")
        raise typer.Exit(code=2) from err
    from serving.lifecycle import ENV_MASTER, port_holder, port_in_use

    if port_in_use(host, port):
        holder = port_holder(port)
        who = f"process {holder[0]} ({holder[1][:120]})" if holder else "another process"
        console.print(
            f"[red]Not starting:[/red] port {port} on {host} is already held by {who}. "
            + (
                f"If it is a MAST worker left over from an earlier run, stop it: kill {holder[0]}"
                if holder
                else ""
            )
        )
        raise typer.Exit(code=2)
    os.environ[ENV_MASTER] = str(os.getpid())  # workers stop when this process is gone
    # Workers read their settings from the environment (uvicorn imports the
    # factory afresh in each one).
    os.environ["MAST_DB"] = str(settings.db)
    os.environ["MAST_TRACKING_URI"] = settings.tracking_uri
    os.environ["MAST_SERVE_THREADS"] = str(threads)
    console.print(
        f"Serving {settings.model_name} version {version} (champion) on http://{host}:{port} "
        "- scores are advisory and do not replace professional judgement."
    )
    console.print(
        f"Each of the {workers} worker(s) loads the store into memory before it answers "
        "(a few seconds for a local authority; about a minute for a national store)."
    )
    run_server("serving.app:app_from_env", host, port, workers)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
