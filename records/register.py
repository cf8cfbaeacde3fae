"""The referral register: one version of each referral, kept in the trail.

A referral is a record, not a request.  The first time MAST sees a
``referral_id`` its content (when it was received, from whom, the concerns
and the children) is fixed.  Re-posting the same content is harmless;
posting different content under the same id is refused, naming the fields
that differ, because otherwise a screener could re-score a flagged referral
with milder fields and close it.  Correcting a referral is an *amendment*:
a separate, audited action that keeps every version.

The register lives in the hash-chained trail as entries of kind
:data:`records.kinds.REFERRAL`, one per version, so it is shared by every
worker and survives restarts.  Referrals loaded from the local authority's
extract are in the store, not the trail: the caller passes their content
as ``stored`` and it counts as version 1.

Pure functions here; :class:`records.RecordsStore` calls them inside the
write transaction, so no two requests can both register different content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from records.rules import RuleViolation
from records.trail import Entry
from store.vocabulary import NAMED_ADULT_FIELDS, NAMED_ADULT_RELATIONSHIPS

CONTENT_FIELDS = (
    "received_at",
    "source",
    "referrer_relationship",
    "concerns",
    "children",
    "named_adults",
)
# Content a version recorded before the field existed is read as this.
CONTENT_DEFAULTS: dict[str, Any] = {"named_adults": []}
# The statutory-trigger facts (records/statutory.py) are content too: a referral
# reopened by its id must meet the same rules it met when first received.
# ``None`` is "not said"; a register entry written before they existed reads as ``None``.
FACT_FIELDS = ("injury_alleged", "images_held_by", "non_mobile_child")
# How each field is named to a person (the API also gets the field names themselves).
FIELD_WORDS = {
    "received_at": "when it was received",
    "source": "source",
    "referrer_relationship": "referrer",
    "concerns": "concerns",
    "children": "children",
    "named_adults": "adults named by the referrer",
    "injury_alleged": "injury alleged",
    "images_held_by": "images of injury held by",
    "non_mobile_child": "a child not yet mobile",
}


def referral_content(
    received_at: str,
    source: str,
    referrer_relationship: str | None,
    concerns: Iterable[str],
    children: Iterable[str],
    named_adults: Iterable[Mapping[str, Any]] = (),
    **facts: Any,
) -> dict[str, Any]:
    """A referral's content in the register's canonical form.

    Concerns and children are sets: their order on a form carries no
    meaning, so they are kept sorted and compared as sets.

    Parameters
    ----------
    received_at
        ISO 8601 text in store local time (naive, England), as
        ``serving.scoring.to_store_time`` gives it.
    facts
        The :data:`FACT_FIELDS` the referral states; only those not ``None``
        are kept, so a referral without them has the same content as before.
    """
    unknown = set(facts) - set(FACT_FIELDS)
    if unknown:
        raise ValueError(f"referral content: unknown field(s) {sorted(unknown)}")
    return {
        **{k: value for k, value in facts.items() if value is not None},
        "received_at": str(received_at),
        "source": str(source),
        "referrer_relationship": None
        if referrer_relationship is None
        else str(referrer_relationship),
        "concerns": sorted({str(c) for c in concerns}),
        "children": sorted({str(c) for c in children}),
        "named_adults": named_adults_content(named_adults),
    }


def named_adults_content(adults: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Named adults in canonical form: every field as text or null, in a fixed order.

    Like the children, they are a set: the order the referrer listed them
    in carries no meaning, so they are sorted.
    """
    fields = NAMED_ADULT_FIELDS
    rows = [
        {
            f: (
                None
                if a.get(f) is None
                else a.get(f)
                if isinstance(a.get(f), bool)
                else str(a.get(f))
            )
            for f in fields
        }
        for a in adults
    ]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def differing_fields(known: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The content fields whose values differ, in :data:`CONTENT_FIELDS` order."""
    return [
        f
        for f in CONTENT_FIELDS + FACT_FIELDS
        if known.get(f, CONTENT_DEFAULTS.get(f)) != new.get(f, CONTENT_DEFAULTS.get(f))
    ]


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        words = NAMED_ADULT_RELATIONSHIPS
        return ", ".join(
            f"{a['name']} ({words.get(a['relationship'], a['relationship'])})" for a in value
        )
    if isinstance(value, list):
        return ", ".join(str(v).replace("_", " ") for v in value) or "none"
    return "not recorded" if value is None else str(value).replace("_", " ")


def content_conflict(
    referral_id: str, version: int, known: Mapping[str, Any], new: Mapping[str, Any]
) -> RuleViolation:
    """The 409 for a re-post of ``referral_id`` with different content."""
    fields = differing_fields(known, new)
    changes = "; ".join(
        f"{FIELD_WORDS[f]}: recorded {_shown(known.get(f))}, sent {_shown(new.get(f))}"
        for f in fields
    )
    return RuleViolation(
        "referral_content_differs",
        f"referral {referral_id} is already recorded (version {version}) with different content "
        f"({changes}). A referral's content is fixed when MAST first receives it; nothing was "
        f"written. To correct it, record an amendment with a reason "
        f"(POST /v1/referrals/{referral_id}/amendments).",
        status=409,
        field=", ".join(fields),
    )


def latest(
    versions: Sequence[Entry], stored: Mapping[str, Any] | None
) -> tuple[int, dict[str, Any]] | None:
    """The referral's current version number and content: the trail's latest, else the store's."""
    if versions:
        payload = versions[-1].payload
        return int(payload["version"]), _content(payload)
    if stored is not None:
        return 1, _content(stored)
    return None


def _content(payload: Mapping[str, Any]) -> dict[str, Any]:
    out = {f: payload.get(f, CONTENT_DEFAULTS.get(f)) for f in CONTENT_FIELDS}
    out.update({f: payload[f] for f in FACT_FIELDS if payload.get(f) is not None})
    return out


def ever_flagged(versions: Iterable[Entry], score_views: Iterable[Entry]) -> bool:
    """Sticky flags: whether any version, or any score ever shown, was flagged."""
    return any(bool(e.payload.get("flagged")) for e in versions) or any(
        bool(e.payload.get("review_recommended")) for e in score_views
    )
