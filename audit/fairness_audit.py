"""The audit engine: group metrics, disparities and the three lenses.

One call, :func:`audit_predictions`, turns a predictions table into an
:class:`AuditResult`.  Point estimates come from fairlearn's ``MetricFrame``
(:mod:`audit.metrics`); every interval comes from one cluster bootstrap
(:mod:`audit.bootstrap`) shared by all lenses and attributes, so that a
difference between two lenses is judged on the same resamples.

The lenses
----------
``tool_vs_proxy``  the tool's flag against the training label (what the
                   model was optimised for);
``tool_vs_harm``   the same flag against the simulator's ground-truth harm:
                   the gap between the two shows how much apparent
                   disparity comes from the label itself;
``human_vs_proxy`` / ``human_vs_harm``  the screeners' own decisions;
and ``comparisons``: does a tool-only policy narrow or widen the gaps the
screeners already make (Cheng et al., CHI 2022)?
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from audit.bootstrap import GroupPlan, cluster_weight_chunks, percentile_interval
from audit.columns import AuditColumns
from audit.fairness_policy import Policy, load_policy
from audit.frame import INTERSECTION_SEP, PreparedFrame, prepare_frame
from audit.metrics import point_estimates
from store import vocabulary as vocab

OVERALL = "__overall__"
DEFAULT_GROUPS = ("ethnicity", "sex", "age_band", "disability", "deprivation_quintile")
# Who referred (training/front_door.py): audited beside the protected
# characteristics when the predictions carry them.  Not model inputs.
REFERRAL_GROUPS = ("family_or_community", "source_group", "referrer_relationship")
DISPARITY_METRICS = ("selection_rate", "tpr", "fnr", "fpr", "precision", "calibration_gap")
COMPARISON_METRICS = ("selection_rate", "fpr", "fnr")
LENS_TITLES = {
    "tool_vs_proxy": "Tool against the proxy label",
    "tool_vs_harm": "Tool against ground-truth harm (simulation)",
    "human_vs_proxy": "Screeners' decisions against the proxy label",
    "human_vs_harm": "Screeners' decisions against ground-truth harm (simulation)",
}

_ORDER: dict[str, int] = {}
for _tuple in (
    vocab.ETHNICITIES,
    vocab.SEXES,
    vocab.DISABILITIES,
    vocab.AGE_BANDS,
    vocab.DEPRIVATION_QUINTILES,
):
    for _i, _v in enumerate(_tuple):
        _ORDER.setdefault(_v, _i)
_ORDER[vocab.NOT_RECORDED] = 10_000


def _group_sort_key(label: str) -> tuple:
    parts = label.split(INTERSECTION_SEP)
    return tuple((_ORDER.get(p, 5_000), p) for p in parts)


def _est(value: float, low: float, high: float) -> dict[str, float | None]:
    def clean(x: float) -> float | None:
        x = float(x)
        return None if not math.isfinite(x) else x

    return {"value": clean(value), "ci_low": clean(low), "ci_high": clean(high)}


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass
class LensResult:
    """Metrics of one decision against one outcome, by group, with intervals.

    ``groups[attribute][group]`` holds ``n``, ``n_referrals``, counts,
    ``too_small`` and one ``{"value", "ci_low", "ci_high"}`` per metric, plus
    ``calibration`` (a list of score bands) when a probability was given.
    ``disparities[attribute]`` holds the reference group, per-group
    ``difference``/``ratio`` against it and the ``largest_gap`` per metric.
    """

    name: str
    title: str
    decision: str
    outcome: str
    n: int
    n_referrals: int
    overall: dict[str, Any]
    groups: dict[str, dict[str, dict[str, Any]]]
    disparities: dict[str, dict[str, Any]]
    band_labels: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "decision": self.decision,
            "outcome": self.outcome,
            "n": self.n,
            "n_referrals": self.n_referrals,
            "overall": self.overall,
            "groups": self.groups,
            "disparities": self.disparities,
            "band_labels": list(self.band_labels),
        }


@dataclass
class AuditResult:
    """Everything the audit found; ``to_dict()`` is what ``metrics.json`` holds."""

    meta: dict[str, Any]
    lenses: dict[str, LensResult]
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    mitigation: dict[str, Any] | None = None

    @property
    def primary(self) -> LensResult:
        """The tool against the proxy label: the lens the gate judges by default."""
        return self.lenses["tool_vs_proxy"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: undefined figures are None (never NaN), numpy scalars are Python."""
        primary = self.primary
        return _json_safe(
            {
                "schema_version": "1",
                "meta": self.meta,
                "overall": primary.overall,
                "groups": primary.groups,
                "disparities": primary.disparities,
                "lenses": {k: v.to_dict() for k, v in self.lenses.items()},
                "comparisons": self.comparisons,
                "mitigation": self.mitigation,
            }
        )


