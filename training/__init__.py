"""Training: labels, temporal splits with a label-horizon gap, tuning, evaluation, MLflow.

``train`` runs the whole pipeline; ``promote`` and ``list_versions`` manage
the registry under governance rules.
"""

from training.config import DEFAULT_CONFIG_FILE, TrainConfig
from training.evaluate import ReferralBootstrap, calibration_points, evaluate_predictions
from training.labels import LABELS, LabelDefinition, compute_labels, get_label
from training.pipeline import MODEL_LABELS, TrainResult, train
from training.splits import Periods, assign_periods, data_range, plan_periods
from training.tracking import (
    CANDIDATE,
    CHAMPION,
    EXPERIMENT_NAME,
    PromotionRefused,
    list_versions,
    promote,
    setup_tracking,
)
from training.tuning import tune_lightgbm

__all__ = [
    "CANDIDATE",
    "CHAMPION",
    "DEFAULT_CONFIG_FILE",
    "EXPERIMENT_NAME",
    "LABELS",
    "MODEL_LABELS",
    "LabelDefinition",
    "Periods",
    "PromotionRefused",
    "ReferralBootstrap",
    "TrainConfig",
    "TrainResult",
    "assign_periods",
    "calibration_points",
    "compute_labels",
    "data_range",
    "evaluate_predictions",
    "get_label",
    "list_versions",
    "plan_periods",
    "promote",
    "setup_tracking",
    "train",
    "tune_lightgbm",
]
