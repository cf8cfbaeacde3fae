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
from audit.fairness_audit import AuditResult
from audit.fairness_gate import GateVerdict
from audit.fairness_policy import Policy, load_policy
from audit.pdf import html_to_pdf

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
    "Group-specific thresholds (the section after the three lenses) are shown for information. Using a protected "
    "characteristic to set a child's threshold is a legal and policy decision for the board.",
)
# The report's sections in order; a section with nothing to show is left out
# and the rest are numbered without a gap.
SECTIONS = (
    "summary",
    "performance",
    "groups",
    "calibration",
    "lenses",
    "mitigation",
    "shap",
    "gate",
    "practice",
    "linkage",
    "limitations",
    "glossary",
    "signoff",
)
GLOSSARY = (
    (
        "Flag",
        "The tool's recommendation that a referral gets a multi-agency review. A person decides.",
    ),
    (
        "Proxy label (the outcome)",
        "What the tool is trained to predict: a child protection plan or becoming looked after "
        "within two years. It records what services did, not everything that happened.",
    ),
    (
        "True harm (simulation only)",
        "In the simulated authority the harm each child suffered is known; in a real one it is not.",
    ),
    ("Flag rate", "Out of every 100 children, how many the tool flags."),
    (
        "True-positive rate (recall)",
        "Of the children who went on to the outcome, how many in 100 the tool flagged.",
    ),
    (
        "False-positive rate (FPR)",
        "Of the children who did not go on to the outcome, how many in 100 the tool flagged "
        "anyway: it 'wrongly flags' them.",
    ),
    (
        "False-negative rate (FNR)",
        "Of the children who went on to the outcome, how many in 100 the tool did not flag.",
    ),
    ("Precision", "Of the children the tool flagged, how many in 100 went on to the outcome."),
    (
        "AUC",
        "How well the score puts children who went on to the outcome above those who did not: "
        "0.5 is a coin toss, 1 is perfect.",
    ),
    (
        "Calibration, ECE",
        "Whether a probability of 20% means 20 in 100 went on to the outcome; the expected "
        "calibration error (ECE) is the average distance from that.",
    ),
    (
        "95% interval",
        "The range the figure could plausibly take given chance in who was referred; when the "
        "interval of a ratio between two groups includes 1, the gap could be chance.",
    ),
    (
        "Too small to conclude",
        "A group with too few children for any figure about it to mean much; listed, never hidden.",
    ),
    (
        "SHAP",
        "A way of measuring how much each piece of information moved a score up or down.",
    ),
    (
        "Backtest",
        "Testing the way the model is built on past years, as if it had been used then.",
    ),
)
_METRIC_PLAIN = {
    "selection_rate": "flag rate",
    "fpr": "false-positive rate",
    "fnr": "false-negative rate",
    "tpr": "true-positive rate",
    "precision": "precision",
}


def _feature_labels() -> dict[str, str]:
    """Plain-English names of the model's inputs, from the feature catalogue."""
    try:
        from features import catalogue

        return {s.name: s.definition for s in catalogue()}
    except Exception:  # a report on another model's inputs keeps their names
        return {}


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


def _outcome_words(metadata: Mapping[str, Any]) -> str:
    return metadata.get(
        "outcome_words",
        "a child protection plan or becoming looked after within two years",
    )


