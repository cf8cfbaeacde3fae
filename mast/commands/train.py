"""``mast train``: train, evaluate, explain and register a model from the store."""

from __future__ import annotations

import math
import re
from pathlib import Path

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from mast.progress import console, progress_bar
from mast.settings import DEFAULT_TRACKING_URI, get_settings

SHORT_NAMES = {
    "lightgbm": "LightGBM",
    "l1_logistic": "L1 logistic",
    "rule": "Rule 12m",
    "human": "Screeners",
}


def _fmt(row) -> str:
    if row is None or not math.isfinite(row["value"]):
        return "–"
    if math.isfinite(row["ci_low"]):
        lo, hi = (f"{x:.2f}".removeprefix("0") for x in (row["ci_low"], row["ci_high"]))
        return f"{row['value']:.3f}\n{lo}–{hi}"
    return f"{row['value']:.3f}"


def _compact_table(title: str, caption: str) -> Table:
    """A narrow table for a terminal: the four models and what the flag adds."""
    return Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        title=title,
        caption=caption,
    )


def comparison_table(comparison, title: str = "Test period: four models side by side") -> Table:
    """The four models against the proxy label and ground-truth harm, with 95% intervals."""
    metrics = ("auc", "average_precision", "brier", "flag_rate", "precision", "recall")
    heads = {
        "auc": "AUC",
        "average_precision": "AP",
        "brier": "Brier",
        "flag_rate": "flagged",
        "precision": "prec.",
        "recall": "recall",
    }
    table = _compact_table(
        title,
        "proxy: CP plan / looked after label · harm: simulated ground truth\n"
        "per child: AUC, AP, Brier · per referral: flag rate, precision, recall\n"
        "[95% interval, bootstrap resampled by referral]",
    )
    table.add_column("model", no_wrap=True)
    table.add_column("vs", no_wrap=True)
    for m in metrics:
        table.add_column(heads[m], justify="right", no_wrap=True, min_width=7)
    index = {(r.model, r.label, r.metric): r._asdict() for r in comparison.itertuples()}
    labels = [lab for lab in ("proxy", "harm") if any(k[1] == lab for k in index)]
    for model in ("lightgbm", "l1_logistic", "rule", "human"):
        for lab in labels:
            if not any(k[0] == model and k[1] == lab for k in index):
                continue
            table.add_row(
                SHORT_NAMES[model],
                "proxy" if lab == "proxy" else "harm",
                *(_fmt(index.get((model, lab, m))) for m in metrics),
            )
        table.add_section()
    return table


def added_table(added: dict, title: str = "What the flag adds to the screeners") -> Table:
    """Incremental and union catch per label, and the extra reviews they cost."""
    table = _compact_table(
        title,
        "incremental: of referrals with the outcome that\n"
        "the screeners closed (no further action, malicious,\n"
        "early help), the share the flag sends to review\n"
        "union: the share the screeners or the flag reach\n"
        f"cost: {added.get('extra_reviews_per_1000') or 0:.0f} extra reviews per 1,000 referrals",
    )
    for col in ("vs", "with outcome", "screeners", "flag", "incremental", "union"):
        table.add_column(col, justify="left" if col == "vs" else "right", no_wrap=True)

    def cell(est: dict) -> str:
        if est["value"] is None:
            return "–"
        return f"{est['value']:.3f}\n{est['ci_low']:.2f}–{est['ci_high']:.2f}"

    for label, e in added.get("labels", {}).items():
        inc = e["incremental_catch"]
        table.add_row(
            label,
            f"{e['n_with_outcome']:,}",
            cell(e["screeners_catch"]),
            cell(e["tool_catch"]),
            cell(inc) + f"\nof {inc['n']:,}",
            cell(e["union_catch"]),
        )
    return table


def train(
    db: Path = typer.Option(None, "--db", help="The DuckDB store to train from."),
    config: Path = typer.Option(
        None, "--config", help="Training config TOML (default: training/default.toml)."
    ),
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", help=f"MLflow tracking URI (default: {DEFAULT_TRACKING_URI})."
    ),
) -> None:
    """Train, evaluate and register a model (alias `candidate`) from the store.

    LightGBM and its baselines are fitted on temporal periods with a
    label-horizon gap and compared on the test period against the proxy label
    and ground truth. Promotion to `champion` is a separate, governed step
    (`mast promote`).
    """
    import duckdb

    from training import train as run_train

    settings = get_settings()
    db = db or settings.db
    tracking_uri = tracking_uri or settings.tracking_uri
    cfg = _config(config)
    try:
        with progress_bar() as progress:
            result = run_train(db, cfg, tracking_uri=tracking_uri, progress=progress)
    except FileNotFoundError as err:
        console.print(f"[red]Cannot train:[/red] --db: {escape(str(err))}")
        raise typer.Exit(code=2) from err
    except (ValueError, duckdb.IOException) as err:
        console.print(f"[red]Cannot train:[/red] {escape(str(err))}")
        raise typer.Exit(code=2) from err
    print_result(result)


