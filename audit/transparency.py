"""A UK Algorithmic Transparency Recording Standard (ATRS) record for the champion.

The ATRS (v3.0, Central Digital and Data Office) has a tier 1 overview for
the public and five tier 2 sections for interested parties: owner and
responsibility, description and rationale, decision-making process, tool
specification (with the model and data), and risks, mitigations and impact
assessments.  MAST fills every field it knows from the model card, the flag
policy, the fairness gate and the monitoring policy; a field only the local
authority can answer (who owns it, who to contact, the DPIA) is written as
``{"value": null, "to_complete": "<who should fill it and with what>"}`` and
shown highlighted, so a record is never published with an invented answer.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from audit.report import LIMITATIONS, NOT_FOR, PURPOSE

STANDARD_VERSION = "3.0"


def person(what: str) -> dict[str, Any]:
    """A field only a person at the local authority can fill."""
    return {"value": None, "to_complete": what}


def transparency_record(card: dict, monitoring_policy: str | None = None) -> dict[str, Any]:
    """The record as a JSON-ready dict, from the model card the audit wrote."""
    d, t, q = card["model_details"], card["training_data"], card["quantitative_analyses"]
    gate = q.get("gate", {})
    overall = q.get("overall", {})
    auc = overall.get("auc", {}) if isinstance(overall.get("auc"), dict) else {}
    return {
        "metadata": {
            "standard_version": STANDARD_VERSION,
            "generated_by": "MAST (mast demo / audit.transparency)",
            "model": f"{d.get('name')} version {d.get('version')}",
            "date_generated": d.get("date"),
            "organisation": person("The local authority's name as it should appear on GOV.UK."),
            "region": person("England, and the local authority area."),
            "function": "Children's social care: the front door (MASH) screening of referrals.",
            "phase": person("Pre-deployment, beta or production, as the board has decided."),
        },
        "tier_1": {
            "name": "MAST: Multi-Agency Screening Tool",
            "description": PURPOSE,
            "how_it_is_used": (
                "When a referral reaches the front door, MAST looks at what the partner "
                "agencies (police, health, schools, housing, children's services) had recorded "
                "about the child and household before the referral, gives a score from 1 to 20, "
                "and flags the highest-scoring referrals for a multi-agency review. A screener "
                "always reads the referral and decides; the score is shown with its reasons."
            ),
            "why_it_is_used": (
                "To help screeners see the whole multi-agency picture quickly and consistently, "
                "so that children at risk are less likely to be missed when information is "
                "spread across agencies."
            ),
            "website": person("The local authority's page about the tool."),
            "contact_email": person("A monitored email address for questions about the tool."),
        },
        "tier_2": {
            "owner_and_responsibility": {
                "organisation_or_team": person("The team that runs the front door."),
                "senior_responsible_owner": person(
                    "Name and role of the accountable senior officer."
                ),
                "external_supplier": "None: MAST is open-source software run by the local authority.",
                "supplier_data_access": "Not applicable: no supplier has access to the data.",
            },
            "description_and_rationale": {
                "detailed_description": (
                    f"{d.get('type')}. It estimates the chance that a child is placed on a child "
                    f"protection plan or becomes looked after within two years ({card['evaluation_data'].get('label')})."
                ),
                "why_this_model": d.get("why_this_model"),
                "scope": NOT_FOR,
                "benefit": (
                    f"On the held-out test period it ranked children with AUC "
                    f"{_num(auc.get('value'))} (95% interval {_num(auc.get('ci_low'))} to "
                    f"{_num(auc.get('ci_high'))})."
                ),
                "alternatives_considered": (
                    "Screeners' judgement alone; a one-line rule (referrals in the last 12 "
                    "months); an L1 logistic regression and gradient-boosted trees, compared on "
                    "the same periods (see the model card and the board's report)."
                ),
            },
            "decision_making_process": {
                "process_integration": (
                    "Advisory: the score is shown to the screener with its reasons; a flagged "
                    "referral goes to a multi-agency review. A person records every decision and "
                    "its reasons in an append-only, hash-chained record."
                ),
                "provided_information": (
                    "A score from 1 to 20 per child, the referral's highest score, whether a "
                    "review is recommended, and the records behind the main reasons."
                ),
                "frequency_and_scale": person("Referrals a month at this front door."),
                "human_decisions_and_review": (
                    "Screeners may decide against the flag; a manager may record an override with "
                    "reasons. Overrides are reported monthly by `mast monitor`."
                ),
                "required_training": person("The training screeners receive before using it."),
                "appeals_and_review": person(
                    "How a family can ask about or challenge a decision the tool informed."
                ),
            },
            "tool_specification": {
                "system_architecture": (
                    "A scoring service inside the authority's network reads a copy of the "
                    "multi-agency records; models are versioned in an MLflow registry and only a "
                    "version that passed the fairness gate (or a recorded governance override) "
                    "is used."
                ),
                "model_name_and_version": f"{d.get('name')} version {d.get('version')}",
                "model_task": "Rank referrals by the chance of the outcome within two years.",
                "model_input": "Counts and flags from partner agencies' records made before the referral; no protected characteristic.",
                "model_output": "A calibrated probability, a 1-20 score and a review flag.",
                "training_data": t.get("description"),
                "deployed_training": t.get("deployed_model"),
                "performance": q.get("backtest_by_year") or "See the board's report.",
                "flag_policy": card["metrics"].get("decision_thresholds"),
                "monitoring": (
                    f"Monthly, by `mast monitor` under monitoring policy {monitoring_policy}: flag "
                    "rate against capacity, drift of scores and inputs, overrides, and "
                    "performance estimated and then measured."
                    if monitoring_policy
                    else "Monthly, by `mast monitor`."
                ),
                "data_sharing_agreements": person(
                    "The information-sharing agreements with each partner agency."
                ),
                "data_retention": person("How long the records and the decision trail are kept."),
            },
            "risks_mitigations_and_impact_assessments": {
                "fairness_gate": (
                    f"{'Passed' if gate.get('passed') else 'Did not pass'} the fairness gate "
                    f"(policy {gate.get('policy_version')})."
                ),
                "gate_reasons": gate.get("reasons", [])[:10],
                "risks": list(LIMITATIONS),
                "data_protection_impact_assessment": person("Date and outcome of the DPIA."),
                "equality_impact_assessment": person(
                    "Date and outcome of the equality impact assessment."
                ),
            },
        },
    }


def _num(value) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "not measured"


def _fields(e, body: dict) -> str:
    rows = []
    for key, value in body.items():
        label = e(key.replace("_", " ").capitalize())
        if isinstance(value, dict) and "to_complete" in value:
            cell = f'<td class="todo"><b>To be completed by a person:</b> {e(value["to_complete"])}</td>'
        elif isinstance(value, list):
            cell = "<td><ul>" + "".join(f"<li>{e(str(v))}</li>" for v in value) + "</ul></td>"
        else:
            cell = f"<td>{e(str(value))}</td>"
        rows.append(f"<tr><th>{label}</th>{cell}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def transparency_html(record: dict) -> str:
    """The record as a readable page; fields for a person are highlighted."""
    e = html.escape
    todo = sum(
        1
        for part in (record["metadata"], record["tier_1"], *record["tier_2"].values())
        for v in part.values()
        if isinstance(v, dict) and "to_complete" in v
    )
    parts = [
        "<!doctype html><html lang='en-GB'><head><meta charset='utf-8'>",
        "<title>Algorithmic transparency record: MAST</title><style>",
        "@page { size: A4; margin: 15mm; } body { font-family: system-ui, sans-serif; max-width: 56rem;"
        " margin: auto; line-height: 1.45; color: #222; } table { border-collapse: collapse; width: 100%;"
        " margin-bottom: 1rem; } th, td { border: 1px solid #ccc; padding: .35rem .5rem; text-align: left;"
        " vertical-align: top; } th { width: 28%; background: #f6f6f6; } .todo { background: #fff4ce; }",
        "</style></head><body>",
        "<h1>Algorithmic Transparency Recording Standard record: MAST</h1>",
        f"<p>Standard version {e(record['metadata']['standard_version'])}. Generated from the model "
        f"card of {e(record['metadata']['model'])}. <b>{todo} fields</b> (highlighted) can only be "
        "completed by the local authority; publish the record only when they are.</p>",
        "<h2>Metadata</h2>",
        _fields(e, record["metadata"]),
        "<h2>Tier 1: overview</h2>",
        _fields(e, record["tier_1"]),
    ]
    for i, (name, body) in enumerate(record["tier_2"].items(), start=1):
        parts += [f"<h2>Tier 2, section {i}: {e(name.replace('_', ' '))}</h2>", _fields(e, body)]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_transparency_record(
    card_path: str | os.PathLike, out_dir: str | os.PathLike, monitoring_policy: str | None = None
) -> list[Path]:
    """Write ``transparency_record.json`` and ``.html`` beside each other, atomically."""
    card = json.loads(Path(card_path).read_text(encoding="utf-8"))
    record = transparency_record(card, monitoring_policy)
    from audit.outputs import write_texts

    return write_texts(
        out_dir,
        {
            "transparency_record.json": json.dumps(
                record, indent=2, ensure_ascii=False, default=str
            ),
            "transparency_record.html": transparency_html(record),
        },
    )