def _summary(
    result: AuditResult, verdict: GateVerdict, metadata: Mapping[str, Any], num: Mapping[str, int]
) -> dict:
    """Page one: what the tool is, how well it works and how fairly, the verdict, the decision."""
    from audit import plain

    lens = result.primary
    o = lens.overall
    outcome = _outcome_words(metadata)

    def est(key: str) -> dict:
        return o.get(key) or {}

    how = [
        f"It was tested on {lens.n_referrals:,} referrals ({lens.n:,} children) received after "
        f"everything it learned from. It flagged {plain.in_100(est('selection_rate').get('value'))} "
        "in every 100 children for a multi-agency review.",
        f"Of every 100 children who went on to {outcome}, it flagged "
        f"{plain.in_100(est('tpr').get('value'))} (allowing for chance, between "
        f"{plain.in_100(est('tpr').get('ci_low'))} and {plain.in_100(est('tpr').get('ci_high'))}); "
        f"of every 100 children it flagged, {plain.in_100(est('precision').get('value'))} went on "
        "to it.",
    ]
    human = result.lenses.get("human_vs_proxy")
    if human is not None and (human.overall.get("tpr") or {}).get("value") is not None:
        how.append(
            "On the same referrals, the screeners' own first decisions sent "
            f"{plain.in_100(human.overall['tpr']['value'])} in every 100 of the children who went "
            f"on to {outcome} to a strategy discussion (and "
            f"{plain.in_100((human.overall.get('selection_rate') or {}).get('value'))} in every 100 "
            "of all children)."
        )
    if (est("auc") or {}).get("value") is not None:
        how.append(
            f"Its ranking quality (AUC, see the glossary) is {_num(est('auc')['value'], 2)}, where "
            "0.5 is no better than chance and 1 is perfect."
        )
    if metadata.get("backtest"):
        how.append(
            f"It was also tested year by year on {len(metadata['backtest'])} successive years "
            f"(section {num['performance']}), to show whether its figures hold over time."
        )
    fairness = []
    order = ["deprivation_quintile", "ethnicity", "sex", "age_band", "disability"]
    attrs = [a for a in order if a in lens.groups] + [
        a for a in lens.groups if a not in order and "×" not in a
    ]
    for attr in attrs:
        sentence = plain.largest_gap_sentence(lens, attr, "fpr")
        if sentence:
            fairness.append(sentence)
    why, more = plain.reason_sentences(lens, verdict.reasons)
    if verdict.passed:
        gate = (
            f"The tool PASSED the fairness gate (fairness policy {verdict.policy_version}): none of "
            f"the {verdict.checks} limits the board set was clearly breached. Passing does not make "
            "the tool fair; the gaps above remain and are monitored."
        )
        decide = (
            f"Whether version {metadata.get('model_version', '')} of the tool may be used at the "
            "front door: approve, approve with conditions, or do not approve "
            f"(sign-off, section {num['signoff']})."
        )
    else:
        gate = (
            f"The tool DID NOT PASS the fairness gate (fairness policy {verdict.policy_version}): "
            f"{len(verdict.reasons)} of the {verdict.checks} limits the board set were breached. "
            "The main reasons, in words:"
        )
        decide = (
            f"Whether version {metadata.get('model_version', '')} of the tool may be used at the "
            "front door even though it did not pass the fairness gate. Approving it is a governance "
            "override: the board must record who decided and why; otherwise it is not used "
            f"(sign-off, section {num['signoff']})."
        )
    return {
        "decide": decide,
        "purpose": metadata.get("purpose", PURPOSE),
        "not_for": metadata.get("not_for", NOT_FOR),
        # SLOT (issue #19 / i14): "What the tool adds to the screeners" (incremental and union
        # catch) arrives as metadata["adds_to_screeners"]; shown on page one when present.
        "adds": metadata.get("adds_to_screeners"),
        "choice": metadata.get("model_choice"),
        "trained_on": plain.short_hashes(
            metadata.get(
                "trained_on",
                "The data it was trained on was not given to this report; see the model card.",
            )
        ),
        "how": how,
        "fairness": fairness or ["No gap between groups could be measured (too few children)."],
        "gate": gate,
        "gate_why": why,
        "gate_more": more,
        "passed": verdict.passed,
    }


