"""``train``: from the store to a registered, evaluated, explained and audited model.

Stages (each timed, each reported through ``progress``): read the store,
build features, labels, temporal split, tune LightGBM, calibrate and score,
fit the baselines, evaluate on the test period, explain with SHAP, log to
MLflow and register, audit and gate.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.added import metrics as added_metrics
from audit.added import what_the_tool_adds
from features import model_inputs, monotone_signs
from models import (
    MODEL_NAME,
    LightGBMScorer,
    LogisticScorer,
    RuleScorer,
    load_policy,
    log_scorer,
)
from settings import DEFAULT_TRACKING_URI
from store import vocabulary as v
from training.backtest import (
    backtest_figure,
    backtest_lines,
    backtest_mean_auc,
    backtest_metrics,
    backtest_summary,
    calibrate,
    closed_by_screeners,
    fit_recipe,
    rolling_backtest,
)
from training.config import TrainConfig
from training.deploy import CHOICE_LABELS, CHOICES, Selection, choose_model, deployment_window
from training.evaluate import (
    ReferralBootstrap,
    calibration_points,
    comparison_frame,
    evaluate_predictions,
)
from training.front_door import front_door_columns
from training.labels import compute_labels, get_label
from training.splits import Periods, assign_periods, data_range, plan_periods
from training.tuning import tune_lightgbm

MODEL_LABELS = {
    "lightgbm": "LightGBM (calibrated)",
    "l1_logistic": "L1 logistic (AFST-style)",
    "rule": "Rule: referrals in last 12 months",
    "human": "Screeners' decisions",
}
HUMAN_DECISION = "strategy_discussion"
assert HUMAN_DECISION in v.DECISIONS

Progress = Callable[[str, float, float], None]
logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced; the CLI and the demo print from it."""

    run_id: str
    experiment_id: str
    model_name: str
    model_version: str | None
    model_uri: str
    comparison: pd.DataFrame
    periods: Periods
    period_counts: dict[str, dict[str, int]]
    timings: dict[str, float]
    gate_verdict: str
    gate_reasons: list[str]
    label: str
    policy: dict
    data_hash: str
    tracking_uri: str
    feature_rows: int = 0
    tuning_summary: str = ""
    scorer: LightGBMScorer | None = None
    predictions: pd.DataFrame | None = field(default=None, repr=False)
    selection: Selection | None = None
    backtest_lines: list[str] = field(default_factory=list)
    # audit.added.what_the_tool_adds on the test period: incremental and union catch.
    added: dict | None = None


class _Stages:
    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        if self.progress:
            self.progress(name, 0, 1)
        t = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t
        if self.progress:
            self.progress(name, 1, 1)


def _human_flags(con, referral_ids: np.ndarray) -> np.ndarray:
    """1 where the screeners' first decision was a strategy discussion, NaN if none."""
    frame = pd.DataFrame({"referral_id": pd.unique(referral_ids)})
    con.register("_human_refs", frame)
    try:
        d = con.execute(
            """
            SELECT k.referral_id, arg_min(s.decision, s.decided_at) AS decision
            FROM _human_refs k JOIN screening_decisions s USING (referral_id)
            GROUP BY k.referral_id
            """
        ).df()
    finally:
        con.unregister("_human_refs")
    flag = (d["decision"] == HUMAN_DECISION).astype(float)
    mapping = pd.Series(flag.to_numpy(), index=d["referral_id"].to_numpy())
    return pd.Series(referral_ids).map(mapping).to_numpy(dtype=float)


