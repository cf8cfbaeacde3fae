"""The review-flag policy: a versioned governance decision, not a model setting.

Governance sets how many referrals may be flagged for mandatory multi-agency
review (a *capacity*, default 10 % of referrals), or the share of referrals
with the outcome that must be flagged (a *sensitivity* target).  The policy
file is versioned and logged with every model; :func:`resolve_policy` turns it
into a threshold on the 1–20 referral score using out-of-sample data (the
calibration period), never the test period.

The flag is advisory.  MAST never opens or closes a case.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.scoring import N_SCORES

DEFAULT_POLICY_FILE = Path(__file__).with_name("flag_policy.toml")
MODES = ("capacity", "sensitivity", "closures")


@dataclass(frozen=True)
class FlagPolicy:
    """What governance asked for, as written in the policy file."""

    version: str
    mode: str = "capacity"
    capacity: float = 0.10
    sensitivity: float = 0.80
    # "closures": flag from the score at which at least this share of the
    # referrals the screeners closed (no further action, early help) with a
    # score that high were later followed by the outcome (a plan or care).
    closure_yield: float = 0.20
    description: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"flag policy: mode must be one of {MODES}, got {self.mode!r}")
        if not 0 < self.capacity <= 1:
            raise ValueError(f"flag policy: capacity must be in (0, 1], got {self.capacity}")
        if not 0 < self.sensitivity <= 1:
            raise ValueError(f"flag policy: sensitivity must be in (0, 1], got {self.sensitivity}")
        if not 0 < self.closure_yield <= 1:
            raise ValueError(
                f"flag policy: closure_yield must be in (0, 1], got {self.closure_yield}"
            )
        if not str(self.version).strip():
            raise ValueError("flag policy: version must not be empty")

    @property
    def target(self) -> float:
        return {
            "capacity": self.capacity,
            "sensitivity": self.sensitivity,
            "closures": self.closure_yield,
        }[self.mode]


@dataclass(frozen=True)
class ResolvedPolicy:
    """The threshold a policy gives on one model's scores, and how it was found.

    ``threshold_score`` is the lowest referral score (1–20) that is flagged;
    ``N_SCORES + 1`` would flag nothing.
    """

    version: str
    mode: str
    target: float
    threshold_score: int
    achieved_flag_rate: float
    achieved_sensitivity: float | None
    resolved_on: str = "calibration period"
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def load_policy(path: str | Path | None = None) -> FlagPolicy:
    """Read a flag policy TOML file (the ``[policy]`` table)."""
    path = Path(path) if path is not None else DEFAULT_POLICY_FILE
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"flag policy file not found: {path}") from err
    if "policy" not in raw:
        raise ValueError(f"{path}: missing the [policy] table")
    table = raw["policy"]
    known = set(FlagPolicy.__dataclass_fields__)
    unknown = set(table) - known
    if unknown:
        raise ValueError(f"{path}: unknown policy field(s) {sorted(unknown)}")
    if "version" not in table:
        raise ValueError(f"{path}: policy.version is required")
    return FlagPolicy(**{k: table[k] for k in table})


def resolve_policy(
    policy: FlagPolicy,
    referral_scores: np.ndarray,
    y_true: np.ndarray | None = None,
    closed: np.ndarray | None = None,
) -> ResolvedPolicy:
    """Turn a policy into a score threshold on one referral per entry.

    Capacity: the lowest threshold whose flag rate does not exceed the
    capacity (scores are integers, so the rate is at most the capacity, never
    above it).  Sensitivity: the highest threshold whose share of positive
    referrals flagged still reaches the target.  Closures: the lowest
    threshold at which, of the referrals the screeners closed with a score
    that high, at least ``closure_yield`` had the outcome; the flag then
    targets the closures most likely to have been wrong.

    Parameters
    ----------
    referral_scores
        One 1–20 score per referral (integers).
    y_true
        One 0/1 outcome per referral (1 when any of its children is
        positive); needed for ``mode = "sensitivity"`` and ``"closures"``.
    closed
        One bool per referral: the screeners closed it (no further action,
        early help); needed for ``mode = "closures"``.

    Raises
    ------
    ValueError
        Naming the parameter and the first bad entry: a score that is
        missing, not finite, not a whole number or outside 1–20, a label
        other than 0/1, or lengths that differ.  A NaN score would
        otherwise be cast to a huge negative integer and move the threshold.
    """
    scores = _checked_scores(referral_scores)
    thresholds = np.arange(1, N_SCORES + 2)
    rates = np.array([(scores >= t).mean() for t in thresholds])
    sens = None
    if y_true is not None:
        labels = _checked_labels(y_true, scores)
        if labels.any():
            sens = np.array([(scores[labels] >= t).mean() for t in thresholds])
    if policy.mode == "capacity":
        idx = int(np.flatnonzero(rates <= policy.capacity)[0])
    elif policy.mode == "closures":
        idx = _closures_index(policy, scores, y_true, closed, thresholds)
    else:
        if sens is None:
            raise ValueError(
                "flag policy mode 'sensitivity' needs y_true with at least one positive referral"
            )
        idx = int(np.flatnonzero(sens >= policy.sensitivity)[-1])
    note = ""
    if thresholds[idx] > N_SCORES:
        note = (
            f"No score threshold keeps the flag rate within capacity {policy.capacity:g}: "
            f"{rates[N_SCORES - 1]:.1%} of referrals score {N_SCORES}, so nothing is flagged. "
            "The model's scores are too coarse on this data (too small a store?)."
        )
    return ResolvedPolicy(
        note=note,
        version=str(policy.version),
        mode=policy.mode,
        target=float(policy.target),
        threshold_score=int(thresholds[idx]),
        achieved_flag_rate=float(rates[idx]),
        achieved_sensitivity=None if sens is None else float(sens[idx]),
    )


def _checked_scores(referral_scores) -> np.ndarray:
    """The scores as integers, or an error naming the first that is not a whole 1-20 score."""
    raw = np.asarray(referral_scores, dtype=float)
    if raw.ndim != 1:
        raise ValueError(f"referral_scores: expected one score per referral, got shape {raw.shape}")
    if raw.size == 0:
        raise ValueError("referral_scores: no referrals to resolve the flag policy on")
    bad = np.flatnonzero(~np.isfinite(raw) | (raw != np.round(raw)) | (raw < 1) | (raw > N_SCORES))
    if bad.size:
        raise ValueError(
            f"referral_scores: must be whole scores 1-{N_SCORES}; row {int(bad[0])} is "
            f"{float(raw[bad[0]])!r} ({bad.size} such row(s))"
        )
    return raw.astype(np.int64)


def _checked_labels(y_true, scores: np.ndarray) -> np.ndarray:
    """The 0/1 outcomes as bools, one per score, or an error naming the first bad one."""
    labels_raw = np.asarray(y_true, dtype=float)
    if labels_raw.shape != scores.shape:
        raise ValueError(
            f"y_true: must have one entry per referral score ({scores.size}), "
            f"got shape {labels_raw.shape}"
        )
    bad = np.flatnonzero((labels_raw != 0) & (labels_raw != 1))
    if bad.size:
        raise ValueError(
            f"y_true: must be 0 or 1; row {int(bad[0])} is {float(labels_raw[bad[0]])!r}"
        )
    return labels_raw.astype(bool)


def _closures_index(policy: FlagPolicy, scores, y_true, closed, thresholds) -> int:
    """Index of the lowest threshold whose closures reach ``closure_yield`` (none: nothing flagged)."""
    if y_true is None or closed is None:
        raise ValueError("flag policy mode 'closures' needs y_true and closed per referral")
    closed = np.asarray(closed, dtype=bool)
    if closed.shape != scores.shape:
        raise ValueError(
            f"closed: must have one entry per referral score ({scores.size}), got shape "
            f"{closed.shape}"
        )
    y = np.asarray(y_true, dtype=float) == 1
    for i, t in enumerate(thresholds[:-1]):
        above = closed & (scores >= t)
        if above.any() and y[above].mean() >= policy.closure_yield:
            return i
    return len(thresholds) - 1
