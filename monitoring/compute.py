"""Per-period monitoring figures from scored referrals, and the breaches they trigger.

:func:`monitor_periods` works on a plain frame (one row per referral and
child) so it can be tested on a constructed drift without a service, a
trail or a store; :mod:`monitoring.sources` builds that frame from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitoring.cbpe import expected_auc, expected_flag_metrics, referral_probability
from monitoring.chance import N_DRAWS, ChanceCheck, chance_check, seed_for, shift_words
from monitoring.drift import bin_proportions, psi, psi_reading
from monitoring.policy import MonitoringPolicy
from monitoring.reference import score_proportions


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``k / n``."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return float(c - h), float(c + h)


@dataclass
class PeriodResult:
    """One period's figures; ``breaches`` are plain sentences for the board."""

    period: str
    n_referrals: int
    n_children: int
    n_flagged: int
    flag_rate: float
    flag_rate_ci: tuple[float, float]
    expected_flag_rate: float
    score_psi: float
    feature_psi: dict[str, float]
    overrides: int
    estimated_auc: float
    estimated_precision: float
    n_labelled: int = 0
    realised_auc: dict | None = None
    realised_precision: dict | None = None
    judged: bool = True
    breaches: list[str] = field(default_factory=list)
    # Each PSI against what chance alone gives with this month's number of referrals.
    score_chance: ChanceCheck | None = None
    feature_chance: dict[str, ChanceCheck] = field(default_factory=dict)
    # Which way each input moved, in words ("higher values more common ...").
    feature_shift: dict[str, str] = field(default_factory=dict)

    def top_drift(self, k: int = 5) -> list[tuple[str, float]]:
        items = [(n, v) for n, v in self.feature_psi.items() if np.isfinite(v)]
        return sorted(items, key=lambda t: -t[1])[:k]

    def changed_inputs(self, moderate: float) -> list[tuple[str, float]]:
        """Inputs whose PSI is at least ``moderate`` and beyond chance, largest first."""
        return [
            (n, v)
            for n, v in self.top_drift(len(self.feature_psi))
            if v >= moderate and n in self.feature_chance and self.feature_chance[n].beyond_chance
        ]

    def inputs_sentence(self, moderate: float, labels: dict[str, str] | None = None) -> str:
        """The month's inputs against the training data in one sentence for the board."""
        labels = labels or {}
        changed = self.changed_inputs(moderate)
        if not changed:
            return (
                "The referrals this month look like those the model learned from: no input has "
                "moved from the training data further than chance alone moves it with "
                f"{self.n_referrals} referrals."
            )
        named = "; ".join(
            f"{labels.get(n, n)} ({self.feature_shift.get(n, 'spread differently')})"
            for n, _ in changed[:3]
        )
        more = f"; and {len(changed) - 3} more" if len(changed) > 3 else ""
        return (
            f"The referrals this month look unlike those the model learned from in "
            f"{len(changed)} input{'s' if len(changed) > 1 else ''}, further than chance alone "
            f"moves it with {self.n_referrals} referrals: {named}{more}."
        )


def monitor_periods(
    scored: pd.DataFrame,
    reference: dict,
    policy: MonitoringPolicy,
    expected_flag_rate: float,
    labels: dict[str, str] | None = None,
    backtest_auc: float | None = None,
    n_bootstrap: int = 200,
    random_state: int = 0,
    n_draws: int = N_DRAWS,
) -> list[PeriodResult]:
    """Figures and breaches per ``scored["period"]``, in period order.

    Parameters
    ----------
    scored
        One row per (referral, child): ``period``, ``referral_id``, every
        feature in ``reference["features"]``, ``probability``,
        ``referral_score``, ``flag`` (the referral's), ``overridden``
        (the referral's) and ``y_true`` (NaN until the label window closes).
    expected_flag_rate
        The policy's capacity (or the rate of the latest closed year).
    labels
        Plain-English names of the features, for the breach sentences.
    backtest_auc
        The deployed recipe's backtest AUC; a month far below it is flagged.
    n_draws, random_state
        Months with no change simulated per PSI (:mod:`monitoring.chance`),
        and the seed of those and of the bootstrap of the realised AUC.
    """
    labels = labels or {}
    out = []
    for period, g in scored.groupby("period", sort=True):
        r = _period_figures(str(period), g, reference, policy.min_referrals, expected_flag_rate)
        _check_chance(r, reference, policy, n_draws, random_state)
        _realised(r, g, policy.min_referrals, n_bootstrap, random_state)
        if r.judged:
            r.breaches = _breaches(r, policy, labels, backtest_auc)
        out.append(r)
    return out


