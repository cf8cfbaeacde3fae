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


def train(
    db: str | Path | None = None,
    config: TrainConfig | None = None,
    tracking_uri: str = "sqlite:///mlflow/mlflow.db",
    progress: Progress | None = None,
    feature_table=None,
    con=None,
    register: bool = True,
    run_gate_after: bool = True,
    run_id: str | None = None,
) -> TrainResult:
    """Train, evaluate, explain, log and register a MAST model.

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
    import mlflow

    from store import connect, content_hash
    from training.gate import run_gate
    from training.tracking import CANDIDATE, client_for, setup_tracking, tag_version
    from training.truth import harm_labels

    cfg = config or TrainConfig.from_toml()
    cfg.validate()
    label_def = get_label(cfg.label.name)
    policy = load_policy(cfg.policy_path())
    st = _Stages(progress)
    own_con = con is None
    if own_con:
        if db is None:
            raise ValueError("db: give a store path or an open connection")
        con = connect(db, read_only=True)
    seed = cfg.random_state
    try:
        with st.stage("read store"):
            data_hash = content_hash(con)
            first, data_end = data_range(con)
            periods = plan_periods(
                first,
                data_end,
                label_def.horizon_months,
                cfg.split.burn_in_months,
                cfg.split.test_months,
                cfg.split.calibration_months,
                cfg.split.min_train_months,
                cfg.split.recording_allowance_days,
            )
        with st.stage("build features"):
            if feature_table is None:
                from features import build_features

                feature_table = build_features(con, progress=progress)
            keys = feature_table.keys.reset_index(drop=True)
            X = feature_table.X.reset_index(drop=True).astype(float)
            protected = feature_table.protected.reset_index(drop=True)
            # Decision echoes: by default who referred is not an input and
            # earlier referrals and closures may only raise risk ([inputs]).
            names = model_inputs(list(X.columns), cfg.inputs.constrained)
            signs = monotone_signs(names, cfg.inputs.constrained)
            X = X[names]
            feature_rows = len(X)
        with st.stage("labels and split"):
            period = assign_periods(keys, periods)
            # Every row whose label window has closed, the gaps between the
            # strict periods included: the backtest folds and the deployed
            # model use them.
            received = pd.to_datetime(keys["received_at"])
            used = ((received >= periods.train_start) & (received < periods.test_end)).to_numpy()
            keys, X, protected, period = (
                keys[used].reset_index(drop=True),
                X[used].reset_index(drop=True),
                protected[used].reset_index(drop=True),
                period[used],
            )
            y = compute_labels(con, keys, label_def)
            masks = {p: period == p for p in ("train", "calibration", "test")}
            counts = {
                p: {
                    "rows": int(m.sum()),
                    "referrals": int(keys.loc[m, "referral_id"].nunique()),
                    "positives": int(y[m].sum()),
                }
                for p, m in masks.items()
            }
            for p, c in counts.items():
                if c["rows"] == 0 or c["positives"] == 0 or c["positives"] == c["rows"]:
                    raise ValueError(
                        f"The {p} period has {c['rows']} rows and {c['positives']} positive "
                        f"labels ({label_def.tag}): both classes are needed. Check split.* "
                        "and the store's size."
                    )
            Xn = X.to_numpy(dtype=float)
            Xtr, Xca, Xte = (Xn[masks[p]] for p in ("train", "calibration", "test"))
            ytr, yca, yte = (y[masks[p]] for p in ("train", "calibration", "test"))
            ref_ca = keys.loc[masks["calibration"], "referral_id"].to_numpy()
            ref_te = keys.loc[masks["test"], "referral_id"].to_numpy()
        with st.stage("tune LightGBM"):
            # Early stopping and selection use the calibration period, which the
            # calibrator and the flag threshold then reuse: a known limitation,
            # measured against two alternatives in docs/training.md.
            tuned = tune_lightgbm(
                Xtr,
                ytr,
                Xca,
                yca,
                names,
                n_iter=cfg.tuning.n_iter,
                time_budget_seconds=cfg.tuning.time_budget_seconds,
                num_boost_round=cfg.tuning.num_boost_round,
                early_stopping_rounds=cfg.tuning.early_stopping_rounds,
                random_state=seed,
                num_threads=cfg.num_threads,
                progress=progress,
                monotone_constraints=signs,
            )
            if tuned.stopped_by_budget:
                logger.warning(
                    "LightGBM tuning %s: set tuning.time_budget_seconds only when speed "
                    "matters more than reproducibility",
                    tuned.summary,
                )
        with st.stage("calibrate and score"):
            scorers = {
                "lightgbm": LightGBMScorer(tuned.booster, names),
                "l1_logistic": LogisticScorer(
                    _logistic(Xtr, ytr, cfg.baselines.l1_C, seed, signs), names
                ),
                "rule": RuleScorer(cfg.baselines.rule_feature, names),
            }
            ca_closed = (
                closed_by_screeners(con, ref_ca) if policy.mode == "closures" else None
            )
            for s in scorers.values():
                calibrate(s, Xtr, Xca, yca, ref_ca, cfg, policy, ca_closed)
        with st.stage("choose model"):
            from sklearn.metrics import roc_auc_score

            selection = choose_model(
                {k: float(roc_auc_score(yca, scorers[k].raw_margin(Xca))) for k in CHOICES},
                cfg.deploy.min_auc_gain,
                f"{periods.calibration_start.date()} to {periods.calibration_end.date()}",
            )
            chosen = selection.chosen
        with st.stage("evaluate"):
            y_harm = harm_labels(
                con,
                keys.loc[masks["test"]],
                label_def.horizon_months,
                cfg.evaluation.harm_min_severity,
            )
            human = _human_flags(con, ref_te)
            boot = ReferralBootstrap(ref_te)
            ev = dict(
                n_bootstrap=cfg.evaluation.n_bootstrap,
                confidence=cfg.evaluation.confidence,
                random_state=seed,
            )
            outputs = {}
            results: dict[str, dict] = {}
            curves = []
            for name, s in scorers.items():
                out = s.predict_referrals(Xte, ref_te)
                outputs[name] = out
                prob, flag = out["probability"].to_numpy(), out["referral_flag"].to_numpy()
                results[name] = {
                    "proxy": evaluate_predictions(ref_te, yte, prob, flag, bootstrap=boot, **ev)
                }
                if y_harm is not None:
                    results[name]["harm"] = evaluate_predictions(
                        ref_te, y_harm, prob, flag, bootstrap=boot, **ev
                    )
                for lab, yy in (("proxy", yte), ("harm", y_harm)):
                    if yy is not None:
                        pts = calibration_points(yy, prob, cfg.evaluation.calibration_bins)
                        curves.append(pts.assign(model=name, label=lab))
            results["human"] = {
                "proxy": evaluate_predictions(ref_te, yte, human, human, is_probability=False, **ev)
            }
            if y_harm is not None:
                results["human"]["harm"] = evaluate_predictions(
                    ref_te, y_harm, human, human, is_probability=False, **ev
                )
            comparison = comparison_frame(results)
            lgb_out = outputs[chosen]
            predictions = pd.concat(
                [
                    keys.loc[masks["test"]].reset_index(drop=True),
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
                    protected.loc[masks["test"]].reset_index(drop=True),
                    front_door_columns(con, ref_te),
                ],
                axis=1,
            )
        with st.stage("rolling-origin backtest"):
            backtest, latest = rolling_backtest(
                con, cfg, policy, tuned, label_def, Xn, y, keys, names, periods
            )
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
        with st.stage("what the tool adds"):
            # What the flag adds to the screeners' own decisions (issue #14), for
            # the recipe that is deployed (the predictions the audit judges).
            added = what_the_tool_adds(predictions, confidence=cfg.evaluation.confidence)
        with st.stage("refit for deployment"):
            window = deployment_window(periods, cfg.split.calibration_months)
            m = window.masks(keys["received_at"].to_numpy())
            lgb_scorer = fit_recipe(
                chosen,
                Xn[m["train"]],
                y[m["train"]],
                Xn[m["calibration"]],
                y[m["calibration"]],
                keys.loc[m["calibration"], "referral_id"].to_numpy(),
                names,
                cfg,
                policy,
                tuned,
                closed_by_screeners(con, keys.loc[m["calibration"], "referral_id"].to_numpy())
                if policy.mode == "closures"
                else None,
            )
            deploy_counts = {
                p: {
                    "rows": int(mask.sum()),
                    "referrals": int(keys.loc[mask, "referral_id"].nunique()),
                    "positives": int(y[mask].sum()),
                }
                for p, mask in m.items()
            }
            from monitoring import build_reference

            reference = build_reference(
                lgb_scorer,
                X[m["train"]],
                X[m["calibration"]],
                keys.loc[m["calibration"], "referral_id"].to_numpy(),
                y[m["calibration"]],
                window,
            )
        with st.stage("explain (SHAP)"):
            rng = np.random.default_rng(seed)
            n_s = min(cfg.evaluation.shap_sample, len(Xte))
            sample = np.sort(rng.choice(len(Xte), n_s, replace=False))
            Xs = pd.DataFrame(Xte[sample], columns=names)
            contrib, base = lgb_scorer.contributions(Xs)
            margin = lgb_scorer.raw_margin(Xs)
            additivity = float(np.max(np.abs(contrib.to_numpy().sum(axis=1) + base - margin)))
            if additivity > 1e-6:
                raise RuntimeError(
                    f"SHAP additivity failed: max |sum + base - margin| = {additivity}"
                )
            importance = (
                contrib.abs()
                .mean()
                .rename("mean_abs_shap")
                .sort_values(ascending=False)
                .reset_index()
            )
            importance.columns = ["feature", "mean_abs_shap"]
        with st.stage("log to MLflow"):
            experiment_id = setup_tracking(tracking_uri)
            run_args = (
                {"run_id": run_id}
                if run_id
                else {"experiment_id": experiment_id, "run_name": f"train-{label_def.name}"}
            )
            with mlflow.start_run(**run_args) as run:
                run_id = run.info.run_id
                experiment_id = run.info.experiment_id
                params = {
                    **cfg.flat(),
                    **periods.as_params(),
                    "label.tag": label_def.tag,
                    "label.horizon_months": label_def.horizon_months,
                    "data.content_hash": data_hash,
                    "data.rows": len(keys),
                    "policy.version": policy.version,
                    "policy.mode": policy.mode,
                    "policy.threshold_score": lgb_scorer.policy.threshold_score,
                    "lightgbm.best_iteration": tuned.best_iteration,
                    **{f"lightgbm.{k}": v_ for k, v_ in tuned.params.items()},
                    "l1_logistic.n_nonzero": scorers["l1_logistic"].n_nonzero,
                    "deploy.model": chosen,
                    **window.as_params(),
                    **{
                        f"deploy.{p}.{k}": val
                        for p, c in deploy_counts.items()
                        for k, val in c.items()
                    },
                }
                mlflow.log_params({k: str(v_)[:6000] for k, v_ in params.items()})
                mlflow.set_tags(
                    {
                        "label": label_def.tag,
                        "data_hash": data_hash,
                        "policy_version": policy.version,
                        **_tuning_tags(tuned),
                        **selection.tags(),
                    }
                )
                metrics = {}
                for row in comparison.itertuples():
                    for suffix, val in (
                        ("", row.value),
                        ("_ci_low", row.ci_low),
                        ("_ci_high", row.ci_high),
                    ):
                        if np.isfinite(val):
                            metrics[f"{row.model}.{row.label}.{row.metric}{suffix}"] = float(val)
                for p, c in counts.items():
                    for k, val in c.items():
                        metrics[f"data.{p}.{k}"] = val
                metrics.update(backtest_metrics(backtest))
                metrics.update(added_metrics(added))
                metrics["shap.additivity_max_abs_err"] = additivity
                metrics["tuning.seconds"] = tuned.seconds
                metrics["tuning.trials"] = len(tuned.trials)
                metrics["tuning.candidates"] = tuned.n_candidates
                mlflow.log_metrics(metrics)
                with tempfile.TemporaryDirectory() as tmp:
                    tmp = Path(tmp)
                    outputs_ = RunOutputs(
                        label_def=label_def,
                        scorers=scorers,
                        periods=periods,
                        counts=counts,
                        comparison=comparison,
                        curves=curves,
                        importance=importance,
                        contrib=contrib,
                        Xs=Xs,
                        predictions=predictions,
                        tuned=tuned,
                        data_hash=data_hash,
                        backtest=backtest,
                        selection=selection,
                        reference=reference,
                        added=added,
                    )
                    _write_artifacts(tmp, cfg, outputs_)
                    mlflow.log_artifacts(str(tmp / "monitoring"), artifact_path="monitoring")
                    mlflow.log_artifacts(str(tmp / "evaluation"), artifact_path="evaluation")
                    mlflow.log_artifacts(str(tmp / "config"), artifact_path="config")
                    mlflow.log_artifacts(str(tmp / "explain"), artifact_path="explain")
                    # The registry assigns the version number after logging; the
                    # scorer carries what is known before (the loader knows the version).
                    lgb_scorer.model_version = {
                        "name": MODEL_NAME,
                        "run_id": run_id,
                        "label": label_def.tag,
                        "policy_version": policy.version,
                        "data_hash": data_hash,
                    }
                    info = log_scorer(
                        lgb_scorer,
                        Xs.head(5),
                        registered_model_name=MODEL_NAME if register else None,
                    )
                    version = None
                    client = client_for(tracking_uri)
                    headline = results[chosen]["proxy"]["auc"]["value"]
                    if register:
                        version = str(info.registered_model_version)
                        lgb_scorer.model_version = {**lgb_scorer.model_version, "version": version}
                        client.set_registered_model_alias(MODEL_NAME, CANDIDATE, version)
                        tag_version(
                            client,
                            version,
                            {
                                "label": label_def.tag,
                                "policy_version": policy.version,
                                "threshold_score": str(lgb_scorer.policy.threshold_score),
                                "data_hash": data_hash,
                                "test_auc_proxy": f"{headline:.3f}",
                                "backtest": backtest_summary(backtest, chosen),
                                "backtest_auc": backtest_mean_auc(backtest, chosen),
                                **_tuning_tags(tuned),
                                **selection.tags(),
                            },
                        )
        gate_verdict, gate_reasons = "not run", ["audit skipped"]
        if run_gate_after:
            with st.stage("audit and gate"), tempfile.TemporaryDirectory() as tmp:
                gate = run_gate(
                    predictions,
                    Path(tmp) / "audit",
                    seed,
                    metadata=_linkage_metadata(con, lgb_scorer, predictions)
                    | _card_metadata(
                        MODEL_NAME,
                        version,
                        run_id,
                        label_def,
                        policy,
                        lgb_scorer,
                        periods,
                        counts,
                        data_hash,
                        simulated=y_harm is not None,
                        tuning=tuned.summary,
                        selection=selection,
                        backtest=backtest,
                        window=window,
                    ),
                    performance=_performance_rows(comparison),
                    shap_importance=importance,
                )
                for f in gate.files:
                    client.log_artifact(run_id, str(f), artifact_path="audit")
                for key, value in gate.tags().items():
                    client.set_tag(run_id, key, value)
                if version is not None:
                    tag_version(client, version, gate.tags())
                gate_verdict, gate_reasons = gate.verdict, gate.reasons
        for k, v_ in st.timings.items():
            client.log_metric(run_id, f"timing.{_slug(k)}_seconds", v_)
        return TrainResult(
            run_id=run_id,
            experiment_id=experiment_id,
            model_name=MODEL_NAME,
            model_version=version,
            model_uri=info.model_uri,
            comparison=comparison,
            periods=periods,
            period_counts=counts,
            timings=st.timings,
            gate_verdict=gate_verdict,
            gate_reasons=gate_reasons,
            label=label_def.tag,
            policy=lgb_scorer.policy.to_dict(),
            data_hash=data_hash,
            tracking_uri=tracking_uri,
            feature_rows=feature_rows,
            tuning_summary=tuned.summary,
            scorer=lgb_scorer,
            predictions=predictions,
            selection=selection,
            backtest_lines=backtest_lines(backtest, chosen) if len(backtest) else [],
            added=added,
        )
    finally:
        if own_con:
            con.close()


def _linkage_metadata(con, scorer, predictions) -> dict:
    """The board report's linkage section when the store holds links (issue 20); never sinks a run."""
    from audit.linkage import report_linkage

    try:
        return report_linkage(con, scorer, predictions)
    except Exception as err:  # the report is worth having but must not sink a run
        logging.getLogger(__name__).warning("linkage section left out of the report: %s", err)
        return {}


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


