"""The board's first page in words a lay member can act on.

Raw codes (``deprivation_quintile``, ``fpr``, a 64-character hash) never
reach the summary: attributes and groups get human names, rates are said as
"X in 100", and a gap between groups is said to be one that "could be chance"
or "is very unlikely to be chance" from its 95% interval.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ATTRIBUTE_LABELS = {
    "deprivation_quintile": "how deprived the home area is",
    "ethnicity": "ethnicity",
    "sex": "sex",
    "age_band": "age",
    "disability": "disability",
    "imd_decile": "how deprived the home area is (tenths)",
    "family_or_community": "whether family or community referred",
    "source_group": "who referred",
    "referrer_relationship": "the referrer's relationship to the child",
}
_GROUP_PHRASES = {
    ("deprivation_quintile", "1 (most deprived)"): "the most deprived areas",
    ("deprivation_quintile", "5 (least deprived)"): "the least deprived areas",
}
METRIC_WORDS = {
    "fpr": ("wrongly flags", "who did not go on to the outcome"),
    "fnr": ("misses", "who went on to the outcome"),
    "selection_rate": ("flags", ""),
    "tpr": ("flags", "who went on to the outcome"),
}
_HASH = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{52}\b")


def _who_referred(group: str) -> str:
    """A who-referred group in words: ``friend_or_neighbour`` -> "a friend or neighbour"."""
    from features import REFERRER_LABELS, SOURCE_LABELS

    if group == "family, friend, anonymous or self":
        return "family, friends, neighbours, anonymous callers or the young person"
    if group == "professional":
        return "a professional"
    return SOURCE_LABELS.get(group) or REFERRER_LABELS.get(group) or group.replace("_", " ")


def attribute_label(attr: str) -> str:
    """``deprivation_quintile`` -> "how deprived the home area is"; intersections joined by "and"."""
    return " and ".join(
        ATTRIBUTE_LABELS.get(a.strip(), a.strip().replace("_", " ")) for a in attr.split("×")
    )


_NOT_RECORDED = {
    "ethnicity": "whose ethnicity is not recorded",
    "sex": "whose sex is not recorded",
    "age_band": "whose age is not recorded",
    "disability": "whose disability status is not recorded",
    "deprivation_quintile": "whose home area is not recorded",
}
_REFERRER_ATTRIBUTES = ("family_or_community", "source_group", "referrer_relationship")


def _group_words(a: str, g: str) -> tuple[str, str]:
    """One group's words and their place: ``before`` the noun, ``after`` it, or the ``noun``."""
    if g.lower() == "not recorded" and a in _NOT_RECORDED:
        return "after", _NOT_RECORDED[a]
    if a == "ethnicity":
        return "before", g
    if a == "sex":
        return "noun", {"female": "girls", "male": "boys"}.get(g.lower(), f"{g} children")
    if a == "age_band":
        return "after", f"aged {g}" if g[:1].isdigit() else g
    if a == "disability":
        yes = g.lower() == "yes"
        return ("before", "disabled") if yes else ("after", "without a recorded disability")
    if a == "deprivation_quintile":
        if (a, g) in _GROUP_PHRASES:
            return "after", f"in {_GROUP_PHRASES[(a, g)]}"
        return "after", f"in areas in deprivation fifth {g} (1 is the most deprived)"
    if a in _REFERRER_ATTRIBUTES:
        return "after", f"referred by {_who_referred(g)}"
    return "after", f"in the group '{g}' ({attribute_label(a)})"


def children_phrase(attr: str, group: str) -> str:
    """The children of a group, in words: "Black girls in the most deprived areas"."""
    noun, before, after = "children", [], []
    for a, g in zip(attr.split(" × "), group.split(" × "), strict=False):
        place, words = _group_words(a.strip(), g.strip())
        if place == "noun":
            noun = words
        else:
            (before if place == "before" else after).append(words)
    words = [*before, noun] + ([", ".join(after)] if after else [])
    return " ".join(words).strip()


