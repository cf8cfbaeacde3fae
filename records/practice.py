"""The practice report for governance, computed from the audit trail.

What the board needs to see is practice, not the model: how often the
statutory triggers fired and how often a manager let a triggered referral
be closed; referrals closed as malicious or after the family declined
support; children referred again within 12 months of a no-further-action
closure.  Each figure is counted by month (UK local time) and by team.

Strategy discussions held in time and with the three required agencies
come from the strategy-discussion records; until the trail holds any, they
are reported as *not recorded yet*, as are the figures whose kind of record
this version of MAST does not define (:data:`OPTIONAL_KINDS`, read from
:mod:`records.kinds` at import): never as zero, since an absence of records
is not reassurance.  :func:`practice_notes` says so in words.

Choices, where the issue is silent:

- A referral counts once, by its latest decision (a correction replaces
  what it supersedes), in the month of that decision.
- "Closed after declined consent" is the closure reason
  ``family_declined_support``, the contract's nearest category.
- A re-referral is a referral about a child whose earlier referral's latest
  decision was no further action, first seen by the front door (its first
  score view) within 12 calendar months after that decision.  Until the
  referral register records when a referral was received, the trail's own
  times stand in for it; the children come from the score views.
- The team is the one the writer's token names (``records.tokens``), read
  from each entry's payload; entries written before teams were recorded, or
  by a token without one, count under :data:`NO_TEAM`.  A decision counts
  for the team of the person who made it; a re-referral for the team that
  closed the earlier referral; a strategy discussion for the team that
  recorded it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from records import kinds
from records.models import CLOSING_DECISIONS, MALICIOUS, NO_FURTHER_ACTION
from records.statutory import months_before
from records.store import RecordsStore
from records.tokens import NO_TEAM
from records.trail import Entry
from store.vocabulary import CLOSURE_REASONS

LOCAL = ZoneInfo("Europe/London")
DECLINED = CLOSURE_REASONS[2]
assert DECLINED == "family_declined_support"
REREFERRAL_MONTHS = 12

# Measure -> what the board reads.
MEASURES = {
    "decisions": "referrals decided",
    "rules_not_evaluated": "decided without the statutory rules evaluated",
    "rules_triggered": "referrals meeting a statutory rule",
    "triggered_closed": "... of which closed (no further action or early help)",
    "triggered_closed_with_reason": "... closed with a manager's recorded reason",
    "nfa_closures": "closed with no further action",
    "closed_malicious": "closed as malicious",
    "closed_declined": "closed after the family declined support",
    "re_referrals": "re-referred within 12 months of a no-further-action closure",
}
# From strategy-discussion records (records/review.py), by the month they were held.  Until
# the trail holds any, these are "not recorded yet" rather than zero.
REVIEW_MEASURES = {
    "strategy_recorded": "strategy discussions recorded",
    "strategy_in_time": "strategy discussions held within the local timescale",
    "strategy_three_agencies": "strategy discussions with police, health and children's social care",
}
# Figures from kinds of record other work adds to the trail: shown as "not
# recorded yet", never as 0, while this version of MAST does not define the kind.
NOT_RECORDED_YET = {
    "referrer_told": "referrers told the outcome",
    "escalations_raised": "partner escalations raised",
    "escalations_answered": "partner escalations answered",
}
# Measure -> the name in records.kinds of the entry it counts.
OPTIONAL_KINDS = {
    "referrer_told": "REFERRER_TOLD",
    "escalations_raised": "ESCALATION",
    "escalations_answered": "ESCALATION_ANSWER",
}


def optional_kind(measure: str) -> str | None:
    """The trail kind a measure of :data:`NOT_RECORDED_YET` counts, or ``None`` if not defined."""
    return getattr(kinds, OPTIONAL_KINDS[measure], None)


def practice_notes() -> list[str]:
    """Plain sentences on the figures this version of MAST cannot count yet."""
    return [
        f"MAST does not record {label} yet: that figure is not recorded, not 0."
        for measure, label in NOT_RECORDED_YET.items()
        if optional_kind(measure) is None
    ]


def _month(at: str) -> str:
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(LOCAL)
    return f"{moment.year:04d}-{moment.month:02d}"


def _local(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(LOCAL).replace(tzinfo=None)


def trail_entries(store: RecordsStore, page: int = 10_000) -> Iterator[Entry]:
    """Decisions, overrides, score views, reviews (and the optional kinds defined), a page at a time."""
    optional = {optional_kind(m) for m in NOT_RECORDED_YET} - {None}
    for kind in (kinds.DECISION, kinds.OVERRIDE, kinds.SCORE_VIEW, kinds.REVIEW, *sorted(optional)):
        offset = 0
        while True:
            entries, total = store.query(kind=kind, limit=page, offset=offset)
            yield from entries
            offset += page
            if offset >= total:
                break


def _latest(entries: list[Entry], kind: str) -> dict[str, Entry]:
    """The latest entry of ``kind`` per referral."""
    latest: dict[str, Entry] = {}
    for e in sorted((e for e in entries if e.kind == kind), key=lambda e: e.seq):
        latest[e.referral_id] = e
    return latest


def _month_of_local(text: str) -> str:
    """The month of a time written without an offset (England local) or with one."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(LOCAL)
    return f"{moment.year:04d}-{moment.month:02d}"


def _with_reason(decision: Entry, overrides: dict[int, Entry]) -> bool:
    """Was this closure allowed by a manager's statutory override recorded before it?"""
    return any(
        (o := overrides.get(seq)) is not None
        and o.payload.get("kind") == kinds.STATUTORY_OVERRIDE
        and o.payload.get("decision") == decision.payload["decision"]
        for seq in decision.payload.get("override_seqs", [])
    )


