"""The fairness gate: judge an audit against the governance policy.

The verdict is deliberately simple, pass or fail with reasons in plain
English, because it is read by a board and written to MLflow tags where
``mast promote`` checks it.  Groups too small to conclude from are never
failed or passed: they are listed as notes so the board sees them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from audit.fairness_audit import LENS_TITLES, AuditResult
from audit.fairness_policy import Policy, Rule, load_policy

# The denominator behind each rate: a rate is judged only when enough
# children stand behind it (policy ``min_outcome_count``).
_DENOMINATOR = {
    "tpr": "n_positive",
    "fnr": "n_positive",
    "fpr": "n_negative",
    "precision": "n_flagged",
}
_PLAIN = {
    "fpr": "false-positive rate",
    "fnr": "false-negative rate",
    "tpr": "true-positive rate",
    "selection_rate": "flag rate",
    "precision": "precision",
    "calibration_gap": "calibration gap (observed minus predicted)",
    "ece": "expected calibration error",
    "auc": "AUC",
    "base_rate": "base rate",
}


@dataclass
class GateVerdict:
    """The gate's decision.  ``reasons`` say why it failed (empty on a pass)."""

    passed: bool
    reasons: list[str]
    policy_version: str
    notes: list[str] = field(default_factory=list)
    checks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        return "PASS" if self.passed else "FAIL"


def _judged(rule: Rule) -> str:
    """What a limit is judged on, as the reasons (and ``audit.plain.reason_words``) say it."""
    return "estimate" if rule.judged_on == "point" else rule.judged_on


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _interval(est: dict[str, Any]) -> str:
    return f"{_fmt(est['value'])} (CI {_fmt(est['ci_low'])} to {_fmt(est['ci_high'])})"


def _beyond_upper(est: dict[str, Any], limit: float, judged_on: str) -> bool:
    key = "ci_low" if judged_on == "interval" else "value"
    return est[key] is not None and est[key] > limit


def _beyond_lower(est: dict[str, Any], limit: float, judged_on: str) -> bool:
    key = "ci_high" if judged_on == "interval" else "value"
    return est[key] is not None and est[key] < limit


def evaluate_gate(audit_result: AuditResult, policy: Policy | str | None = None) -> GateVerdict:
    """Judge ``audit_result`` against ``policy`` (default: the packaged policy).

    Each rule is checked for every attribute and group the policy names, in
    the lens the policy names (the tool against the proxy label by default).
    A group is judged only when it has at least ``min_group_size`` children
    and, for an error rate, at least ``min_outcome_count`` children in the
    rate's denominator; otherwise it is noted as too small to conclude.

    Returns
    -------
    GateVerdict
        ``passed`` is False when any rule fails; each reason names the rule,
        the attribute, the group, the figure with its interval and the limit.
    """
    if not isinstance(policy, Policy):
        policy = load_policy(policy)
    lens = audit_result.lenses.get(policy.gate_lens)
    if lens is None:
        return GateVerdict(
            passed=False,
            reasons=[
                f"the policy judges the lens {policy.gate_lens!r}, which this audit does not have"
            ],
            policy_version=policy.version,
        )
    reasons: list[str] = []
    notes: list[str] = []
    checks = 0
    attributes = tuple(a for a in (policy.gate_attributes or ()) if a in lens.groups)
    if not attributes:
        # An audit of another file names its own group columns: judge them all.
        attributes = tuple(lens.groups)
    elif policy.gate_attributes:
        for attr in policy.gate_attributes:
            if attr not in lens.groups:
                notes.append(f"{attr}: not in this audit, so not judged")
    for attr in attributes:
        small = [g for g, e in lens.groups[attr].items() if e["too_small"]]
        if small:
            notes.append(
                f"{attr}: too small to conclude (under {policy.min_group_size}): "
                + ", ".join(f"{g} (n={lens.groups[attr][g]['n']})" for g in small)
            )
    for rule in policy.rules:
        rule_lens, rule_attributes = lens, attributes
        if rule.lens or rule.attributes:
            rule_lens = audit_result.lenses.get(rule.lens or policy.gate_lens)
            rule_attributes = tuple(
                a for a in (rule.attributes or attributes) if rule_lens and a in rule_lens.groups
            )
            if rule_lens is None or not rule_attributes:
                notes.append(
                    f"{_PLAIN.get(rule.metric, rule.metric)} by "
                    f"{', '.join(rule.attributes) or 'the gate attributes'} in the lens "
                    f"{rule.lens or policy.gate_lens!r}: not in this audit, so not judged"
                )
                continue
        if rule.kind == "overall_min":
            est = rule_lens.overall.get(rule.metric)
            if est is None or est["value"] is None:
                notes.append(f"{_PLAIN.get(rule.metric, rule.metric)}: not available, not judged")
                continue
            checks += 1
            if _beyond_lower(est, rule.limit, rule.judged_on):
                reasons.append(
                    f"overall {_PLAIN.get(rule.metric, rule.metric)} {_interval(est)} is below "
                    f"the minimum {rule.limit:g} (judged on the {_judged(rule)})"
                )
            continue
        for attr in rule_attributes:
            if attr not in rule_lens.groups:
                continue
            checks_here, failed = _check_attribute(rule, attr, rule_lens, policy, notes)
            checks += checks_here
            if rule_lens is not lens:
                failed = [f"{f} [{rule_lens.title}]" for f in failed]
            reasons.extend(failed)
    if checks == 0:
        reasons.append(
            "no rule could be checked (every group too small or every figure undefined): "
            "a verdict without evidence is not a pass"
        )
    return GateVerdict(
        passed=not reasons,
        reasons=reasons,
        policy_version=policy.version,
        notes=notes,
        checks=checks,
    )


