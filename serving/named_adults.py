"""Adults the referrer names: searched for in the linked records, shown with their history.

For each adult a referral names (:class:`serving.schemas.NamedAdultIn`) the
service searches the linked agency records (:mod:`linkage.search`, with the
model ``mast link`` trained) *as of the referral*, and shows

* in the score, one entry per adult: what was found, in words, with the
  match probability, the fields that agree and disagree, and the matched
  person's records before the referral, summarised;
* in the chronology, the matched person's records among the entries,
  labelled "<name>, named by the referrer as <relationship>; matched to records
  with probability NN%".

An adult the search does not find is *not found in the records MAST
holds*, never "no history": the adult may be known to an agency MAST has
no extract from, or under a name the referrer did not know.  A store that
was never linked cannot be searched, and says so.

Only records an agency recorded before the referral was received are
searched or shown (no hindsight in the referral's picture).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from features import definitions as d
from features.named_adults import ADULT_KEY, EVENT_COLUMNS, named_adult_features
from linkage.search import FOUND, NOT_FOUND, POSSIBLE, AdultQuery, PersonSearch, SearchResult
from serving.reasons import plain
from store import vocabulary as v

NOT_SEARCHED = "not_searched"
NOT_FOUND_TEXT = "not found in the records MAST holds"

_HISTORY_SQL = """
SELECT e.occurred_at, e.recorded_at, e.agency, e.event_type,
       concat_ws(', ',
           CASE WHEN e.role IS NOT NULL THEN 'as ' || e.role END,
           CASE WHEN e.severity IS NOT NULL THEN 'severity ' || e.severity END) AS detail,
       e.role, e.event_id
FROM _named_records n
JOIN agency_event_records r ON r.agency = n.agency AND r.agency_record_id = n.agency_record_id
JOIN agency_events e ON e.event_id = r.event_id
WHERE e.recorded_at < $as_of
ORDER BY e.occurred_at, e.recorded_at, e.event_id
"""


def relationship_words(code: str) -> str:
    """The referrer's word for the adult ("mother's new partner")."""
    return v.NAMED_ADULT_RELATIONSHIPS.get(str(code), str(code).replace("_", " "))


def percent(p: float) -> str:
    """A match probability as a screener reads it: never 100% (nothing is certain) nor 0%."""
    whole = round(p * 100)
    return f"{min(max(whole, 1), 99)}%"


def label(adult, result: SearchResult | None) -> str:
    """How the adult's records are labelled in the chronology and the score.

    Who they are first ("Jay Smith, named by the referrer as visitor"), so a
    chronology row says whose record it is, then how sure the match is.
    """
    named = f"{adult.name}, named by the referrer as {relationship_words(adult.relationship)}"
    if result is None:
        return f"{named}; not searched: the agency records have not been linked"
    if result.status == FOUND:
        return (
            f"{named}; matched to records with probability {percent(result.best.match_probability)}"
        )
    return f"{named}; {NOT_FOUND_TEXT}"