def in_100(rate: float | None) -> str:
    """A rate as a count out of 100 ("12"), the form "X in 100" reads best in."""
    if rate is None:
        return "an unknown number"
    n = 100 * rate
    return f"{n:.0f}" if n >= 1 or n == 0 else "fewer than 1"


def chance_words(ratio: Mapping[str, Any] | None) -> str:
    """Whether a gap between two groups could be chance, from its ratio's 95% interval."""
    if not ratio or ratio.get("ci_low") is None or ratio.get("ci_high") is None:
        return "there are too few children to say whether the difference is chance"
    if ratio["ci_low"] <= 1 <= ratio["ci_high"]:
        return "the difference could be chance"
    return "the difference is very unlikely to be chance"


def gap_sentence(
    lens, attr: str, group: str, ref: str, metric: str = "fpr", ratio=None
) -> str | None:
    """ "For children in A, the tool wrongly flags X in every 100 ..., where it ... Y for B; ..."

    ``ratio`` is the interval of the ratio between the two groups; by default
    ``group``'s against the reference ``ref``.
    """
    groups = lens.groups.get(attr, {})
    if group not in groups or ref not in groups:
        return None
    a, b = groups[group].get(metric, {}), groups[ref].get(metric, {})
    if a.get("value") is None or b.get("value") is None:
        return None
    verb, whom = METRIC_WORDS.get(metric, ("flags", "children"))
    if ratio is None:
        by_group = lens.disparities.get(attr, {}).get("by_group", {})
        ratio = by_group.get(group, {}).get(metric, {}).get("ratio")
    return (
        f"For {children_phrase(attr, group)}, the tool {verb} {in_100(a['value'])} in every 100 "
        f"{whom}, where it {verb} {in_100(b['value'])} for {children_phrase(attr, ref)}; "
        f"{chance_words(ratio)}."
    )


def largest_gap_sentence(lens, attr: str, metric: str = "fpr") -> str | None:
    """The widest gap by ``attr`` between groups large enough to conclude from, in words.

    By deprivation the board asks about the two ends, so the least and the
    most deprived areas are compared whenever both are large enough.
    """
    ends = ("5 (least deprived)", "1 (most deprived)")
    groups = lens.groups.get(attr, {})
    if attr == "deprivation_quintile" and all(
        g in groups and not groups[g]["too_small"] for g in ends
    ):
        return gap_sentence(lens, attr, *ends, metric)
    gap = lens.disparities.get(attr, {}).get("largest_gap", {}).get(metric)
    if not gap:
        return None
    return gap_sentence(lens, attr, gap["lowest"], gap["highest"], metric, gap.get("ratio"))


_REASON = re.compile(r"^(?P<attr>[^=:]+?) = (?P<group>[^:]+): (?P<rest>.*)$")
_METRIC_FROM_TEXT = {
    "false-positive rate": "fpr",
    "false-negative rate": "fnr",
    "flag rate": "selection_rate",
    "true-positive rate": "tpr",
}


def reason_sentences(lens, reasons: list[str], limit: int = 4) -> tuple[list[str], int]:
    """The gate's reasons for failing, as sentences; and how many more there are.

    A reason names an attribute, a group and the measure; it is said again as
    the two groups' rates "in 100" and whether the gap could be chance.
    """
    out: list[str] = []
    seen = set()
    for reason in reasons:
        m = _REASON.match(reason)
        sentence = None
        if m:
            attr, group = m["attr"].strip(), m["group"].strip()
            metric = next((v for k, v in _METRIC_FROM_TEXT.items() if k in m["rest"]), None)
            ref_m = re.search(r"(?:that of|from) (.+?)(?:,| by| outside)", m["rest"])
            ref = (
                ref_m.group(1).strip() if ref_m else lens.disparities.get(attr, {}).get("reference")
            )
            if metric and ref and (attr, group, metric) not in seen:
                seen.add((attr, group, metric))
                sentence = gap_sentence(lens, attr, group, ref, metric)
        if sentence is None and not m:
            sentence = reason[0].upper() + reason[1:]
        if sentence and sentence not in out:
            out.append(sentence)
    return out[:limit], max(len(out) - limit, 0)