def _logistic(
    X: np.ndarray, y: np.ndarray, C: float, random_state: int, signs: list[int] | None = None
):
    """The AFST-style L1 logistic baseline, with a sign constraint by exclusion.

    A feature that may only raise risk (``signs`` +1) and gets a negative
    coefficient is left out and the model refitted, until none does:
    liblinear has no bound constraints, and leaving the column out is what
    the issue allows ("a sign constraint or exclusion").  The first step of
    the pipeline keeps the remaining columns, so it still takes every input.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    signs = list(signs) if signs is not None else [0] * X.shape[1]
    keep = list(range(X.shape[1]))
    while True:
        pipe = make_pipeline(
            ColumnTransformer([("inputs", "passthrough", keep)], remainder="drop"),
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(
                l1_ratio=1.0, C=C, solver="liblinear", random_state=random_state, max_iter=500
            ),
        ).fit(X, y)
        coef = pipe[-1].coef_[0][: len(keep)]
        wrong = [j for j, c in zip(keep, coef, strict=True) if signs[j] > 0 and c < 0]
        if not wrong:
            return pipe
        keep = [j for j in keep if j not in wrong]


@dataclass
class _Run:
    """The state one training run carries from stage to stage.

    Each stage function reads what earlier stages left here and adds its own
    results, so the order of the stages is the only coupling between them
    and no stage reaches into another's locals.  Fields are filled in stage
    order; a field is None until its stage has run.
    """

    cfg: TrainConfig
    con: Any
    tracking_uri: str
    progress: Progress | None
    label_def: Any
    policy: Any
    run_id: str | None = None
    # read store
    data_hash: str = ""
    periods: Periods | None = None
    # build features
    keys: pd.DataFrame | None = None
    X: pd.DataFrame | None = None
    protected: pd.DataFrame | None = None
    names: list[str] = field(default_factory=list)
    signs: list[int] = field(default_factory=list)
    feature_rows: int = 0
    # labels and split
    y: np.ndarray | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    Xn: np.ndarray | None = None
    # tune, calibrate, choose
    tuned: Any = None
    scorers: dict = field(default_factory=dict)
    selection: Selection | None = None
    # evaluate, backtest, what the tool adds
    y_harm: np.ndarray | None = None
    results: dict[str, dict] = field(default_factory=dict)
    curves: list = field(default_factory=list)
    comparison: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    backtest: pd.DataFrame | None = None
    added: dict | None = None
    # refit for deployment
    window: Any = None
    deploy_counts: dict = field(default_factory=dict)
    scorer: LightGBMScorer | None = None
    reference: dict | None = None
    # explain
    Xs: pd.DataFrame | None = None
    contrib: pd.DataFrame | None = None
    additivity: float = float("nan")
    importance: pd.DataFrame | None = None
    # log to MLflow, audit and gate
    experiment_id: str = ""
    model_uri: str = ""
    version: str | None = None
    gate_verdict: str = "not run"
    gate_reasons: list[str] = field(default_factory=lambda: ["audit skipped"])

    @property
    def seed(self) -> int:
        return self.cfg.random_state

    @property
    def chosen(self) -> str:
        return self.selection.chosen

    def part(self, period: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs, labels and referral ids of one strict period."""
        m = self.masks[period]
        return self.Xn[m], self.y[m], self.keys.loc[m, "referral_id"].to_numpy()


def train(
    db: str | Path | None = None,
    config: TrainConfig | None = None,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    progress: Progress | None = None,
    feature_table=None,
    con=None,
    register: bool = True,
    run_gate_after: bool = True,
    run_id: str | None = None,
) -> TrainResult:
    """Train, evaluate, explain, log and register a MAST model.

    Each stage is a function of one :class:`_Run`, timed and reported
    through ``progress`` under the stage's name.

    Parameters
    ----------
    db
        The DuckDB store (opened read-only); or pass an open ``con``.
    config
        A :class:`TrainConfig`; the defaults of ``training/default.toml`` if None.
    tracking_uri
        Any MLflow tracking URI.
    feature_table
        A prebuilt ``features.FeatureTable`` (tests, benchmarks); built from
        the store when None.
    register
        Register the model as ``mast-referral-screening`` with alias ``candidate``.
    run_id
        Log into this existing run (an MLflow Project run) instead of a new one.
    """
    from store import connect

    cfg = config or TrainConfig.from_toml()
    cfg.validate()
    own_con = con is None
    if own_con:
        if db is None:
            raise ValueError("db: give a store path or an open connection")
        con = connect(db, read_only=True)
    run = _Run(
        cfg=cfg,
        con=con,
        tracking_uri=tracking_uri,
        progress=progress,
        label_def=get_label(cfg.label.name),
        policy=load_policy(cfg.policy_path()),
        run_id=run_id,
    )
    st = _Stages(progress)
    try:
        with st.stage("read store"):
            _read_store(run)
        with st.stage("build features"):
            _build_features(run, feature_table)
        with st.stage("labels and split"):
            _labels_and_split(run)
        with st.stage("tune LightGBM"):
            _tune(run)
        with st.stage("calibrate and score"):
            _calibrate_and_score(run)
        with st.stage("choose model"):
            _choose_model(run)
        with st.stage("evaluate"):
            _evaluate(run)
        with st.stage("rolling-origin backtest"):
            _backtest(run)
        with st.stage("what the tool adds"):
            # What the flag adds to the screeners' own decisions (issue #14), for
            # the recipe that is deployed (the predictions the audit judges).
            run.added = what_the_tool_adds(run.predictions, confidence=cfg.evaluation.confidence)
        with st.stage("refit for deployment"):
            _refit_for_deployment(run)
        with st.stage("explain (SHAP)"):
            _explain(run)
        with st.stage("log to MLflow"):
            client = _log_to_mlflow(run, register)
        if run_gate_after:
            with st.stage("audit and gate"):
                _audit_and_gate(run, client)
        for k, v_ in st.timings.items():
            client.log_metric(run.run_id, f"timing.{_slug(k)}_seconds", v_)
        return _result(run, st.timings)
    finally:
        if own_con:
            con.close()


