"""The fairness audit and governance gate, run at the end of every training run.

The audit package (``audit/``) owns the audit, the gate, the board report and
the model card; this module calls it on the test-period predictions and turns
its verdict into tags.  Two sets of tags are written on the run and on the
model version: ``gate_verdict`` (``pass``/``fail``/``not run``) and
``gate_reasons``, which ``mast promote`` and ``mast models`` read, and the
audit's own ``mast.gate.*`` tags.  If the audit cannot run, the verdict is
``not run`` with the reason, and ``mast promote`` refuses the version without
a governance override: a missing audit never counts as a pass.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class GateOutcome:
    """The gate's result as training records it: a verdict, its reasons, the files to log and the tags."""

    verdict: str  # "pass", "fail" or "not run"
    reasons: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    extra_tags: dict[str, str] = field(default_factory=dict)

    def tags(self) -> dict[str, str]:
        reasons = "; ".join(self.reasons) if self.reasons else "none"
        if len(reasons) > 4900:
            reasons = reasons[:4890] + " …(more)"
        return {**self.extra_tags, "gate_verdict": self.verdict, "gate_reasons": reasons}


def run_gate(
    predictions: pd.DataFrame,
    out_dir: Path,
    random_state: int,
    metadata: dict | None = None,
    performance: pd.DataFrame | None = None,
    shap_importance: pd.DataFrame | None = None,
    progress=None,
) -> GateOutcome:
    """Audit ``predictions`` (the test_predictions artifact) and evaluate the gate.

    Writes the audit's metrics, the governance report (HTML) and the model
    card (markdown and JSON) into ``out_dir`` for training to log.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        from audit import audit_predictions, evaluate_gate, gate_tags
    except Exception as err:  # pragma: no cover - the audit package is part of MAST
        return GateOutcome("not run", [f"audit package unavailable: {err}"])
    try:
        result = audit_predictions(predictions, random_state=random_state, progress=progress)
        verdict = evaluate_gate(result)
    except Exception as err:
        path = out_dir / "audit_error.txt"
        path.write_text(traceback.format_exc())
        return GateOutcome("not run", [f"audit failed: {type(err).__name__}: {err}"], [path])
    outcome = GateOutcome(
        "pass" if verdict.passed else "fail",
        [str(r) for r in verdict.reasons],
        extra_tags=gate_tags(verdict),
    )
    metrics = out_dir / "audit_metrics.json"
    metrics.write_text(json.dumps(result.to_dict(), indent=2))
    metadata = _with_what_the_tool_adds(predictions, out_dir, outcome, metadata)
    (out_dir / "gate_verdict.json").write_text(json.dumps(verdict.to_dict(), indent=2, default=str))
    outcome.files += [metrics, out_dir / "gate_verdict.json"]
    # The board report and the model card are worth having but must not sink a run.
    for what, make in (("governance report", _report), ("model card", _card)):
        try:
            outcome.files += make(out_dir, result, verdict, metadata, performance, shap_importance)
        except Exception as err:
            note = out_dir / f"{what.replace(' ', '_')}_error.txt"
            note.write_text(
                f"{what} failed: {type(err).__name__}: {err}\n\n{traceback.format_exc()}"
            )
            outcome.files.append(note)
    return outcome


def _with_what_the_tool_adds(predictions, out_dir: Path, outcome, metadata):
    """Incremental and union catch beside the audit (a file and the report's summary).

    Predictions without the screeners' decisions (an older run, another
    table) simply have no such section.
    """
    from audit.added import sentences, what_the_tool_adds

    if "screener_decision" not in predictions.columns:
        return metadata
    added = what_the_tool_adds(predictions)
    path = out_dir / "what_the_tool_adds.json"
    path.write_text(json.dumps(added, indent=2, default=str))
    outcome.files.append(path)
    return {**(metadata or {}), "what_the_tool_adds": sentences(added)}


def trained_on(periods, counts: dict, data_hash: str, simulated: bool) -> str:
    """The board report's "what it was trained on" sentence.

    The board must be able to tell a model trained on the simulated synthetic
    local authority from one trained on real extracts, and to tie the model
    to the exact store snapshot (its content hash) and training period;
    without this sentence the report says "Not stated by the caller".

    Parameters
    ----------
    periods
        The run's :class:`training.splits.Periods`.
    counts
        Rows and referrals per period, as training counts them.
    data_hash
        :func:`store.content_hash` of the store trained on.
    simulated
        Whether the store holds the simulator's ground truth (training knows
        this from :func:`training.truth.harm_labels`), that is, whether it is
        the simulated synthetic local authority.
    """
    source = (
        "the simulated synthetic local authority"
        if simulated
        else "a store loaded from local authority extracts"
    )
    train = counts["train"]
    return (
        f"{train['rows']:,} referral-child rows ({train['referrals']:,} referrals) from {source} "
        f"(store content hash {data_hash}), received "
        f"{periods.train_start.date()} to {periods.train_end.date()}"
    )


def _context(metadata, performance, shap_importance) -> dict:
    context = dict(metadata or {})
    if performance is not None:
        context["performance"] = performance
    if shap_importance is not None:
        context["shap_importance"] = shap_importance.rename(columns={"mean_abs_shap": "importance"})
    return context


def _report(out_dir, result, verdict, metadata, performance, shap_importance) -> list[Path]:
    """The board's HTML report (and PDF when Chromium is installed)."""
    from audit import write_report

    made = write_report(result, verdict, out_dir, _context(metadata, performance, shap_importance))
    return [Path(p) for p in made]


def _card(out_dir, result, verdict, metadata, performance, shap_importance) -> list[Path]:
    """The model card, markdown and JSON."""
    from audit import write_model_card

    made = write_model_card(result, verdict, out_dir, _context(metadata, performance, None))
    return [Path(p) for p in made]
