"""The governance board's report: one self-contained HTML file, plus a PDF.

A board member who is not a statistician reads the plain-English summary
first; the tables and charts behind it follow for whoever checks the
figures.  Inputs are plain data (an :class:`AuditResult`, a verdict, an
optional performance table and SHAP table, a metadata dict) so training can
call :func:`write_governance_report` at the end of a run without importing
anything else from the audit.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from audit import figures
from audit.engine import AuditResult
from audit.gate import GateVerdict
from audit.pdf import html_to_pdf
from audit.policy import Policy, load_policy

SIGNOFF_ROLES = (
    "Chair, data and AI governance board",
    "Head of service, MASH",
    "Data protection officer",
    "Lead analyst (audit author)",
    "Practitioner representative",
)
PURPOSE = (
    "MAST gives screeners at the front door (MASH) an advisory score from 1 to 20 for each "
    "referral and flags the highest-scoring referrals for mandatory multi-agency review. "
    "It is a prompt to look again, not a decision."
)
NOT_FOR = (
    "It never decides: it does not open, close or escalate a case, and a person always "
    "records the decision and the reasons. It is not a measure of a family's worth or "
    "blame, it is not for use outside the front door, and it must not be used to ration "
    "services to a group."
)
LIMITATIONS = (
    "The proxy label (a child protection plan or becoming looked after within the label "
    "window) records what services did, not what happened to the child. Where services "
    "act more often for some groups, the tool learns that pattern.",
    "Ground-truth harm is known only in the simulation; in a real authority lens 2 cannot "
    "be computed and the label bias it reveals stays hidden.",
    "Small groups (and many intersections) are too small to conclude from; an absence of a "
    "detected gap there is not evidence of fairness.",
    "Intervals are bootstrap intervals resampled by referral; they capture sampling noise in "
    "the test period, not changes in the population or in practice after it.",
    "Screeners' decisions (lens 3) are observed only as recorded; the comparison shows a "
    "tool-only policy, not how screeners would act with the tool.",
    "Protected characteristics are recorded by agencies with gaps; 'Not recorded' is its own "
    "group, and its make-up may differ between agencies and over time.",
    "Group-specific thresholds (section 6) are shown for information. Using a protected "
    "characteristic to set a child's threshold is a legal and policy decision for the board.",
)
_METRIC_PLAIN = {
    "selection_rate": "flag rate",
    "fpr": "false-positive rate",
    "fnr": "false-negative rate",
    "tpr": "true-positive rate",
    "precision": "precision",
}


class ReportError(RuntimeError):
    """The report could not be written (names what is missing)."""


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _cell(est: dict[str, Any] | None, pct: bool = True) -> str:
    if not est or est.get("value") is None:
        return "–"
    f = _pct if pct else _num
    ci = ""
    if est.get("ci_low") is not None and est.get("ci_high") is not None:
        ci = f'<br><span class="ci">{f(est["ci_low"])}–{f(est["ci_high"])}</span>'
    return f"{f(est['value'])}{ci}"


def _table(data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data))
    if frame.empty:
        return None

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v)

    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[fmt(v) for v in row] for row in frame.itertuples(index=False)],
    }


def _mitigation_view(analysis: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "before_flag": _pct(analysis["before"]["selection_rate"]),
        "after_flag": _pct(analysis["after"]["selection_rate"]),
        "before_recall": _pct(analysis["before"]["tpr"]),
        "after_recall": _pct(analysis["after"]["tpr"]),
        "recall_cost": f"{100 * analysis['recall_cost']:+.1f} percentage points",
        "rows": [
            [
                g,
                f"{v['n']:,}",
                _pct(v["before"]["selection_rate"]),
                _pct(v["after"]["selection_rate"]),
                _pct(v["before"]["fpr"]),
                _pct(v["after"]["fpr"]),
                _pct(v["before"]["tpr"]),
                _pct(v["after"]["tpr"]),
            ]
            for g, v in analysis["by_group"].items()
        ],
    }


def _summary(result: AuditResult, verdict: GateVerdict, metadata: Mapping[str, Any]) -> dict:
    lens = result.primary
    o = lens.overall
    perf = (
        f"On the test period ({lens.n:,} children in {lens.n_referrals:,} referrals) the tool "
        f"flagged {_pct(o['selection_rate']['value'])} of children. Of the children who went on "
        f"to have the outcome, it flagged {_pct(o['tpr']['value'])} (interval "
        f"{_pct(o['tpr']['ci_low'])} to {_pct(o['tpr']['ci_high'])}); of those it flagged, "
        f"{_pct(o['precision']['value'])} had the outcome."
    )
    if "auc" in o and o["auc"]["value"] is not None:
        perf += (
            f" Its ranking quality (AUC) is {_num(o['auc']['value'], 2)}, where 0.5 is chance "
            "and 1 is perfect."
        )
    fairness = []
    # Every single attribute (intersections are in the tables), widest gap first.
    found = []
    for attr, disp in lens.disparities.items():
        gap = disp.get("largest_gap", {}).get("fpr")
        if " × " in attr or not gap or gap["ratio"]["value"] is None:
            continue
        found.append((gap["ratio"]["value"], attr, gap))
    for ratio, attr, gap in sorted(found, key=lambda t: -t[0]):
        fairness.append(
            f"By {attr}: children in the group '{gap['highest']}' without the outcome were "
            f"flagged {_num(ratio, 1)} times as often as those in '{gap['lowest']}' "
            f"(false-positive rate {_pct(lens.groups[attr][gap['highest']]['fpr']['value'])} "
            f"against {_pct(lens.groups[attr][gap['lowest']]['fpr']['value'])})."
        )
    harm = result.lenses.get("tool_vs_harm")
    if harm is not None:
        for attr in list(lens.disparities)[:1] + ["ethnicity"]:
            g1 = lens.disparities.get(attr, {}).get("largest_gap", {}).get("fpr")
            g2 = harm.disparities.get(attr, {}).get("largest_gap", {}).get("fpr")
            if (
                g1
                and g2
                and g1["difference"]["value"] is not None
                and g2["difference"]["value"] is not None
            ):
                fairness.append(
                    f"Measured against true harm (simulation) rather than the proxy label, the "
                    f"largest false-positive-rate gap by {attr} is "
                    f"{_pct(g2['difference']['value'])} instead of {_pct(g1['difference']['value'])}: "
                    "the difference is the part of the apparent disparity that comes from the label."
                )
                break
    widen = [c for c in result.comparisons if c["verdict"] == "widens"]
    narrow = [c for c in result.comparisons if c["verdict"] == "narrows"]
    if result.comparisons:
        fairness.append(
            f"Against the screeners' own decisions, a tool-only policy would widen the gap in "
            f"{len(widen)} and narrow it in {len(narrow)} of {len(result.comparisons)} "
            "comparisons (section 5)."
        )
    small = sum(e["too_small"] for groups in lens.groups.values() for e in groups.values())
    if small:
        fairness.append(
            f"{small} groups have fewer than {result.meta['min_group_size']} children and are "
            "reported but too small to conclude from."
        )
    if verdict.passed:
        gate = (
            f"The model PASSED the governance gate (policy {verdict.policy_version}, "
            f"{verdict.checks} checks). Passing the gate does not make the model fair; it means "
            "no limit the board set was clearly breached."
        )
    else:
        gate = (
            f"The model FAILED the governance gate (policy {verdict.policy_version}) on "
            f"{len(verdict.reasons)} of {verdict.checks} checks. It cannot be promoted for use "
            "unless the board records an override with a name and a reason."
        )
    trained_on = metadata.get(
        "trained_on",
        "Not stated by the caller. (Training supplies the data snapshot, its periods and the label.)",
    )
    return {
        "purpose": metadata.get("purpose", PURPOSE),
        "not_for": metadata.get("not_for", NOT_FOR),
        "trained_on": trained_on,
        "performance": perf,
        "fairness": fairness or ["No disparity could be computed (too few groups)."],
        "gate": gate,
    }


def render_report(
    audit_result: AuditResult,
    verdict: GateVerdict,
    *,
    performance: Any = None,
    shap_importance: Any = None,
    metadata: Mapping[str, Any] | None = None,
    policy: Policy | None = None,
) -> str:
    """The report as one HTML string (see :func:`write_governance_report`)."""
    metadata = dict(metadata or {})
    policy = policy or load_policy()
    lens = audit_result.primary
    has_score = bool(audit_result.meta.get("has_score"))
    has_prob = bool(audit_result.meta.get("has_probability"))
    attributes = []
    calibration = []
    for attr, groups in lens.groups.items():
        disp = lens.disparities.get(attr, {})
        rows = []
        for g, e in groups.items():
            cells = [
                _cell(e.get("base_rate")),
                _cell(e.get("selection_rate")),
                _cell(e.get("tpr")),
                _cell(e.get("fpr")),
                _cell(e.get("fnr")),
                _cell(e.get("precision")),
            ]
            if has_score:
                cells.append(_cell(e.get("auc"), pct=False))
            if has_prob:
                cells.append(_cell(e.get("ece"), pct=False))
            ratio = disp.get("by_group", {}).get(g, {}).get("fpr", {}).get("ratio")
            cells.append("reference" if g == disp.get("reference") else _cell(ratio, pct=False))
            rows.append(
                {"name": g, "n": f"{e['n']:,}", "too_small": e["too_small"], "cells": cells}
            )
        attributes.append(
            {
                "name": attr,
                "reference": disp.get("reference", ""),
                "figure": figures.group_rates_figure(lens, attr),
                "rows": rows,
            }
        )
        if has_prob:
            fig = figures.calibration_figure(lens, attr)
            if fig:
                calibration.append({"name": attr, "figure": fig})

    lens_names = [figures.LENS_SHORT[k] for k in figures.LENS_SHORT if k in audit_result.lenses]
    lens_table = []
    for attr in lens.groups:
        for m in ("selection_rate", "fpr", "fnr"):
            cells = []
            for k in figures.LENS_SHORT:
                if k not in audit_result.lenses:
                    continue
                gap = audit_result.lenses[k].disparities.get(attr, {}).get("largest_gap", {}).get(m)
                cells.append(
                    _cell(gap["difference"])
                    + f'<br><span class="ci">{gap["highest"]} vs {gap["lowest"]}</span>'
                    if gap
                    else "–"
                )
            lens_table.append({"attribute": attr, "metric": _METRIC_PLAIN[m], "cells": cells})
    lens_rows = []
    for lr in audit_result.lenses.values():
        lens_rows.append(
            {
                "title": lr.title,
                "n": f"{lr.n:,}",
                "n_referrals": f"{lr.n_referrals:,}",
                "cells": {
                    m: _cell(lr.overall.get(m), pct=(m != "auc"))
                    for m in ("base_rate", "selection_rate", "tpr", "fpr", "precision", "auc")
                },
            }
        )
    comparisons = [
        {
            "attribute": c["attribute"],
            "outcome": "true harm" if c["outcome"] == "harm" else "proxy label",
            "metric": _METRIC_PLAIN[c["metric"]],
            "human": _cell(c["human_gap"]),
            "tool": _cell(c["tool_gap"]),
            "change": _cell(c["change"]),
            "verdict": c["verdict"],
        }
        for c in audit_result.comparisons
    ]
    mitigation = None
    mit = audit_result.mitigation
    if mit:
        mitigation = {"note": mit["note"], "error": mit.get("error"), "analyses": []}
        if not mit.get("error"):
            mitigation["analyses"].append(
                _mitigation_view(
                    mit,
                    f"fairlearn ThresholdOptimizer by {mit['attribute']} "
                    f"({mit['constraints']}, objective {mit['objective']}). It chooses its own "
                    "operating point, so the overall flag rate can change.",
                )
            )
        same = mit.get("equal_fpr_same_capacity")
        if same:
            mitigation["analyses"].append(
                _mitigation_view(
                    same,
                    f"Group thresholds by {mit['attribute']} that give every group the current "
                    f"overall false-positive rate ({_pct(same['target_fpr'])}), keeping the "
                    "workload about the same.",
                )
            )
    shap_rows = None
    if shap_importance is not None:
        frame = (
            shap_importance
            if isinstance(shap_importance, pd.DataFrame)
            else pd.DataFrame(list(shap_importance))
        )
        if not {"feature", "importance"} <= set(frame.columns):
            raise ReportError("shap_importance needs the columns 'feature' and 'importance'")
        shap_rows = frame[["feature", "importance"]].to_dict("records")

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("audit", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    title = metadata.get("title", "MAST fairness and governance report")
    model = metadata.get("model_name", "")
    version = metadata.get("model_version")
    subtitle = " · ".join(
        str(x)
        for x in (
            f"Model {model}" + (f" version {version}" if version else "") if model else None,
            metadata.get("test_period") and f"test period {metadata['test_period']}",
            metadata.get("subtitle"),
        )
        if x
    )
    return env.get_template("report.html.j2").render(
        title=title,
        subtitle=subtitle or "Advisory decision support for the children's social care front door",
        generated=metadata.get("generated", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        verdict=verdict,
        summary=_summary(audit_result, verdict, metadata),
        performance=_table(performance),
        lens_rows=lens_rows,
        attributes=attributes,
        calibration=calibration,
        band_labels=audit_result.meta.get("band_labels", []),
        lens_figure=figures.lenses_figure(audit_result.lenses, "fpr"),
        lens_names=lens_names,
        lens_table=lens_table,
        comparisons=comparisons,
        mitigation=mitigation,
        shap_figure=figures.shap_figure(shap_rows) if shap_rows else None,
        shap_rows=sorted(shap_rows or [], key=lambda r: -float(r["importance"]))[:25],
        rules=policy.rules,
        limitations=list(metadata.get("limitations", LIMITATIONS)),
        signoff_roles=SIGNOFF_ROLES,
        meta=audit_result.meta,
        metadata=metadata,
        min_group_size=audit_result.meta.get("min_group_size"),
        has_score=has_score,
        has_prob=has_prob,
    )


def write_governance_report(
    out_dir: str | os.PathLike,
    audit_result: AuditResult,
    verdict: GateVerdict,
    *,
    performance: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    shap_importance: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    policy: Policy | None = None,
    pdf: bool = True,
    stem: str = "governance_report",
) -> dict[str, Path]:
    """Write ``<stem>.html`` (and ``<stem>.pdf``) into ``out_dir``; return their paths.

    Parameters
    ----------
    out_dir
        Folder to write into (created if needed).
    audit_result, verdict
        From :func:`audit.audit_predictions` and :func:`audit.evaluate_gate`.
    performance
        Optional table (rows of dicts or a DataFrame) shown as given, e.g.
        training's four models side by side with AUC, AP, Brier.
    shap_importance
        Optional rows with ``feature`` and ``importance`` (mean |SHAP|).
    metadata
        Plain facts for the summary: ``model_name``, ``model_version``,
        ``run_id``, ``trained_on`` (a sentence), ``test_period``, and
        optionally ``purpose``, ``not_for``, ``limitations``, ``title``.
    policy
        The policy the verdict was judged under (for the rules table).
    pdf
        Also print a PDF with headless Chromium; raises
        :class:`audit.pdf.PdfUnavailableError` when Chromium is absent.

    Notes
    -----
    Files are written to a temporary folder beside ``out_dir`` and moved in
    only when all of them are complete, so a failure leaves nothing half-written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html = render_report(
        audit_result,
        verdict,
        performance=performance,
        shap_importance=shap_importance,
        metadata=metadata,
        policy=policy,
    )
    paths: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(dir=out, prefix=".report-") as tmp:
        tmp_html = Path(tmp) / f"{stem}.html"
        tmp_html.write_text(html, encoding="utf-8")
        if pdf:
            html_to_pdf(tmp_html, Path(tmp) / f"{stem}.pdf")
        for f in sorted(Path(tmp).iterdir()):
            if f.suffix in (".html", ".pdf"):
                target = out / f.name
                os.replace(f, target)
                paths[f.suffix[1:]] = target
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


def write_report(
    audit_result: AuditResult,
    gate: GateVerdict,
    out_dir: str | os.PathLike,
    context: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Training's hook: the board report from a run's ``context`` dict.

    ``context`` is the report's ``metadata`` plus optional ``performance``,
    ``shap_importance`` and ``pdf`` (default: a PDF when Chromium is
    installed, so a training run never fails for want of a browser).
    """
    from audit.pdf import find_chromium

    context = dict(context or {})
    performance = context.pop("performance", None)
    shap_importance = context.pop("shap_importance", None)
    pdf = context.pop("pdf", find_chromium() is not None)
    paths = write_governance_report(
        out_dir,
        audit_result,
        gate,
        performance=performance,
        shap_importance=shap_importance,
        metadata=context,
        pdf=bool(pdf),
    )
    return list(paths.values())