@dataclass
class _LensSpec:
    name: str
    decision: str
    outcome: str
    rows: np.ndarray  # boolean mask over the prepared frame
    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None
    y_prob: np.ndarray | None
    hidden: bool = False


def _lens_specs(prep: PreparedFrame, harm: str | None, human: str | None) -> list[_LensSpec]:
    everyone = np.ones(prep.n, dtype=bool)
    specs = [
        _LensSpec(
            "tool_vs_proxy",
            "tool",
            "proxy",
            everyone,
            prep.y_true,
            prep.y_pred,
            prep.y_score,
            prep.y_prob,
        )
    ]
    y_harm = prep.extra.get(harm) if harm else None
    if y_harm is not None and np.isfinite(y_harm).any():
        rows = np.isfinite(y_harm)
        specs.append(
            _LensSpec(
                "tool_vs_harm",
                "tool",
                "harm",
                rows,
                y_harm[rows],
                prep.y_pred[rows],
                None if prep.y_score is None else prep.y_score[rows],
                None if prep.y_prob is None else prep.y_prob[rows],
            )
        )
    y_human = prep.extra.get(human) if human else None
    if y_human is not None and np.isfinite(y_human).any():
        outcomes = [("proxy", prep.y_true)]
        if y_harm is not None and np.isfinite(y_harm).any():
            outcomes.append(("harm", y_harm))
        for outcome, y in outcomes:
            rows = np.isfinite(y_human) & np.isfinite(y)
            specs.append(
                _LensSpec(
                    f"human_vs_{outcome}",
                    "human",
                    outcome,
                    rows,
                    y[rows],
                    y_human[rows],
                    None,
                    None,
                )
            )
            # The tool judged on exactly the rows the screeners decided, so the
            # comparison of gaps is like for like (reusing the visible tool lens
            # when the rows are the same, which they are when no decision is missing).
            same = [t for t in specs if t.decision == "tool" and t.outcome == outcome]
            if not (same and np.array_equal(same[0].rows, rows)):
                specs.append(
                    _LensSpec(
                        f"_tool_on_human_{outcome}",
                        "tool",
                        outcome,
                        rows,
                        y[rows],
                        prep.y_pred[rows],
                        None,
                        None,
                        hidden=True,
                    )
                )
    return specs


RATE_DENOMINATOR = {
    "base_rate": "n",
    "selection_rate": "n",
    "tpr": "n_positive",
    "fnr": "n_positive",
    "fpr": "n_negative",
    "precision": "n_flagged",
}


def _widen_degenerate(entry: dict[str, Any], metric: str, conf: float) -> None:
    """Replace a zero-width interval at a rate of 0 or 1 with the exact binomial bound.

    With no events (no false positives among 60 children, say) every
    bootstrap replicate also has none, so the percentile interval is [0, 0]
    and would claim certainty it does not have.  The Clopper–Pearson bound
    for 0 events in ``k`` trials is 1 - (alpha/2)^(1/k); for ``k`` events of
    ``k`` it is the mirror image.  The entry records ``"interval": "exact"``.
    """
    den_key = RATE_DENOMINATOR.get(metric)
    est = entry.get(metric)
    if den_key is None or est is None or est["value"] is None:
        return
    k = entry.get(den_key, 0)
    if k <= 0:
        return
    bound = (1.0 - conf) / 2.0
    if est["value"] == 0.0:
        est["ci_low"] = 0.0
        est["ci_high"] = max(est["ci_high"] or 0.0, 1.0 - bound ** (1.0 / k))
        est["interval"] = "exact"
    elif est["value"] == 1.0:
        est["ci_high"] = 1.0
        est["ci_low"] = min(est["ci_low"] if est["ci_low"] is not None else 1.0, bound ** (1.0 / k))
        est["interval"] = "exact"