def _attribute_views(lens, has_score: bool, has_prob: bool) -> tuple[list[dict], list[dict]]:
    """Per audited attribute: its table rows and figure, and its calibration figure."""
    from audit import plain

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
                "label": plain.attribute_label(attr).capitalize(),
                "reference": disp.get("reference", ""),
                "figure": figures.group_rates_figure(lens, attr),
                "rows": [r for r in rows if not r["too_small"]],
                "small": ", ".join(f"{r['name']} ({r['n']})" for r in rows if r["too_small"]),
                "n_small": sum(r["too_small"] for r in rows),
            }
        )
        if has_prob:
            fig = figures.calibration_figure(lens, attr)
            if fig:
                calibration.append({"name": attr, "figure": fig})
    return attributes, calibration


def _lens_table(audit_result: AuditResult, lens) -> list[dict]:
    """The largest gap of each rate, by attribute, under each lens."""
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
    return lens_table


def _lens_rows(audit_result: AuditResult) -> list[dict]:
    """One row of overall figures per lens."""
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
    return lens_rows


def _mitigation_section(mit: Mapping[str, Any] | None) -> dict | None:
    """What the mitigations would change, when the audit tried them."""
    if not mit:
        return None
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
    return mitigation


def _shap_rows(shap_importance: Any) -> list[dict] | None:
    """The SHAP importances as rows with each feature's plain name."""
    if shap_importance is None:
        return None
    frame = (
        shap_importance
        if isinstance(shap_importance, pd.DataFrame)
        else pd.DataFrame(list(shap_importance))
    )
    if not {"feature", "importance"} <= set(frame.columns):
        raise ReportError("shap_importance needs the columns 'feature' and 'importance'")
    shap_rows = frame[["feature", "importance"]].to_dict("records")
    labels = _feature_labels()
    for r in shap_rows:
        r["label"] = labels.get(r["feature"], r["feature"])
    return shap_rows


def _subtitle(metadata: Mapping[str, Any]) -> str:
    """The model, its version and the test period, joined for the report's subtitle."""
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
    return subtitle


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
    from audit import plain

    metadata = dict(metadata or {})
    policy = policy or load_policy()
    lens = audit_result.primary
    has_score = bool(audit_result.meta.get("has_score"))
    has_prob = bool(audit_result.meta.get("has_probability"))
    attributes, calibration = _attribute_views(lens, has_score, has_prob)

    lens_names = [figures.LENS_SHORT[k] for k in figures.LENS_SHORT if k in audit_result.lenses]
    lens_table = _lens_table(audit_result, lens)
    lens_rows = _lens_rows(audit_result)
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
    mitigation = _mitigation_section(audit_result.mitigation)
    shap_rows = _shap_rows(shap_importance)

    present = {
        "calibration": bool(calibration),
        "mitigation": bool(mitigation),
        "shap": bool(shap_rows),
        "practice": bool(metadata.get("practice")),
        "linkage": bool(metadata.get("linkage")),
    }
    num = {}
    for key in SECTIONS:
        if present.get(key, True):
            num[key] = len(num) + 1
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("audit", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    env.filters["attr_label"] = lambda a: plain.attribute_label(str(a)).capitalize()
    env.filters["reason_words"] = lambda r: plain.reason_words(str(r))
    title = metadata.get("title", "MAST fairness and governance report")
    subtitle = _subtitle(metadata)
    return env.get_template("report.html.j2").render(
        title=title,
        subtitle=subtitle or "Advisory decision support for the children's social care front door",
        generated=metadata.get("generated", _uk_now()),
        verdict=verdict,
        num=num,
        summary=_summary(audit_result, verdict, metadata, num),
        glossary=GLOSSARY,
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
        practice=metadata.get("practice"),
        linkage=metadata.get("linkage"),
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
        optionally ``purpose``, ``not_for``, ``limitations``, ``title``, and
        ``practice`` (from :func:`audit.practice.practice_section`: the
        front door's practice figures by month and team, a section of its own).
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


def _uk_now() -> str:
    """When the report was made, in UK local time as the board reads it."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo("Europe/London")).strftime("%d %B %Y %H:%M (UK time)")
