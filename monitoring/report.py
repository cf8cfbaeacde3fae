"""The monitoring report: one HTML page with plots, and the lines the terminal prints."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from pathlib import Path

import numpy as np

from monitoring.breakdown import GroupRow
from monitoring.compute import PeriodResult
from monitoring.drift import psi_reading
from monitoring.policy import MonitoringPolicy


def month_name(period: str) -> str:
    """``2026-01`` -> "January 2026" (anything else is shown as it is)."""
    try:
        return datetime.strptime(period, "%Y-%m").strftime("%B %Y")
    except ValueError:
        return period


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plots(results: list[PeriodResult], labels: dict, policy: MonitoringPolicy) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    periods = [month_name(r.period)[:3] + month_name(r.period)[-5:] for r in results]
    x = np.arange(len(periods))
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    rate = np.array([r.flag_rate for r in results])
    lo = np.array([r.flag_rate_ci[0] for r in results])
    hi = np.array([r.flag_rate_ci[1] for r in results])
    ax.errorbar(
        x,
        rate * 100,
        yerr=[(rate - lo) * 100, (hi - rate) * 100],
        marker="o",
        capsize=4,
        label="referrals flagged (95% interval)",
    )
    exp = results[0].expected_flag_rate * 100
    ax.axhline(exp, color="k", lw=1, ls="--", label=f"planned ({exp:.0f}%)")
    ax.axhspan(
        exp * policy.flag_rate_low,
        exp * policy.flag_rate_high,
        color="green",
        alpha=0.08,
        label="accepted band",
    )
    ax.set_xticks(x, periods)
    ax.set_ylabel("% of referrals flagged")
    ax.set_title("Flag rate each month against the team's capacity")
    ax.legend(fontsize=8)
    flag_png = _png(fig)

    last = results[-1]
    top = last.top_drift(10)[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(top) + 1.2))
    colours = [_bar_colour(last, n, v, policy) for n, v in top]
    names = [labels.get(n, n) for n, _ in top]
    ax.barh(names, [v for _, v in top], color=colours)
    checked = [
        (labels.get(n, n), last.feature_chance[n].line) for n, _ in top if n in last.feature_chance
    ]
    if checked:
        ax.scatter(
            [c[1] for c in checked],
            [c[0] for c in checked],
            marker="|",
            s=200,
            color="k",
            label="chance alone reaches",
        )
        ax.legend(fontsize=8, loc="lower right")
    ax.axvline(policy.psi_moderate, color="#e6a700", lw=1, ls="--")
    ax.axvline(policy.psi_breach, color="#c0392b", lw=1, ls="--")
    ax.set_xlabel(
        "population stability index (0 = unchanged; dashed lines: moderate, large; "
        "grey bars: within chance)"
    )
    ax.set_title(
        f"The inputs that changed most, {month_name(last.period)}, against the training data"
    )
    drift_png = _png(fig)
    return {"flag_rate": flag_png, "drift": drift_png}


def _bar_colour(r: PeriodResult, name: str, value: float, policy: MonitoringPolicy) -> str:
    """Red past the breach line, amber past moderate, grey within chance, green below moderate."""
    if value < policy.psi_moderate:
        return "#2e7d32"
    chance = r.feature_chance.get(name)
    if chance is not None and not chance.beyond_chance:
        return "#9e9e9e"
    return "#c0392b" if value >= policy.psi_breach else "#e6a700"


def summary_lines(
    results: list[PeriodResult], policy: MonitoringPolicy, labels: dict | None = None
) -> list[str]:
    """One flag-rate line and two drift lines per period, as the CLI and the demo print them.

    ``labels`` gives the inputs' plain-English names (the feature catalogue's).
    """
    lines = []
    for r in results:
        month = month_name(r.period)
        judged = "" if r.judged else f" (fewer than {policy.min_referrals} referrals: not judged)"
        lines.append(
            f"{month}: {r.n_referrals} referrals scored, {r.n_flagged} flagged = "
            f"{r.flag_rate:.0%} (95% interval {r.flag_rate_ci[0]:.0%} to {r.flag_rate_ci[1]:.0%}) "
            f"against a planned {r.expected_flag_rate:.0%}{judged}"
        )
        lines.append(f"{month}: {r.inputs_sentence(policy.psi_moderate, labels)}")
        lines.append(f"{month}: {_drift_figures(r, policy)}")
        for b in r.breaches:
            lines.append(f"{month}: BREACH: {b}")
    return lines


def _drift_figures(r: PeriodResult, policy: MonitoringPolicy) -> str:
    """The score's PSI and the most changed input's, each read against chance."""
    reading = psi_reading(r.score_psi, policy.psi_moderate, policy.psi_breach, r.score_chance)
    text = f"scores PSI {r.score_psi:.2f} ({reading})"
    top = r.top_drift(1)
    if top:
        name, value = top[0]
        chance = r.feature_chance.get(name)
        line = f", where chance alone reaches {chance.line:.2f}" if chance else ""
        text += f"; most changed input PSI {value:.2f}{line}"
    changed = len(r.changed_inputs(policy.psi_breach))
    return text + f"; {changed} input(s) past the {policy.psi_breach:g} line and beyond chance"


ATTRIBUTE_TITLES = {
    "team": "By team (the team of whoever was first shown the score)",
    "source_group": "By who referred",
    "ethnicity": "By ethnicity",
    "sex": "By sex",
    "age_band": "By age",
    "disability": "By disability",
    "deprivation_quintile": "By how deprived the home area is",
}


def group_label(attribute: str, group: str) -> str:
    """A group's row label in words: "MASH North", "Referred by the police", "Girls"."""
    from audit.plain import _who_referred, children_phrase

    if attribute == "team":
        return group
    if attribute == "source_group":
        return f"Referred by {_who_referred(group)}"
    words = children_phrase(attribute, group)
    return words[:1].upper() + words[1:]


