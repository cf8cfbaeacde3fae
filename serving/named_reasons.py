"""Reasons about the adults a referrer named, labelled with who they are and how sure the match is.

Issue #20 asks that a named adult's history be shown "labelled with the
match probability, in the chronology and the reasons".  The model reads the
named-adult feature family (``features.definitions.NAMED_ADULT_SPECS``): the
records of every adult the search *found*, counted together.  A reason such
as "2 police domestic-abuse incidents (adults named by the referrer,
together)" does not say whose records those are, nor how likely it is that
they are that adult's at all.  :func:`label_named_reasons` adds both:

    "... : counted from the records of Jay Smith, named by the referrer as the
    mother's new partner, matched to records with probability 97%"

and names every adult whose records were *not* counted as "not found in the
records MAST holds" (or not searched, when the records were never linked),
never as having no history.  A count of zero about named adults in the
"not found" list is reworded the same way: it is an unknown, not reassurance.

The adults are the score's ``named_adults`` entries
(:class:`serving.schemas.NamedAdultOut` dicts), so this reads only what the
screener is shown anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from features import definitions as d

NAMED_FEATURES = frozenset(d.NAMED_ADULT_NAMES)
NOT_FOUND_WORDS = "not found in the records MAST holds"
NOT_SEARCHED_WORDS = "not searched, because the agency records have not been linked"
NOT_KNOWN = "Not known: this is not evidence of safety."
# How serving.reasons.not_found_text says whom a named-adult count is about.
WHOM = "for the adults the referrer named"

# The referrer's relationship words (store.vocabulary.NAMED_ADULT_RELATIONSHIPS)
# as the end of "named by the referrer as ...".
_AS = {
    "mother's new partner": "the mother's new partner",
    "father's new partner": "the father's new partner",
    "visitor": "a visitor",
    "relative": "a relative",
    "not living at the address": "an adult not living at the address",
    "other": "an adult known to the household",
}


def adult_words(adult: Mapping) -> str:
    """Who the adult is and what the search found, in one phrase.

    "Jay Smith, named by the referrer as the mother's new partner, matched to
    records with probability 97%"; an adult not found is "not found in the
    records MAST holds" (a possible match below the threshold is not found:
    its records are never shown as the adult's).
    """
    from serving.named_adults import percent

    relationship = str(adult.get("relationship") or "other")
    who = f"{adult['name']}, named by the referrer as {_AS.get(relationship, relationship)}"
    status = adult.get("status")
    if status == "found" and adult.get("match_probability") is not None:
        return f"{who}, matched to records with probability {percent(adult['match_probability'])}"
    if status == "not_searched":
        return f"{who}, {NOT_SEARCHED_WORDS}"
    return f"{who}, {NOT_FOUND_WORDS}"


def _join(phrases: Sequence[str]) -> str:
    return "; and ".join(phrases)


def _counted(feature: str, adults: Sequence[Mapping]) -> list[Mapping]:
    """The adults whose records a named-adult feature counts.

    Only found adults' records are counted; for a count of records, the
    found adults who had any record before the referral (an adult found
    with no record adds nothing to it).
    """
    found = [a for a in adults if a.get("status") == "found"]
    if feature in (d.NAMED_FOUND, d.NAMED_NOT_FOUND):
        return found
    with_records = [a for a in found if a.get("records_total", 0)]
    return with_records or found


def reason_text(text: str, feature: str, adults: Sequence[Mapping]) -> str:
    """A named-adult reason's text with whom it is about, and who was not counted."""
    base = text.rstrip(". ")
    others = [a for a in adults if a.get("status") != "found"]
    if feature == d.NAMED_NOT_FOUND:
        named = _join([adult_words(a) for a in others]) or "none"
        return f"{base}: {named}. {NOT_KNOWN}"
    counted = _counted(feature, adults)
    parts = [f"{base}: counted from the records of {_join([adult_words(a) for a in counted])}"]
    if others:
        parts.append(f"Not counted: {_join([adult_words(a) for a in others])}")
    return ". ".join(parts) + "."


def absence_text(text: str, feature: str, adults: Sequence[Mapping]) -> str:
    """A named-adult count of zero in the "not found" list: about whom, never reassurance."""
    found = [a for a in adults if a.get("status") == "found"]
    others = [a for a in adults if a.get("status") != "found"]
    if not found:
        return (
            f"No records of {_join([adult_words(a) for a in others])}, so none of their "
            f"records could be counted. {NOT_KNOWN}"
        )
    whom = _join([adult_words(a) for a in found])
    text = text.replace(f" {NOT_KNOWN}", "").rstrip(". ")
    text = text.replace(WHOM, f"for {whom}") if WHOM in text else f"{text}, for {whom}"
    if others:
        text += f". {_join([adult_words(a) for a in others])}"
    return f"{text}. {NOT_KNOWN}"


def label_named_reasons(children: list[dict], adults: Sequence[Mapping]) -> list[dict]:
    """Each child's score with every reason about named adults labelled by whom it is about.

    Parameters
    ----------
    children
        The score's ``children`` (:class:`serving.schemas.ChildScore` dicts).
    adults
        The score's ``named_adults`` (:class:`serving.schemas.NamedAdultOut` dicts).

    Returns
    -------
    list of dict
        Copies of ``children``; reasons about anything else are untouched.
        With no adults named, the children are returned as they are.
    """
    if not adults:
        return children

    def reasons(items: list[dict]) -> list[dict]:
        return [
            {**r, "text": reason_text(r["text"], r["feature"], adults)}
            if r.get("feature") in NAMED_FEATURES
            else r
            for r in items
        ]

    out = []
    for child in children:
        absent, seen = [], set()
        for entry in child.get("not_found", []):
            if entry.get("feature") not in NAMED_FEATURES:
                absent.append(entry)
                continue
            text = absence_text(entry["text"], entry["feature"], adults)
            if text not in seen:  # with nobody found, every count says the same
                seen.add(text)
                absent.append({**entry, "text": text})
        out.append(
            {
                **child,
                "reasons_for": reasons(child.get("reasons_for", [])),
                "reasons_against": reasons(child.get("reasons_against", [])),
                "not_found": absent,
            }
        )
    return out