def _re_referrals(entries: list[Entry], latest: dict[str, Entry]) -> list[tuple[str, str]]:
    """(month, team) of each re-referral: first seen within 12 months after an NFA on another referral.

    The month is the re-referral's; the team is that of the most recent
    closure it follows.
    """
    first_seen: dict[str, Entry] = {}
    children: dict[str, set[str]] = defaultdict(set)
    for e in sorted((e for e in entries if e.kind == kinds.SCORE_VIEW), key=lambda e: e.seq):
        if e.referral_id is None:
            continue
        first_seen.setdefault(e.referral_id, e)
        children[e.referral_id] |= set(e.payload.get("person_ids") or [])
        if e.person_id:
            children[e.referral_id].add(e.person_id)
    closures = [(rid, d) for rid, d in latest.items() if d.payload["decision"] == NO_FURTHER_ACTION]
    found = []
    for rid, seen in first_seen.items():
        when = _local(seen.at)
        after = [
            (_local(closure.at), closure.seq, closure)
            for closed_rid, closure in closures
            if closed_rid != rid
            and children[rid] & children[closed_rid]
            and months_before(when, REREFERRAL_MONTHS) <= _local(closure.at) < when
        ]
        if after:
            closure = max(after, key=lambda t: t[:2])[2]  # the most recent closure it follows
            found.append((_month(seen.at), closure.payload.get("team") or NO_TEAM))
    return found


def practice_figures(entries: Iterable[Entry]) -> pd.DataFrame:
    """The practice figures by month and team.

    Parameters
    ----------
    entries
        Trail entries (decisions, overrides and score views; others are ignored).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``month`` (``YYYY-MM``, UK local time) and ``team``, with
        one column per key of :data:`MEASURES` (counts), of
        :data:`REVIEW_MEASURES` (counts; missing while the trail holds no
        review at all) and of :data:`NOT_RECORDED_YET` (counts; missing
        while this version of MAST does not define their kind).
    """
    entries = list(entries)
    latest = _latest(entries, kinds.DECISION)
    overrides = {e.seq: e for e in entries if e.kind == kinds.OVERRIDE}
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    for d in latest.values():
        row = counts[(_month(d.at), d.payload.get("team") or NO_TEAM)]
        decision, reason = d.payload["decision"], d.payload.get("closure_reason")
        rules = d.payload.get("statutory_rules")
        row["decisions"] += 1
        row["rules_not_evaluated"] += rules is None
        if rules:
            row["rules_triggered"] += 1
            if decision in CLOSING_DECISIONS:
                row["triggered_closed"] += 1
                row["triggered_closed_with_reason"] += _with_reason(d, overrides)
        row["nfa_closures"] += decision == NO_FURTHER_ACTION
        row["closed_malicious"] += decision == NO_FURTHER_ACTION and reason == MALICIOUS
        row["closed_declined"] += decision == NO_FURTHER_ACTION and reason == DECLINED
    for key in _re_referrals(entries, latest):
        counts[key]["re_referrals"] += 1
    reviews = _latest(entries, kinds.REVIEW)
    for r in reviews.values():
        row = counts[(_month_of_local(r.payload["held_at"]), r.payload.get("team") or NO_TEAM)]
        row["strategy_recorded"] = row.get("strategy_recorded", 0) + 1
        row["strategy_in_time"] = row.get("strategy_in_time", 0) + (not r.payload["held_late"])
        row["strategy_three_agencies"] = row.get("strategy_three_agencies", 0) + (
            not r.payload["missing_agencies"]
        )
    optional = {m: optional_kind(m) for m in NOT_RECORDED_YET}
    for measure, kind in optional.items():
        if kind is not None:
            for key in _optional_counts(entries, measure, kind, latest):
                row = counts[key]
                row[measure] = row.get(measure, 0) + 1
    frame = pd.DataFrame(
        [{"month": m, "team": t, **values} for (m, t), values in counts.items()],
        columns=["month", "team", *MEASURES, *REVIEW_MEASURES, *NOT_RECORDED_YET],
    )
    # No review in the whole trail: not recorded yet, not zero.
    frame[list(REVIEW_MEASURES)] = frame[list(REVIEW_MEASURES)].fillna(0) if reviews else pd.NA
    for measure, kind in optional.items():
        frame[measure] = frame[measure].fillna(0) if kind is not None else pd.NA
    return frame.sort_values(["month", "team"]).set_index(["month", "team"])


def _optional_counts(
    entries: list[Entry], measure: str, kind: str, latest: dict[str, Entry]
) -> list[tuple[str, str]]:
    """(month, team) of each record counted by an optional measure, in the entry's month.

    Referrers told count once per referral (its latest record), for the team
    of whoever told them.  Escalations and their answers count once per
    entry, for the team whose decision was challenged (the referral's latest
    decision's): a partner agency's lead has no team of the front door's.
    """
    found = [e for e in entries if e.kind == kind]
    if measure == "referrer_told":
        return [
            (_month(e.at), e.payload.get("team") or NO_TEAM) for e in _latest(found, kind).values()
        ]
    out = []
    for e in found:
        decided = latest.get(e.referral_id)
        team = (decided.payload.get("team") if decided else None) or e.payload.get("team")
        out.append((_month(e.at), team or NO_TEAM))
    return out


def practice_report(store: RecordsStore) -> pd.DataFrame:
    """:func:`practice_figures` over the whole trail of ``store``."""
    return practice_figures(trail_entries(store))


def month_label(month: str) -> str:
    """``2026-12`` as ``December 2026``."""
    return datetime.strptime(month, "%Y-%m").strftime("%B %Y")