def _group_name(row: GroupRow) -> str:
    if not row.folded:
        return group_label(row.attribute, row.group)
    names = "; ".join(group_label(row.attribute, g) for g in row.folded)
    return f"Smaller groups together, too few to conclude one by one: {names}"


def breakdown_lines(groups: dict[str, list[GroupRow]] | None) -> list[str]:
    """One line per team (and one for statutory rules overall), as the CLI and the demo print them."""
    if not groups or not groups.get("team"):
        return []
    lines = []
    for r in groups["team"]:
        lines.append(
            f"Team {_group_name(r)}: {r.n} referrals; flagged {r.flagged.words()}; statutory "
            f"rules met {r.triggered.words()}; overridden {r.overridden.words()}"
        )
    return lines


def _group_tables(groups: dict[str, list[GroupRow]] | None, min_group: int) -> str:
    if not groups:
        return "<p>No team or group information was available for these referrals.</p>"
    e = html.escape
    parts = []
    for attribute, rows in groups.items():
        unit = rows[0].unit if rows else "referrals"
        body = "".join(
            f'<tr class="{"folded" if r.folded else ""}"><td>{e(_group_name(r))}</td>'
            f"<td>{r.n:,}</td><td>{e(r.flagged.words())}</td>"
            f"<td>{e(r.triggered.words())}"
            + (f" ({r.not_evaluated:,} scored without the rules)" if r.not_evaluated else "")
            + f"</td><td>{e(r.overridden.words())}</td></tr>"
            for r in rows
        )
        parts.append(
            f"<h3>{e(ATTRIBUTE_TITLES.get(attribute, attribute))}</h3>"
            f"<table><tr><th>group</th><th>{unit}</th><th>flagged for review</th>"
            f"<th>meeting a statutory rule</th><th>overridden by a manager</th></tr>{body}</table>"
        )
    return "".join(parts)


def _drift_row(r: PeriodResult, name: str, value: float, labels: dict, policy) -> str:
    """One input's row of section 2: its PSI, chance's line, which way it moved and the reading."""
    e = html.escape
    chance = r.feature_chance.get(name)
    line = f"{chance.line:.2f}" if chance and np.isfinite(chance.line) else "-"
    return (
        f"<tr><td>{e(labels.get(name, name))}</td><td>{value:.2f}</td><td>{line}</td>"
        f"<td>{e(r.feature_shift.get(name, ''))}</td>"
        f"<td>{e(psi_reading(value, policy.psi_moderate, policy.psi_breach, chance))}</td></tr>"
    )


def write_report(
    path: Path,
    results: list[PeriodResult],
    policy: MonitoringPolicy,
    labels: dict,
    facts: dict,
    groups: dict[str, list[GroupRow]] | None = None,
) -> Path:
    """Write the HTML report (plots embedded, so the one file can be sent or archived)."""
    e = html.escape
    plots = _plots(results, labels, policy)
    rows = []
    for r in results:
        realised = (
            f"{r.realised_auc['value']:.3f} ({r.realised_auc['ci_low']:.3f} to "
            f"{r.realised_auc['ci_high']:.3f}), {r.n_labelled} referrals"
            if r.realised_auc
            else f"not yet known ({r.n_labelled} referrals with outcomes)"
        )
        status = (
            "not judged (too few)"
            if not r.judged
            else ("BREACH" if r.breaches else "within policy")
        )
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{e(str(c))}</td>"
                for c in (
                    month_name(r.period),
                    r.n_referrals,
                    f"{r.flag_rate:.1%} ({r.flag_rate_ci[0]:.0%} to {r.flag_rate_ci[1]:.0%})",
                    f"{r.expected_flag_rate:.0%}",
                    f"{r.score_psi:.2f}",
                    r.overrides,
                    f"{r.estimated_auc:.3f}",
                    f"{r.estimated_precision:.0%}" if np.isfinite(r.estimated_precision) else "-",
                    realised,
                    status,
                )
            )
            + "</tr>"
        )
    breaches = [
        f"<li><b>{e(month_name(r.period))}</b>: {e(b)}</li>" for r in results for b in r.breaches
    ]
    last = results[-1]
    drift_rows = "".join(_drift_row(last, n, v, labels, policy) for n, v in last.top_drift(10))
    fact_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts.items())
    page = f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8">