def _read_store(run: _Run) -> None:
    """The store's content hash and the planned train/calibration/test periods."""
    from store import content_hash

    split = run.cfg.split
    run.data_hash = content_hash(run.con)
    first, data_end = data_range(run.con)
    run.periods = plan_periods(
        first,
        data_end,
        run.label_def.horizon_months,
        split.burn_in_months,
        split.test_months,
        split.calibration_months,
        split.min_train_months,
        split.recording_allowance_days,
    )


def _build_features(run: _Run, feature_table) -> None:
    """The model inputs: the feature table less the decision echoes ([inputs])."""
    if feature_table is None:
        from features import SQLEngine

        feature_table = SQLEngine(run.con).features(progress=run.progress)
    run.keys = feature_table.keys.reset_index(drop=True)
    X = feature_table.X.reset_index(drop=True).astype(float)
    run.protected = feature_table.protected.reset_index(drop=True)
    # Decision echoes: by default who referred is not an input and
    # earlier referrals and closures may only raise risk ([inputs]).
    run.names = model_inputs(list(X.columns), run.cfg.inputs.constrained)
    run.signs = monotone_signs(run.names, run.cfg.inputs.constrained)
    run.X = X[run.names]
    run.feature_rows = len(run.X)


def _labels_and_split(run: _Run) -> None:
    """Labels for every row whose window has closed, and the strict periods' masks."""
    periods = run.periods
    period = assign_periods(run.keys, periods)
    # Every row whose label window has closed, the gaps between the
    # strict periods included: the backtest folds and the deployed
    # model use them.
    received = pd.to_datetime(run.keys["received_at"])
    used = ((received >= periods.train_start) & (received < periods.test_end)).to_numpy()
    run.keys = run.keys[used].reset_index(drop=True)
    run.X = run.X[used].reset_index(drop=True)
    run.protected = run.protected[used].reset_index(drop=True)
    period = period[used]
    run.y = compute_labels(run.con, run.keys, run.label_def)
    run.masks = {p: period == p for p in ("train", "calibration", "test")}
    run.counts = _period_counts(run.keys, run.y, run.masks)
    for p, c in run.counts.items():
        if c["rows"] == 0 or c["positives"] == 0 or c["positives"] == c["rows"]:
            raise ValueError(
                f"The {p} period has {c['rows']} rows and {c['positives']} positive "
                f"labels ({run.label_def.tag}): both classes are needed. Check split.* "
                "and the store's size."
            )
    run.Xn = run.X.to_numpy(dtype=float)


def _period_counts(keys: pd.DataFrame, y: np.ndarray, masks: dict) -> dict[str, dict[str, int]]:
    """Rows, referrals and positive labels in each period."""
    return {
        p: {
            "rows": int(m.sum()),
            "referrals": int(keys.loc[m, "referral_id"].nunique()),
            "positives": int(y[m].sum()),
        }
        for p, m in masks.items()
    }


def _tune(run: _Run) -> None:
    """LightGBM's random search, early-stopped on the calibration period."""
    # Early stopping and selection use the calibration period, which the
    # calibrator and the flag threshold then reuse: a known limitation,
    # measured against two alternatives in docs/training.md.
    tuning = run.cfg.tuning
    Xtr, ytr, _ = run.part("train")
    Xca, yca, _ = run.part("calibration")
    run.tuned = tune_lightgbm(
        Xtr,
        ytr,
        Xca,
        yca,
        run.names,
        n_iter=tuning.n_iter,
        time_budget_seconds=tuning.time_budget_seconds,
        num_boost_round=tuning.num_boost_round,
        early_stopping_rounds=tuning.early_stopping_rounds,
        random_state=run.seed,
        num_threads=run.cfg.num_threads,
        progress=run.progress,
        monotone_constraints=run.signs,
    )
    if run.tuned.stopped_by_budget:
        logger.warning(
            "LightGBM tuning %s: set tuning.time_budget_seconds only when speed "
            "matters more than reproducibility",
            run.tuned.summary,
        )


def _calibrate_and_score(run: _Run) -> None:
    """The three candidate scorers, each calibrated and given its flag threshold."""
    cfg = run.cfg
    Xtr, ytr, _ = run.part("train")
    Xca, yca, ref_ca = run.part("calibration")
    run.scorers = {
        "lightgbm": LightGBMScorer(run.tuned.booster, run.names),
        "l1_logistic": LogisticScorer(
            _logistic(Xtr, ytr, cfg.baselines.l1_C, run.seed, run.signs), run.names
        ),
        "rule": RuleScorer(cfg.baselines.rule_feature, run.names),
    }
    ca_closed = closed_by_screeners(run.con, ref_ca) if run.policy.mode == "closures" else None
    for s in run.scorers.values():
        calibrate(s, Xtr, Xca, yca, ref_ca, cfg, run.policy, ca_closed)


