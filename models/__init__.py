"""Estimators and scoring: calibrated LightGBM, baselines, 1–20 scores, the flag policy.

Every model MAST compares is a :class:`Scorer`; the LightGBM one also gives
SHAP contributions through the single adapter in :mod:`models.explain`, and
is what the MLflow pyfunc (:class:`MastPyfunc`) carries.
"""

from models.estimators import (
    CALIBRATION_METHODS,
    Calibrator,
    LightGBMScorer,
    LogisticScorer,
    RuleScorer,
    Scorer,
)
from models.explain import make_explainer, normalise_shap_output, shap_contributions
from models.policy import (
    DEFAULT_POLICY_FILE,
    FlagPolicy,
    ResolvedPolicy,
    load_policy,
    resolve_policy,
)
from models.pyfunc import MastPyfunc, log_scorer, signature_for, top_features
from models.scoring import N_SCORES, referral_max, to_score, ventile_edges

__all__ = [
    "CALIBRATION_METHODS",
    "DEFAULT_POLICY_FILE",
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
    "ventile_edges",
]