def _card_metadata(
    name,
    version,
    run_id,
    label_def,
    policy,
    scorer,
    periods,
    counts,
    data_hash,
    simulated,
    tuning: str = "",
    selection: Selection | None = None,
    backtest: pd.DataFrame | None = None,
    window=None,
) -> dict:
    """Plain facts for the audit's board report and model card."""
    from training.gate import trained_on

    p = periods
    kind = selection.chosen if selection else "lightgbm"
    model_type = f"{CHOICE_LABELS[kind]}, isotonic-calibrated; 1-20 ventile score"
    if tuning and kind == "lightgbm":
        model_type += f"; hyper-parameter random search: {tuning}"
    extra = {}
    if selection is not None:
        extra["model_choice"] = selection.reason
    if window is not None:
        extra["deployed_training"] = (
            f"Refitted for deployment on referrals received {window.train[0].date()} to "
            f"{window.train[1].date()} and recalibrated on {window.calibration[0].date()} to "
            f"{window.calibration[1].date()}, the latest period whose outcomes are known."
        )
    if backtest is not None and len(backtest):
        extra["backtest"] = backtest_lines(backtest, kind)
    return {
        "model_name": name,
        "model_version": version or "not registered",
        "run_id": run_id,
        "model_type": model_type,
        "date": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d"),
        "trained_on": trained_on(periods, counts, data_hash, simulated),
        "training_period": f"{p.train_start.date()} to {p.train_end.date()}",
        "test_period": f"{p.test_start.date()} to {p.test_end.date()}",
        "label_definition": f"{label_def.tag}: {label_def.description}",
        "flag_policy": (
            f"{policy.version}: {policy.mode} {policy.target:g}; referral flagged at score "
            f">= {scorer.policy.threshold_score}"
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