def _choose_model(run: _Run) -> None:
    """The recipe to deploy, by AUC on the calibration period."""
    from sklearn.metrics import roc_auc_score

    Xca, yca, _ = run.part("calibration")
    periods = run.periods
    run.selection = choose_model(
        {k: float(roc_auc_score(yca, run.scorers[k].raw_margin(Xca))) for k in CHOICES},
        run.cfg.deploy.min_auc_gain,
        f"{periods.calibration_start.date()} to {periods.calibration_end.date()}",
    )


def _evaluate(run: _Run) -> None:
    """Every model and the screeners on the test period, against both labels."""
    from training.truth import harm_labels

    cfg = run.cfg
    Xte, yte, ref_te = run.part("test")
    run.y_harm = harm_labels(
        run.con,
        run.keys.loc[run.masks["test"]],
        run.label_def.horizon_months,
        cfg.evaluation.harm_min_severity,
    )
    human = _human_flags(run.con, ref_te)
    boot = ReferralBootstrap(ref_te)
    ev = dict(
        n_bootstrap=cfg.evaluation.n_bootstrap,
        confidence=cfg.evaluation.confidence,
        random_state=run.seed,
    )
    labels = {"proxy": yte, "harm": run.y_harm}
    outputs = {}
    for name, s in run.scorers.items():
        out = s.predict_referrals(Xte, ref_te)
        outputs[name] = out
        prob, flag = out["probability"].to_numpy(), out["referral_flag"].to_numpy()
        run.results[name] = {
            lab: evaluate_predictions(ref_te, yy, prob, flag, bootstrap=boot, **ev)
            for lab, yy in labels.items()
            if yy is not None
        }
        for lab, yy in labels.items():
            if yy is not None:
                pts = calibration_points(yy, prob, cfg.evaluation.calibration_bins)
                run.curves.append(pts.assign(model=name, label=lab))
    run.results["human"] = {
        lab: evaluate_predictions(ref_te, yy, human, human, is_probability=False, **ev)
        for lab, yy in labels.items()
        if yy is not None
    }
    run.comparison = comparison_frame(run.results)
    run.predictions = _test_predictions(run, outputs, human)


def _test_predictions(run: _Run, outputs: dict, human: np.ndarray) -> pd.DataFrame:
    """One row per test-period child: keys, labels, every model's output, who they are."""
    test = run.masks["test"]
    yte = run.y[test]
    lgb_out = outputs[run.chosen]
    y_harm = run.y_harm
    return pd.concat(
        [
            run.keys.loc[test].reset_index(drop=True),
            pd.DataFrame(
                {
                    "y_true": yte.astype(np.int64),
                    "y_harm": pd.array(y_harm, dtype="Int64")
                    if y_harm is not None
                    else pd.array([pd.NA] * len(yte), dtype="Int64"),
                    "y_prob": lgb_out["probability"].to_numpy(),
                    "score": lgb_out["score"].to_numpy(),
                    "referral_score": lgb_out["referral_score"].to_numpy(),
                    "flag": lgb_out["referral_flag"].to_numpy(),
                    "human_flag": pd.array(
                        np.where(np.isnan(human), np.nan, human), dtype="Float64"
                    ).astype("Int64"),
                    **{
                        f"{k}_{c}": outputs[k][c].to_numpy()
                        for k in ("lightgbm", "l1_logistic", "rule")
                        for c in ("probability", "score", "referral_flag")
                    },
                }
            ),
            run.protected.loc[test].reset_index(drop=True),
            front_door_columns(run.con, run.keys.loc[test, "referral_id"].to_numpy()),
        ],
        axis=1,
    )


def _backtest(run: _Run) -> None:
    """Rolling-origin backtest; the deployed recipe's latest fold becomes the predictions."""
    run.backtest, latest = rolling_backtest(
        run.con,
        run.cfg,
        run.policy,
        run.tuned,
        run.label_def,
        run.Xn,
        run.y,
        run.keys,
        run.names,
        run.periods,
    )
    chosen, predictions = run.chosen, run.predictions
    if chosen in latest and len(latest[chosen]) == len(predictions):
        # The audit and the gate judge the recipe that is deployed: its
        # model for the latest backtest year scores exactly the strict
        # test period's children (calibrated on the months just before
        # the gap, as the deployed model is).
        out = latest[chosen]
        predictions["y_prob"] = out["probability"].to_numpy()
        predictions["score"] = out["score"].to_numpy()
        predictions["referral_score"] = out["referral_score"].to_numpy()
        predictions["flag"] = out["referral_flag"].to_numpy()


