"""The model card as a readable, standalone HTML page, rendered from the card's own data.

The JSON (for machines and the transparency record) and the Markdown (shown
by MLflow beside the run) stay as they are; this page is for a person: plain
section titles, no field names or codes, rates as "X in 100" with their
intervals, group names in words, small groups folded, and no reference to a
section of another document (:func:`standalone` rewrites the shared caveats).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jinja2

from audit import plain

TITLES = {
    "model_details": "About the model",
    "intended_use": "What it is for, and what it is not for",
    "factors": "Who it was checked for",
    "metrics": "How it is measured",
    "evaluation_data": "What it was tested on",
    "training_data": "What it learned from",
    "quantitative_analyses": "Results",
    "ethical_considerations": "Ethical considerations",
    "caveats_and_recommendations": "Caveats and recommendations",
}
DETAIL_WORDS = {
    "name": "Name",
    "version": "Version",
    "mlflow_run_id": "Training run (MLflow)",
    "type": "Kind of model",
    "developers": "Developed by",
    "date": "Date",
    "licence": "Licence",
    "contact": "Contact",
    "why_this_model": "Why this model",
}
# Measures shown, in words, and whether they are rates (shown "in 100").
MEASURES = (
    ("selection_rate", "Flagged for review", True),
    ("tpr", "Of those who went on to the outcome, flagged", True),
    ("fpr", "Of those who did not, flagged anyway (wrongly flagged)", True),
    ("fnr", "Of those who went on to the outcome, missed", True),
    ("precision", "Of those flagged, went on to the outcome", True),
    ("auc", "Ranking (AUC: 0.5 is a coin toss, 1 is perfect)", False),
)
# Phrases of the shared caveats that point into the board's report, said standalone.
_STANDALONE = (
    (r"\s*\(the section after the three lenses\)", ""),
    (r"\blens 2\b", "the comparison with the true harm"),
    (r"\s*\(lens 3\)", ""),
    (r"\blens 3\b", "the comparison with the screeners' own decisions"),
    (r"\(?see section \d+\)?", ""),
)
_CODE = re.compile(r"^[a-z0-9_]+@\d+:\s*")  # "cp_or_looked_after_24m@1: The child ..."


def standalone(text: str) -> str:
    """``text`` without references to sections or lenses of the board's report."""
    for pattern, words in _STANDALONE:
        text = re.sub(pattern, words, text, flags=re.IGNORECASE)
    return text


def _rate(est: Any) -> str:
    if not isinstance(est, Mapping) or est.get("value") is None:
        return "not known"
    v, lo, hi = est["value"], est.get("ci_low"), est.get("ci_high")
    if lo is None or hi is None:
        return f"{plain.in_100(v)} in 100"
    return f"{plain.in_100(v)} in 100 ({plain.in_100(lo)} to {plain.in_100(hi)})"


def _number(est: Any) -> str:
    if not isinstance(est, Mapping) or est.get("value") is None:
        return "not known"
    v, lo, hi = est["value"], est.get("ci_low"), est.get("ci_high")
    return f"{v:.2f}" if lo is None or hi is None else f"{v:.2f} ({lo:.2f} to {hi:.2f})"


GROUP_MEASURES = MEASURES[:5]  # the card keeps no AUC by group


def _cells(e: Mapping[str, Any], measures=MEASURES) -> list[str]:
    return [(_rate if pct else _number)(e.get(key)) for key, _, pct in measures]


def _groups(by_group: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for attr, groups in by_group.items():
        rows, small = [], []
        for g, e in groups.items():
            name = plain.children_phrase(attr, g)
            name = name[:1].upper() + name[1:]
            if e.get("too_small"):
                small.append(f"{name} ({e['n']:,})")
            else:
                rows.append({"name": name, "n": f"{e['n']:,}", "cells": _cells(e, GROUP_MEASURES)})
        out.append(
            {
                "title": plain.attribute_label(attr).capitalize(),
                "rows": rows,
                "small": "; ".join(small),
            }
        )
    return out


_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTHS = (
    "January February March April May June July August September October November December"
).split()


def uk_dates(text: str) -> str:
    """ISO days (``2022-04-11``) as a UK reader writes them (``11 April 2022``)."""
    return _ISO_DAY.sub(lambda m: f"{int(m[3])} {_MONTHS[int(m[2]) - 1]} {m[1]}", text)


def threshold_words(text: str) -> str:
    """``2026-11-capacity-10pct: capacity 0.1; referral flagged at score >= 19`` in words."""
    m = re.match(
        r"^(?P<version>\S+): (?P<mode>\w+) (?P<target>[\d.]+); .*score >= (?P<t>\d+)", text
    )
    if not m:
        return text
    share = f"{float(m['target']) * 100:g} in 100"
    aim = {
        "capacity": f"at most {share} referrals flagged",
        "sensitivity": f"{share} of the referrals that go on to the outcome flagged",
        "closures": f"flags from the score at which {share} of closed referrals went on to the outcome",
    }.get(m["mode"], m["mode"])
    return (
        f"A referral is flagged for review when its score is {m['t']} or above (out of 20): "
        f"the flag policy {m['version']} asks for {aim}, judged on the calibration period."
    )


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return uk_dates(plain.short_hashes(standalone(str(value))))


def model_card_html(card: Mapping[str, Any]) -> str:
    """The page, from the dict :func:`audit.model_card.model_card` returns."""
    details = card["model_details"]
    q = card["quantitative_analyses"]
    gate = q["gate"]
    label = _CODE.sub("", str(card["evaluation_data"].get("label", "not stated")))
    label = re.sub(r"\s*\([^()]*_[^()]*(\([^()]*\][^()]*)?\)", "", label)  # a formula in codes
    factors = [plain.attribute_label(a) for a in card["factors"]["relevant_factors"]]
    view = {
        "title": f"Model card: {details['name']}, version {details['version']}",
        "titles": TITLES,
        "details": [(DETAIL_WORDS.get(k, k), _text(v)) for k, v in details.items()],
        "intended": {k: _text(v) for k, v in card["intended_use"].items()},
        "factors": factors,
        "measures": [words for _, words, _ in MEASURES],
        "group_measures": [words for _, words, _ in GROUP_MEASURES],
        "threshold": threshold_words(
            _text(card["metrics"].get("decision_thresholds", "not stated"))
        ),
        "variation": _text(card["metrics"].get("variation_approaches", "")),
        "evaluation": {
            "period": _text(card["evaluation_data"].get("datasets")),
            "children": f"{card['evaluation_data'].get('n_children', 0):,}",
            "referrals": f"{card['evaluation_data'].get('n_referrals', 0):,}",
            "label": label,
        },
        "training": {k: _text(v) for k, v in card["training_data"].items()},
        "overall": list(zip([w for _, w, _ in MEASURES], _cells(q["overall"]), strict=True)),
        "backtest": [uk_dates(line) for line in q.get("backtest_by_year") or []],
        "groups": _groups(q["by_group"]),
        "gate": {
            "passed": gate["passed"],
            "policy": gate["policy_version"],
            "reasons": [plain.reason_words(r) for r in gate["reasons"]],
        },
        "ethics": [_text(x) for x in card["ethical_considerations"]],
        "caveats": [_text(x) for x in card["caveats_and_recommendations"]],
    }
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("audit", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    return env.get_template("model_card.html.j2").render(**view)
