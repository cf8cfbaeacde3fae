"""The records behind feature values, from a :class:`~features.snapshot.StoreSnapshot`.

:func:`features.evidence` answers from the store in SQL; this answers the
scoring service from memory with the same selections: the same subjects
(the child, the household's adults, the adults who joined in the last 12
months, the parents, the siblings), the same static predicate bits the
counter used, the same windows and the same "recorded before" rule.  The rows
are those :func:`features.evidence` returns, in the same columns and order
(``tests/features/test_memory_evidence.py`` checks them equal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from features import definitions as d
from features import ondemand as od
from features.evidence import EVIDENCE_COLUMNS
from features.snapshot import (
    EVENT_KINDS,
    MEMBER_ROLES,
    NO_ONE_NAMED,
    US_PER_DAY,
    NamedGroup,
    StoreSnapshot,
    named_groups,
)
from store import vocabulary as v

_CSC = d.cat("children_social_care", v.AGENCIES)
_EVENT_AT = {c.name: k for k, c in enumerate(d.EVENT_COUNTERS)}
_STATE_AT = {c.name: k for k, c in enumerate(d.EVENT_STATES)}
_REFERRAL_AT = {c.name: k for k, c in enumerate(d.REFERRAL_COUNTERS)}


_EPOCH = datetime(1970, 1, 1)


def _ts(us: int) -> datetime:
    """Microseconds since the epoch as a naive datetime (the store's convention)."""
    return _EPOCH + timedelta(microseconds=int(us))


def subjects(
    s: StoreSnapshot,
    t: od.Target,
    hh: od.Household,
    subject: str,
    named: NamedGroup = NO_ONE_NAMED,
) -> list[tuple]:
    """(person row, relationship, start) for a feature's subject, as ``_subject_sql``.

    ``named``: the referral's named adults (the snapshot's, or those handed
    in with a new referral), for the group whose source is "named".
    """
    if subject in ("child", "referral"):
        return [(t.child, "child", None)] if t.child >= 0 else []
    m = d.MEMBERSHIPS[subject]
    if m.source == "named":
        return [(int(p), m.relationship, None) for p in named.people]
    since = None if m.joined_within is None else t.as_of - d.WINDOWS[m.joined_within] * US_PER_DAY
    rows = []
    for p, role, start in zip(hh.members, hh.roles, hh.starts, strict=True):
        name = MEMBER_ROLES[role]
        if name in m.roles and (since is None or start >= since):
            rows.append((int(p), m.relationship or name, int(start)))
    return rows


def _row(
    record, agency, event_type, s: StoreSnapshot, p: int, relationship, occurred, recorded, detail
):
    """One evidence row, with :data:`features.EVIDENCE_COLUMNS` keys (times in microseconds)."""
    return {
        "record": record,
        "agency": agency,
        "event_type": event_type,
        "person_id": s.person_ids[p],
        "relationship": relationship,
        "occurred_at": _ts(occurred),
        "recorded_at": _ts(recorded),
        "detail": detail,
    }


def _event_rows(
    s: StoreSnapshot, t: od.Target, people: list[tuple], record: d.EvidenceSource
) -> list[dict]:
    counter = d.COUNTERS[record.counter]
    out = []
    for p, relationship, _ in people:
        rows = od.visible_events(s, p, t.as_of)
        if isinstance(counter, d.EventState):
            k = _STATE_AT[counter.name]
            keep = (s.e_mask[rows] & (od._ST_START[k] | od._ST_END[k])) != 0
        else:
            keep = od.event_hits(s, p, rows, t.as_of)[:, _EVENT_AT[counter.name]]
        for i in rows[keep]:
            agency, event_type = EVENT_KINDS[s.e_kind[i]]
            parts = []
            if s.e_role[i] >= 0:
                parts.append(f"role: {v.EVENT_ROLES[s.e_role[i]]}")
            if s.e_severity[i] >= 0:
                parts.append(f"severity {int(s.e_severity[i])}")
            out.append(
                _row(
                    "agency_event",
                    agency,
                    event_type,
                    s,
                    p,
                    relationship,
                    s.e_occurred[i],
                    s.e_recorded[i],
                    ", ".join(parts),
                )
            )
    return out


def _referral_rows(
    s: StoreSnapshot, t: od.Target, people: list[tuple], record: d.EvidenceSource, extras: od.Extras
) -> list[dict]:
    out = []
    for p, relationship, _ in people:
        h = od.history(s, p, t.as_of, extras)
        seen = h.decided < t.as_of
        if record.same_concern:
            this = np.array([bool(t.referral[c]) for c in v.CONCERN_COLUMNS])
            keep = (h.concerns & this[None, :]).any(axis=1)
            if record.window_days:
                keep &= h.received >= t.as_of - record.window_days * US_PER_DAY
        else:
            keep = od.referral_hits(s, p, h, t.as_of)[:, _REFERRAL_AT[record.counter]]
        for i in np.flatnonzero(keep):
            parts = [f"referral {h.referral_id(s, i)}"]
            decision, closure = h.decision(s, i) if seen[i] else (None, None)
            if decision is not None:
                parts.append(f"decision: {decision}")
            if closure is not None:
                parts.append(f"closed as {closure}")
            received = h.received[i]
            out.append(
                _row(
                    "referral",
                    _CSC,
                    f"referral from {h.source(s, i)}",
                    s,
                    p,
                    relationship,
                    received,
                    received,
                    ", ".join(parts),
                )
            )
    return out


def _member_rows(
    s: StoreSnapshot, t: od.Target, hh: od.Household, people: list[tuple], record: d.EvidenceSource
) -> list[dict]:
    within = record.joined_within_days
    homes = set(hh.homes.tolist())
    out = []
    for p, relationship, start in people:
        if start is None or (within and start < t.as_of - within * US_PER_DAY):
            continue
        rows = np.arange(s.m_offsets[p], s.m_offsets[p + 1])
        # One membership per member, as features.evidence lists it: current as
        # of the referral, in one of the child's homes, with the member's
        # latest start; the first recorded, then by household.
        rows = rows[od.active_membership(s, rows, t.as_of)]
        rows = [i for i in rows if s.m_start[i] == start and int(s.m_household[i]) in homes]
        if not rows:
            continue
        i = min(rows, key=lambda i: (s.m_recorded[i], s.household_ids[s.m_household[i]]))
        out.append(
            _row(
                "household_member",
                None,
                "joined household",
                s,
                p,
                relationship,
                start,
                s.m_recorded[i],
                f"household {s.household_ids[s.m_household[i]]}",
            )
        )
    return out


def _sort_key(row: dict) -> tuple:
    return (
        row["occurred_at"],
        row["recorded_at"],
        row["person_id"],
        row["event_type"],
        row["detail"] or "",
    )


def ondemand_evidence(
    s: StoreSnapshot,
    referrals: Sequence[Mapping],
    referral_children: Sequence[Mapping],
    wanted: Mapping[str, Sequence[str]],
    named: list[dict] | None = None,
) -> dict[tuple[str, str], list[dict]]:
    """The records behind ``wanted[person_id]`` features for each child of one referral.

    Parameters
    ----------
    s
        The store in memory.
    referrals, referral_children
        One referral and its children, checked records
        (:func:`features.inputs.check_referrals`).
    wanted
        Feature names per child ``person_id``.

    Returns
    -------
    dict
        ``(person_id, feature)`` to rows with :data:`features.EVIDENCE_COLUMNS`
        keys, ordered as :func:`features.evidence` orders them.
    """
    extras = od.Extras(s, list(referrals), list(referral_children))
    given = named_groups(named or [], s.person)
    by_child = {t.person_id: t for t in od.targets(s, list(referrals), list(referral_children))}
    out: dict[tuple[str, str], list[dict]] = {}
    for pid, names in wanted.items():
        t = by_child.get(pid)
        if t is None:
            raise ValueError(f"person_id {pid!r} is not a child on this referral")
        hh = od.household(s, t.child, t.as_of)
        people_of: dict[str, list[tuple]] = {}
        for name in dict.fromkeys(names):
            spec = d.SPECS_BY_NAME.get(name)
            if spec is None:
                raise ValueError(f"Unknown feature {name!r}: see features.catalogue()")
            record = spec.record
            table = record.table
            subject = record.subject
            if subject not in people_of:
                group = given.get(t.referral_id) or s.named.get(t.referral_id, NO_ONE_NAMED)
                people_of[subject] = subjects(s, t, hh, subject, group)
            people = people_of[subject]
            if table == "agency_events":
                rows = _event_rows(s, t, people, record)
            elif table == "referrals":
                rows = _referral_rows(s, t, people, record, extras)
            elif table == "household_members":
                rows = _member_rows(s, t, hh, people, record)
            else:
                rows = [
                    {
                        "record": "referral",
                        "agency": _CSC,
                        "event_type": "this referral",
                        "person_id": t.person_id,
                        "relationship": "child",
                        "occurred_at": _ts(t.as_of),
                        "recorded_at": _ts(t.as_of),
                        "detail": f"referral {t.referral_id}",
                    }
                ]
            out[(pid, name)] = sorted(rows, key=_sort_key)
    return out


def evidence_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as :func:`features.evidence` returns them (for comparison and notebooks)."""
    return pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)
