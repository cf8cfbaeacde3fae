"""Bounded random search for LightGBM, with early stopping on a later period.

Each candidate is fitted on the training period and stopped early on the
calibration period, which starts one label-horizon gap later, so selection is
temporal too.  The test period is never seen.

Determinism: by default the search runs exactly ``n_iter`` candidates, so the
same data and ``random_state`` always give the same model, however loaded the
machine.  A wall-clock budget (``time_budget_seconds``) is an explicit
opt-in: it stops the search before a candidate that would likely overrun
(judged by the mean time of the candidates so far; at least one always runs),
which makes the chosen model depend on machine load.  When it cuts the search
short, :attr:`TuningResult.stopped_by_budget` says so and training tags the
run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np

SEARCH_SPACE: dict[str, tuple] = {
    "num_leaves": (15, 31, 63),
    "learning_rate": (0.03, 0.05, 0.1),
    "min_child_samples": (20, 50, 100, 200),
    "feature_fraction": (0.6, 0.8, 1.0),
    "bagging_fraction": (0.7, 0.9, 1.0),
    "lambda_l2": (0.0, 1.0, 10.0),
}


@dataclass
class TuningResult:
    """The best booster of a tuning search, with every trial kept so the search can be audited."""

    booster: lgb.Booster
    params: dict
    best_iteration: int
    best_score: float
    trials: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    n_candidates: int = 0
    time_budget_seconds: float | None = None
    stopped_by_budget: bool = False

    @property
    def summary(self) -> str:
        """One line for tags, logs and the model card: how much of the search ran."""
        ran = f"{len(self.trials)} of {self.n_candidates} candidates"
        if self.stopped_by_budget:
            return (
                f"{ran}: cut short by the {self.time_budget_seconds:g} s time budget "
                "(the model depends on machine load; not reproducible)"
            )
        return f"{ran}: complete search"


def base_params(random_state: int, num_threads: int) -> dict:
    """Parameters every candidate shares: reproducible and quiet."""
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": int(num_threads),
        "seed": int(random_state),
        "bagging_seed": int(random_state),
        "feature_fraction_seed": int(random_state),
        "data_random_seed": int(random_state),
        "bagging_freq": 1,
        "verbose": -1,
    }


def sample_candidates(n_iter: int, random_state: int) -> list[dict]:
    """``n_iter`` distinct-as-possible draws from :data:`SEARCH_SPACE`, seeded."""
    rng = np.random.default_rng(random_state)
    out, seen = [], set()
    for _ in range(n_iter * 20):
        cand = {k: v[int(rng.integers(len(v)))] for k, v in SEARCH_SPACE.items()}
        key = tuple(sorted(cand.items()))
        if key not in seen:
            seen.add(key)
            out.append(cand)
        if len(out) == n_iter:
            break
    return out


def tune_lightgbm(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    feature_names: list[str],
    n_iter: int,
    num_boost_round: int,
    early_stopping_rounds: int,
    random_state: int,
    num_threads: int,
    time_budget_seconds: float | None = None,
    progress=None,
    monotone_constraints: list[int] | None = None,
) -> TuningResult:
    """Fit ``n_iter`` candidates and keep the best by validation log loss.

    The returned booster holds exactly ``best_iteration`` trees, so every
    consumer (predict, SHAP) sees the same model.

    Parameters
    ----------
    time_budget_seconds
        None (the default): every candidate runs, so the result depends only
        on the data and ``random_state``.  A number: stop before a candidate
        likely to end past this many seconds; the result then records
        ``stopped_by_budget`` when fewer than ``n_iter`` candidates ran.
    monotone_constraints
        One sign per feature (+1: the score may only rise with the value),
        from :func:`features.monotone_signs`; None or all 0 for none.
    """
    if time_budget_seconds is not None and not time_budget_seconds > 0:
        raise ValueError(
            f"time_budget_seconds: must be positive or None, got {time_budget_seconds!r}"
        )
    start = time.perf_counter()
    # feature_pre_filter off: candidates differ in min_child_samples, so the
    # binned dataset must not pre-drop features for the first candidate's value.
    ds_params = {"feature_pre_filter": False, "verbose": -1}
    train_set = lgb.Dataset(
        X_train, label=y_train, feature_name=feature_names, free_raw_data=False, params=ds_params
    )
    valid_set = lgb.Dataset(
        X_valid, label=y_valid, reference=train_set, free_raw_data=False, params=ds_params
    )
    best: TuningResult | None = None
    trials: list[dict] = []
    candidates = sample_candidates(n_iter, random_state)
    stopped = False
    for i, cand in enumerate(candidates):
        elapsed = time.perf_counter() - start
        # Opt-in budget: start a candidate only if a typical one would finish within it.
        if (
            time_budget_seconds is not None
            and i > 0
            and elapsed + elapsed / i > time_budget_seconds
        ):
            stopped = True
            break
        params = {**base_params(random_state, num_threads), **cand}
        if monotone_constraints is not None and any(monotone_constraints):
            params["monotone_constraints"] = [int(m) for m in monotone_constraints]
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=num_boost_round,
            valid_sets=[valid_set],
            valid_names=["calibration"],
            callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
        )
        score = float(booster.best_score["calibration"]["binary_logloss"])
        iters = int(booster.best_iteration or booster.current_iteration())
        trials.append({**cand, "best_iteration": iters, "valid_logloss": score})
        if best is None or score < best.best_score:
            best = TuningResult(booster, params, iters, score)
        if progress is not None:
            progress("tune LightGBM", i + 1, len(candidates))
    assert best is not None
    final = lgb.Booster(model_str=best.booster.model_to_string(num_iteration=best.best_iteration))
    best.booster = final
    best.trials = trials
    best.seconds = time.perf_counter() - start
    best.n_candidates = len(candidates)
    best.time_budget_seconds = time_budget_seconds
    best.stopped_by_budget = stopped
    return best
