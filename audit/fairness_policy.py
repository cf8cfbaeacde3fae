"""The governance policy: audit settings and the gate's limits, from a TOML file.

Governance owns the limits, not the engineers, so they live in a file a
board can read and edit (``audit/default_policy.toml`` is the starting
point; copy it and pass ``--policy``).  The policy's ``version`` is logged
with every verdict so a verdict can always be traced to the limits in force.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")

RULE_KINDS = ("ratio", "difference", "group_max", "overall_min")
JUDGED_ON = ("interval", "point")


class PolicyError(ValueError):
    """The policy file is malformed (names the field)."""


@dataclass(frozen=True)
class Rule:
    """One limit of the gate.

    ``kind``:
    ``ratio``       group / reference must lie within [1/limit, limit];
    ``difference``  |group - reference| must not exceed limit;
    ``group_max``   each group's value must not exceed limit;
    ``overall_min`` the overall value must be at least limit.

    ``judged_on = "interval"`` fails only when the whole confidence interval
    is beyond the limit (the breach is shown beyond reasonable sampling
    noise); ``"point"`` fails when the point estimate is beyond it.
    """

    metric: str
    kind: str
    limit: float
    judged_on: str = "interval"
    why: str = ""
    # A rule may judge its own lens and attributes (e.g. the false-negative
    # rate against ground truth, by who referred); "" / () use the gate's.
    lens: str = ""
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """Audit settings and gate rules, as read from the policy file."""

    version: str
    n_boot: int = 500
    confidence: float = 0.95
    min_group_size: int = 50
    min_outcome_count: int = 10
    reference: str = "largest"
    reference_groups: dict[str, str] = field(default_factory=dict)
    intersections: tuple[tuple[str, str], ...] = (("ethnicity", "deprivation_quintile"),)
    gate_lens: str = "tool_vs_proxy"
    gate_attributes: tuple[str, ...] | None = None
    rules: tuple[Rule, ...] = ()
    mitigation_attribute: str = "ethnicity"
    source: str = ""


def _get(table: dict, key: str, kind, default, where: str):
    value = table.get(key, default)
    if value is not None and kind is not None and not isinstance(value, kind):
        raise PolicyError(f"policy field {where}.{key} must be {kind}, got {value!r}")
    return value


def _rule(i: int, raw: dict) -> Rule:
    """One ``[[gate.rules]]`` entry, checked, naming its field when it is wrong."""
    where = f"gate.rules[{i}]"
    for key in ("metric", "kind", "limit"):
        if key not in raw:
            raise PolicyError(f"policy field {where}.{key} is missing")
    if raw["kind"] not in RULE_KINDS:
        raise PolicyError(f"policy field {where}.kind must be one of {RULE_KINDS}")
    judged = raw.get("judged_on", "interval")
    if judged not in JUDGED_ON:
        raise PolicyError(f"policy field {where}.judged_on must be one of {JUDGED_ON}")
    if not isinstance(raw["limit"], int | float):
        raise PolicyError(f"policy field {where}.limit must be a number")
    rule_attrs = raw.get("attributes", [])
    if not isinstance(rule_attrs, list) or not all(isinstance(a, str) for a in rule_attrs):
        raise PolicyError(f"policy field {where}.attributes must be a list of column names")
    if not isinstance(raw.get("lens", ""), str):
        raise PolicyError(f"policy field {where}.lens must be a lens name")
    return Rule(
        metric=str(raw["metric"]),
        kind=raw["kind"],
        limit=float(raw["limit"]),
        judged_on=judged,
        why=str(raw.get("why", "")),
        lens=str(raw.get("lens", "")),
        attributes=tuple(rule_attrs),
    )


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file (the packaged default when ``path`` is None).

    Raises
    ------
    PolicyError
        Naming the field that is missing or of the wrong type.
    """
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise PolicyError(f"policy file {path} not found") from err
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(f"policy file {path} is not valid TOML: {err}") from err
    if "version" not in data:
        raise PolicyError(f"policy file {path} has no top-level 'version'")
    audit = data.get("audit", {})
    gate = data.get("gate", {})
    rules = [_rule(i, raw) for i, raw in enumerate(gate.get("rules", []))]
    confidence = float(_get(audit, "confidence", int | float, 0.95, "audit"))
    if not 0.5 < confidence < 1:
        raise PolicyError("policy field audit.confidence must lie in (0.5, 1)")
    intersections = tuple(tuple(pair) for pair in _get(audit, "intersections", list, [], "audit"))
    if any(len(pair) != 2 for pair in intersections):
        raise PolicyError("policy field audit.intersections must be a list of pairs")
    attrs = _get(gate, "attributes", list, None, "gate")
    return Policy(
        version=str(data["version"]),
        n_boot=int(_get(audit, "n_boot", int, 500, "audit")),
        confidence=confidence,
        min_group_size=int(_get(audit, "min_group_size", int, 50, "audit")),
        min_outcome_count=int(_get(audit, "min_outcome_count", int, 10, "audit")),
        reference=str(_get(audit, "reference", str, "largest", "audit")),
        reference_groups=dict(_get(audit, "reference_groups", dict, {}, "audit")),
        intersections=intersections,  # type: ignore[arg-type]
        gate_lens=str(_get(gate, "lens", str, "tool_vs_proxy", "gate")),
        gate_attributes=tuple(attrs) if attrs is not None else None,
        rules=tuple(rules),
        mitigation_attribute=str(_get(audit, "mitigation_attribute", str, "ethnicity", "audit")),
        source=str(path),
    )
