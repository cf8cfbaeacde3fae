"""Scorers: a raw model score, a calibrator, the 1–20 cut points and the flag policy.

Every model MAST compares (the LightGBM model, the AFST-style L1 logistic
baseline and the one-line rule) is wrapped in the same :class:`Scorer`, so
they are calibrated, scored and flagged in exactly the same way and compared
on equal terms.  The LightGBM scorer is what the MLflow pyfunc carries and the
scoring service calls in-process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models.explain import make_explainer, shap_contributions
from models.flag_policy import ResolvedPolicy
from models.scoring import referral_max, to_score, upper_ventile_edges, ventile_edges

CALIBRATION_METHODS = ("isotonic", "platt")


class Calibrator:
    """Maps a raw margin to a probability, fitted on the calibration period.

    Isotonic regression is the default: with tens of thousands of calibration
    rows it has data enough and assumes no shape.  Platt scaling (a logistic
    regression on the margin) is kept for small stores.
    """

    def __init__(self, method: str = "isotonic"):
        if method not in CALIBRATION_METHODS:
            raise ValueError(
                f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}"
            )
        self.method = method
        self._model: Any = None

    def fit(self, margin: np.ndarray, y_true: np.ndarray) -> Calibrator:
        """Fit the margin-to-probability map on the calibration period.

        Raises
        ------
        ValueError
            Naming ``margin`` or ``y_true`` and the first bad row: lengths
            differ, a margin is not finite, or a label is not 0/1.  A label
            of 2 or a NaN margin would otherwise be fitted silently and give
            a wrong probability for every referral.
        """
        margin = np.asarray(margin, dtype=float)
        y = np.asarray(y_true, dtype=float)
        if margin.ndim != 1 or y.ndim != 1:
            raise ValueError(
                f"margin and y_true: expected one value per row, got shapes {margin.shape} "
                f"and {y.shape}"
            )
        if len(margin) != len(y):
            raise ValueError(f"y_true: has {len(y)} rows but margin has {len(margin)}")
        bad = np.flatnonzero(~np.isfinite(margin))
        if bad.size:
            raise ValueError(
                f"margin: row {int(bad[0])} is {float(margin[bad[0]])!r}; must be finite"
            )
        bad = np.flatnonzero((y != 0) & (y != 1))
        if bad.size:
            raise ValueError(f"y_true: must be 0 or 1; row {int(bad[0])} is {float(y[bad[0]])!r}")
        y = y.astype(int)
        if len(np.unique(y)) < 2:
            raise ValueError("calibration period: the label has only one class; cannot calibrate")
        if self.method == "isotonic":
            self._model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
                margin, y
            )
        else:
            self._model = LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), y)
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("Calibrator used before fit")
        margin = np.asarray(margin, dtype=float)
        if self.method == "isotonic":
            return np.clip(self._model.predict(margin), 0.0, 1.0)
        return self._model.predict_proba(margin.reshape(-1, 1))[:, 1]


class Scorer:
    """The common face of every MAST model: margin, probability, score, flag.

    Subclasses define :meth:`raw_margin`.  Fitting the calibrator, the score
    cut points and the policy is done by ``training``; a fitted scorer is
    immutable in use.
    """

    kind = "abstract"

    def __init__(self, feature_names: list[str]):
        self.feature_names = list(feature_names)
        self.calibrator: Calibrator | None = None
        self.edges: np.ndarray | None = None
        self.policy: ResolvedPolicy | None = None
        self.model_version: dict[str, Any] = {}

    # -- inputs ---------------------------------------------------------
    def matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The model's inputs as a float matrix in training column order."""
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names if c not in X.columns]
            if missing:
                raise ValueError(f"X: missing feature column(s) {missing[:10]}")
            X = X[self.feature_names].to_numpy(dtype=float, na_value=np.nan)
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"X: expected shape (n, {len(self.feature_names)}), got {X.shape}")
        return X

    # -- scoring --------------------------------------------------------
    def raw_margin(self, X) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit_calibration(self, X, y_true, method: str = "isotonic") -> Scorer:
        self.calibrator = Calibrator(method).fit(self.raw_margin(X), y_true)
        return self

    def fit_scores(self, X, referral_id=None) -> Scorer:
        """Fix the 1–20 score's cut points on ``X``'s margins.

        With ``referral_id`` (one per row), the cut points are ventiles of
        the *referral's* margin (its highest child's), one value per
        referral: what the flag policy counts and the screener is shown.
        Each score then holds 5 % of those referrals (never more at or
        above any cut: :func:`models.scoring.upper_ventile_edges`), so a
        capacity that is a multiple of 5 % lands on a score boundary.  Ventiles of children's
        margins put well over 10 % of referrals (a referral takes its
        highest child's score) into scores 19–20, and a capacity of 10 %
        could then only be met by flagging at 20 alone: 7 % of referrals,
        or nothing when 20 alone held more than 10 % (issue #19).
        """
        margin = self.raw_margin(X)
        if referral_id is not None:
            ids = np.asarray(referral_id)
            if ids.shape != margin.shape:
                raise ValueError(
                    f"referral_id: one per row of X ({margin.size}), got shape {ids.shape}"
                )
            first = ~pd.Series(ids).duplicated().to_numpy()
            self.edges = upper_ventile_edges(referral_max(ids, margin).to_numpy()[first])
            return self
        self.edges = ventile_edges(margin)
        return self

    def predict_proba(self, X) -> np.ndarray:
        if self.calibrator is None:
            raise RuntimeError(f"{self.kind} scorer has no calibrator: fit_calibration first")
        return self.calibrator.predict(self.raw_margin(X))

    def score(self, X) -> np.ndarray:
        if self.edges is None:
            raise RuntimeError(f"{self.kind} scorer has no score cut points: fit_scores first")
        return to_score(self.raw_margin(X), self.edges)

    def predict_frame(self, X) -> pd.DataFrame:
        """Probability, 1–20 score and child-level flag for each row.

        A row is flagged when its score reaches the policy threshold; a
        referral is flagged when any of its children is (see
        :func:`models.scoring.referral_max`).
        """
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(self.predict_arrays(X), index=index)

    def predict_arrays(self, X) -> dict[str, np.ndarray]:
        """:meth:`predict_frame`'s columns as arrays (no DataFrame: the service's per-request path)."""
        if self.policy is None:
            raise RuntimeError(f"{self.kind} scorer has no flag policy")
        margin = self.raw_margin(X)
        if self.calibrator is None or self.edges is None:
            raise RuntimeError(f"{self.kind} scorer is not fitted")
        score = to_score(margin, self.edges)
        return {
            "probability": self.calibrator.predict(margin),
            "score": score,
            "flag": (score >= self.policy.threshold_score).astype(np.int64),
        }

    def predict_referrals(self, X, referral_id) -> pd.DataFrame:
        """As :meth:`predict_frame`, plus the referral's score and flag on each row."""
        out = self.predict_frame(X)
        out["referral_score"] = referral_max(referral_id, out["score"].to_numpy()).to_numpy()
        out["referral_flag"] = (out["referral_score"] >= self.policy.threshold_score).astype(
            np.int64
        )
        return out


