"""``mast audit-log``: verify, export and summarise the append-only audit trail."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mast.progress import console

audit_app = typer.Typer(
    help="Check, export and summarise the hash-chained audit trail of human decisions.",
    no_args_is_help=True,
)

_DB_HELP = (
    "Records database URL (default: $MAST_RECORDS_DB, else sqlite:///<MAST_HOME>/records.sqlite, "
    "MAST_HOME being mast-data unless set)."
)


def _store(db: str | None, must_exist: bool = True):
    from records import RecordsStore

    try:
        return RecordsStore(db, must_exist=must_exist)
    except Exception as err:  # bad URL, unreachable server: say so, exit 2
        from mast.errors import database_words

        console.print(f"[red]Cannot open the records database {db!r}:[/red] {database_words(err)}")
        raise typer.Exit(code=2) from err


def _refusing(db: str | None, call, must_exist: bool = True):
    """Run ``call(store)`` on the records store, closed after; a ``ValueError`` is a refusal (exit 2)."""
    store = _store(db, must_exist)
    try:
        return call(store)
    except ValueError as err:
        console.print(f"[red]Refused:[/red] {err}")
        raise typer.Exit(code=2) from err
    finally:
        store.close()


WHAT_VERIFY_DETECTS = (
    "What this check can detect: an entry changed, removed or reordered anywhere in the trail; "
    "entries removed from the end, or the whole trail emptied, up to the newest signed anchor; "
    "an anchored entry rewritten. "
    "What it cannot detect: entries removed or forged after the newest anchor (anchors are "
    "written at least every MAST_ANCHOR_EVERY entries and when the service stops); anything "
    "done by someone who also holds the anchor key and can rewrite the anchor file; anything "
    "that was never written to the trail."
)


@audit_app.command("verify")
def verify(
    db: str = typer.Option(None, "--db", help=_DB_HELP),
    expect_head: str = typer.Option(
        None, "--expect-head", help="A head hash recorded earlier: also detects truncation."
    ),
    no_anchors: bool = typer.Option(
        False,
        "--no-anchors",
        help="Check the chain alone, not against the signed anchors (MAST_ANCHOR_FILE).",
    ),
) -> None:
    """Recompute the hash chain and check it against the signed anchors; exit 1 if tampered with."""
    from records.anchor import AnchorError

    store = _store(db)
    try:
        report = store.verify(expect_head, anchors=not no_anchors)
        anchor_path = store.anchor.path
    except AnchorError as err:
        console.print("[red]BROKEN[/red]: the anchor cannot be trusted:", highlight=False)
        typer.echo(str(err))
        raise typer.Exit(code=1) from err
    finally:
        store.close()
    if not report.ok:
        where = f" at entry {report.broken_seq}" if report.broken_seq is not None else ""
        console.print(f"[red]BROKEN[/red]{where}:", highlight=False)
        typer.echo(report.reason)
        if report.broken_seq is not None:
            typer.echo(
                f"{report.entries - 1:,} entries before it verify; last good hash {report.head_hash}"
            )
        raise typer.Exit(code=1)
    console.print(f"[green]OK[/green]: {report.entries:,} entries verify.")
    if no_anchors:
        typer.echo("Not checked against the anchors (--no-anchors).")
    elif report.anchors:
        typer.echo(
            f"All {report.anchors:,} signed heads in {anchor_path} are in the chain "
            f"(the newest vouches for entry {report.anchored_seq:,})."
        )
    else:
        typer.echo(
            f"No signed heads in {anchor_path}: removal of the newest entries cannot be detected."
        )
    typer.echo(f"Head hash {report.head_hash} (keep it: --expect-head detects truncation later)")
    typer.echo(WHAT_VERIFY_DETECTS)


@audit_app.command("export")
def export(
    out: Path = typer.Option(
        ..., "--out", help="CSV file to write (atomically: temp file, then rename)."
    ),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Write the whole trail to CSV, values exactly as stored so the hashes can be re-checked."""
    n = _refusing(db, lambda store: store.export_csv(out))
    console.print(f"Wrote {n:,} entries to {out}")


