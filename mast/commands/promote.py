"""``mast promote``: move the ``champion`` alias, under governance rules."""

from __future__ import annotations

import typer

from mast.progress import console
from mast.settings import get_settings


def promote(
    version: str = typer.Argument(..., help="Model version to make champion."),
    override_by: str = typer.Option(
        None,
        "--override-by",
        help="Name of the governance lead approving a model that did not pass the gate.",
    ),
    reason: str = typer.Option(
        None, "--reason", help="Why the override is justified (recorded on the version)."
    ),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
) -> None:
    """Make VERSION the `champion` the scoring service loads.

    Refused unless the version passed the fairness gate, or a governance
    override names who approved it and why (both are recorded on the version).
    """
    from training import PromotionRefused
    from training import promote as do_promote

    settings = get_settings()
    try:
        record = do_promote(
            version, tracking_uri or settings.tracking_uri, override_by, reason, settings.model_name
        )
    except PromotionRefused as err:
        console.print(f"[red]Promotion refused:[/red] {err}")
        raise typer.Exit(code=2) from err
    except ValueError as err:
        console.print(f"[red]Cannot promote:[/red] {err}")
        raise typer.Exit(code=2) from err
    how = (
        f"by governance override ({record['governance_override_by']}: {record['governance_override_reason']})"
        if "governance_override_by" in record
        else "gate passed"
    )
    console.print(
        f"Version [bold]{version}[/bold] of {settings.model_name} is now [bold]champion[/bold]: {how}."
    )


def register(app: typer.Typer) -> None:
    app.command("promote")(promote)