def _value(estimate: dict[str, Any]) -> float:
    v = estimate["value"]
    return np.nan if v is None else float(v)


def _reference(policy: Policy, attribute: str, sizes: dict[str, int]) -> str:
    named = policy.reference_groups.get(attribute)
    if named is not None:
        if named not in sizes:
            raise ValueError(
                f"policy reference group {named!r} for {attribute!r} is not in the data; "
                f"groups are {sorted(sizes)}"
            )
        return named
    return max(sizes, key=lambda g: (sizes[g], g != vocab.NOT_RECORDED))


def audit_prepared(
    prep: PreparedFrame,
    *,
    policy: Policy | None = None,
    harm: str | None = None,
    human: str | None = None,
    n_boot: int | None = None,
    random_state: int = 0,
    mitigation: bool = True,
    progress: Callable[[str, float, float], None] | None = None,
) -> AuditResult:
    """Audit arrays already checked by :func:`audit.frame.prepare_frame`."""
    policy = policy or load_policy()
    n_boot = int(n_boot if n_boot is not None else policy.n_boot)
    specs = _lens_specs(prep, harm, human)
    attributes = {OVERALL: np.full(prep.n, "All", dtype=object), **prep.groups}
    plans = _group_plans(prep, specs, attributes)
    boot = _bootstrap(plans, prep.n_clusters, n_boot, random_state, progress)
    lenses: dict[str, LensResult] = {}
    for spec in specs:
        lenses[spec.name] = _build_lens(spec, prep, attributes, plans, boot, policy)
    for outcome in ("proxy", "harm"):
        hidden = f"_tool_on_human_{outcome}"
        if f"human_vs_{outcome}" in lenses and hidden not in lenses:
            lenses[hidden] = lenses[f"tool_vs_{outcome}"]
            for attr in attributes:
                plans[(hidden, attr)] = plans[(f"tool_vs_{outcome}", attr)]
                boot[(hidden, attr)] = boot[(f"tool_vs_{outcome}", attr)]
    comparisons = _compare(lenses, boot, plans, policy)
    mitigation_result = _mitigation(prep, policy, random_state) if mitigation else None
    meta = {
        "n": prep.n,
        "n_referrals": prep.n_clusters,
        "n_boot": n_boot,
        "confidence": policy.confidence,
        "random_state": random_state,
        "resampled_by": "referral",
        "min_group_size": policy.min_group_size,
        "policy_version": policy.version,
        "attributes": list(prep.groups),
        "has_score": prep.y_score is not None,
        "has_probability": prep.y_prob is not None,
        "band_labels": list(prep.band_labels),
    }
    visible = {k: v for k, v in lenses.items() if not k.startswith("_")}
    return AuditResult(
        meta=meta, lenses=visible, comparisons=comparisons, mitigation=mitigation_result
    )


def _group_plans(
    prep: PreparedFrame, specs, attributes: dict[str, np.ndarray]
) -> dict[tuple[str, str], tuple[GroupPlan, list[str]]]:
    """One bootstrap plan per (lens, attribute), with the attribute's groups in order."""
    plans: dict[tuple[str, str], tuple[GroupPlan, list[str]]] = {}
    n_bands = len(prep.band_labels)
    for spec in specs:
        clusters = prep.clusters[spec.rows]
        bands = None if spec.y_prob is None else prep.bands[spec.rows]
        for attr, labels in attributes.items():
            sub = labels[spec.rows]
            names = sorted(set(sub), key=_group_sort_key)
            codes = pd.Categorical(sub, categories=names).codes.astype(np.int64)
            plan = GroupPlan(
                codes,
                len(names),
                clusters,
                prep.n_clusters,
                spec.y_true,
                spec.y_pred,
                spec.y_prob,
                bands,
                n_bands,
                spec.y_score,
            )
            plans[(spec.name, attr)] = (plan, names)
    return plans