@audit_app.command("rates")
def rates(db: str = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """Decision and override rates by the person deciding (the governance report's human-vs-tool lens)."""
    from records import decision_rates

    store = _store(db)
    try:
        frame = decision_rates(store)
    finally:
        store.close()
    if frame.empty:
        console.print("No decisions recorded yet.")
        return
    cols = [
        "n_decisions",
        "n_flagged",
        "flag_followed_rate",
        "override_rate",
        "escalation_rate_unflagged",
        "n_blind",
        "changed_after_reveal_rate",
    ]
    headers = [
        "decisions",
        "flagged",
        "flag followed",
        "flag overridden",
        "unflagged escalated",
        "blind-first",
        "changed after score",
    ]
    table = Table("decided by", *headers, title="Decision rates (latest decision per referral)")
    for who, row in frame.iterrows():
        table.add_row(
            str(who),
            *(
                f"{row[c]:.0f}"
                if c.startswith("n_")
                else f"{row[c]:.1%}"
                if row[c] == row[c]
                else "-"
                for c in cols
            ),
        )
    console.print(table)


@audit_app.command("practice")
def practice(
    db: str = typer.Option(None, "--db", help=_DB_HELP),
    out: Path = typer.Option(
        None, "--out", help="Also write the figures to this CSV file (one row per month and team)."
    ),
) -> None:
    """Practice figures for governance, by month and team: statutory rules triggered and overridden,
    closures as malicious or after the family declined support, re-referrals after a closure."""
    import pandas as pd

    from records.practice import (
        MEASURES,
        NOT_RECORDED_YET,
        REVIEW_MEASURES,
        month_label,
        practice_notes,
        practice_report,
    )

    labels = {**MEASURES, **REVIEW_MEASURES, **NOT_RECORDED_YET}
    store = _store(db)
    try:
        frame = practice_report(store)
    finally:
        store.close()
    if frame.empty:
        console.print("No decisions recorded yet: there are no practice figures to report.")
    for (month, team), row in frame.iterrows():
        table = Table("figure", "referrals", title=f"{month_label(month)}, {team}")
        for name, label in labels.items():
            table.add_row(
                label, "not recorded yet" if pd.isna(row[name]) else f"{int(row[name]):,}"
            )
        console.print(table)
    typer.echo(
        "Not recorded yet means the trail holds no such record yet (for strategy discussions: none "
        "recorded at all); it is not a zero. Months are UK local time. A referral counts once, by "
        "its latest decision; a strategy discussion in the month it was held. The team is the one "
        "named on the token of whoever recorded it (Not recorded: made before teams were recorded)."
    )
    for note in practice_notes():
        typer.echo(note)
    if out is not None:
        if not out.parent.exists():
            console.print(f"[red]Refused:[/red] --out {out}: folder {out.parent} does not exist")
            raise typer.Exit(code=2)
        table = frame.reset_index().astype(object).fillna("not recorded yet")
        table.rename(columns=labels).to_csv(out, index=False)
        console.print(f"Wrote {len(frame):,} rows to {out}")


@audit_app.command("blind-first")
def blind_first(
    state: str = typer.Argument(..., help="on, off or status."),
    reason: str = typer.Option(
        None, "--reason", help="Why (required for on/off); written to the trail."
    ),
    by: str = typer.Option(
        None, "--by", help="Name of the governance lead making the switch (required for on/off)."
    ),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Show or switch blind-first mode (screeners record a view before seeing the score)."""
    from records import Principal

    if state not in ("on", "off", "status"):
        console.print(f"[red]Refused:[/red] state must be on, off or status, got {state!r}")
        raise typer.Exit(code=2)
    store = _store(db, must_exist=state == "status")
    try:
        if state != "status":
            if not reason or not by:
                console.print(
                    "[red]Refused:[/red] --reason and --by are required to switch blind-first mode"
                )
                raise typer.Exit(code=2)
            store.set_blind_first(
                state == "on", Principal(name=by, role="governance", token_id="cli"), reason
            )
        console.print(f"Blind-first mode is {'on' if store.blind_first() else 'off'}.")
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit-log")
