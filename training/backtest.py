"""Fit the deployment recipe in a window, and run it over the rolling-origin folds.

One function fits a model exactly as it is deployed (:func:`fit_recipe`), so
the backtest figures are evidence about the model the registry holds, not
about a cousin of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import LightGBMScorer, LogisticScorer, referral_max, resolve_policy
from training.deploy import CHOICE_LABELS, CHOICES, refit_lightgbm, rolling_origins
from training.evaluate import ReferralBootstrap, evaluate_predictions

BACKTEST_METRICS = ("auc", "average_precision", "brier", "flag_rate", "precision", "recall")


def closed_by_screeners(con, ref_cal) -> np.ndarray:
    """Per row, whether the screeners closed the referral (the closures policy needs it)."""
    from audit.added import CLOSED
    from training.front_door import front_door_columns

    return front_door_columns(con, ref_cal)["screener_decision"].isin(CLOSED).to_numpy()


def calibrate(scorer, X_train, X_cal, y_cal, ref_cal, cfg, policy, closed=None) -> None:
    """Calibrator, score cut points and policy, all on the calibration window.

    The cut points are ventiles of the calibration period's *referral*
    scores, the very values the policy's threshold is resolved on, so a
    capacity of 10 % lands on a score boundary (scores 19–20) rather than
    wherever the training period's children put it (issue #19: the deployed
    logistic model flagged at 20 alone, 7.4 % on its calibration period,
    and its strict evaluation flagged nothing).  ``X_train`` is kept for
    callers' symmetry; the model itself was fitted on it.

    ``closed`` (one bool per calibration row, :func:`closed_by_screeners`) is
    needed only by a policy that targets the screeners' closures.
    """
    scorer.fit_calibration(X_cal, y_cal, cfg.calibration.method)
    scorer.fit_scores(X_cal, ref_cal)
    positives = referral_max(ref_cal, y_cal).to_numpy()
    first = ~pd.Series(ref_cal).duplicated().to_numpy()
    ref_score = referral_max(ref_cal, scorer.score(X_cal)).to_numpy()
    scorer.policy = resolve_policy(
        policy,
        ref_score[first],
        positives[first],
        None if closed is None else np.asarray(closed)[first],
    )


def fit_recipe(
    kind, X_train, y_train, X_cal, y_cal, ref_cal, names, cfg, policy, tuned, closed=None
):
    """The chosen model refitted on a window with the strict evaluation's hyper-parameters.

    The tuned LightGBM parameters carry the monotone constraints; the
    logistic model gets the same signs (issue #14), so a refit never learns
    that an earlier referral or closure makes a child safer.
    """
    from features import monotone_signs
    from training.pipeline import _logistic

    if kind == "lightgbm":
        booster = refit_lightgbm(X_train, y_train, names, tuned.params, tuned.best_iteration)
        scorer = LightGBMScorer(booster, names)
    elif kind == "l1_logistic":
        scorer = LogisticScorer(
            _logistic(
                X_train,
                y_train,
                cfg.baselines.l1_C,
                cfg.random_state,
                monotone_signs(names, cfg.inputs.constrained),
            ),
            names,
        )
    else:
        raise ValueError(f"model kind must be one of {CHOICES}, got {kind!r}")
    calibrate(scorer, X_train, X_cal, y_cal, ref_cal, cfg, policy, closed)
    return scorer


def rolling_backtest(con, cfg, policy, tuned, label_def, Xn, y, keys, names, periods):
    """Per test year and model: the recipe's figures with bootstrap intervals.

    Returns a long frame: ``fold, test_start, test_end, model, label, metric,
    value, ci_low, ci_high, n_referrals`` (empty when the store is too short
    for even one fold), and each model's predictions for the latest test
    year (``{model: frame}``, rows in ``keys`` order), on which the fairness
    audit of the deployed recipe is run.
    """
    from training.truth import harm_labels

    folds = rolling_origins(
        periods, cfg.deploy.backtest_folds, cfg.split.calibration_months, cfg.split.min_train_months
    )
    received = keys["received_at"].to_numpy()
    refs = keys["referral_id"].to_numpy()
    rows = []
    latest: dict[str, pd.DataFrame] = {}
    for w in folds:
        m = w.masks(received)
        if not all(m[p].any() and 0 < y[m[p]].sum() < m[p].sum() for p in m):
            continue
        ref_te = refs[m["test"]]
        labels = {"proxy": y[m["test"]]}
        harm = harm_labels(
            con, keys.loc[m["test"]], label_def.horizon_months, cfg.evaluation.harm_min_severity
        )
        if harm is not None:
            labels["harm"] = harm
        boot = ReferralBootstrap(ref_te)
        closed = (
            closed_by_screeners(con, refs[m["calibration"]]) if policy.mode == "closures" else None
        )
        for kind in CHOICES:
            scorer = fit_recipe(
                kind,
                Xn[m["train"]],
                y[m["train"]],
                Xn[m["calibration"]],
                y[m["calibration"]],
                refs[m["calibration"]],
                names,
                cfg,
                policy,
                tuned,
                closed,
            )
            out = scorer.predict_referrals(Xn[m["test"]], ref_te)
            if w is folds[0]:
                latest[kind] = out.reset_index(drop=True)
            prob, flag = out["probability"].to_numpy(), out["referral_flag"].to_numpy()
            for label, yy in labels.items():
                res = evaluate_predictions(
                    ref_te,
                    yy,
                    prob,
                    flag,
                    bootstrap=boot,
                    n_bootstrap=cfg.evaluation.n_bootstrap,
                    confidence=cfg.evaluation.confidence,
                    random_state=cfg.random_state,
                )
                for metric in BACKTEST_METRICS:
                    if metric in res:
                        rows.append(
                            {
                                "fold": w.name,
                                "test_start": w.test[0].date().isoformat(),
                                "test_end": w.test[1].date().isoformat(),
                                "model": kind,
                                "label": label,
                                "metric": metric,
                                **res[metric],
                                "n_referrals": int(pd.unique(ref_te).size),
                            }
                        )
    return pd.DataFrame(rows), latest


def backtest_metrics(backtest: pd.DataFrame) -> dict[str, float]:
    """MLflow metric names ``backtest.<fold>.<model>.<label>.<metric>``."""
    out = {}
    for r in backtest.itertuples():
        if np.isfinite(r.value):
            out[f"backtest.{r.fold}.{r.model}.{r.label}.{r.metric}"] = float(r.value)
    return out


def backtest_lines(backtest: pd.DataFrame, model: str) -> list[str]:
    """One plain line per test year for the deployed model (proxy label), latest first."""
    lines = []
    b = backtest[(backtest["model"] == model) & (backtest["label"] == "proxy")]
    for (start, end), g in b.groupby(["test_start", "test_end"], sort=False):
        v = g.set_index("metric")
        auc = v.loc["auc"]
        lines.append(
            f"Referrals received {start} to {end} ({int(auc['n_referrals'])} referrals): "
            f"AUC {auc['value']:.3f} ({auc['ci_low']:.3f} to {auc['ci_high']:.3f}); "
            f"flag rate {v.loc['flag_rate', 'value']:.1%}; "
            f"of flagged referrals, {v.loc['precision', 'value']:.0%} went on to the outcome"
        )
    return lines


def backtest_summary(backtest: pd.DataFrame, model: str) -> str:
    """A short tag: the deployed model's AUC per test year."""
    b = backtest[
        (backtest["model"] == model)
        & (backtest["label"] == "proxy")
        & (backtest["metric"] == "auc")
    ]
    if b.empty:
        return "no rolling-origin fold fitted this store"
    return "; ".join(
        f"{r.test_start[:4]}-{r.test_end[:4]}: AUC {r.value:.3f}" for r in b.itertuples()
    )


def backtest_mean_auc(backtest: pd.DataFrame, model: str) -> str:
    """The deployed model's mean AUC over the test years (proxy label), as tag text."""
    b = (
        backtest[
            (backtest["model"] == model)
            & (backtest["label"] == "proxy")
            & (backtest["metric"] == "auc")
        ]
        if len(backtest)
        else backtest
    )
    return f"{b['value'].mean():.3f}" if len(b) else ""


def backtest_figure(backtest: pd.DataFrame, path) -> None:
    """AUC per test year with its interval, both candidate models, proxy label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = backtest[(backtest["label"] == "proxy") & (backtest["metric"] == "auc")]
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (model, g) in enumerate(b.groupby("model", sort=False)):
        g = g.sort_values("test_start")
        x = np.arange(len(g)) + (i - 0.5) * 0.12
        ax.errorbar(
            x,
            g["value"],
            yerr=[g["value"] - g["ci_low"], g["ci_high"] - g["value"]],
            marker="o",
            capsize=4,
            label=CHOICE_LABELS.get(model, model),
        )
        ax.set_xticks(
            np.arange(len(g)),
            [f"{s[:7]} to {e[:7]}" for s, e in zip(g["test_start"], g["test_end"], strict=True)],
        )
    ax.set_ylabel("AUC (95% interval)")
    ax.set_xlabel("test year (referrals received)")
    ax.set_title("Rolling-origin backtest of the deployment recipe")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