def _check_attribute(rule: Rule, attr: str, lens, policy: Policy, notes: list[str]):
    groups = lens.groups[attr]
    disp = lens.disparities.get(attr, {})
    ref = disp.get("reference")
    name = _PLAIN.get(rule.metric, rule.metric)
    failed: list[str] = []
    checks = 0
    denominator = _DENOMINATOR.get(rule.metric)
    if rule.kind in ("ratio", "difference") and ref is not None:
        ref_entry = groups[ref]
        if denominator and ref_entry[denominator] < policy.min_outcome_count:
            notes.append(f"{attr}: reference group {ref} has too few children for the {name}")
            return 0, []
    for g, entry in groups.items():
        if entry["too_small"]:
            continue
        if denominator and entry[denominator] < policy.min_outcome_count:
            continue
        if rule.kind == "group_max":
            est = entry.get(rule.metric)
            if est is None or est["value"] is None:
                continue
            checks += 1
            if _beyond_upper(est, rule.limit, rule.judged_on):
                failed.append(
                    f"{attr} = {g}: {name} {_interval(est)} exceeds the limit {rule.limit:g} "
                    f"(judged on the {_judged(rule)})"
                )
            continue
        if g == ref:
            continue
        compare = disp.get("by_group", {}).get(g, {}).get(rule.metric)
        if compare is None:
            continue
        compare = _with_exact_bounds(compare, entry.get(rule.metric), groups[ref].get(rule.metric))
        if rule.kind == "ratio":
            est = compare["ratio"]
            if est["value"] is None:
                continue
            checks += 1
            if _beyond_upper(est, rule.limit, rule.judged_on) or _beyond_lower(
                est, 1.0 / rule.limit, rule.judged_on
            ):
                failed.append(
                    f"{attr} = {g}: {name} is {_interval(est)} times that of {ref}, outside "
                    f"the allowed {1 / rule.limit:.2f}–{rule.limit:g} (judged on the {_judged(rule)})"
                )
        elif rule.kind == "difference":
            est = compare["difference"]
            if est["value"] is None:
                continue
            checks += 1
            if _beyond_upper(est, rule.limit, rule.judged_on) or _beyond_lower(
                est, -rule.limit, rule.judged_on
            ):
                failed.append(
                    f"{attr} = {g}: {name} differs from {ref} by {_interval(est)}, beyond "
                    f"±{rule.limit:g} (judged on the {_judged(rule)})"
                )
    return checks, failed