def _refit_for_deployment(run: _Run) -> None:
    """The chosen recipe refitted on the latest months and its monitoring reference."""
    from monitoring import build_reference

    cfg, keys, Xn, y = run.cfg, run.keys, run.Xn, run.y
    run.window = deployment_window(run.periods, cfg.split.calibration_months)
    m = run.window.masks(keys["received_at"].to_numpy())
    ref_ca = keys.loc[m["calibration"], "referral_id"].to_numpy()
    run.scorer = fit_recipe(
        run.chosen,
        Xn[m["train"]],
        y[m["train"]],
        Xn[m["calibration"]],
        y[m["calibration"]],
        ref_ca,
        run.names,
        cfg,
        run.policy,
        run.tuned,
        closed_by_screeners(run.con, ref_ca) if run.policy.mode == "closures" else None,
    )
    run.deploy_counts = _period_counts(keys, y, m)
    run.reference = build_reference(
        run.scorer,
        run.X[m["train"]],
        run.X[m["calibration"]],
        ref_ca,
        y[m["calibration"]],
        run.window,
    )


def _explain(run: _Run) -> None:
    """SHAP on a seeded test-period sample, checked for additivity."""
    Xte, _, _ = run.part("test")
    rng = np.random.default_rng(run.seed)
    n_s = min(run.cfg.evaluation.shap_sample, len(Xte))
    sample = np.sort(rng.choice(len(Xte), n_s, replace=False))
    run.Xs = pd.DataFrame(Xte[sample], columns=run.names)
    run.contrib, base = run.scorer.contributions(run.Xs)
    margin = run.scorer.raw_margin(run.Xs)
    run.additivity = float(np.max(np.abs(run.contrib.to_numpy().sum(axis=1) + base - margin)))
    if run.additivity > 1e-6:
        raise RuntimeError(f"SHAP additivity failed: max |sum + base - margin| = {run.additivity}")
    importance = (
        run.contrib.abs().mean().rename("mean_abs_shap").sort_values(ascending=False).reset_index()
    )
    importance.columns = ["feature", "mean_abs_shap"]
    run.importance = importance


def _log_to_mlflow(run: _Run, register: bool):
    """Parameters, tags, metrics, artifacts and the model; returns the MLflow client."""
    import mlflow

    from training.tracking import client_for, setup_tracking

    experiment_id = setup_tracking(run.tracking_uri)
    run_args = (
        {"run_id": run.run_id}
        if run.run_id
        else {"experiment_id": experiment_id, "run_name": f"train-{run.label_def.name}"}
    )
    with mlflow.start_run(**run_args) as active:
        run.run_id = active.info.run_id
        run.experiment_id = active.info.experiment_id
        mlflow.log_params({k: str(v_)[:6000] for k, v_ in _run_params(run).items()})
        mlflow.set_tags(
            {
                "label": run.label_def.tag,
                "data_hash": run.data_hash,
                "policy_version": run.policy.version,
                **_tuning_tags(run.tuned),
                **run.selection.tags(),
            }
        )
        mlflow.log_metrics(_run_metrics(run))
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _write_artifacts(tmp, run.cfg, _outputs(run))
            for folder in ("monitoring", "evaluation", "config", "explain"):
                mlflow.log_artifacts(str(tmp / folder), artifact_path=folder)
            client = client_for(run.tracking_uri)
            _log_model(run, register, client)
    return client


def _run_params(run: _Run) -> dict:
    """Every setting and fact a reviewer needs to reproduce the run."""
    return {
        **run.cfg.flat(),
        **run.periods.as_params(),
        "label.tag": run.label_def.tag,
        "label.horizon_months": run.label_def.horizon_months,
        "data.content_hash": run.data_hash,
        "data.rows": len(run.keys),
        "policy.version": run.policy.version,
        "policy.mode": run.policy.mode,
        "policy.threshold_score": run.scorer.policy.threshold_score,
        "lightgbm.best_iteration": run.tuned.best_iteration,
        **{f"lightgbm.{k}": v_ for k, v_ in run.tuned.params.items()},
        "l1_logistic.n_nonzero": run.scorers["l1_logistic"].n_nonzero,
        "deploy.model": run.chosen,
        **run.window.as_params(),
        **{f"deploy.{p}.{k}": val for p, c in run.deploy_counts.items() for k, val in c.items()},
    }


