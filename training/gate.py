"""The fairness audit and governance gate, run at the end of every training run.

The audit package owns the audit and the gate; this module only calls it on
the test-period predictions and turns its verdict into MLflow tags.  If the
audit package cannot run (not installed, or it fails), the verdict is
``not run`` with the reason, and ``mast promote`` will refuse the version
without a governance override: a missing audit never counts as a pass.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class GateOutcome:
    verdict: str  # "pass", "fail" or "not run"
    reasons: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def tags(self) -> dict[str, str]:
        reasons = "; ".join(self.reasons) if self.reasons else "none"
        return {"gate_verdict": self.verdict, "gate_reasons": reasons[:4900]}


def run_gate(
    predictions: pd.DataFrame,
    out_dir: Path,
    random_state: int,
    context: dict | None = None,
    progress=None,
) -> GateOutcome:
    """Audit ``predictions`` (the test_predictions artifact) and evaluate the gate.

    Writes whatever the audit produces (metrics JSON, report, model card)
    into ``out_dir`` so training can log it.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        import audit
    except Exception as err:  # pragma: no cover - depends on the audit package landing
        return GateOutcome("not run", [f"audit package unavailable: {err}"])
    audit_fn = getattr(audit, "audit_predictions", None)
    gate_fn = getattr(audit, "evaluate_gate", None)
    if audit_fn is None or gate_fn is None:
        return GateOutcome("not run", ["audit package has no audit_predictions/evaluate_gate"])
    try:
        result = audit_fn(predictions, random_state=random_state, progress=progress)
        gate = gate_fn(result)
        verdict, reasons = _verdict(gate)
        files = []
        if hasattr(result, "to_dict"):
            path = out_dir / "audit_metrics.json"
            path.write_text(json.dumps(result.to_dict(), indent=2, default=str))
            files.append(path)
        files += _reports(audit, result, gate, out_dir, context or {})
        return GateOutcome(verdict, reasons, files)
    except Exception as err:
        (out_dir / "audit_error.txt").write_text(traceback.format_exc())
        return GateOutcome(
            "not run", [f"audit failed: {type(err).__name__}: {err}"], [out_dir / "audit_error.txt"]
        )


def _verdict(gate) -> tuple[str, list[str]]:
    """Read a verdict from whatever the audit's gate returns (object or dict)."""
    get = gate.get if isinstance(gate, dict) else lambda k, d=None: getattr(gate, k, d)
    passed = get("passed")
    verdict = get("verdict")
    if verdict is None and passed is not None:
        verdict = "pass" if passed else "fail"
    verdict = str(verdict).lower() if verdict is not None else "not run"
    if verdict in ("true", "passed"):
        verdict = "pass"
    if verdict in ("false", "failed"):
        verdict = "fail"
    reasons = get("reasons") or []
    if isinstance(reasons, str):
        reasons = [reasons]
    return verdict, [str(r) for r in reasons]


def _reports(audit, result, gate, out_dir: Path, context: dict) -> list[Path]:
    """Board report and model card, if the audit package offers them."""
    files: list[Path] = []
    for fn_name in ("write_report", "write_model_card"):
        fn = getattr(audit, fn_name, None)
        if fn is None:
            continue
        try:
            made = fn(result, gate=gate, out_dir=out_dir, context=context)
        except TypeError:
            continue
        if made is None:
            continue
        for p in made if isinstance(made, list | tuple) else [made]:
            if Path(p).exists():
                files.append(Path(p))
    return files
