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
    # Four columns, so the table stays readable in an 80-column terminal or CI log.
    table = Table(title=f"{settings.model_name} at {uri}", show_lines=True)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("aliases", no_wrap=True, min_width=9)
    table.add_column("fairness gate", ratio=1, overflow="fold")
    table.add_column("details", ratio=1, overflow="fold")
    for r in rows:
        colour = {"pass": "green", "fail": "red"}.get(r.gate_verdict, "yellow")
        gate = f"[{colour}]{r.gate_verdict}[/{colour}]"
        if r.gate_verdict != "pass" and r.gate_reasons not in ("", "none"):
            from audit.fairness_gate import reason_sentences

            reasons = reason_sentences(r.gate_reasons.split("; ")) or [r.gate_reasons]
            first = reasons[0] if len(reasons[0]) <= 90 else reasons[0][:87] + "..."
            more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
            gate += f"\n{first}{more}"
        if r.override_by:
            gate += f"\noverride by {r.override_by}"
        details = "\n".join(
            [
                f"created {r.created} UTC",
                f"label {r.label}",
                f"policy {r.policy_version}",
                f"test AUC (proxy) {r.test_auc}",
                f"run {(r.run_id or '')[:12]}",
            ]
        )
        table.add_row(r.version, ", ".join(r.aliases), gate, details)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
