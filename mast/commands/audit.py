"""``mast audit``: fairness audit of any predictions file, or of a MAST training run."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import typer

from mast.progress import console, progress_bar
from mast.settings import get_settings

# Every file ``mast audit`` writes into OUT; a new run replaces all of them.
OUTPUT_NAMES = ("report.html", "report.pdf", "metrics.json")


def _fail(message: str) -> None:
    console.print(f"[red]Cannot audit:[/red] {message}")
    raise typer.Exit(code=2)


def _write_outputs(out: Path, write: Callable[[Path], None]) -> None:
    """Write one run's outputs into a fresh folder beside ``out``, then swap it in.

    A board member opening ``out`` must never see a report from one run beside
    metrics (or a PDF) from another, and a run that fails part-way must leave
    the previous run's outputs as they were.  So everything is written into a
    staging folder on the same file system first; only a complete set is
    published, by renames.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}-new-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        write(staging)
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, out: Path) -> None:
    """Replace ``out``'s audit outputs with ``staging``'s complete set."""
    if not out.exists() and not out.is_symlink():
        os.replace(staging, out)
        return
    foreign = [p for p in out.iterdir() if p.name not in OUTPUT_NAMES]
    if not foreign and not out.is_symlink():
        # A folder of audit outputs only: swap the whole folder, so the old
        # set disappears and the new one appears together.
        shutil.copymode(out, staging)
        old = out.parent / f".{out.name}-old-{uuid.uuid4().hex[:12]}"
        os.replace(out, old)
        try:
            os.replace(staging, out)
        except OSError:
            os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    # A shared folder (other people's files beside the audit's) cannot be
    # swapped without losing them: remove every audit output first, so no file
    # of an earlier run is left beside the new ones, then move the new set in.
    for name in OUTPUT_NAMES:
        (out / name).unlink(missing_ok=True)
    for f in sorted(staging.iterdir()):
        if not f.name.startswith("."):
            os.replace(f, out / f.name)


def _alias(value, name: str, old_value, old_name: str):
    """The option's value, given under its name or its old one (kept for old scripts)."""
    if old_value is None:
        return value
    if value is not None and value != old_value:
        _fail(f"{name} and its old name {old_name} disagree ({value!r} vs {old_value!r}); give one")
    return old_value


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


