"""The feature catalogue, generated from the definitions the SQL is built from.

The scoring service turns a model's reasons into words through
:func:`catalogue`; the board reads the Markdown written by
:func:`write_catalogue`.  Neither is kept by hand.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from features.definitions import COUNTERS, FEATURE_SPECS, SPECS_BY_NAME, FeatureSpec, evidence_of


def catalogue() -> list[FeatureSpec]:
    """Every feature in ``X`` column order, with its definition and ``describe``."""
    return list(FEATURE_SPECS)


# A count's name ends in its window ("_12m", "_ever"), then "_max"/"_sum" over people.
_COUNT_NAME = re.compile(r"_(3m|6m|12m|24m|ever)(_max|_sum)?$")


def counting_features(specs=FEATURE_SPECS) -> frozenset[str]:
    """Features that count records, so that a value of 0 means no record lies behind them.

    Counts of agency events or referrals, per child or as a maximum or sum
    over people.  States (a current plan) are left out: a plan that started
    and ended has records behind a 0.  The scoring service skips the record
    look-up of such a feature at 0, and never words a 0 as reassurance.
    """
    names = set()
    for spec in specs:
        record = evidence_of(spec)
        counter = COUNTERS.get(record.counter or "")
        if (
            _COUNT_NAME.search(spec.name)
            and record.table in ("agency_events", "referrals")
            and getattr(counter, "kind", None) in ("count", "referrals")
            and spec.aggregate in ("value", "max", "sum")
        ):
            names.add(spec.name)
    return frozenset(names)


def counted_what(spec) -> tuple[str, str]:
    """(what is counted, its window) for wording an absence: ("referrals", "ever").

    The window is "" where a count has none (a state, a value that is not a
    count); what is counted falls back to the feature's unit.
    """
    record = evidence_of(spec)
    counter = COUNTERS.get(record.counter or "")
    if counter is None and record.same_concern:
        return "earlier referrals about the same kind of concern", str(getattr(spec, "window", ""))
    if counter is None:
        return spec.unit, ""
    if getattr(counter, "kind", "") == "state":
        return f"record that anyone is currently {counter.what}", ""
    return counter.what, counter.window


def model_inputs(names, constrained: bool = True) -> list[str]:
    """The features a model is trained on, in ``names`` order.

    Constrained (the default): without the features the catalogue marks
    ``excluded_why`` (who referred; the gap of "days since the previous
    referral").  Unconstrained: every feature, so the difference can be shown.
    A name the catalogue does not know is kept (tests, older tables).
    """
    if not constrained:
        return list(names)
    return [n for n in names if not (n in SPECS_BY_NAME and SPECS_BY_NAME[n].excluded_why)]


def monotone_signs(names, constrained: bool = True) -> list[int]:
    """LightGBM ``monotone_constraints`` for ``names``: +1 where risk may only rise."""
    if not constrained:
        return [0] * len(names)
    return [SPECS_BY_NAME[n].monotone if n in SPECS_BY_NAME else 0 for n in names]


def _constraint_words(spec: FeatureSpec) -> str:
    if spec.excluded_why:
        return f"not a model input by default ({spec.excluded_why})"
    if spec.monotone > 0:
        return "may only raise risk"
    return ""


def catalogue_markdown() -> str:
    lines = [
        "# MAST feature catalogue",
        "",
        "Generated from `features/definitions.py` by `mast features --catalogue`; do not edit.",
        "Every feature is computed as of the referral's `received_at` from records "
        "*recorded* strictly before it.",
        "",
        "",
        "*Records* says whether a value records **what happened** to the child and "
        "household, or **what was decided** (by whoever referred, by the front door or "
        "by children's social care). A decision is not proof of what happened: the training label "
        "follows them, so a model can learn to repeat them. By default the referral's "
        "source and referrer are not model inputs, and counts of earlier referrals and "
        "closures may only raise risk (`constraint`); `[inputs] constrained = false` in "
        "the training configuration trains without these rules, to show the difference.",
        "",
        "| feature | definition | records | constraint | source agency | window | subject | family |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in FEATURE_SPECS:
        lines.append(
            f"| `{s.name}` | {s.definition} | {s.nature} | {_constraint_words(s)} | {s.agency} "
            f"| {s.window} | {s.subject} | {s.family} |"
        )
    return "\n".join(lines) + "\n"


def catalogue_json() -> str:
    return json.dumps([s.as_dict() for s in FEATURE_SPECS], indent=2)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_catalogue(path: str | Path) -> list[Path]:
    """Write the catalogue atomically.

    A ``.json`` path gets JSON, a ``.md`` path Markdown; any other suffix (or
    none) gets both, as ``<path>.md`` and ``<path>.json``.
    """
    path = Path(path)
    if path.suffix == ".json":
        _atomic_write(path, catalogue_json())
        return [path]
    if path.suffix == ".md":
        _atomic_write(path, catalogue_markdown())
        return [path]
    md, js = path.with_suffix(path.suffix + ".md"), path.with_suffix(path.suffix + ".json")
    _atomic_write(md, catalogue_markdown())
    _atomic_write(js, catalogue_json())
    return [md, js]
