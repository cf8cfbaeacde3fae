"""``mast models``: registered versions, their aliases and gate results."""

from __future__ import annotations

import typer
from rich.table import Table

from mast.progress import console
from mast.settings import get_settings


def models(
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
) -> None:
    """List every registered version with its aliases and fairness-gate verdict."""
    from training import list_versions

    settings = get_settings()
    uri = tracking_uri or settings.tracking_uri
    rows = list_versions(uri, settings.model_name)
    if not rows:
        console.print(f"No versions of {settings.model_name} at {uri}: run `mast train` first.")
        return
    table = Table(
        "version",
        "aliases",
        "created (UTC)",
        "label",
        "policy",
        "test AUC (proxy)",
        "gate",
        "override",
        "run",
        title=f"{settings.model_name} at {uri}",
    )
    for r in rows:
        colour = {"pass": "green", "fail": "red"}.get(r.gate_verdict, "yellow")
        gate = f"[{colour}]{r.gate_verdict}[/{colour}]"
        if r.gate_verdict != "pass" and r.gate_reasons:
            gate += f"\n{r.gate_reasons[:120]}"
        table.add_row(
            r.version,
            ", ".join(r.aliases),
            r.created,
            r.label,
            r.policy_version,
            r.test_auc,
            gate,
            r.override_by,
            (r.run_id or "")[:12],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
