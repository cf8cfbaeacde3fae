"""The multi-agency record in words: each trail entry as a line a screener or partner reads.

Kept apart from the routes so each kind of entry has its own small function
(:data:`DESCRIBE`), and so the queue or a report can reuse them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import records
from records import kinds, partners, review

AGENCY = review.AGENCY_LABELS


def when(value: Any) -> str:
    """A time in UK local time, as ``30 Nov 2026 10:00`` (naive values are UK time already)."""
    if value in (None, ""):
        return ""
    return review.local_time(value).strftime("%d %b %Y %H:%M")


def day(value: Any) -> str:
    """A date as ``03 Dec 2026`` (an action's due date is a day, stored as ISO text)."""
    if value in (None, ""):
        return ""
    due = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return due.strftime("%d %b %Y")


def _decision(p: dict) -> tuple[str, list[str]]:
    label = records.DECISION_LABELS.get(p["decision"], p["decision"])
    return f"Decision: {label}", [f"Why: {p['rationale']}"]


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _review(p: dict) -> tuple[str, list[str]]:
    late = "; held late" if p.get("held_late") else ""
    took_part = ", ".join(f"{AGENCY[x['agency']]} ({x['name']})" for x in p["participants"])
    o = p["outcome"]
    lines = [
        f"Held {when(p['held_at'])} (UK time); due {when(p['due'])}{late}",
        f"Took part: {took_part}",
        *(
            f"{AGENCY[s['agency']].capitalize()} shared: {s['summary']}"
            for s in p.get("shared", [])
        ),
        f"Section 47 enquiry: {_yes_no(o['section_47'])} ({o['section_47_rationale']})",
        f"Child protection medical: {_yes_no(o['cp_medical'])} ({o['cp_medical_rationale']})",
        *(
            f"Action: {a['action']}, owned by {a['owner']}"
            + (f", due {day(a['due'])}" if a.get("due") else "")
            for a in p.get("actions", [])
        ),
    ]
    if p.get("missing_agencies"):
        missing = ", ".join(AGENCY[a] for a in p["missing_agencies"])
        lines.append(f"Without {missing}: manager's reason: {p.get('missing_agencies_reason')}")
    return "Strategy discussion recorded", lines


def _told(p: dict) -> tuple[str, list[str]]:
    how = partners.METHOD_LABELS[p["method"]].capitalize()
    return (
        f"{partners.RECIPIENT_LABELS[p['recipient']].capitalize()} told the outcome",
        [f"{how}, {when(p['told_at'])} (UK time): {p['outcome_given']}"],
    )


def _invitation(p: dict) -> tuple[str, list[str]]:
    role = partners.role_label(p["partner_role"])
    until = [f"Open until {when(p['expires_at'])} (UK time)"] if p.get("expires_at") else []
    return f"{p['partner_name']} ({role}) invited", [f"Why: {p['reason']}", *until]


def _withdrawal(p: dict) -> tuple[str, list[str]]:
    role = partners.role_label(p["partner_role"])
    return f"Invitation of {p['partner_name']} ({role}) withdrawn", [f"Why: {p['reason']}"]


def _contribution(p: dict) -> tuple[str, list[str]]:
    return f"Information from {AGENCY[p['agency']]}", [p["summary"]]


def _escalation(p: dict) -> tuple[str, list[str]]:
    what = f"Escalation by {AGENCY[p['agency']]}: challenges the no-further-action decision"
    return what, [p["reason"]]


def _answer(p: dict) -> tuple[str, list[str]]:
    what = f"Manager's answer to an escalation: {partners.ANSWER_LABELS[p['outcome']]}"
    return what, [p["reason"]]


DESCRIBE = {
    kinds.DECISION: _decision,
    kinds.REVIEW: _review,
    kinds.REFERRER_TOLD: _told,
    kinds.PARTNER_INVITATION: _invitation,
    kinds.INVITATION_WITHDRAWN: _withdrawal,
    kinds.AGENCY_CONTRIBUTION: _contribution,
    kinds.ESCALATION: _escalation,
    kinds.ESCALATION_ANSWER: _answer,
}


def describe(entry: dict) -> dict:
    """One entry of the referral's record (:meth:`records.RecordsStore.referral_record`) in words."""
    kind = entry["kind"]
    what, lines = DESCRIBE.get(kind, lambda p: (kind.replace("_", " "), []))(entry["payload"])
    return {
        "at": when(entry["at"]),
        "who": f"{entry['actor']} ({partners.role_label(entry['role'])})",
        "what": what,
        "lines": lines,
        "kind": kind,
        "record_id": entry["record_id"],
    }