def _run_metrics(run: _Run) -> dict[str, float]:
    """Every figure with its interval, the period counts, the backtest and the timings."""
    metrics = {}
    for row in run.comparison.itertuples():
        for suffix, val in (("", row.value), ("_ci_low", row.ci_low), ("_ci_high", row.ci_high)):
            if np.isfinite(val):
                metrics[f"{row.model}.{row.label}.{row.metric}{suffix}"] = float(val)
    for p, c in run.counts.items():
        for k, val in c.items():
            metrics[f"data.{p}.{k}"] = val
    metrics.update(backtest_metrics(run.backtest))
    metrics.update(added_metrics(run.added))
    metrics["shap.additivity_max_abs_err"] = run.additivity
    metrics["tuning.seconds"] = run.tuned.seconds
    metrics["tuning.trials"] = len(run.tuned.trials)
    metrics["tuning.candidates"] = run.tuned.n_candidates
    return metrics


def _outputs(run: _Run) -> RunOutputs:
    return RunOutputs(
        label_def=run.label_def,
        scorers=run.scorers,
        periods=run.periods,
        counts=run.counts,
        comparison=run.comparison,
        curves=run.curves,
        importance=run.importance,
        contrib=run.contrib,
        Xs=run.Xs,
        predictions=run.predictions,
        tuned=run.tuned,
        data_hash=run.data_hash,
        backtest=run.backtest,
        selection=run.selection,
        reference=run.reference,
        added=run.added,
    )


def _log_model(run: _Run, register: bool, client) -> None:
    """Log the deployed scorer; register it as the candidate and tag the version."""
    from training.tracking import CANDIDATE, tag_version

    scorer = run.scorer
    # The registry assigns the version number after logging; the
    # scorer carries what is known before (the loader knows the version).
    scorer.model_version = {
        "name": MODEL_NAME,
        "run_id": run.run_id,
        "label": run.label_def.tag,
        "policy_version": run.policy.version,
        "data_hash": run.data_hash,
    }
    info = log_scorer(
        scorer, run.Xs.head(5), registered_model_name=MODEL_NAME if register else None
    )
    run.model_uri = info.model_uri
    if not register:
        return
    headline = run.results[run.chosen]["proxy"]["auc"]["value"]
    run.version = str(info.registered_model_version)
    scorer.model_version = {**scorer.model_version, "version": run.version}
    client.set_registered_model_alias(MODEL_NAME, CANDIDATE, run.version)
    tag_version(
        client,
        run.version,
        {
            "label": run.label_def.tag,
            "policy_version": run.policy.version,
            "threshold_score": str(scorer.policy.threshold_score),
            "data_hash": run.data_hash,
            "test_auc_proxy": f"{headline:.3f}",
            "backtest": backtest_summary(run.backtest, run.chosen),
            "backtest_auc": backtest_mean_auc(run.backtest, run.chosen),
            **_tuning_tags(run.tuned),
            **run.selection.tags(),
        },
    )


def _audit_and_gate(run: _Run, client) -> None:
    """The fairness audit and the governance gate, logged to the run and the version."""
    from training.gate import run_gate
    from training.tracking import tag_version

    with tempfile.TemporaryDirectory() as tmp:
        gate = run_gate(
            run.predictions,
            Path(tmp) / "audit",
            run.seed,
            metadata=_linkage_metadata(run) | _card_metadata(run),
            performance=_performance_rows(run.comparison),
            shap_importance=run.importance,
        )
        for f in gate.files:
            client.log_artifact(run.run_id, str(f), artifact_path="audit")
    for key, value in gate.tags().items():
        client.set_tag(run.run_id, key, value)
    if run.version is not None:
        tag_version(client, run.version, gate.tags())
    run.gate_verdict, run.gate_reasons = gate.verdict, gate.reasons


def _linkage_metadata(run: _Run) -> dict:
    """The board report's linkage section when the store holds links (issue 20); never sinks a run."""
    from audit.linkage import report_linkage

    try:
        return report_linkage(run.con, run.scorer, run.predictions)
    except Exception as err:  # the report is worth having but must not sink a run
        logger.warning("linkage section left out of the report: %s", err)
        return {}


def _result(run: _Run, timings: dict[str, float]) -> TrainResult:
    return TrainResult(
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        model_name=MODEL_NAME,
        model_version=run.version,
        model_uri=run.model_uri,
        comparison=run.comparison,
        periods=run.periods,
        period_counts=run.counts,
        timings=timings,
        gate_verdict=run.gate_verdict,
        gate_reasons=run.gate_reasons,
        label=run.label_def.tag,
        policy=run.scorer.policy.to_dict(),
        data_hash=run.data_hash,
        tracking_uri=run.tracking_uri,
        feature_rows=run.feature_rows,
        tuning_summary=run.tuned.summary,
        scorer=run.scorer,
        predictions=run.predictions,
        selection=run.selection,
        backtest_lines=backtest_lines(run.backtest, run.chosen) if len(run.backtest) else [],
        added=run.added,
    )