class LightGBMScorer(Scorer):
    """The MAST risk model: a LightGBM booster with SHAP contributions.

    The TreeExplainer is built lazily once and dropped when pickled, so a
    model loaded from MLflow builds it once (``warm()``) and reuses it.
    """

    kind = "lightgbm"

    def __init__(self, booster, feature_names: list[str]):
        super().__init__(feature_names)
        self.booster = booster
        self._explainer = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_explainer"] = None
        return state

    def raw_margin(self, X) -> np.ndarray:
        return np.asarray(self.booster.predict(self.matrix(X), raw_score=True), dtype=float)

    @property
    def explainer(self):
        if self._explainer is None:
            self._explainer = make_explainer(self.booster)
        return self._explainer

    def warm(self) -> None:
        """Build the explainer and run one prediction, so the first request is fast."""
        X = np.zeros((1, len(self.feature_names)))
        self.raw_margin(X)
        self.contributions(X)

    def contributions(self, X) -> tuple[pd.DataFrame, float]:
        """SHAP contributions per feature in raw-margin space, and the base value."""
        values, base = self.contribution_matrix(X)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(values, columns=self.feature_names, index=index), base

    def contribution_matrix(self, X) -> tuple[np.ndarray, float]:
        """:meth:`contributions` as an ``(n, p)`` array in ``feature_names`` order."""
        return shap_contributions(self.explainer, self.matrix(X))


