"""The merged multi-agency chronology of a child and the adults they live with.

This is the "jigsaw" the national review found nobody held: every agency's
records about the child and every adult who lived with the child, in one
list ordered by when things happened, with when each agency recorded it.
Opened for a referral, it is the picture as of that referral: what was on
record before it was received, and, apart and clearly headed, what has
been recorded since.

An entry is *late* when it was recorded more than ``late_after_days`` (30 by
default) after it occurred.  A late record is one the screener could not
have seen at the time, so the chronology marks it: it explains why an
earlier referral may have looked quieter than it was.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from features import active_membership
from store import vocabulary as v

LATE_AFTER_DAYS = 30
SUBJECT = "child"  # how the child appears in "who it concerns"
REFERRAL_EVENT = v.CHRONOLOGY_REFERRAL
DECISION_EVENT = v.CHRONOLOGY_DECISION
SOCIAL_CARE = "children_social_care"
assert SOCIAL_CARE in v.AGENCIES and SUBJECT in v.HOUSEHOLD_ROLES

LOOKBACK_MONTHS = 24  # who lived with the child: anyone, at any time in this window
SIBLING = "sibling"  # another child named on the same referral
SINCE_HEADING = "Recorded since this referral"

# A membership as known at $cut: recorded, started, and its end known only
# once recorded.  The end that counts for "lived with" is the recorded one,
# else none (still there, as far as anyone knew); "current" is the features'
# own definition (features.sql.active_membership).
_KNOWN = """
    SELECT person_id, household_id, role, start_date,
           CASE WHEN end_date IS NOT NULL AND end_recorded_at IS NOT NULL
                     AND end_recorded_at < $cut THEN end_date END AS known_end,
           {current} AS current
    FROM household_members m
    WHERE m.recorded_at < $cut AND m.start_date <= $cut
""".format(current=active_membership("m", "$cut"))

_PEOPLE_SQL = f"""
WITH known AS ({_KNOWN}),
child AS (SELECT * FROM known WHERE person_id = $pid),
together AS (
    SELECT a.person_id, a.role, a.household_id, a.start_date, a.known_end,
           a.current AND c.current AS current
    FROM known a JOIN child c USING (household_id)
    WHERE a.person_id <> $pid AND a.role IN ({", ".join(f"'{r}'" for r in v.ADULT_ROLES)})
      -- the two stays overlap each other, within the look-back window
      AND greatest(a.start_date, c.start_date, $since)
          <= least(coalesce(a.known_end, $cut), coalesce(c.known_end, $cut))
)
SELECT person_id, min(role) AS relationship,
       list(DISTINCT household_id ORDER BY household_id) AS households,
       min(start_date) AS joined,
       CASE WHEN bool_or(current) THEN NULL ELSE max(known_end) END AS left_on,
       bool_or(current) AS lives_with_child