def short_hashes(text: str) -> str:
    """A 64-character content hash shortened to its first 12 characters."""
    return _HASH.sub(lambda m: m.group(1) + "…", text)


_INTERVAL = re.compile(r"\(CI ([-\d.na/]+) to ([-\d.na/]+)\)")
_REF = re.compile(r"\b(that of|from) (?P<ref>.+?)(?=,| by | outside| beyond|$)")
_NOTE = re.compile(r"^(?P<attr>[^=:]+?): (?P<rest>.*)$")
_ATTRS = {*ATTRIBUTE_LABELS}


def _known_attr(attr: str) -> bool:
    return all(a.strip() in _ATTRS for a in attr.split("×"))


def reason_words(reason: str) -> str:
    """A gate reason (or note) with human group labels and words; the numbers kept.

    ``deprivation_quintile = 4: false-positive rate is 0.137 (CI 0.000 to
    0.511) times that of 1 (most deprived), outside the allowed 0.67–1.5
    (judged on the interval)`` reads "For children in areas in deprivation
    fifth 4 (1 is the most deprived): the false-positive rate is 0.137 times
    that of children in the most deprived areas (95% interval 0.000 to
    0.511), outside the allowed 0.67 to 1.5 (judged on the whole interval)".
    Text in any other form is returned with only the interval and range
    words changed, so nothing is lost.
    """
    text = reason.strip()
    lens = ""
    if text.endswith("]") and " [" in text:  # a rule judged on another lens
        text, lens = text.rsplit(" [", 1)
        lens = f" (in the lens: {lens[:-1]})"
    interval = _INTERVAL.search(text)
    m = _REASON.match(text)
    if m and _known_attr(m["attr"]):
        attr, group, rest = m["attr"].strip(), m["group"].strip(), m["rest"]
        rest = _REF.sub(
            lambda r: (
                f"{'that of' if r[1] == 'that of' else 'from that for'} "
                f"{children_phrase(attr, r['ref'].strip())}"
            ),
            rest,
            1,
        )
        # "false-negative rate 0.80 (..) exceeds" -> "false-negative rate is 0.80 (..), above"
        rest = re.sub(
            r"^((?:[a-z-]+ )*?(?:rate|precision|AUC|ECE)) (\d)", r"\1 is \2", rest
        ).replace(") exceeds the limit", "), above the limit")
        if interval is not None and " times that of " in rest:
            # "is 0.137 (CI a to b) times that of X" -> "is 0.137 times that of X (95% interval a to b)"
            rest = rest.replace(f" {interval[0]}", "", 1)
            rest = re.sub(
                r"(times that of .+?)(,|$)",
                lambda r: f"{r[1]} (95% interval {interval[1]} to {interval[2]}){r[2]}",
                rest,
                count=1,
            )
        text = f"For {children_phrase(attr, group)}: the {rest}"
    else:
        n = _NOTE.match(text)
        if n and _known_attr(n["attr"]):
            text = f"{attribute_label(n['attr']).capitalize()}: {n['rest']}"
    text = _INTERVAL.sub(r"(95% interval \1 to \2)", text)
    text = re.sub(r"(\d)–(\d)", r"\1 to \2", text)
    text = text.replace("±", "plus or minus ")
    text = text.replace("(judged on the interval)", "(judged on the whole 95% interval)")
    text = text.replace("(judged on the estimate)", "(judged on the figure itself)")
    text = text.replace("(n=", "(children: ")
    return text[0].upper() + text[1:] + lens