_TOML_AT = re.compile(r"at line (\d+), column (\d+)")


def _config(path: Path | None):
    """The training config, or an error naming --config, the file and the line at fault."""
    import tomllib

    from training import TrainConfig

    try:
        return TrainConfig.from_toml(path)
    except FileNotFoundError:
        problem = f"{path} does not exist"
    except tomllib.TOMLDecodeError as err:
        at = _TOML_AT.search(str(err))
        where = f" at line {at[1]}, column {at[2]}" if at else ""
        problem = (
            f"{path} cannot be read as a TOML settings file{where} (each setting is written "
            "name = value, with text in double quotes)"
        )
    except (UnicodeDecodeError, IsADirectoryError):
        problem = f"{path} is not a text file"
    except ValueError as err:
        problem = str(err)
    console.print(f"[red]Cannot train:[/red] --config: {escape(problem)}", soft_wrap=True)
    raise typer.Exit(code=2) from None


def print_result(result) -> None:
    """Print a training run as ``mast train`` and ``mast demo`` show it."""
    p = result.periods
    periods = Table(
        "period",
        "referrals received",
        "rows",
        "referrals",
        "positive rows",
        title="Temporal split (label-horizon gap between periods)",
    )
    for name, (start, end) in (
        ("train", (p.train_start, p.train_end)),
        ("calibration", (p.calibration_start, p.calibration_end)),
        ("test", (p.test_start, p.test_end)),
    ):
        c = result.period_counts[name]
        periods.add_row(
            name,
            f"{start.date()} to {end.date()}",
            f"{c['rows']:,}",
            f"{c['referrals']:,}",
            f"{c['positives']:,}",
        )
    console.print(periods)
    console.print(comparison_table(result.comparison))
    if result.added:
        console.print(added_table(result.added))
    timing = Table("stage", "seconds", title="Time per stage")
    for stage, secs in result.timings.items():
        timing.add_row(stage, f"{secs:.1f}")
    console.print(timing)
    if result.tuning_summary:
        console.print(f"LightGBM tuning: {escape(result.tuning_summary)}")
    selection = getattr(result, "selection", None)
    if selection is not None:
        console.print(f"Model choice: {escape(selection.reason)}", soft_wrap=True)
    lines = getattr(result, "backtest_lines", [])
    if lines:
        console.print("Rolling-origin backtest of the deployed recipe, by test year:")
        for line in lines:
            console.print(f"  {escape(line)}", soft_wrap=True)
    verdict = result.gate_verdict
    colour = "green" if verdict == "pass" else "red"
    console.print(
        f"Label [bold]{result.label}[/bold] · flag policy {result.policy['version']} "
        f"(threshold score {result.policy['threshold_score']}) · data {result.data_hash[:12]}"
    )
    console.print(
        f"Run [bold]{result.run_id}[/bold] · model {result.model_name} version "
        f"[bold]{result.model_version}[/bold] (alias candidate) · gate [{colour}]{verdict}[/{colour}]"
    )
    if verdict != "pass":
        print_gate_reasons(result.gate_reasons)
    if result.policy.get("note"):
        console.print(f"[yellow]Flag policy:[/yellow] {result.policy['note']}")
    console.print(f"MLflow UI: mlflow ui --backend-store-uri {result.tracking_uri}")


def print_gate_reasons(reasons, shown: int = 10) -> None:
    """Why the gate did not pass, one sentence each: the group, the figure and the limit.

    The raw reasons stay on the run's tags (``gate_reasons``) for tools; a
    person reads them here in words (:func:`audit.fairness_gate.reason_sentences`).
    """
    from audit.fairness_gate import reason_sentences

    sentences = reason_sentences(reasons)
    if not sentences:
        return
    console.print("Why the gate did not pass:")
    for sentence in sentences[:shown]:
        console.print(f"  - {escape(sentence)}", soft_wrap=True, highlight=False)
    if len(sentences) > shown:
        console.print(f"  ... and {len(sentences) - shown} more in the board's report")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