def _run_id(run: str, uri: str) -> str:
    """The full id of the training run ``--run`` names, or a plain refusal (exit 2).

    ``mast models`` shows the first 12 characters of each version's run id,
    so a unique start of an id (8 characters or more) is taken as that run.
    MLflow's own "Run with id=... not found" is never shown.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        return client.get_run(run).info.run_id
    except MlflowException as err:
        # Not found, or not an id this store accepts: try it as the start of
        # one.  Anything else (a store MLflow refuses) goes on as it is.
        if err.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
    starting = [r for r in _all_run_ids(client) if len(run) >= 8 and r.startswith(run)]
    if len(starting) == 1:
        return starting[0]
    if len(starting) > 1:
        _fail(
            f"--run {run!r}: {len(starting)} runs in the MLflow tracking store at {uri} "
            "have ids starting with it; give more of the id."
        )
    _fail(
        f"--run {run!r}: no run with that id is in the MLflow tracking store at {uri}. "
        "List the runs with `mast models` (each version's run id is under 'details'), "
        "or give --tracking-uri the store the run was logged to."
    )


def _all_run_ids(client) -> list[str]:
    """Every run id in the store, over all experiments, a page at a time."""
    from mlflow.entities import ViewType

    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    found: list[str] = []
    token = None
    while experiments:
        page = client.search_runs(
            experiments, run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        found += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    return found


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
    y_true: str = typer.Option(None, "--y-true", help="Outcome column (0/1)."),
    label: str = typer.Option(None, "--label", hidden=True, help="Old name of --y-true."),
    score: str = typer.Option(None, "--score", help="Numeric score column (needs --threshold)."),
    threshold: float = typer.Option(
        None, "--threshold", help="Flag rows whose score is at least this."
    ),
    flag: str = typer.Option(
        None, "--flag", help="Decision column (0/1), the y_pred, instead of a score."
    ),
    group: list[str] = typer.Option(
        None, "--group", help="Protected-characteristic column; repeat for several."
    ),
    out: Path = typer.Option(
        None, "--out", help="Folder for report.html and metrics.json (replaced all or nothing)."
    ),
    referral_col: str = typer.Option(
        None, "--referral-col", help="Rows sharing this id are resampled together."
    ),
    y_prob: str = typer.Option(
        None, "--y-prob", help="Calibrated probability column, for calibration (optional)."
    ),
    prob: str = typer.Option(None, "--prob", hidden=True, help="Old name of --y-prob."),
    y_harm: str = typer.Option(
        None, "--y-harm", help="Ground-truth outcome column (0/1, nullable)."
    ),
    harm: str = typer.Option(None, "--harm", hidden=True, help="Old name of --y-harm."),
    human: str = typer.Option(
        None, "--human", help="Screeners' decision column (0/1, nullable), for lens 3."
    ),
    policy: Path = typer.Option(None, "--policy", help="Gate policy TOML (default: packaged)."),
    random_state: int = typer.Option(
        None, "--random-state", help="Seed for the bootstrap and mitigation (default: MAST_SEED)."
    ),
    seed: int = typer.Option(None, "--seed", hidden=True, help="Old name of --random-state."),
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
    practice_from_records: str = typer.Option(
        None,
        "--practice-from-records",
        help="Add the practice section (strategy discussions, statutory rules, closures, "
        "re-referrals, referrers told, escalations; by month and team) from MAST's decision "
        "record (a records database URL, or 'default').",
    ),
) -> None:
    """Audit predictions for fairness by group and judge them against the gate policy.

    Writes OUT/report.html (for the board) and OUT/metrics.json (for machines):
    for every group column and value, n, base rate, flag rate, TPR, FPR, FNR,
    precision and (with a score) AUC, each with a 95% bootstrap interval
    resampled by referral.  Missing group values are the group "Not recorded".
    Exit code 2 on bad input, with nothing written.  OUT is replaced all or
    nothing: a reader never sees files of two runs together, and a failed run
    leaves the previous output as it was.
    """
    import audit as au

    y_true = _alias(y_true, "--y-true", label, "--label")
    y_prob = _alias(y_prob, "--y-prob", prob, "--prob")
    y_harm = _alias(y_harm, "--y-harm", harm, "--harm")
    random_state = _alias(random_state, "--random-state", seed, "--seed")
    settings = get_settings()
    random_state = settings.random_state if random_state is None else random_state
    try:
        pol = au.load_policy(policy)
    except au.PolicyError as err:
        _fail(str(err))

    if run is not None:
        if predictions is not None:
            _fail("give either --run or --predictions, not both")
        uri = tracking_uri or settings.tracking_uri
        run = _run_id(run, uri)
        try:
            frame = au.load_run_predictions(run, uri)
        except au.AuditInputError as err:
            _fail(str(err))
        if human_from_records is not None:
            frame = _with_recorded_decisions(frame, human_from_records)
        out = out or settings.home / "reports" / f"audit-{run}"
        # Default: the protected characteristics and who referred (when the run has it).
        kwargs = dict(groups=list(group) if group else None)
        metadata = {"run_id": run, "model_name": settings.model_name}
    else:
        if human_from_records is not None:
            _fail("--human-from-records goes with --run")
        if predictions is None:
            _fail("give --predictions FILE (or --run RUN_ID)")
        if y_true is None:
            _fail("give --y-true COL, the outcome column")
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
            y_true=y_true,
            flag=flag,
            score=score,
            threshold=threshold,
            y_prob=y_prob,
            band=None,
            groups=list(group),
            referral_col=referral_col,
            y_harm=y_harm,
            human_flag=human,
        )
        missing = [
            c
            for c in (y_true, flag, score, y_prob, referral_col, y_harm, human, *group)
            if c is not None and c not in frame.columns
        ]
        if missing:
            _fail(
                f"column(s) {', '.join(map(repr, missing))} not in {predictions}; "
                f"it has: {', '.join(map(str, frame.columns))}"
            )
        metadata = {"subtitle": f"Audit of {predictions.name}", "title": "Fairness audit"}

    out = Path(out)
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} is a file; give a folder")
    try:
        with progress_bar() as progress:
            result = au.audit_predictions(
                frame,
                policy=pol,
                n_boot=n_boot,
                random_state=random_state,
                progress=progress,
                columns=au.AuditColumns(**kwargs),
            )
        verdict = au.evaluate_gate(result, pol)
    except (au.AuditInputError, ValueError) as err:
        _fail(str(err))

    if practice_from_records is not None:
        from audit.practice import practice_from_records as practice_section

        try:
            metadata["practice"] = practice_section(
                None if practice_from_records == "default" else practice_from_records
            )
        except (ValueError, FileNotFoundError) as err:
            _fail(f"--practice-from-records {practice_from_records}: {err}")

    def write(folder: Path) -> None:
        au.write_metrics_json(folder / "metrics.json", result, verdict)
        au.write_governance_report(
            folder, result, verdict, metadata=metadata, policy=pol, pdf=pdf, stem="report"
        )

    try:
        _write_outputs(out, write)
    except au.PdfUnavailableError as err:
        _fail(str(err))
    colour = "green" if verdict.passed else "red"
    console.print(
        f"Gate: [{colour}]{verdict.label}[/{colour}] (policy {verdict.policy_version}, "
        f"{verdict.checks} checks)"
    )
    from mast.commands.train import print_gate_reasons

    print_gate_reasons(verdict.reasons)
    console.print(f"Report: {out / 'report.html'}")
    console.print(f"Metrics: {out / 'metrics.json'}")
    if pdf:
        console.print(f"PDF: {out / 'report.pdf'}")


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
