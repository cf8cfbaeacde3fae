"""Fairness audit, governance gate, board report and model card (``mast audit``).

Public API (everything else is internal):

- :func:`audit_predictions` audits a predictions table (its columns named by
  :class:`AuditColumns`) -> :class:`AuditResult`;
- :func:`evaluate_gate` judges it against a :class:`Policy` -> :class:`GateVerdict`;
- :func:`gate_tags` turns a verdict into MLflow tags;
- :func:`write_governance_report` writes the board's HTML (and PDF) report;
- :func:`model_card` / :func:`write_model_card` give a Mitchell et al. (2019) card;
- :class:`ReferralBootstrap` and :func:`weighted_auc` are the one
  referral-clustered bootstrap and the one tie-aware weighted AUC, which
  training's evaluation uses too;
- :func:`load_run_predictions` fetches a training run's test predictions from MLflow.
"""

from audit.bootstrap import ReferralBootstrap, weighted_auc
from audit.columns import AuditColumns
from audit.fairness_audit import DEFAULT_GROUPS, AuditResult, LensResult, audit_predictions
from audit.fairness_gate import GateVerdict, evaluate_gate, gate_tags
from audit.fairness_policy import DEFAULT_POLICY_PATH, Policy, PolicyError, load_policy
from audit.frame import AuditInputError
from audit.mlflow_io import (
    PREDICTION_COLUMNS,
    PREDICTIONS_ARTIFACT,
    load_run_predictions,
    log_gate_verdict,
)
from audit.model_card import model_card, model_card_markdown, write_model_card
from audit.outputs import metrics_document, write_metrics_json
from audit.pdf import PdfUnavailableError
from audit.report import render_report, write_governance_report, write_report

__all__ = [
    "AuditColumns",
    "DEFAULT_GROUPS",
    "DEFAULT_POLICY_PATH",
    "PREDICTIONS_ARTIFACT",
    "PREDICTION_COLUMNS",
    "PdfUnavailableError",
    "ReferralBootstrap",
    "weighted_auc",
    "load_run_predictions",
    "log_gate_verdict",
    "metrics_document",
    "model_card",
    "model_card_markdown",
    "render_report",
    "write_governance_report",
    "write_metrics_json",
    "write_model_card",
    "write_report",
    "AuditInputError",
    "AuditResult",
    "GateVerdict",
    "LensResult",
    "Policy",
    "PolicyError",
    "audit_predictions",
    "evaluate_gate",
    "gate_tags",
    "load_policy",
]
