"""``mast link``: resolve every agency's records into persons (Splink), and judge the links."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mast.progress import console, progress_bar
from mast.settings import get_settings

GROUP_NAMES = {"overall": "Everyone", "ethnicity": "Ethnicity", "sex": "Sex", "age_band": "Age"}


def link(
    db: Path = typer.Option(None, "--db", help="The DuckDB store holding agency records."),
    threshold: float = typer.Option(
        0.9,
        "--threshold",
        help="Match probability at or above which two records are linked as one person "
        "(a governance decision: higher links less and wrongly merges less).",
    ),
    review_floor: float = typer.Option(
        0.2,
        "--review-floor",
        help="Pairs scored from here up to the threshold are kept as possible matches for a "
        "person to confirm or reject; they are never merged.",
    ),
    random_state: int = typer.Option(
        None, "--random-state", "--seed", help="Seed of the random pair sample (default: setting)."
    ),
    evaluate: bool = typer.Option(
        True,
        "--evaluate/--no-evaluate",
        help="When the store holds the simulator's truth, measure the links against it.",
    ),
    mlflow: bool = typer.Option(
        True, "--mlflow/--no-mlflow", help="Log the linkage figures to MLflow."
    ),
    labels: bool = typer.Option(
        True,
        "--labels/--no-labels",
        help="Obey people's verdicts on possible matches from the audit trail: confirmed pairs "
        "are linked, rejected pairs kept apart.",
    ),
    linked_store: Path = typer.Option(
        None,
        "--linked-store",
        help="Also write a store keyed by linked persons here, for `mast features`, `mast train` "
        "and `mast serve` to run on linked persons (MAST_DB=PATH).",
    ),
) -> None:
    """Link every agency's records of people in the store into persons, without a shared identifier.

    Records are scored by a Splink model whose parameters are estimated from
    the records themselves (no labels).  Pairs at or above the threshold are
    merged; pairs between the review floor and the threshold are written as
    possible matches and are never merged silently.
    """
    from linkage import (
        LinkageRules,
        link_records,
        read_records,
        write_links,
        write_named_adult_links,
    )
    from linkage.evaluate import evaluate_links, has_truth, log_to_mlflow, truth_of_records
    from store import connect

    settings = get_settings()
    db = db or settings.db
    try:
        rules = LinkageRules(
            threshold=threshold,
            review_floor=review_floor,
            random_state=settings.random_state if random_state is None else random_state,
        )
    except ValueError as err:
        option = "--threshold" if "threshold must" in str(err) else "--review-floor"
        console.print(f"[red]Invalid {option}:[/red] {err}. Nothing was written.", soft_wrap=True)
        raise typer.Exit(code=2) from err
    if not Path(db).exists():
        console.print(
            f"[red]No MAST store at {db}.[/red] Run `mast simulate` or `mast load` first."
        )
        raise typer.Exit(code=1)
    con = connect(db)
    try:
        try:
            records = read_records(con)
        except LookupError as err:
            console.print(f"[red]{err}[/red]", soft_wrap=True)
            raise typer.Exit(code=1) from err
        with progress_bar() as progress:
            progress("linking agency records", 0, 1)
            verdicts = _verdicts() if labels else None
            result = link_records(records, rules, verdicts=verdicts)
            progress("linking agency records", 1, 1)
            progress("writing person links", 0, 1)
            run_id = write_links(con, result)
            progress("writing person links", 1, 1)
            progress("searching for adults named on referrals", 0, 1)
            named = write_named_adult_links(con)
            progress("searching for adults named on referrals", 1, 1)
        _print_summary(result, records, run_id, rules)
        _print_named(named)
        if linked_store is not None:
            from store.linked import write_linked_store

            try:
                linked = write_linked_store(con, linked_store)
            except LookupError as err:
                console.print(f"[red]{err}[/red]", soft_wrap=True)
                raise typer.Exit(code=1) from err
            console.print(
                f"Wrote the store keyed by linked persons to {linked_store} "
                f"({linked.merged_people:,} of the local authority's people linked into another; "
                f"{linked.unreached_events:,} events reach no child or household)."
            )
        if evaluate and has_truth(con):
            table, metrics = evaluate_links(result.links, records, truth_of_records(con))
            _print_quality(table, metrics)
            if mlflow:
                params = {
                    "threshold": str(rules.threshold),
                    "review_floor": str(rules.review_floor),
                    "rule_version": result.rule_version,
                    "random_state": str(rules.random_state),
                    "records": str(len(records)),
                }
                mlflow_run = log_to_mlflow(
                    settings.tracking_uri, table, metrics, params, result.model_json
                )
                console.print(f"Logged to MLflow (experiment mast-linkage, run {mlflow_run}).")
    finally:
        con.close()


def _verdicts():
    """The latest verdict on each possible match, from the records store's audit trail."""
    import records as records_pkg
    from linkage.labels import latest_verdicts

    try:
        trail = records_pkg.RecordsStore(must_exist=True)
    except (FileNotFoundError, LookupError, ValueError):
        return None  # no records store yet: nobody has judged anything
    try:
        return latest_verdicts([e.payload for e in trail.match_reviews()])
    finally:
        trail.close()