def _bootstrap(plans, n_clusters: int, n_boot: int, random_state: int, progress) -> dict:
    """Every plan's metrics on every replicate, from one sparse product per block.

    Returns ``{(lens, attribute): {metric: (n_boot, n_groups) array}}``.
    """
    keys = list(plans)
    stacked = sparse.hstack([plans[k][0].matrix for k in keys], format="csc")
    bounds = np.cumsum([0] + [plans[k][0].matrix.shape[1] for k in keys])
    reps: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {k: {} for k in plans}
    done = 0
    for weights in cluster_weight_chunks(n_clusters, n_boot, random_state):
        sums = np.asarray(weights @ stacked)
        for i, key in enumerate(keys):
            plan = plans[key][0]
            stats = plan.rates_from_sums(sums[:, bounds[i] : bounds[i + 1]])
            stats.pop("band_n", None)
            if plan.auc_matrix is not None:
                stats["auc"] = plan.aucs(weights)
            for metric, value in stats.items():
                reps[key].setdefault(metric, []).append(value)
        done += weights.shape[0]
        if progress is not None:
            progress("bootstrap", done, n_boot)
    return {k: {m: np.concatenate(v) for m, v in d.items()} for k, d in reps.items()}


def _mitigation(prep: PreparedFrame, policy: Policy, random_state: int) -> dict | None:
    """What group-aware thresholds would change (never applied); None without a score."""
    attr = policy.mitigation_attribute
    if prep.y_score is None or attr not in prep.groups:
        return None
    from audit.mitigation import threshold_mitigation

    return threshold_mitigation(
        prep.y_true,
        prep.y_pred,
        prep.y_score,
        prep.groups[attr],
        attribute=attr,
        random_state=random_state,
        min_group_size=policy.min_group_size,
    )


def _build_lens(spec, prep, attributes, plans, boot, policy: Policy) -> LensResult:
    conf = policy.confidence
    groups_out: dict[str, dict[str, dict[str, Any]]] = {}
    disparities: dict[str, dict[str, Any]] = {}
    overall: dict[str, Any] = {}
    clusters = prep.clusters[spec.rows]
    bands = None if spec.y_prob is None else prep.bands[spec.rows]
    totals: pd.Series | None = None
    # Real attributes first: the overall figures are MetricFrame's ``overall``.
    for attr in [*[a for a in attributes if a != OVERALL], OVERALL]:
        labels = attributes[attr]
        plan, names = plans[(spec.name, attr)]
        sub = labels[spec.rows]
        if attr == OVERALL and totals is not None:
            by_group = totals.to_frame("All").T
        else:
            by_group, totals = point_estimates(
                spec.y_true, spec.y_pred, sub, y_prob=spec.y_prob, bands=bands, name=attr
            )
        by_group = by_group.reindex(names)
        if spec.y_score is not None:
            # AUC by the exact tie-aware formula of the bootstrap with unit weights
            # (checked against scikit-learn's roc_auc_score in the tests): fairlearn
            # copies every score element by element, which cost seconds per attribute.
            by_group["auc"] = plan.aucs(np.ones((1, prep.n_clusters)))[0]
        b = boot[(spec.name, attr)]
        metrics = [c for c in by_group.columns if c != "n"]
        intervals = {m: percentile_interval(b[m], conf) for m in metrics}
        sizes = {g: int(by_group.loc[g, "n"]) for g in names}
        table: dict[str, dict[str, Any]] = {}
        for j, g in enumerate(names):
            inside = sub == g
            n_pos = int(spec.y_true[inside].sum())
            entry: dict[str, Any] = {
                "n": sizes[g],
                "n_referrals": int(len(np.unique(clusters[inside]))),
                "n_positive": n_pos,
                "n_negative": sizes[g] - n_pos,
                "n_flagged": int(spec.y_pred[inside].sum()),
                "too_small": sizes[g] < policy.min_group_size,
            }
            for m in metrics:
                entry[m] = _est(by_group.loc[g, m], intervals[m][0][j], intervals[m][1][j])
                _widen_degenerate(entry, m, conf)
            if spec.y_prob is not None:
                entry["calibration"] = _calibration_rows(spec, inside, b, j, prep, conf)
            table[g] = entry
        if attr == OVERALL:
            overall = table["All"]
            continue
        groups_out[attr] = table
        disparities[attr] = _disparities(attr, names, sizes, by_group, b, policy)
    return LensResult(
        name=spec.name,
        title=LENS_TITLES.get(spec.name, spec.name),
        decision=spec.decision,
        outcome=spec.outcome,
        n=int(spec.rows.sum()),
        n_referrals=int(len(np.unique(clusters))),
        overall=overall,
        groups=groups_out,
        disparities=disparities,
        band_labels=prep.band_labels if spec.y_prob is not None else (),
    )