def _period_figures(
    period: str, g: pd.DataFrame, reference: dict, min_referrals: int, expected_flag_rate: float
) -> PeriodResult:
    """One period's counts, flag rate, drift and estimated performance (``g``: its rows)."""
    first = ~g["referral_id"].duplicated().to_numpy()
    refs = g.loc[first]
    n_ref = int(first.sum())
    n_flag = int(refs["flag"].sum())
    current = {
        name: bin_proportions(g[name].to_numpy(dtype=float), spec["edges"])
        for name, spec in reference["features"].items()
    }
    expected = {name: spec["proportions"] for name, spec in reference["features"].items()}
    ref_prob = referral_probability(g["probability"].to_numpy(), g["referral_id"].to_numpy())
    est = expected_flag_metrics(
        refs["referral_id"].map(ref_prob).to_numpy(), refs["flag"].to_numpy()
    )
    return PeriodResult(
        period=period,
        n_referrals=n_ref,
        n_children=len(g),
        n_flagged=n_flag,
        flag_rate=n_flag / n_ref if n_ref else float("nan"),
        flag_rate_ci=wilson_interval(n_flag, n_ref),
        expected_flag_rate=float(expected_flag_rate),
        score_psi=psi(
            reference["referral_score_proportions"],
            score_proportions(refs["referral_score"].to_numpy()),
        ),
        feature_psi={name: psi(expected[name], props) for name, props in current.items()},
        overrides=int(refs["overridden"].sum()),
        estimated_auc=expected_auc(g["probability"].to_numpy()),
        estimated_precision=est["expected_precision"],
        judged=n_ref >= min_referrals,
        feature_shift={name: shift_words(expected[name], p) for name, p in current.items()},
    )


def _realised(
    r: PeriodResult, g: pd.DataFrame, min_referrals: int, n_bootstrap: int, random_state: int
) -> None:
    """Realised AUC and precision, once enough of the period's outcomes are known."""
    from training.evaluate import evaluate_predictions

    known = g["y_true"].notna().to_numpy()
    r.n_labelled = int(g.loc[known, "referral_id"].nunique())
    if r.n_labelled < min_referrals or not 0 < g.loc[known, "y_true"].sum() < known.sum():
        return
    res = evaluate_predictions(
        g.loc[known, "referral_id"].to_numpy(),
        g.loc[known, "y_true"].to_numpy(dtype=float),
        g.loc[known, "probability"].to_numpy(),
        g.loc[known, "flag"].to_numpy(),
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )
    r.realised_auc, r.realised_precision = res["auc"], res["precision"]


def _check_chance(r: PeriodResult, reference: dict, policy, n_draws: int, random_state: int):
    """Set each PSI's check against chance, at the policy's level shared by all the checks."""
    names = [n for n, v in r.feature_psi.items() if np.isfinite(v)]
    level = policy.drift_chance / (len(names) + 1)
    r.score_chance = chance_check(
        reference["referral_score_proportions"],
        r.score_psi,
        r.n_referrals,
        level,
        seed_for("referral_score", r.n_referrals, random_state),
        n_draws,
    )
    r.feature_chance = {
        n: chance_check(
            reference["features"][n]["proportions"],
            r.feature_psi[n],
            r.n_referrals,
            level,
            seed_for(n, r.n_referrals, random_state),
            n_draws,
        )
        for n in names
    }


def _breaches(r: PeriodResult, policy, labels, backtest_auc) -> list[str]:
    found = []
    lo, hi = r.flag_rate_ci
    band = (
        policy.flag_rate_low * r.expected_flag_rate,
        policy.flag_rate_high * r.expected_flag_rate,
    )
    if hi < band[0] or lo > band[1]:
        found.append(
            f"The tool flagged {r.flag_rate:.0%} of referrals (95% interval {lo:.0%} to {hi:.0%}) "
            f"against the {r.expected_flag_rate:.0%} the team planned for; outside "
            f"{band[0]:.0%} to {band[1]:.0%}, and not chance."
        )
    if r.score_psi >= policy.psi_breach and r.score_chance and r.score_chance.beyond_chance:
        found.append(
            f"The spread of scores has changed (PSI {r.score_psi:.2f}, where chance alone "
            f"reaches {r.score_chance.line:.2f} with {r.n_referrals} referrals): "
            f"{psi_reading(r.score_psi, policy.psi_moderate, policy.psi_breach)}."
        )
    for name, value in r.changed_inputs(policy.psi_breach):
        found.append(
            f"Input changed: {labels.get(name, name)}, {r.feature_shift.get(name, '')} "
            f"(PSI {value:.2f}, where chance alone reaches {r.feature_chance[name].line:.2f} "
            f"with {r.n_referrals} referrals): "
            f"{psi_reading(value, policy.psi_moderate, policy.psi_breach)}."
        )
    if r.n_referrals and r.overrides / r.n_referrals > policy.max_override_rate:
        found.append(
            f"Managers overrode the tool on {r.overrides} of {r.n_referrals} referrals "
            f"({r.overrides / r.n_referrals:.0%}), above the {policy.max_override_rate:.0%} "
            "the policy allows."
        )
    if backtest_auc is not None:
        floor = backtest_auc - policy.max_auc_drop
        if r.realised_auc is not None and r.realised_auc["ci_high"] < floor:
            found.append(
                f"Realised AUC {r.realised_auc['value']:.3f} (interval "
                f"{r.realised_auc['ci_low']:.3f} to {r.realised_auc['ci_high']:.3f}) is below "
                f"{floor:.3f}, the backtest's {backtest_auc:.3f} less {policy.max_auc_drop:.2f}."
            )
        elif np.isfinite(r.estimated_auc) and r.estimated_auc < floor:
            found.append(
                f"Estimated AUC {r.estimated_auc:.3f} (before outcomes are known) is below "
                f"{floor:.3f}, the backtest's {backtest_auc:.3f} less {policy.max_auc_drop:.2f}."
            )
    return found
