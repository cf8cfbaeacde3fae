"""The merged multi-agency chronology of a child and the adults they live with.

This is the "jigsaw" the national review found nobody held: every agency's
records about the child and every adult in the child's household, in one
list ordered by when things happened, with when each agency recorded it.

An entry is *late* when it was recorded more than ``late_after_days`` (30 by
default) after it occurred.  A late record is one the screener could not
have seen at the time, so the chronology marks it: it explains why an
earlier referral may have looked quieter than it was.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from features.sql import active_membership
from store import vocabulary as v

LATE_AFTER_DAYS = 30
SUBJECT = "child"  # how the child appears in "who it concerns"
REFERRAL_EVENT = v.CHRONOLOGY_REFERRAL
DECISION_EVENT = v.CHRONOLOGY_DECISION
SOCIAL_CARE = "children_social_care"
assert SOCIAL_CARE in v.AGENCIES and SUBJECT in v.HOUSEHOLD_ROLES

# "Who lived with the child" has one definition, the features' own: a
# membership ends only once its end date has passed *and* been recorded.
_CURRENT = active_membership("m", "$as_of")

_HOUSEHOLD_SQL = f"""
WITH homes AS (
    SELECT DISTINCT m.household_id FROM household_members m
    WHERE m.person_id = $pid AND {_CURRENT}
)
SELECT m.person_id, min(m.role) AS role, list(DISTINCT m.household_id ORDER BY m.household_id) AS households
FROM household_members m JOIN homes USING (household_id)
WHERE m.person_id <> $pid AND m.role IN ({", ".join(f"'{r}'" for r in v.ADULT_ROLES)})
  AND {_CURRENT}
GROUP BY m.person_id
ORDER BY m.person_id
"""


def household_adults(
    con: duckdb.DuckDBPyConnection, person_id: str, as_of: datetime
) -> tuple[list[str], pd.DataFrame]:
    """The child's current households and the adults in them, as known at ``as_of``."""
    params = {"pid": person_id, "as_of": as_of}
    homes = con.execute(
        f"SELECT DISTINCT m.household_id FROM household_members m "
        f"WHERE m.person_id = $pid AND {_CURRENT} ORDER BY 1",
        params,
    ).fetchall()
    adults = con.execute(_HOUSEHOLD_SQL, params).df()
    return [h[0] for h in homes], adults


def chronology(
    con: duckdb.DuckDBPyConnection,
    person_id: str,
    as_of: datetime,
    late_after_days: int = LATE_AFTER_DAYS,
) -> dict:
    """Build the chronology of ``person_id`` and their household's adults.

    Only what had been recorded before ``as_of`` is shown, so the same call
    with a referral's ``received_at`` shows what the screener could have
    known then.

    Returns
    -------
    dict
        ``household_ids``, ``people`` (person_id and relationship) and
        ``entries`` ordered by ``occurred_at`` then ``recorded_at``.
    """
    homes, adults = household_adults(con, person_id, as_of)
    people = pd.DataFrame(
        {
            "person_id": [person_id, *adults["person_id"]],
            "relationship": [SUBJECT, *adults["role"]],
        }
    )
    con.register("_chron_people", people)
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
            WHERE e.recorded_at < $as_of
            UNION ALL
            SELECT r.received_at, r.received_at, '{SOCIAL_CARE}', '{REFERRAL_EVENT}',
                   'from ' || r.source || ' (' || r.referrer_relationship || ')',
                   rc.person_id, '{SUBJECT}', r.referral_id
            FROM referrals r JOIN referral_children rc USING (referral_id)
            WHERE rc.person_id = $pid AND r.received_at < $as_of
            UNION ALL
            SELECT d.decided_at, d.decided_at, '{SOCIAL_CARE}', '{DECISION_EVENT}',
                   d.decision || coalesce(' (closed: ' || d.closure_reason || ')', ''),
                   rc.person_id, '{SUBJECT}', d.referral_id
            FROM screening_decisions d JOIN referral_children rc USING (referral_id)
            WHERE rc.person_id = $pid AND d.decided_at < $as_of
            ORDER BY 1, 2, 6, 8
            """,
            {"pid": person_id, "as_of": as_of},
        ).df()
    finally:
        con.unregister("_chron_people")
    entries = entries.drop(columns="sort_key")
    delay = entries["recorded_at"] - entries["occurred_at"]
    entries["days_to_record"] = (delay.dt.total_seconds() // 86400).astype(int)
    # In whole days, as the screener reads it: 30 days and 5 hours is "30 days", on time.
    entries["late"] = entries["days_to_record"] > late_after_days
    records = entries.to_dict("records")
    for r in records:
        r["detail"] = r["detail"] if isinstance(r["detail"], str) and r["detail"] else None
        r["late"] = bool(r["late"])
        r["days_to_record"] = int(r["days_to_record"])
    return {
        "household_ids": homes,
        "people": people.to_dict("records"),
        "entries": records,
    }