def _calibration_rows(spec, inside, b, j, prep, conf) -> list[dict[str, Any]]:
    bands = prep.bands[spec.rows]
    rows = []
    obs_low, obs_high = percentile_interval(b["band_observed"][:, j, :], conf)
    for k, label in enumerate(prep.band_labels):
        cell = inside & (bands == k)
        count = int(cell.sum())
        rows.append(
            {
                "band": label,
                "n": count,
                "predicted": float(spec.y_prob[cell].mean()) if count else None,
                "observed": _est(
                    spec.y_true[cell].mean() if count else np.nan, obs_low[k], obs_high[k]
                ),
            }
        )
    return rows


def _disparities(attr, names, sizes, by_group, b, policy: Policy) -> dict[str, Any]:
    conf = policy.confidence
    ref = _reference(policy, attr, sizes)
    r = names.index(ref)
    eligible = np.array([sizes[g] >= policy.min_group_size for g in names])
    out: dict[str, Any] = {"reference": ref, "by_group": {}, "largest_gap": {}}
    for m in [m for m in DISPARITY_METRICS if m in by_group.columns] + (
        ["auc"] if "auc" in by_group.columns else []
    ):
        point = by_group[m].to_numpy(dtype=float)
        reps = b[m]
        with np.errstate(invalid="ignore", divide="ignore"):
            diff_reps = reps - reps[:, [r]]
            ratio_reps = reps / reps[:, [r]]
            diff_point = point - point[r]
            ratio_point = point / point[r] if point[r] != 0 else np.full_like(point, np.nan)
        dl, dh = percentile_interval(diff_reps, conf)
        rl, rh = percentile_interval(ratio_reps, conf)
        for j, g in enumerate(names):
            out["by_group"].setdefault(g, {})[m] = {
                "difference": _est(diff_point[j], dl[j], dh[j]),
                "ratio": _est(ratio_point[j], rl[j], rh[j]),
            }
        ok = eligible & np.isfinite(point)
        if ok.sum() >= 2:
            sel = reps[:, ok]
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                gap_reps = np.nanmax(sel, axis=1) - np.nanmin(sel, axis=1)
                ratio_gap_reps = np.nanmax(sel, axis=1) / np.nanmin(sel, axis=1)
            vals = point[ok]
            hi_g = np.asarray(names, dtype=object)[ok][np.argmax(vals)]
            lo_g = np.asarray(names, dtype=object)[ok][np.argmin(vals)]
            gl, gh = percentile_interval(gap_reps[:, None], conf)
            ql, qh = percentile_interval(ratio_gap_reps[:, None], conf)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio_val = vals.max() / vals.min() if vals.min() > 0 else np.inf
            out["largest_gap"][m] = {
                "highest": hi_g,
                "lowest": lo_g,
                "difference": _est(vals.max() - vals.min(), gl[0], gh[0]),
                "ratio": _est(ratio_val, ql[0], qh[0]),
                "groups_compared": int(ok.sum()),
            }
    return out


