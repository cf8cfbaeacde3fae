"""A model card in the fields of Mitchell et al. (2019), as JSON, Markdown and HTML.

"Model Cards for Model Reporting" (FAT* 2019) lists nine sections: model
details, intended use, factors, metrics, evaluation data, training data,
quantitative analyses, ethical considerations, caveats and recommendations.
The card is built from the same audit result and metadata as the board's
report, so the two never disagree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from audit.fairness_audit import AuditResult
from audit.fairness_gate import GateVerdict
from audit.report import LIMITATIONS, NOT_FOR, PURPOSE

MITCHELL_SECTIONS = (
    "model_details",
    "intended_use",
    "factors",
    "metrics",
    "evaluation_data",
    "training_data",
    "quantitative_analyses",
    "ethical_considerations",
    "caveats_and_recommendations",
)


def model_card(
    audit_result: AuditResult,
    verdict: GateVerdict,
    metadata: Mapping[str, Any] | None = None,
    performance: Any = None,
) -> dict[str, Any]:
    """The card as a JSON-ready dict with Mitchell et al.'s nine sections.

    ``metadata`` keys used: ``model_name``, ``model_version``, ``run_id``,
    ``model_type``, ``developers``, ``date``, ``licence``, ``trained_on``,
    ``training_period``, ``test_period``, ``label_definition``,
    ``flag_policy``, ``contact``.  Missing facts are written as "not stated"
    rather than left out, so a reader sees what is unknown.
    """
    md = dict(metadata or {})
    lens = audit_result.primary

    def get(key: str) -> Any:
        return md.get(key, "not stated")

    per_group = {
        attr: {
            g: {
                "n": e["n"],
                "too_small": e["too_small"],
                **{m: e[m] for m in ("selection_rate", "tpr", "fpr", "fnr", "precision") if m in e},
            }
            for g, e in groups.items()
        }
        for attr, groups in lens.groups.items()
    }
    card = {
        "model_details": {
            "name": get("model_name"),
            "version": get("model_version"),
            "mlflow_run_id": get("run_id"),
            "type": md.get("model_type", "Calibrated gradient-boosted trees (LightGBM)"),
            "developers": md.get("developers", "MAST open-source project"),
            "date": get("date"),
            "licence": md.get("licence", "MIT"),
            "contact": get("contact"),
            "why_this_model": get("model_choice"),
        },
        "intended_use": {
            "primary_uses": md.get("purpose", PURPOSE),
            "primary_users": "Screeners and managers at a children's social care front door (MASH).",
            "out_of_scope": md.get("not_for", NOT_FOR),
        },
        "factors": {
            "relevant_factors": list(lens.groups),
            "evaluation_factors": (
                "Ethnicity, sex, age band, disability and deprivation quintile, and the "
                "intersections named in the policy; 'Not recorded' is a group of its own."
            ),
        },
        "metrics": {
            "performance_measures": [
                "AUC",
                "flag rate",
                "true-positive rate (recall)",
                "false-positive rate",
                "false-negative rate",
                "precision",
                "calibration gap and expected calibration error by score band",
            ],
            "decision_thresholds": get("flag_policy"),
            "variation_approaches": (
                f"{audit_result.meta['n_boot']} bootstrap replicates resampled by referral, "
                f"{round(audit_result.meta['confidence'] * 100)}% percentile intervals."
            ),
        },
        "evaluation_data": {
            "datasets": get("test_period"),
            "n_children": lens.n,
            "n_referrals": lens.n_referrals,
            "label": get("label_definition"),
        },
        "training_data": {
            "description": get("trained_on"),
            "period": get("training_period"),
            "deployed_model": get("deployed_training"),
        },
        "quantitative_analyses": {
            "overall": lens.overall,
            "by_group": per_group,
            "largest_gaps": {a: d.get("largest_gap", {}) for a, d in lens.disparities.items()},
            "lenses": {k: v.overall for k, v in audit_result.lenses.items()},
            "backtest_by_year": list(md.get("backtest", [])),
            "human_comparison": audit_result.comparisons,
            "performance_table": performance if isinstance(performance, list) else None,
            "gate": verdict.to_dict(),
        },
        "ethical_considerations": [
            "Advisory only: a person always decides and records the reasons.",
            "Protected characteristics are not model inputs; they are used only to audit.",
            "The proxy label reflects past service decisions and may carry their biases.",
        ],
        "caveats_and_recommendations": list(md.get("limitations", LIMITATIONS)),
    }
    return card


def _fmt(est: Any) -> str:
    if isinstance(est, dict) and "value" in est:
        if est["value"] is None:
            return "n/a"
        if est.get("ci_low") is None:
            return f"{est['value']:.3f}"
        return f"{est['value']:.3f} ({est['ci_low']:.3f}–{est['ci_high']:.3f})"
    return str(est)


def _quantitative_markdown(body: Mapping[str, Any]) -> list[str]:
    """The quantitative analyses: the gate's verdict, overall figures, backtest, by group."""
    gate = body["gate"]
    lines = [f"Gate: **{'PASS' if gate['passed'] else 'FAIL'}** (policy {gate['policy_version']})."]
    lines += [f"- {r}" for r in gate["reasons"][:20]]
    lines += ["", "| measure | overall (95% interval) |", "|---|---|"]
    lines += [
        f"| {m} | {_fmt(est)} |" for m, est in body["overall"].items() if isinstance(est, dict)
    ]
    if body.get("backtest_by_year"):
        lines += ["", "**Rolling-origin backtest of the deployed recipe, by test year**", ""]
        lines += [f"- {line}" for line in body["backtest_by_year"]]
    for attr, groups in body["by_group"].items():
        lines += [
            "",
            f"**{attr}**",
            "",
            "| group | n | flag rate | TPR | FPR | FNR | precision |",
            "|---|---|---|---|---|---|---|",
        ]
        for g, e in groups.items():
            small = " (too small to conclude)" if e["too_small"] else ""
            lines.append(
                f"| {g}{small} | {e['n']} | "
                + " | ".join(
                    _fmt(e.get(m)) for m in ("selection_rate", "tpr", "fpr", "fnr", "precision")
                )
                + " |"
            )
    return lines


