"""Statutory triggers for a referral being scored: its facts, and each child's history from the store.

The rules themselves live in :mod:`records.statutory` (pure, owned by
governance); this module only gathers what they read.  The history is the
store's (the local authority's extracts): earlier referrals and screening
decisions about each child, filtered by :func:`records.statutory.evaluate`
to those strictly before the referral was received.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from features import NEVER, StoreSnapshot
from records import statutory
from serving.schemas import ReferralIn
from serving.scoring import to_store_time
from store import vocabulary as v


def facts_of(referral: ReferralIn) -> statutory.ReferralFacts:
    """The referral's own facts, its time in the store's convention (England local time)."""
    return statutory.ReferralFacts(
        referral_id=referral.referral_id,
        received_at=to_store_time(referral.received_at),
        concerns=frozenset(str(c) for c in referral.concerns),
        injury_alleged=referral.injury_alleged,
        images_held_by=None if referral.images_held_by is None else str(referral.images_held_by),
        non_mobile_child=referral.non_mobile_child,
    )


def _us_to_datetime(us: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(microseconds=int(us))


def snapshot_histories(snap, person_ids: list[str]) -> list[statutory.ChildHistory]:
    """The same histories as :func:`histories`, read from the service's snapshot in memory.

    The snapshot holds the store and, merged into it, every referral and
    decision MAST has received since (serving/live.py), so the triggers see
    the front door's own repeat referrals at once, and no request opens the
    store file (about 30 ms a time).
    """
    out = []
    for pid in person_ids:
        i = snap.person.get(pid)
        if i is None:
            out.append(statutory.ChildHistory(person_id=pid))
            continue
        rows = snap.rc_referral[snap.rc_offsets[i] : snap.rc_offsets[i + 1]]
        referrals, decisions = [], []
        for r in rows:
            rid = str(snap.referral_ids[r])
            referrals.append(statutory.PriorReferral(rid, _us_to_datetime(snap.r_received[r])))
            code = int(snap.r_decision[r])
            if snap.r_decided[r] != NEVER and code >= 0:
                decisions.append(
                    statutory.PriorDecision(
                        rid, _us_to_datetime(snap.r_decided[r]), v.DECISIONS[code]
                    )
                )
        out.append(
            statutory.ChildHistory(
                person_id=pid,
                date_of_birth=_us_to_datetime(snap.dob[i]).date(),
                referrals=tuple(referrals),
                decisions=tuple(decisions),
            )
        )
    return out


def histories(cursor, person_ids: list[str]) -> list[statutory.ChildHistory]:
    """Each child's date of birth, referrals and screening decisions, from the store.

    A literal ``IN`` list (ids are quoted) lets DuckDB use the store's
    lookup indexes on ``people`` and ``referral_children`` rather than scan them.
    """
    ids = _quoted(person_ids)
    births = dict(
        cursor.execute(
            f"SELECT person_id, date_of_birth FROM people WHERE person_id IN ({ids})"
        ).fetchall()
    )
    rows = cursor.execute(
        "SELECT rc.person_id, r.referral_id, r.received_at, d.decided_at, d.decision "
        "FROM referral_children rc JOIN referrals r USING (referral_id) "
        "LEFT JOIN screening_decisions d USING (referral_id) "
        f"WHERE rc.person_id IN ({ids})"
    ).fetchall()
    referrals: dict[str, list] = {p: [] for p in person_ids}
    decisions: dict[str, list] = {p: [] for p in person_ids}
    for pid, rid, received, decided, decision in rows:
        referrals[pid].append(statutory.PriorReferral(rid, received))
        if decided is not None:
            decisions[pid].append(statutory.PriorDecision(rid, decided, decision))
    return [
        statutory.ChildHistory(
            person_id=p,
            date_of_birth=births.get(p),
            referrals=tuple(referrals[p]),
            decisions=tuple(decisions[p]),
        )
        for p in person_ids
    ]


def _quoted(ids: list[str]) -> str:
    return ", ".join("'" + str(i).replace("'", "''") + "'" for i in ids) or "NULL"


def triggers(source, referral: ReferralIn, rules: statutory.StatutoryRules | None = None) -> dict:
    """The rules that fire on ``referral``, as the score response and the trail carry them.

    ``source`` is the service's :class:`features.StoreSnapshot` (the store
    plus what MAST has received since), or a store cursor.
    """
    rules = rules or statutory.default_rules()
    children = list(referral.children)
    history = (
        snapshot_histories(source, children)
        if isinstance(source, StoreSnapshot)
        else histories(source, children)
    )
    fired = statutory.evaluate(facts_of(referral), history, rules)
    return {
        "statutory_triggers": [t.as_dict() for t in fired],
        "statutory_rules_version": rules.version,
        "statutory_rules_sha256": rules.sha256,
    }


def detail(result: dict) -> dict:
    """What the score view records of the triggers, so a decision is checked against them."""
    return {
        "statutory": [
            {k: t[k] for k in ("rule_id", "title", "requires", "children")}
            for t in result["statutory_triggers"]
        ],
        "statutory_rules": {
            "version": result["statutory_rules_version"],
            "sha256": result["statutory_rules_sha256"],
        },
    }


def status_fields(view: dict) -> dict:
    """:class:`records.ReferralStatus` fields from a score view's detail (``None``: not evaluated)."""
    if "statutory" not in view:
        return {"statutory": None, "statutory_rules": None}
    fired = tuple(
        statutory.Triggered(
            rule_id=t["rule_id"],
            title=t["title"],
            text="",
            requires=tuple(t["requires"]),
            children=tuple(t["children"]),
        )
        for t in view["statutory"]
    )
    return {"statutory": fired, "statutory_rules": view.get("statutory_rules")}
