"""``mast tokens``: mint, list and revoke API tokens (stored hashed; shown once)."""

from __future__ import annotations

import math
import os

import typer
from rich.table import Table

from mast.commands.audit_log import _DB_HELP, _refusing, _store
from mast.progress import console

tokens_app = typer.Typer(
    help="API tokens for screeners, managers, data scientists, governance and partner agencies' safeguarding leads.",
    no_args_is_help=True,
)


# The longest life a token may be given: ten years.  A token that outlives
# the person's job is a risk; one for longer than this is a mistyped number.
MAX_TOKEN_DAYS = 3650


def check_days(days: float | None) -> None:
    """Refuse a token life that is not a positive number of days, in words (exit 2).

    ``--days``, or when it is not given ``MAST_TOKEN_DAYS``, is checked here,
    before the records store is opened, so the person reads which setting is
    wrong and what it takes, not a raw time span.
    """
    name = "--days"
    if days is None:
        from records.tokens import ENV_TOKEN_DAYS

        name, text = ENV_TOKEN_DAYS, os.environ.get(ENV_TOKEN_DAYS)
        if not text:
            return
        try:
            days = float(text)
        except ValueError:
            _refuse_days(name, repr(text))
    if math.isfinite(days) and 0 < days <= MAX_TOKEN_DAYS:
        return
    if not math.isfinite(days):
        _refuse_days(name, "a number that is not finite")
    _refuse_days(name, str(int(days)) if days.is_integer() else f"{days:g}")


def _refuse_days(name: str, shown: str) -> None:
    console.print(
        f"[red]{name}:[/red] a token must last more than 0 and at most {MAX_TOKEN_DAYS} days "
        f"(ten years), not {shown}. Give a number of days such as 90, or 0.5 for twelve hours.",
        highlight=False,
    )
    raise typer.Exit(code=2)


@tokens_app.command("create")
def create(
    role: str = typer.Option(
        ...,
        "--role",
        help="screener, manager, data_scientist, governance, or a partner lead: police_safeguarding_lead, health_safeguarding_lead, education_safeguarding_lead.",
    ),
    name: str = typer.Option(
        ..., "--name", help="The person's name, as it will appear in the audit trail."
    ),
    days: float = typer.Option(
        None,
        "--days",
        help=f"Days until it expires, more than 0 and at most {MAX_TOKEN_DAYS} "
        "(default: MAST_TOKEN_DAYS, else 90).",
    ),
    team: str = typer.Option(
        None,
        "--team",
        help="The person's team (e.g. 'MASH North'): written on every trail entry they make, "
        "so the practice report and the monitor count by team.",
    ),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Mint a token and print it once: only its hash is stored."""
    check_days(days)
    token, principal = _refusing(
        db, lambda store: store.create_token(name, role, days=days, team=team), must_exist=False
    )
    in_team = f", team {principal.team}" if principal.team else ""
    console.print(
        f"Token for {principal.name} ({principal.role}{in_team}), id {principal.token_id}. "
        "Shown once; keep it safe:",
        highlight=False,
    )
    typer.echo(token)


@tokens_app.command("list")
def list_(db: str = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """List tokens (ids, holders, roles, dates; never secrets)."""
    store = _store(db)
    try:
        rows = store.list_tokens()
    finally:
        store.close()
    table = Table(
        "token id", "name", "role", "team", "created", "expires", "revoked", "page session of"
    )
    for r in rows:
        table.add_row(
            r["token_id"],
            r["name"],
            r["role"],
            r["team"],
            r["created_at"],
            r["expires_at"],
            r["revoked_at"] or "",
            r["session_of"] or "",
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The token id shown by create/list."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Revoke a token at once."""
    _refusing(db, lambda store: store.revoke_token(token_id))
    console.print(f"Revoked {token_id}.")


@tokens_app.command("set-role")
def set_role(
    token_id: str = typer.Argument(..., help="The token id shown by create/list."),
    role: str = typer.Option(
        ...,
        "--role",
        help="screener, manager, data_scientist, governance, or a partner lead: police_safeguarding_lead, health_safeguarding_lead, education_safeguarding_lead.",
    ),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Change a token's role; the change is signed and written to the trail."""
    _refusing(db, lambda store: store.change_role(token_id, role))
    console.print(f"Token {token_id} now has the role {role}.")


def register(app: typer.Typer) -> None:
    app.add_typer(tokens_app, name="tokens")