def _with_exact_bounds(compare: dict, group_est: dict | None, ref_est: dict | None) -> dict:
    """Widen a difference/ratio whose group rate had no events (or only events).

    The bootstrap interval of a ratio is [0, 0] when the group has no false
    positives at all, which would "prove" a breach from a handful of
    children.  When the group's rate carries an exact binomial interval
    (see :func:`audit.fairness_audit._widen_degenerate`), the ratio and difference
    are bounded with it against the reference's point estimate instead.
    """
    if not group_est or group_est.get("interval") != "exact" or not ref_est:
        return compare
    ref = ref_est.get("value")
    if ref is None:
        return compare
    lo, hi = group_est["ci_low"], group_est["ci_high"]
    out = {k: dict(v) for k, v in compare.items()}
    out["difference"]["ci_low"] = min(out["difference"]["ci_low"] or 0.0, lo - ref)
    out["difference"]["ci_high"] = max(out["difference"]["ci_high"] or 0.0, hi - ref)
    if ref > 0 and out["ratio"]["value"] is not None:
        out["ratio"]["ci_low"] = min(out["ratio"]["ci_low"] or 0.0, lo / ref)
        out["ratio"]["ci_high"] = max(out["ratio"]["ci_high"] or 0.0, hi / ref)
    return out


def gate_tags(verdict: GateVerdict, prefix: str = "mast.gate") -> dict[str, str]:
    """MLflow tags for a verdict, on the run and on the model version.

    ``mast.gate.passed`` is ``"true"``/``"false"`` so ``mast promote`` and
    ``mast models`` read one tag.  Reasons are joined and cut to 5,000
    characters (MLflow's tag limit is larger, but the board reads the report).
    """
    reasons = "; ".join(verdict.reasons)
    if len(reasons) > 5000:
        reasons = reasons[:4990] + " …(more)"
    return {
        f"{prefix}.passed": "true" if verdict.passed else "false",
        f"{prefix}.policy_version": verdict.policy_version,
        f"{prefix}.reasons": reasons or "none",
        f"{prefix}.checks": str(verdict.checks),
    }


# Reasons that are not a breached limit: the gate could not give a verdict.
_NO_VERDICT = (
    (
        re.compile(r"^audit skipped$"),
        "The fairness audit was not run, so the model has no gate verdict",
    ),
    (
        re.compile(r"^audit package unavailable: "),
        "The fairness audit could not be started, so the model has no gate verdict",
    ),
    (
        re.compile(r"^audit failed: "),
        "The fairness audit stopped with an error, so the model has no gate verdict "
        "(the details are in the run's audit/audit_error.txt)",
    ),
    (
        re.compile(
            r"^the policy judges the lens '(?P<lens>[^']*)', which this audit does not have$"
        ),
        "The governance policy judges the figures for \\g<lens>, which this audit did not "
        "produce, so no limit could be checked",
    ),
    (
        re.compile(r"^no rule could be checked "),
        "No limit could be checked, because every group was too small or every figure was "
        "undefined; a verdict without evidence is not a pass",
    ),
)


_RAW_GROUP = re.compile(r"^(?P<attr>[^=:]+?) = (?P<group>[^:]+): (?P<rest>.*)$")


def reason_sentence(reason: str) -> str:
    """One gate reason as a sentence a board member reads: the group, the figure, the limit.

    Breached limits are put in words by :func:`audit.plain.reason_words`
    (human group names, "95% interval", every number kept); a reason that
    says why there is no verdict (the audit failed or was skipped) is said
    as such, without the library's error text, which the run keeps in
    ``audit/audit_error.txt``.
    """
    from audit.plain import children_phrase, reason_words

    text = reason.strip()
    for pattern, words in _NO_VERDICT:
        m = pattern.match(text)
        if m:
            lens = m.groupdict().get("lens")
            if lens is not None:
                words = words.replace("\\g<lens>", f"'{LENS_TITLES.get(lens, lens)}'")
            return m.expand(words) + "."
    raw = _RAW_GROUP.match(text)
    text = reason_words(text)
    said = _RAW_GROUP.match(text)
    if raw and said:  # an attribute reason_words has no name for (an audit of another file)
        text = (
            f"For {children_phrase(raw['attr'].strip(), raw['group'].strip())}: the {said['rest']}"
        )
    return text if text.endswith(".") else text + "."


def reason_sentences(reasons) -> list[str]:
    """:func:`reason_sentence` for each reason, dropping repeats and the empty "none"."""
    out: list[str] = []
    for reason in reasons:
        if reason.strip() and reason.strip() != "none":
            sentence = reason_sentence(reason)
            if sentence not in out:
                out.append(sentence)
    return out