class LogisticScorer(Scorer):
    """AFST-style baseline: L1-regularised logistic regression on standardised features."""

    kind = "l1_logistic"

    def __init__(self, pipeline, feature_names: list[str]):
        super().__init__(feature_names)
        self.pipeline = pipeline

    def raw_margin(self, X) -> np.ndarray:
        return np.asarray(self.pipeline.decision_function(self.matrix(X)), dtype=float)

    @property
    def n_nonzero(self) -> int:
        return int(np.count_nonzero(self.pipeline[-1].coef_))

    def warm(self) -> None:
        """Nothing to build (a linear model explains itself); one prediction as a check."""
        X = np.zeros((1, len(self.feature_names)))
        self.contributions(X)

    def contributions(self, X) -> tuple[pd.DataFrame, float]:
        """Exact per-feature contributions to the margin, and the base value (the intercept).

        The same face as :meth:`LightGBMScorer.contributions`, so the service
        explains a deployed logistic model the same way.
        """
        values, base = self.contribution_matrix(X)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(values, columns=self.feature_names, index=index), base

    def contribution_matrix(self, X) -> tuple[np.ndarray, float]:
        """Coefficient times standardised value, per input, in ``feature_names`` order.

        For a linear model on standardised inputs this is exactly SHAP's
        linear explanation with the training mean as background (the
        standardised mean is 0): the contributions plus the intercept add up
        to the margin.  A missing-value indicator's term is added to the
        feature it indicates, so each feature has one contribution.
        """
        from sklearn.compose import ColumnTransformer

        steps = list(self.pipeline)
        M = self.matrix(X)
        p = len(self.feature_names)
        keep = np.arange(p)
        if isinstance(steps[0], ColumnTransformer):
            # The sign constraint by exclusion (training.pipeline._logistic)
            # keeps a subset of the inputs; the rest contribute nothing.
            keep = np.asarray(steps[0].transformers_[0][2], dtype=int)
            M = steps.pop(0).transform(M)
        imputer, scaler, logit = steps[0], steps[1], steps[-1]
        Z = scaler.transform(imputer.transform(M))
        terms = Z * logit.coef_[0]
        values = np.zeros((len(Z), p))
        values[:, keep] = terms[:, : len(keep)]
        indicator = getattr(imputer, "indicator_", None)
        if indicator is not None:
            for k, j in enumerate(indicator.features_):
                values[:, keep[j]] += terms[:, len(keep) + k]
        return values, float(logit.intercept_[0])


class RuleScorer(Scorer):
    """The one-line rule: the number of referrals for the child in the last 12 months."""

    kind = "rule"

    def __init__(self, column: str, feature_names: list[str]):
        if column not in feature_names:
            raise ValueError(
                f"rule feature {column!r} is not among the features; available: "
                f"{[f for f in feature_names if 'referral' in f][:20]}"
            )
        super().__init__(feature_names)
        self.column = column

    def raw_margin(self, X) -> np.ndarray:
        M = self.matrix(X)
        return np.nan_to_num(M[:, self.feature_names.index(self.column)], nan=0.0)