def _tuning_tags(tuned) -> dict[str, str]:
    """Run and version tags saying whether the search ran in full.

    ``tuning_search`` is ``complete`` or ``cut short by time budget``: a run
    cut short by the opt-in wall-clock budget is not reproducible from its
    seed, and a reviewer must be able to see that without reading logs.
    """
    return {
        "tuning_search": "cut short by time budget" if tuned.stopped_by_budget else "complete",
        "tuning_summary": tuned.summary,
    }


def _card_metadata(run: _Run) -> dict:
    """Plain facts for the audit's board report and model card."""
    from training.gate import trained_on

    p = run.periods
    kind = run.selection.chosen if run.selection else "lightgbm"
    model_type = f"{CHOICE_LABELS[kind]}, isotonic-calibrated; 1-20 ventile score"
    tuning = run.tuned.summary
    if tuning and kind == "lightgbm":
        model_type += f"; hyper-parameter random search: {tuning}"
    extra = {}
    if run.selection is not None:
        extra["model_choice"] = run.selection.reason
    window = run.window
    if window is not None:
        extra["deployed_training"] = (
            f"Refitted for deployment on referrals received {window.train[0].date()} to "
            f"{window.train[1].date()} and recalibrated on {window.calibration[0].date()} to "
            f"{window.calibration[1].date()}, the latest period whose outcomes are known."
        )
    if run.backtest is not None and len(run.backtest):
        extra["backtest"] = backtest_lines(run.backtest, kind)
    policy, label_def = run.policy, run.label_def
    simulated = run.y_harm is not None
    return {
        "model_name": MODEL_NAME,
        "model_version": run.version or "not registered",
        "run_id": run.run_id,
        "model_type": model_type,
        "date": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d"),
        "trained_on": trained_on(p, run.counts, run.data_hash, simulated),
        "training_period": f"{p.train_start.date()} to {p.train_end.date()}",
        "test_period": f"{p.test_start.date()} to {p.test_end.date()}",
        "label_definition": f"{label_def.tag}: {label_def.description}",
        "flag_policy": (
            f"{policy.version}: {policy.mode} {policy.target:g}; referral flagged at score "
            f">= {run.scorer.policy.threshold_score}"
        ),
        **extra,
    }


def _performance_rows(comparison: pd.DataFrame) -> pd.DataFrame:
    """The four models side by side, one row per model and label, for the board."""
    keep = comparison[~comparison["metric"].isin(["n_rows", "n_referrals"])]
    wide = keep.pivot_table(index=["model", "label"], columns="metric", values="value", sort=False)
    wide = wide.reset_index()
    wide["model"] = wide["model"].map(MODEL_LABELS).fillna(wide["model"])
    return wide.round(3)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


@dataclass
class RunOutputs:
    """What one training run produced, handed together to the artifact writer.

    One object rather than a dozen positional arguments, so the writer cannot
    receive them in the wrong order.
    """

    label_def: Any
    scorers: dict
    periods: Any
    counts: dict
    comparison: pd.DataFrame
    curves: list
    importance: pd.DataFrame
    contrib: pd.DataFrame
    Xs: pd.DataFrame
    predictions: pd.DataFrame
    tuned: Any
    data_hash: str
    backtest: pd.DataFrame | None = None
    selection: Selection | None = None
    reference: dict | None = None
    added: dict | None = None