FROM together GROUP BY person_id ORDER BY person_id
"""

_HOMES_SQL = f"""
WITH known AS ({_KNOWN})
SELECT DISTINCT household_id FROM known
WHERE person_id = $pid AND greatest(start_date, $since) <= coalesce(known_end, $cut)
ORDER BY 1
"""


def lookback_start(cut: datetime) -> datetime:
    """The start of the look-back window: :data:`LOOKBACK_MONTHS` before ``cut``."""
    return (pd.Timestamp(cut) - pd.DateOffset(months=LOOKBACK_MONTHS)).to_pydatetime()


def household_adults(
    con: duckdb.DuckDBPyConnection, person_id: str, cut: datetime
) -> tuple[list[str], pd.DataFrame]:
    """The child's households and every adult who lived with the child, as known at ``cut``.

    "Lived with" means at any time in the :data:`LOOKBACK_MONTHS` months
    before ``cut``: a parent who moved out a month before the referral is
    part of what the screener needs to see.  Each adult comes with the day
    they joined, the day they left (``None`` while, as known at ``cut``,
    they still lived with the child) and ``lives_with_child``.
    """
    params = {"pid": person_id, "cut": cut, "since": lookback_start(cut)}
    homes = con.execute(_HOMES_SQL, params).fetchall()
    adults = con.execute(_PEOPLE_SQL, params).df()
    return [h[0] for h in homes], adults


def _person(row: dict) -> dict:
    def day(value):
        return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()

    return {
        "person_id": str(row["person_id"]),
        "relationship": str(row["relationship"]),
        "joined": day(row.get("joined")),
        "left": day(row.get("left_on")),
        "lives_with_child": bool(row.get("lives_with_child", True)),
    }


def chronology(
    con: duckdb.DuckDBPyConnection,
    person_id: str,
    as_of: datetime,
    late_after_days: int = LATE_AFTER_DAYS,
    *,
    siblings: tuple[str, ...] | list[str] = (),
    until: datetime | None = None,
) -> dict:
    """Build the chronology of ``person_id`` as known at ``as_of``.

    Only what had been recorded before ``as_of`` is in ``entries``: called
    with a referral's ``received_at`` it shows what the screener could have
    known then, about the child, every adult who lived with the child in
    the :data:`LOOKBACK_MONTHS` months before, and the ``siblings`` named on
    the referral.  What the same people's records gained from ``as_of`` up
    to ``until`` goes in ``recorded_since``, never among the entries: a
    later section 47 enquiry must not sit in the referral's picture as if
    it had been known.

    Returns
    -------
    dict
        ``household_ids``, ``people`` (person_id, relationship, joined,
        left, lives_with_child), ``entries`` and ``recorded_since``, each
        ordered by ``occurred_at`` then ``recorded_at``.
    """
    homes, adults = household_adults(con, person_id, as_of)
    others = [s for s in dict.fromkeys(siblings) if s != person_id]
    subject = {"person_id": person_id, "relationship": SUBJECT}
    people = [
        _person(subject),
        *(_person(r) for r in adults.to_dict("records")),
        *(_person({"person_id": s, "relationship": SIBLING}) for s in others),
    ]
    frame = pd.DataFrame(
        {
            "person_id": [p["person_id"] for p in people],
            "relationship": [p["relationship"] for p in people],
        }
    )
    upto = as_of if until is None or until < as_of else until
    con.register("_chron_people", frame)
    try:
        entries = con.execute(
            f"""
            SELECT e.occurred_at, e.recorded_at, e.agency, e.event_type,
                   concat_ws(', ',
                       CASE WHEN e.role IS NOT NULL THEN 'as ' || e.role END,
                       CASE WHEN e.severity IS NOT NULL THEN 'severity ' || e.severity END
                   ) AS detail,
                   e.person_id, p.relationship, e.event_id AS sort_key
            FROM agency_events e JOIN _chron_people p USING (person_id)
            WHERE e.recorded_at < $upto
            UNION ALL
            SELECT r.received_at, r.received_at, '{SOCIAL_CARE}', '{REFERRAL_EVENT}',
                   'from ' || r.source || ' (' || r.referrer_relationship || ')',
                   rc.person_id, '{SUBJECT}', r.referral_id
            FROM referrals r JOIN referral_children rc USING (referral_id)
            WHERE rc.person_id = $pid AND r.received_at < $upto
            UNION ALL
            SELECT d.decided_at, d.decided_at, '{SOCIAL_CARE}', '{DECISION_EVENT}',
                   d.decision || coalesce(' (closed: ' || d.closure_reason || ')', ''),
                   rc.person_id, '{SUBJECT}', d.referral_id
            FROM screening_decisions d JOIN referral_children rc USING (referral_id)
            WHERE rc.person_id = $pid AND d.decided_at < $upto
            ORDER BY 1, 2, 6, 8
            """,
            {"pid": person_id, "upto": upto},
        ).df()
    finally:
        con.unregister("_chron_people")
    entries = entries.drop(columns="sort_key")
    delay = entries["recorded_at"] - entries["occurred_at"]
    entries["days_to_record"] = (delay.dt.total_seconds() // 86400).astype(int)
    # In whole days, as the screener reads it: 30 days and 5 hours is "30 days", on time.
    entries["late"] = entries["days_to_record"] > late_after_days
    known = entries["recorded_at"] < pd.Timestamp(as_of)
    return {
        "household_ids": homes,
        "people": people,
        "entries": _rows(entries[known]),
        "recorded_since": _rows(entries[~known]),
    }


def _rows(entries: pd.DataFrame) -> list[dict]:
    records = entries.to_dict("records")
    for r in records:
        r["detail"] = r["detail"] if isinstance(r["detail"], str) and r["detail"] else None
        r["late"] = bool(r["late"])
        r["days_to_record"] = int(r["days_to_record"])
    return records