def _print_summary(result, records, run_id: str, rules) -> None:
    summary = Table("", "", title="Linkage", show_header=False)
    summary.add_row("agency records", f"{len(records):,}")
    summary.add_row("linked persons", f"{result.links['person_key'].nunique():,}")
    summary.add_row(
        "possible matches to review",
        f"{len(result.possible):,} (scored {rules.review_floor:.0%} to {rules.threshold:.0%}; "
        "not merged)",
    )
    if result.labels:
        summary.add_row(
            "people's verdicts obeyed",
            f"{result.labels['confirmed']:,} confirmed, {result.labels['rejected']:,} rejected "
            f"({result.labels['cut']:,} links cut to keep rejected pairs apart)",
        )
    summary.add_row("rules version", result.rule_version)
    summary.add_row("run", run_id)
    console.print(summary)


def _print_named(named) -> None:
    """How the adults named on stored referrals were resolved, each as of its referral."""
    if named is None:
        return
    adults = named.drop_duplicates(["referral_id", "adult_number"])
    counts = adults["status"].value_counts()
    console.print(
        f"Adults named on referrals, each searched for as of its referral: {len(adults):,} "
        f"({counts.get('found', 0):,} found, {counts.get('possible', 0):,} possible matches "
        f"not taken, {counts.get('not_found', 0):,} not found in the records MAST holds)."
    )


def _pct(value: float, low: float | None = None, high: float | None = None) -> str:
    if value != value:  # NaN: no pairs in this group
        return "no pairs"
    if low is None:
        return f"{value:.1%}"
    return f"{value:.1%} ({low:.1%} to {high:.1%})"


def _print_quality(table, metrics) -> None:
    out = Table(
        "group",
        "records",
        "precision (95% interval)",
        "recall (95% interval)",
        "F1",
        "naive exact-match recall",
        title="Linkage against the simulator's truth (pairs of records)",
    )
    ours = table[table["method"] == "splink"].reset_index(drop=True)
    naive = table[table["method"] != "splink"].reset_index(drop=True)
    for row, base in zip(ours.itertuples(index=False), naive.itertuples(index=False), strict=True):
        name = GROUP_NAMES[row.grouping] + ("" if row.grouping == "overall" else f": {row.group}")
        out.add_row(
            name,
            f"{row.records:,}",
            _pct(row.precision, row.precision_low, row.precision_high),
            _pct(row.recall, row.recall_low, row.recall_high),
            _pct(row.f1),
            _pct(base.recall),
        )
    console.print(out)
    console.print(
        f"Whole persons found exactly: {metrics['cluster_recall']:.1%} of true persons; "
        f"{metrics['cluster_precision']:.1%} of linked persons are exactly one true person. "
        f"Largest gap between a group's recall and everyone's: "
        f"{metrics['largest_recall_gap'] * 100:.1f} points."
    )


def register(app: typer.Typer) -> None:
    app.command("link")(link)