def model_card_markdown(card: Mapping[str, Any]) -> str:
    """Render the card dict as markdown, one heading per Mitchell section."""
    lines = [
        f"# Model card: {card['model_details']['name']} {card['model_details']['version']}",
        "",
    ]
    for section in MITCHELL_SECTIONS:
        lines += [f"## {section.replace('_', ' ').capitalize()}", ""]
        body = card[section]
        if section == "quantitative_analyses":
            lines += _quantitative_markdown(body)
        elif isinstance(body, dict):
            for k, v in body.items():
                lines.append(
                    f"- **{k.replace('_', ' ')}**: {v if not isinstance(v, list) else ', '.join(map(str, v))}"
                )
        else:
            from audit.model_card_html import standalone

            lines += [f"- {standalone(str(item))}" for item in body]
        lines.append("")
    return "\n".join(lines)


def write_model_card(
    audit_result: AuditResult,
    gate: GateVerdict,
    out_dir: str | os.PathLike,
    context: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write ``model_card.json``, ``model_card.md`` and ``model_card.html`` atomically.

    The HTML (:mod:`audit.model_card_html`) is the one for a person to read;
    the JSON feeds the transparency record; the Markdown is shown by MLflow.

    ``context`` is the card's metadata (see :func:`model_card`) plus an
    optional ``performance`` table; the signature matches
    :func:`audit.report.write_report` so training calls both the same way.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    context = dict(context or {})
    performance = context.pop("performance", None)
    if performance is not None and not isinstance(performance, list):
        performance = [
            dict(r) for r in getattr(performance, "to_dict", lambda _: performance)("records")
        ]
    card = model_card(audit_result, gate, context, performance)
    from audit.model_card_html import model_card_html
    from audit.outputs import write_texts

    return write_texts(
        out,
        {
            "model_card.json": json.dumps(card, indent=2, ensure_ascii=False, default=str),
            "model_card.md": model_card_markdown(card),
            "model_card.html": model_card_html(card),
        },
    )
