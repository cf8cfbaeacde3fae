"""The monitoring policy: thresholds the board sets, read from a versioned TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MONITORING_POLICY = Path(__file__).with_name("monitoring_policy.toml")


@dataclass(frozen=True)
class MonitoringPolicy:
    version: str
    min_referrals: int = 50
    psi_moderate: float = 0.1
    psi_breach: float = 0.25
    # How often a month with no real change may be flagged for drift (all checks together).
    drift_chance: float = 0.01
    flag_rate_low: float = 0.5
    flag_rate_high: float = 1.5
    max_auc_drop: float = 0.05
    max_override_rate: float = 0.2
    # Groups (teams, who referred, the audited characteristics) smaller than this are folded.
    min_group: int = 20


def load_monitoring_policy(path: str | Path | None = None) -> MonitoringPolicy:
    """Read and check the policy, naming the file and key of any bad value."""
    path = Path(path) if path else DEFAULT_MONITORING_POLICY
    if not path.exists():
        raise FileNotFoundError(f"monitoring policy not found: {path}")
    raw = tomllib.loads(path.read_text())
    where = str(path)
    if not isinstance(raw.get("version"), str) or not raw["version"].strip():
        raise ValueError(f"{where}: `version` must be a non-empty string")

    def num(section: str, key: str, default: float, lo: float = 0.0) -> float:
        value = raw.get(section, {}).get(key, default) if section else raw.get(key, default)
        name = f"{section}.{key}" if section else key
        if isinstance(value, bool) or not isinstance(value, int | float) or value < lo:
            raise ValueError(f"{where}: {name} must be a number >= {lo}, got {value!r}")
        return value

    policy = MonitoringPolicy(
        version=raw["version"].strip(),
        min_referrals=int(num("", "min_referrals", 50, 1)),
        psi_moderate=float(num("drift", "moderate", 0.1)),
        psi_breach=float(num("drift", "breach", 0.25)),
        drift_chance=float(num("drift", "chance", 0.01)),
        flag_rate_low=float(num("flag_rate", "low", 0.5)),
        flag_rate_high=float(num("flag_rate", "high", 1.5)),
        max_auc_drop=float(num("performance", "max_auc_drop", 0.05)),
        max_override_rate=float(num("overrides", "max_override_rate", 0.2)),
        min_group=int(num("groups", "min_size", 20, 1)),
    )
    if policy.psi_breach <= policy.psi_moderate:
        raise ValueError(f"{where}: drift.breach must be above drift.moderate")
    if not 0 < policy.drift_chance < 1:
        raise ValueError(
            f"{where}: drift.chance must be between 0 and 1, got {policy.drift_chance}"
        )
    if not policy.flag_rate_low < 1 < policy.flag_rate_high:
        raise ValueError(f"{where}: flag_rate.low must be below 1 and flag_rate.high above 1")
    return policy