class NamedAdultFinder:
    """Searches and histories for named adults, over one store (rebuilt when it changes).

    Parameters
    ----------
    reading
        ``reading()`` -> a context manager giving a read-only store connection.
    """

    def __init__(self, reading) -> None:
        self._reading = reading
        self._lock = threading.Lock()
        self._search: tuple[Any, PersonSearch | None] | None = None

    def search_index(self, marker: Any) -> PersonSearch | None:
        """The search over the store as of ``marker`` (the engine's base snapshot)."""
        with self._lock:
            held = self._search
            if held is None or held[0] is not marker:
                with self._reading() as con:
                    held = self._search = (marker, PersonSearch.from_store(con))
            return held[1]

    def describe(
        self, named_adults, as_of: datetime, marker: Any
    ) -> tuple[list[dict], list[dict], list[dict]]:
        """:meth:`describe_with_family` without the feature family."""
        return self.describe_with_family(named_adults, as_of, marker)[:3]

    def describe_with_family(
        self, named_adults, as_of: datetime, marker: Any
    ) -> tuple[list[dict], list[dict], list[dict], dict[str, float]]:
        """For each named adult: the score's entry, and its chronology entries and person.

        Returns
        -------
        (adults, entries, people)
            ``adults`` as :class:`serving.schemas.NamedAdultOut`; ``entries``
            as :class:`serving.schemas.ChronologyEntry` (before ``as_of``);
            ``people`` as :class:`serving.schemas.ChronologyPerson`; and the
            named-adult feature family for the referral
            (:func:`referral_family`), counted as training counts it.
        """
        if not named_adults:
            return [], [], [], referral_family([], [], [], as_of)
        index = self.search_index(marker)
        found = [
            None if index is None else index.search(_query(a), as_of=as_of) for a in named_adults
        ]
        histories = self._histories(found, as_of)
        adults, entries, people = [], [], []
        for adult, result, history in zip(named_adults, found, histories, strict=True):
            words = label(adult, result)
            adults.append(_adult_out(adult, result, history, words))
            if result is None or result.status != FOUND:
                continue
            key = result.best.person_key
            people.append(
                {
                    "person_id": key,
                    "relationship": words,
                    "joined": None,
                    "left": None,
                    "lives_with_child": str(adult.lives_at_address) == "yes",
                }
            )
            entries += [
                {
                    **{k: x for k, x in e.items() if k != "_role"},
                    "person_id": key,
                    "relationship": words,
                }
                for e in history
            ]
        return adults, entries, people, referral_family(named_adults, found, histories, as_of)

    def _histories(self, found: list[SearchResult | None], as_of: datetime) -> list[list[dict]]:
        wanted = [
            (i, rec)
            for i, r in enumerate(found)
            if r is not None and r.status == FOUND
            for rec in r.best.records
        ]
        out: list[list[dict]] = [[] for _ in found]
        if not wanted:
            return out
        frame = pd.DataFrame(
            [(i, a, rid) for i, (a, rid) in wanted], columns=["i", "agency", "agency_record_id"]
        )
        with self._reading() as con:
            con.register("_named_records", frame)
            try:
                rows = con.execute(
                    _HISTORY_SQL.replace("SELECT e.occurred_at", "SELECT n.i, e.occurred_at"),
                    {"as_of": pd.Timestamp(as_of)},
                ).df()
            finally:
                con.unregister("_named_records")
        rows = rows.drop_duplicates(["i", "event_id"])
        for r in rows.to_dict("records"):
            delay = pd.Timestamp(r["recorded_at"]) - pd.Timestamp(r["occurred_at"])
            days = int(delay.total_seconds() // 86400)
            out[int(r["i"])].append(
                {
                    "occurred_at": pd.Timestamp(r["occurred_at"]).to_pydatetime(),
                    "recorded_at": pd.Timestamp(r["recorded_at"]).to_pydatetime(),
                    "agency": r["agency"],
                    "event_type": r["event_type"],
                    "detail": r["detail"] or None,
                    "days_to_record": days,
                    "late": days > 30,
                    "_role": r["role"],
                }
            )
        return out


def referral_family(
    named_adults, found: list[SearchResult | None], histories: list[list[dict]], as_of: datetime
) -> dict[str, float]:
    """The named-adult feature family for this referral (:mod:`features.named_adults`).

    From the adults this search found and their records recorded before the
    referral, with the same function training uses; unknown (NaN) when MAST
    could not search.
    """
    when = pd.Timestamp(as_of).tz_localize(None) if pd.Timestamp(as_of).tz else pd.Timestamp(as_of)
    outcomes = pd.DataFrame(
        [
            ("this", i, NOT_SEARCHED if r is None else r.status)
            for i, r in enumerate(found, start=1)
        ],
        columns=ADULT_KEY + ["status"],
    )
    events = pd.DataFrame(
        [
            (
                "this",
                i,
                e["agency"],
                e["event_type"],
                e.get("_role"),
                np.nan,
                pd.Timestamp(e["occurred_at"]),
                pd.Timestamp(e["recorded_at"]),
            )
            for i, history in enumerate(histories, start=1)
            for e in history
        ],
        columns=EVENT_COLUMNS,
    )
    family = named_adult_features(pd.Series([when], index=["this"]), outcomes, events)
    return {k: float(x) for k, x in family.loc["this"].items()}


def family_words(family: dict[str, float]) -> list[str]:
    """The family in the catalogue's words: who was found and not, and what their records hold."""
    lines = []
    for spec in d.NAMED_ADULT_SPECS:
        value = family.get(spec.name)
        if value is None or value != value or value == 0 or spec.aggregate == "max":
            continue
        lines.append(spec.describe(value))
    return lines


def _query(adult) -> AdultQuery:
    return AdultQuery(
        name=adult.name,
        date_of_birth=adult.date_of_birth,
        postcode=adult.postcode,
        address=adult.address,
    )


def history_words(history: list[dict]) -> list[str]:
    """The matched person's records, counted by kind, in words ("2 domestic incidents as perpetrator (latest 4 April 2024)")."""
    counts: Counter = Counter()
    latest: dict[tuple, datetime] = {}
    for e in history:
        key = (e["agency"], e["event_type"], e.get("_role"))
        counts[key] += 1
        latest[key] = max(latest.get(key, e["occurred_at"]), e["occurred_at"])
    lines = []
    for key, n in sorted(counts.items(), key=lambda kv: -latest[kv[0]].timestamp()):
        agency, event_type, role = key
        what = plain(event_type) + (f" as {plain(role)}" if role else "")
        when = latest[key]
        lines.append(
            f"{n} × {what} ({plain(agency)}; {'latest ' if n > 1 else ''}"
            f"{when.day} {when.strftime('%B %Y')})"
        )
    return lines


def _adult_out(adult, result: SearchResult | None, history: list[dict], words: str) -> dict:
    base = {
        "name": adult.name,
        "relationship": relationship_words(adult.relationship),
        "lives_at_address": {"yes": "yes", "no": "no"}.get(
            str(adult.lives_at_address), "not known"
        ),
    }
    who = words.split(";")[0]
    if result is None:
        return {
            **base,
            "status": NOT_SEARCHED,
            "text": f"{who}: MAST could not search for this adult because the agency records "
            "have not been linked (run `mast link`). Nothing is known about them either way.",
        }
    matches = [
        {
            "person_key": c.person_key,
            "match_probability": c.match_probability,
            "agreeing_fields": list(c.agreeing_fields),
            "disagreeing_fields": list(c.disagreeing_fields),
        }
        for c in result.candidates
    ]
    if result.status == FOUND:
        best = result.best
        summary = history_words(history)
        held = (
            f"{len(history)} record(s) before the referral: " + "; ".join(summary)
            if history
            else "none of their records was recorded before the referral"
        )
        return {
            **base,
            "status": FOUND,
            "text": f"{who}: matched to records with probability "
            f"{percent(best.match_probability)} (agreeing: "
            f"{', '.join(best.agreeing_fields) or 'none'}; disagreeing: "
            f"{', '.join(best.disagreeing_fields) or 'none'}). {held}. The score does not "
            "weigh this adult's records: read them alongside it.",
            "match_probability": best.match_probability,
            "person_key": best.person_key,
            "matches": matches,
            "history": summary,
            "records_total": len(history),
        }
    text = f"{who}: {NOT_FOUND_TEXT}."
    if result.status == POSSIBLE:
        top = result.candidates[0]
        text += (
            f" {len(result.candidates)} possible match(es) below the threshold of "
            f"{percent(result.threshold)}, the strongest at {percent(top.match_probability)}: "
            "check them before relying on this; their records are not shown as this adult's."
        )
    else:
        text += (
            " They may be known to an agency MAST holds no records from, or under another "
            "name: check with the agencies before relying on this."
        )
    return {
        **base,
        "status": result.status if result.status != FOUND else NOT_FOUND,
        "text": text,
        "matches": matches,
    }
