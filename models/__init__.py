"""Estimators and scoring: calibrated LightGBM, baselines, 1–20 scores, the flag policy.

Every model MAST compares is a :class:`Scorer`; the LightGBM one also gives
SHAP contributions through the single adapter in :mod:`models.explain`, and
is what the MLflow pyfunc (:class:`MastPyfunc`) carries.

:data:`MODEL_NAME` is defined here, not in ``mast.settings``, so that
``training`` and ``serving`` can name the registered model without importing
the CLI package.  Every other name is imported on first use (PEP 562): the
estimators pull in LightGBM, SHAP and MLflow, seconds of start-up that
``mast --help`` (whose settings read :data:`MODEL_NAME`) should not pay.
"""

from importlib import import_module
from typing import TYPE_CHECKING

MODEL_NAME = "mast-referral-screening"
"""The name the model is registered under in MLflow."""

_SOURCES = {
    "CALIBRATION_METHODS": "models.estimators",
    "Calibrator": "models.estimators",
    "LightGBMScorer": "models.estimators",
    "LogisticScorer": "models.estimators",
    "RuleScorer": "models.estimators",
    "Scorer": "models.estimators",
    "make_explainer": "models.explain",
    "normalise_shap_output": "models.explain",
    "shap_contributions": "models.explain",
    "DEFAULT_POLICY_FILE": "models.flag_policy",
    "FlagPolicy": "models.flag_policy",
    "ResolvedPolicy": "models.flag_policy",
    "load_policy": "models.flag_policy",
    "resolve_policy": "models.flag_policy",
    "MastPyfunc": "models.pyfunc",
    "log_scorer": "models.pyfunc",
    "signature_for": "models.pyfunc",
    "top_features": "models.pyfunc",
    "N_SCORES": "models.scoring",
    "referral_max": "models.scoring",
    "to_score": "models.scoring",
    "ventile_edges": "models.scoring",
    "upper_ventile_edges": "models.scoring",
}

if TYPE_CHECKING:
    from models.estimators import (
        CALIBRATION_METHODS,
        Calibrator,
        LightGBMScorer,
        LogisticScorer,
        RuleScorer,
        Scorer,
    )
    from models.explain import make_explainer, normalise_shap_output, shap_contributions
    from models.flag_policy import (
        DEFAULT_POLICY_FILE,
        FlagPolicy,
        ResolvedPolicy,
        load_policy,
        resolve_policy,
    )
    from models.pyfunc import MastPyfunc, log_scorer, signature_for, top_features
    from models.scoring import (
        N_SCORES,
        referral_max,
        to_score,
        upper_ventile_edges,
        ventile_edges,
    )


def __getattr__(name: str):
    """Import a public name from its module the first time it is asked for."""
    try:
        module = _SOURCES[name]
    except KeyError:
        raise AttributeError(f"module 'models' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCES})


__all__ = [
    "CALIBRATION_METHODS",
    "DEFAULT_POLICY_FILE",
    "MODEL_NAME",
    "N_SCORES",
    "Calibrator",
    "FlagPolicy",
    "LightGBMScorer",
    "LogisticScorer",
    "MastPyfunc",
    "ResolvedPolicy",
    "RuleScorer",
    "Scorer",
    "load_policy",
    "log_scorer",
    "make_explainer",
    "normalise_shap_output",
    "referral_max",
    "resolve_policy",
    "shap_contributions",
    "signature_for",
    "to_score",
    "top_features",
    "upper_ventile_edges",
    "ventile_edges",
]