def _compare(lenses, boot, plans, policy: Policy) -> list[dict[str, Any]]:
    """Lens 3: the gap a tool-only policy makes against the gap screeners make."""
    out = []
    conf = policy.confidence
    for outcome in ("proxy", "harm"):
        human, tool = f"human_vs_{outcome}", f"_tool_on_human_{outcome}"
        if human not in lenses or tool not in lenses:
            continue
        for attr in lenses[human].groups:
            hb, tb = boot[(human, attr)], boot[(tool, attr)]
            sizes = lenses[human].groups[attr]
            names = plans[(human, attr)][1]
            eligible = np.array([sizes[g]["n"] >= policy.min_group_size for g in names])
            if eligible.sum() < 2:
                continue
            for m in COMPARISON_METRICS:
                h_point = np.array([_value(sizes[g][m]) for g in names], dtype=float)
                t_sizes = lenses[tool].groups[attr]
                t_point = np.array(
                    [_value(t_sizes[g][m]) if g in t_sizes else np.nan for g in names], dtype=float
                )
                ok = eligible & np.isfinite(h_point) & np.isfinite(t_point)
                if ok.sum() < 2:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    h_gap = np.nanmax(hb[m][:, ok], 1) - np.nanmin(hb[m][:, ok], 1)
                    t_gap = np.nanmax(tb[m][:, ok], 1) - np.nanmin(tb[m][:, ok], 1)
                change = t_gap - h_gap
                hv = h_point[ok].max() - h_point[ok].min()
                tv = t_point[ok].max() - t_point[ok].min()
                hl, hh = percentile_interval(h_gap[:, None], conf)
                tl, th = percentile_interval(t_gap[:, None], conf)
                cl, ch = percentile_interval(change[:, None], conf)
                if ch[0] < 0:
                    verdict = "narrows"
                elif cl[0] > 0:
                    verdict = "widens"
                else:
                    verdict = "no clear difference"
                out.append(
                    {
                        "attribute": attr,
                        "outcome": outcome,
                        "metric": m,
                        "human_gap": _est(hv, hl[0], hh[0]),
                        "tool_gap": _est(tv, tl[0], th[0]),
                        "change": _est(tv - hv, cl[0], ch[0]),
                        "verdict": verdict,
                        "groups_compared": int(ok.sum()),
                    }
                )
    return out


def audit_predictions(
    frame: pd.DataFrame,
    columns: AuditColumns | None = None,
    *,
    policy: Policy | str | None = None,
    n_boot: int | None = None,
    random_state: int = 0,
    mitigation: bool = True,
    progress: Callable[[str, float, float], None] | None = None,
) -> AuditResult:
    """Audit a table of predictions (MAST's test-period file by default).

    Parameters
    ----------
    frame
        The predictions.
    columns
        Which column holds what (:class:`AuditColumns`); its defaults are
        training's ``evaluation/test_predictions.parquet``.  Any other table
        is audited by naming its columns; optional columns the table lacks
        are skipped and their lenses left out.
    policy
        A :class:`Policy`, a path to a policy file, or None for the default.
    n_boot
        Bootstrap replicates (default from the policy).
    random_state
        Seed for the bootstrap and the mitigation analysis.
    mitigation
        Also report what group-aware thresholds would change (never applied).
    progress
        Optional ``progress(step, completed, total)`` callable.

    Returns
    -------
    AuditResult
    """
    if not isinstance(policy, Policy):
        policy = load_policy(policy)
    cols = (columns or AuditColumns()).present(set(frame.columns))
    groups = cols.groups
    if groups is None:
        groups = [*DEFAULT_GROUPS, *(g for g in REFERRAL_GROUPS if g in frame.columns)]
    intersections = cols.intersections
    if intersections is None:
        intersections = [p for p in policy.intersections if all(c in groups for c in p)]
    extra = [c for c in (cols.y_harm, cols.human_flag) if c is not None]
    prep = prepare_frame(
        frame,
        y_true=cols.y_true,
        groups=list(groups),
        flag=cols.flag,
        score=cols.score,
        threshold=cols.threshold,
        y_prob=cols.y_prob,
        band=cols.band,
        referral_col=cols.referral_col,
        intersections=intersections,
        extra_binary=extra,
    )
    return audit_prepared(
        prep,
        policy=policy,
        harm=cols.y_harm,
        human=cols.human_flag,
        n_boot=n_boot,
        random_state=random_state,
        mitigation=mitigation,
        progress=progress,
    )
