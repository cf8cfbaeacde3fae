"""Training configuration: one TOML file, logged to MLflow as parameters."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from settings import DEFAULT_RANDOM_STATE

DEFAULT_CONFIG_FILE = Path(__file__).with_name("default.toml")
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LabelSection:
    name: str = "cp_or_looked_after_24m"


@dataclass(frozen=True)
class SplitSection:
    burn_in_months: int = 6
    test_months: int = 12
    calibration_months: int = 12
    min_train_months: int = 12
    recording_allowance_days: int = 30


@dataclass(frozen=True)
class TuningSection:
    n_iter: int = 8
    # None: every one of n_iter candidates runs (the same seed gives the same
    # model).  A number of seconds is an opt-in that trades that for speed.
    time_budget_seconds: float | None = None
    num_boost_round: int = 600
    early_stopping_rounds: int = 30


@dataclass(frozen=True)
class CalibrationSection:
    method: str = "isotonic"


@dataclass(frozen=True)
class BaselinesSection:
    l1_C: float = 0.05
    rule_feature: str = "child_prior_referrals_12m"


@dataclass(frozen=True)
class EvaluationSection:
    n_bootstrap: int = 200
    confidence: float = 0.95
    calibration_bins: int = 10
    shap_sample: int = 2000
    harm_min_severity: int = 1


@dataclass(frozen=True)
class InputsSection:
    # True (the default): the referral's source and referrer are not inputs,
    # and counts of earlier referrals and closures may only raise risk
    # (features.model_inputs, features.monotone_signs).  False trains the
    # unconstrained model, so the difference can be shown, not hidden.
    constrained: bool = True


@dataclass(frozen=True)
class PolicySection:
    file: str = "models/flag_policy.toml"


@dataclass(frozen=True)
class DeploySection:
    # How much higher LightGBM's calibration-period AUC must be for it to be
    # deployed instead of the L1 logistic regression.
    min_auc_gain: float = 0.01
    # Test years in the rolling-origin backtest of the deployment recipe.
    backtest_folds: int = 3


_SECTIONS = {
    "label": LabelSection,
    "split": SplitSection,
    "tuning": TuningSection,
    "calibration": CalibrationSection,
    "baselines": BaselinesSection,
    "evaluation": EvaluationSection,
    "policy": PolicySection,
    "deploy": DeploySection,
    "inputs": InputsSection,
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``mast train`` can be told, with the defaults of ``default.toml``."""

    random_state: int = DEFAULT_RANDOM_STATE
    num_threads: int = 1
    label: LabelSection = field(default_factory=LabelSection)
    split: SplitSection = field(default_factory=SplitSection)
    tuning: TuningSection = field(default_factory=TuningSection)
    calibration: CalibrationSection = field(default_factory=CalibrationSection)
    baselines: BaselinesSection = field(default_factory=BaselinesSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    policy: PolicySection = field(default_factory=PolicySection)
    deploy: DeploySection = field(default_factory=DeploySection)
    inputs: InputsSection = field(default_factory=InputsSection)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> TrainConfig:
        """Build a config, naming any unknown key or badly typed value."""
        kwargs = {}
        for key, value in raw.items():
            if key in _SECTIONS:
                section = _SECTIONS[key]
                if not isinstance(value, dict):
                    raise ValueError(f"{source}: [{key}] must be a table")
                known = {f.name: f for f in fields(section)}
                args = {}
                for k, v in value.items():
                    if k not in known:
                        raise ValueError(f"{source}: unknown parameter {key}.{k}")
                    args[k] = _coerce(v, known[k].type, f"{source}: {key}.{k}")
                kwargs[key] = section(**args)
            elif key in ("random_state", "num_threads"):
                kwargs[key] = _coerce(value, "int", f"{source}: {key}")
            else:
                raise ValueError(f"{source}: unknown parameter {key}")
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    @classmethod
    def from_toml(cls, path: str | Path | None = None) -> TrainConfig:
        path = Path(path) if path is not None else DEFAULT_CONFIG_FILE
        if not path.exists():
            raise FileNotFoundError(f"training config not found: {path}")
        return cls.from_dict(tomllib.loads(path.read_text()), source=str(path))

    def validate(self) -> None:
        """Raise a ``ValueError`` naming the first setting out of range."""
        _validate_split(self.split)
        if self.tuning.n_iter < 1:
            raise ValueError("tuning.n_iter must be at least 1")
        budget = self.tuning.time_budget_seconds
        if budget is not None and budget <= 0:
            raise ValueError(
                "tuning.time_budget_seconds must be positive (leave it out for no budget)"
            )
        if not 0 < self.evaluation.confidence < 1:
            raise ValueError("evaluation.confidence must be in (0, 1)")
        if self.evaluation.n_bootstrap < 10:
            raise ValueError("evaluation.n_bootstrap must be at least 10")
        if self.num_threads < 1:
            raise ValueError("num_threads must be at least 1")
        if self.deploy.min_auc_gain < 0:
            raise ValueError("deploy.min_auc_gain must be >= 0")
        if self.deploy.backtest_folds < 1:
            raise ValueError("deploy.backtest_folds must be at least 1")

    def policy_path(self) -> Path:
        p = Path(self.policy.file)
        return p if p.is_absolute() else REPO_ROOT / p

    def flat(self) -> dict[str, object]:
        """Dotted parameter names for MLflow (``split.test_months`` ...)."""
        out: dict[str, object] = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict):
                out.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out


def _coerce(value, type_name, where: str):
    type_name = type_name if isinstance(type_name, str) else type_name.__name__
    # An optional value is simply left out of the TOML; a value given has the type.
    type_name = type_name.removesuffix(" | None")
    try:
        if type_name == "bool":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if type_name == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if type_name == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if type_name == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: expected {type_name}, got {value!r}") from err
    return value


def _validate_split(s: SplitSection) -> None:
    for name in ("test_months", "calibration_months", "min_train_months"):
        if getattr(s, name) < 1:
            raise ValueError(f"split.{name} must be at least 1")
    if s.burn_in_months < 0 or s.recording_allowance_days < 0:
        raise ValueError("split.burn_in_months and split.recording_allowance_days must be >= 0")
