"""Monitoring the deployed model month by month (``mast monitor``).

From the decision record and the store: referrals scored, the flag rate
against the policy's capacity, drift of the scores and of every input
against the training data (population stability index, read in words and
against what chance alone gives with the month's number of referrals),
overrides, performance estimated before outcomes arrive (CBPE-style) and
measured once they do, against thresholds in a versioned policy file.
"""

from monitoring.cbpe import expected_auc, expected_flag_metrics, referral_probability
from monitoring.chance import ChanceCheck, chance_check, null_psi, shift_words
from monitoring.compute import PeriodResult, monitor_periods, wilson_interval
from monitoring.drift import bin_proportions, psi, psi_reading, reference_edges
from monitoring.policy import DEFAULT_MONITORING_POLICY, MonitoringPolicy, load_monitoring_policy
from monitoring.reference import build_reference, score_proportions

__all__ = [
    "ChanceCheck",
    "DEFAULT_MONITORING_POLICY",
    "MonitoringPolicy",
    "PeriodResult",
    "bin_proportions",
    "build_reference",
    "chance_check",
    "expected_auc",
    "expected_flag_metrics",
    "load_monitoring_policy",
    "monitor_periods",
    "null_psi",
    "psi",
    "psi_reading",
    "reference_edges",
    "referral_probability",
    "score_proportions",
    "shift_words",
    "wilson_interval",
]