<title>MAST monitoring report</title>
<style>
@page {{ size: A4; margin: 15mm; }}
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: auto; line-height: 1.45; color: #222; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.85rem; margin: 0.5rem 0 1rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.4rem; text-align: left; vertical-align: top; }}
.breach {{ background: #fdecea; border-left: 4px solid #c0392b; padding: 0.5rem 1rem; }}
.ok {{ background: #eaf5ea; border-left: 4px solid #2e7d32; padding: 0.5rem 1rem; }}
tr.folded td {{ color: #555; font-style: italic; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>MAST monitoring report</h1>
<p>How the deployed model has behaved since it was put into use, month by month: how many
referrals it scored, how many it flagged against the team's capacity, whether the referrals and
the records behind them still look like those it learned from, and how well it is ranking
referrals (estimated now from its probabilities, and measured once the children's outcomes are
known, which takes {e(str(facts.get("Outcome known after", "two years")))}).</p>
{
        (
            '<div class="breach"><h2>Flagged for the board</h2><ul>'
            + "".join(breaches)
            + "</ul></div>"
        )
        if breaches
        else '<div class="ok"><h2>Nothing flagged</h2><p>Every month judged is within the monitoring policy.</p></div>'
    }
<h2>1. Each month</h2>
<table><tr><th>month (UK time)</th><th>referrals scored</th><th>flagged (95% interval)</th>
<th>planned</th><th>score drift (PSI)</th><th>overrides</th><th>AUC estimated before outcomes</th>
<th>flags expected to have the outcome</th><th>AUC realised</th><th>status</th></tr>
{"".join(rows)}</table>
<img alt="Flag rate each month against the planned rate" src="data:image/png;base64,{
        plots["flag_rate"]
    }">
<h2>2. What has changed in the inputs ({e(month_name(last.period))})</h2>
<p><b>{e(last.inputs_sentence(policy.psi_moderate, labels))}</b></p>
<p>The population stability index (PSI) compares how the referrals of a month spread across
each input with how the training data spread. Below {policy.psi_moderate:g}: no meaningful change.
{policy.psi_moderate:g} to {policy.psi_breach:g}: a moderate change, worth a look. Above
{policy.psi_breach:g}: a large change, for example an agency that stopped sharing or started
recording differently; the model's figures may no longer hold.</p>
<p>A month's PSI is partly chance: even with nothing changed, {last.n_referrals} referrals never
spread exactly as the training data did, and the fewer the referrals the larger the PSI chance
alone gives. So each PSI is compared with the PSIs of many simulated months of the same number
of referrals drawn from the training data itself. A change counts only when chance alone would
reach it less often than {policy.drift_chance:.0%} of months with no change, all inputs together
(the column "chance alone reaches"); otherwise it is read as no sign of a real change.</p>
<table><tr><th>input</th><th>PSI</th><th>chance alone reaches</th><th>which way</th>
<th>reading</th></tr>{drift_rows}</table>
<img alt="The inputs that changed most" src="data:image/png;base64,{plots["drift"]}">
<h2>3. By team and by group, {
        e(
            month_name(last.period)
            if results[0].period == last.period
            else f"{month_name(results[0].period)} to {month_name(last.period)}"
        )
    }</h2>
<p>How often the tool flagged referrals for review, how often a statutory rule (the law and local
procedure, whatever the score) was met, and how often a manager overrode the tool, for each team
and each group the fairness audit looks at. Teams and who referred are counted by referral; the
other groups by child (a referral about two children counts for each child's group, with the
referral's flag). The groups are read from the local authority's records and are never inputs to
the model. Each rate is "X in 100" with its 95% interval: when two groups' intervals overlap
widely, the difference between them could be chance. Groups of fewer than {policy.min_group}
are folded into one line.</p>
{_group_tables(groups, policy.min_group)}
<h2>4. About this report</h2>
<table>{fact_rows}</table>
<p>The estimated AUC assumes the model's probabilities are still calibrated (the method of
NannyML's confidence-based performance estimation); when inputs drift it can be wrong, which is
why the realised figure replaces it once outcomes are known.</p>
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