def _write_artifacts(tmp: Path, cfg, out: RunOutputs) -> None:
    """Everything a reviewer needs from a run, as files."""
    import shutil

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev, cf, ex, mo = tmp / "evaluation", tmp / "config", tmp / "explain", tmp / "monitoring"
    for d in (ev, cf, ex, mo):
        d.mkdir(parents=True)
    if out.reference is not None:
        (mo / "reference.json").write_text(json.dumps(out.reference, indent=2, default=str))
    if out.selection is not None:
        (ev / "model_choice.json").write_text(
            json.dumps({**out.selection.tags(), "reason": out.selection.reason}, indent=2)
        )
    if out.backtest is not None and len(out.backtest):
        out.backtest.to_csv(ev / "backtest.csv", index=False)
        backtest_figure(out.backtest, ev / "backtest.png")
    out.predictions.to_parquet(ev / "test_predictions.parquet", index=False)
    out.comparison.to_csv(ev / "comparison.csv", index=False)
    report = {
        "label": {"tag": out.label_def.tag, "description": out.label_def.description},
        "harm_label": (
            "A latent harm episode (severity >= "
            f"{cfg.evaluation.harm_min_severity}) active at the referral or starting within "
            f"{out.label_def.horizon_months} months of it (simulation ground truth; evaluation only)."
        ),
        "units": "AUC, AP and Brier per child row; flag rate, precision and recall per referral.",
        "data_hash": out.data_hash,
        "periods": {k: str(v_) for k, v_ in out.periods.__dict__.items()},
        "counts": out.counts,
        "policies": {k: s.policy.to_dict() for k, s in out.scorers.items()},
        "tuning": {
            "summary": out.tuned.summary,
            "candidates": out.tuned.n_candidates,
            "time_budget_seconds": out.tuned.time_budget_seconds,
            "stopped_by_budget": out.tuned.stopped_by_budget,
            "trials": out.tuned.trials,
            "seconds": out.tuned.seconds,
            "best_params": out.tuned.params,
        },
        "results": out.comparison.to_dict(orient="records"),
        "what_the_tool_adds": out.added,
    }
    (ev / "evaluation_report.json").write_text(json.dumps(report, indent=2, default=str))
    (ev / "evaluation_report.md").write_text(_markdown_report(report, out.comparison))
    if out.curves:
        cal = pd.concat(out.curves, ignore_index=True)
        cal.to_csv(ev / "calibration_curves.csv", index=False)
        labels = list(dict.fromkeys(cal["label"]))
        fig, axes = plt.subplots(1, len(labels), figsize=(5.5 * len(labels), 5), squeeze=False)
        for ax, lab in zip(axes[0], labels, strict=True):
            for model, g in cal[cal["label"] == lab].groupby("model", sort=False):
                ax.plot(
                    g["predicted"], g["observed"], marker="o", label=MODEL_LABELS.get(model, model)
                )
            ax.plot([0, 1], [0, 1], "k--", lw=0.8)
            ax.set_xlabel("predicted probability")
            ax.set_ylabel(f"observed rate ({lab})")
            ax.set_title(f"Calibration, test period, against {lab}")
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(ev / "calibration_curve.png", dpi=110)
        plt.close(fig)
    shutil.copy(cfg.policy_path(), cf / "flag_policy.toml")
    (cf / "flag_policy_resolved.json").write_text(
        json.dumps(out.scorers["lightgbm"].policy.to_dict(), indent=2)
    )
    (cf / "train_config.json").write_text(json.dumps(cfg.flat(), indent=2, default=str))
    try:
        from features import catalogue_json, catalogue_markdown

        (cf / "feature_catalogue.json").write_text(catalogue_json())
        (cf / "feature_catalogue.md").write_text(catalogue_markdown())
    except Exception as err:  # the catalogue must not sink a run; say why it is missing
        (cf / "feature_catalogue_missing.txt").write_text(f"feature catalogue unavailable: {err}")
    out.importance.to_csv(ex / "shap_global_importance.csv", index=False)
    top = out.importance.head(20)[::-1]
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.barh(top["feature"], top["mean_abs_shap"])
    ax.set_xlabel("mean |SHAP| (log-odds), test-period sample")
    ax.set_title("What drives the LightGBM score (global)")
    fig.tight_layout()
    fig.savefig(ex / "shap_global_importance.png", dpi=110)
    plt.close(fig)
    try:
        import shap

        plt.figure()
        shap.summary_plot(out.contrib.to_numpy(), out.Xs, show=False, max_display=20)
        plt.tight_layout()
        plt.savefig(ex / "shap_summary.png", dpi=110)
        plt.close("all")
    except Exception as err:
        (ex / "shap_summary_missing.txt").write_text(f"summary plot failed: {err}")


def _markdown_report(report: dict, comparison: pd.DataFrame) -> str:
    lines = [
        "# MAST training run: test-period evaluation",
        "",
        f"Proxy label: `{report['label']['tag']}`: {report['label']['description']}",
        "",
        f"Ground-truth harm: {report['harm_label']}",
        "",
        f"Units: {report['units']} Intervals: bootstrap resampled by referral.",
        "",
        f"LightGBM hyper-parameter search: {report['tuning']['summary']}.",
        "",
        "| model | label | metric | value | 95% CI |",
        "|---|---|---|---|---|",
    ]
    for r in comparison.itertuples():
        if r.metric in ("n_rows", "n_referrals"):
            continue
        lines.append(
            f"| {MODEL_LABELS.get(r.model, r.model)} | {r.label} | {r.metric} | {r.value:.3f} | "
            f"{r.ci_low:.3f}–{r.ci_high:.3f} |"
        )
    if report.get("what_the_tool_adds"):
        from audit.added import sentences

        lines += ["", "## What the tool adds to the screeners", ""]
        lines += [f"- {line}" for line in sentences(report["what_the_tool_adds"])]
    return "\n".join(lines) + "\n"
