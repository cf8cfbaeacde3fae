"""``mast audit``: fairness audit of any predictions file, or of a MAST training run."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from mast.progress import console, progress_bar
from mast.settings import get_settings


def _fail(message: str) -> None:
    console.print(f"[red]Cannot audit:[/red] {message}")
    raise typer.Exit(code=2)


def _read_table(path: Path):
    import pandas as pd

    if not path.exists():
        _fail(f"predictions file {path} not found")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, keep_default_na=True)
    except Exception as err:  # a malformed file of any kind
        _fail(f"could not read {path}: {err}")


def _with_recorded_decisions(frame, url: str):
    """Replace ``human_flag`` with the decisions people recorded in MAST.

    The human-vs-tool lens then compares the tool with what screeners using
    MAST actually decided: 1 for a strategy discussion / multi-agency review,
    0 for any other decision, missing where no decision was recorded.
    """
    import records

    store = records.RecordsStore(None if url == "default" else url)
    try:
        decided = records.final_decisions(store)
    finally:
        store.close()
    if decided.empty:
        _fail(f"the decision record at {url} holds no decisions")
    review = decided.set_index("referral_id")["decision"].eq("strategy_discussion").astype(float)
    frame = frame.copy()
    frame["human_flag"] = frame["referral_id"].map(review)
    if frame["human_flag"].isna().all():
        _fail(f"no referral of this run has a decision in the decision record at {url}")
    return frame


def audit(
    predictions: Path = typer.Option(
        None, "--predictions", help="CSV (or Parquet) of predictions or decisions, one row each."
    ),
    label: str = typer.Option(None, "--label", help="Outcome column (0/1)."),
    score: str = typer.Option(None, "--score", help="Numeric score column (needs --threshold)."),
    threshold: float = typer.Option(
        None, "--threshold", help="Flag rows whose score is at least this."
    ),
    flag: str = typer.Option(None, "--flag", help="Decision column (0/1), instead of a score."),
    group: list[str] = typer.Option(
        None, "--group", help="Protected-characteristic column; repeat for several."
    ),
    out: Path = typer.Option(None, "--out", help="Folder for report.html and metrics.json."),
    referral_col: str = typer.Option(
        None, "--referral-col", help="Rows sharing this id are resampled together."
    ),
    prob: str = typer.Option(
        None, "--prob", help="Calibrated probability column, for calibration (optional)."
    ),
    harm: str = typer.Option(None, "--harm", help="Ground-truth outcome column (0/1, nullable)."),
    human: str = typer.Option(
        None, "--human", help="Screeners' decision column (0/1, nullable), for lens 3."
    ),
    policy: Path = typer.Option(None, "--policy", help="Gate policy TOML (default: packaged)."),
    seed: int = typer.Option(None, "--seed", help="Random seed for the bootstrap."),
    n_boot: int = typer.Option(None, "--n-boot", help="Bootstrap replicates (default: policy)."),
    pdf: bool = typer.Option(False, "--pdf", help="Also write report.pdf (needs chromium)."),
    run: str = typer.Option(None, "--run", help="Audit this MAST training run's test predictions."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    human_from_records: str = typer.Option(
        None,
        "--human-from-records",
        help="With --run: take the screeners' decisions for lens 3 from MAST's decision record "
        "(a records database URL, or 'default') instead of the store's screening decisions.",
    ),
) -> None:
    """Audit predictions for fairness by group and judge them against the gate policy.

    Writes OUT/report.html (for the board) and OUT/metrics.json (for machines):
    for every group column and value, n, base rate, flag rate, TPR, FPR, FNR,
    precision and (with a score) AUC, each with a 95% bootstrap interval
    resampled by referral.  Missing group values are the group "Not recorded".
    Exit code 2 on bad input, with nothing written.
    """
    import audit as au

    settings = get_settings()
    seed = settings.seed if seed is None else seed
    try:
        pol = au.load_policy(policy)
    except au.PolicyError as err:
        _fail(str(err))

    if run is not None:
        if predictions is not None:
            _fail("give either --run or --predictions, not both")
        uri = tracking_uri or settings.tracking_uri
        try:
            frame = au.load_run_predictions(run, uri)
        except au.AuditInputError as err:
            _fail(str(err))
        if human_from_records is not None:
            frame = _with_recorded_decisions(frame, human_from_records)
        out = out or settings.home / "reports" / f"audit-{run}"
        kwargs = dict(groups=[g for g in (group or au.DEFAULT_GROUPS)])
        metadata = {"run_id": run, "model_name": settings.model_name}
    else:
        if human_from_records is not None:
            _fail("--human-from-records goes with --run")
        if predictions is None:
            _fail("give --predictions FILE (or --run RUN_ID)")
        if label is None:
            _fail("give --label COL, the outcome column")
        if (score is None) == (flag is None):
            _fail("give exactly one of --score COL (with --threshold T) or --flag COL")
        if threshold is not None and score is None:
            _fail("--threshold needs --score")
        if score is not None and threshold is None:
            _fail("--score needs --threshold T (rows with score >= T are flagged)")
        if not group:
            _fail("give at least one --group COL")
        if out is None:
            _fail("give --out DIR")
        frame = _read_table(predictions)
        kwargs = dict(
            label=label,
            flag=flag,
            score=score,
            threshold=threshold,
            prob=prob,
            band=None,
            groups=list(group),
            referral_col=referral_col,
            harm_label=harm,
            human_flag=human,
        )
        missing = [
            c
            for c in (label, flag, score, prob, referral_col, harm, human, *group)
            if c is not None and c not in frame.columns
        ]
        if missing:
            _fail(
                f"column(s) {', '.join(map(repr, missing))} not in {predictions}; "
                f"it has: {', '.join(map(str, frame.columns))}"
            )
        metadata = {"subtitle": f"Audit of {predictions.name}", "title": "Fairness audit"}

    try:
        with progress_bar() as progress:
            result = au.audit_predictions(
                frame, policy=pol, n_boot=n_boot, random_state=seed, progress=progress, **kwargs
            )
        verdict = au.evaluate_gate(result, pol)
    except (au.AuditInputError, ValueError) as err:
        _fail(str(err))

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
        try:
            au.write_metrics_json(Path(tmp) / "metrics.json", result, verdict)
            au.write_governance_report(
                tmp, result, verdict, metadata=metadata, policy=pol, pdf=pdf, stem="report"
            )
        except au.PdfUnavailableError as err:
            _fail(str(err))
        out.mkdir(parents=True, exist_ok=True)
        for f in sorted(Path(tmp).iterdir()):
            if not f.name.startswith("."):
                os.replace(f, out / f.name)
        shutil.rmtree(tmp, ignore_errors=True)
    colour = "green" if verdict.passed else "red"
    console.print(
        f"Gate: [{colour}]{verdict.label}[/{colour}] (policy {verdict.policy_version}, "
        f"{verdict.checks} checks)"
    )
    for reason in verdict.reasons[:10]:
        console.print(f"  - {reason}")
    if len(verdict.reasons) > 10:
        console.print(f"  ... and {len(verdict.reasons) - 10} more in the report")
    console.print(f"Report: {out / 'report.html'}")
    console.print(f"Metrics: {out / 'metrics.json'}")
    if pdf:
        console.print(f"PDF: {out / 'report.pdf'}")


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
