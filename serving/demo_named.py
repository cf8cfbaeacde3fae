"""What ``mast demo`` shows of named adults: a referral naming a non-resident adult.

A held-out referral is posted again, under a new id, naming an adult the
child does not live with, the way a referrer would ("the mother's new
partner, not living at the address"), with the name and date of birth as
one agency holds them (a police referrer would have both).  The service searches the linked records and
shows the adult's history with its match probability.  The adult is chosen
from the store as a person would find one (an adult with police records
before the referral who is not in the child's household); the simulator's
truth then says whether the match found is that adult.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from features.definitions import SPECS_BY_NAME
from serving.demo import score_over_http

_ADULT_SQL = """
WITH child_homes AS (
    SELECT household_id FROM household_members WHERE person_id = $child
),
housemates AS (
    SELECT DISTINCT person_id FROM household_members
    WHERE household_id IN (SELECT household_id FROM child_homes)
),
candidates AS (
    SELECT ar.agency_record_id, ar.given_name, ar.family_name, ar.date_of_birth,
           t.person_id, count(*) AS n_events
    FROM agency_records ar
    JOIN agency_event_records er USING (agency, agency_record_id)
    JOIN agency_events e USING (event_id)
    JOIN truth.agency_record_people t USING (agency, agency_record_id)
    WHERE ar.agency = 'police' AND e.recorded_at < $received
      AND ar.recorded_at < $received
      AND ar.given_name IS NOT NULL AND ar.family_name IS NOT NULL
      AND ar.date_of_birth IS NOT NULL
      AND t.person_id NOT IN (SELECT person_id FROM housemates)
    GROUP BY ALL
)
SELECT * FROM candidates ORDER BY n_events DESC, agency_record_id LIMIT 1
"""


def named_adult_body(db: str | Path, body: dict) -> tuple[dict, str] | None:
    """``body`` again under a new id, naming an adult with police records; and who they truly are.

    The person's true id is read from the simulator's truth only to judge
    the match in the demo's printout; the request carries only the name and
    the date of birth, as a referrer gives them.  ``None`` for a store without
    agency identities.
    """
    con = duckdb.connect(str(db), read_only=True)
    try:
        has = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name IN "
            "('agency_records', 'agency_record_people', 'person_links')"
        ).fetchone()[0]
        if has < 3:
            return None
        row = con.execute(
            _ADULT_SQL, {"child": body["children"][0], "received": body["received_at"]}
        ).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    _, given, family, dob, person_id, _ = row
    named = {
        "name": f"{given} {family}",
        "date_of_birth": dob.isoformat(),
        "relationship": "mothers_new_partner",
        "lives_at_address": "no",
    }
    return {**body, "referral_id": f"{body['referral_id']}-NA", "named_adults": [named]}, person_id


def _named_reasons(result: dict) -> list[str]:
    """The score's reasons that count adults the referrer named (labelled with whom and how sure)."""
    return [
        f"child {child['person_id']}, {title}: {r['text']}"
        for child in result["children"]
        for title, reasons in (
            ("raises the score", child["reasons_for"]),
            ("lowers the score", child["reasons_against"]),
        )
        for r in reasons
        if _is_named(r["feature"])
    ]


def _uk_date(iso: str) -> str:
    """A date as people in England write it ("22 February 1978")."""
    d = date.fromisoformat(iso)
    return f"{d.day} {d.strftime('%B %Y')}"


def _is_named(feature: str) -> bool:
    spec = SPECS_BY_NAME.get(feature)
    return spec is not None and spec.subject == "named_adults"


def demo_named_adult(
    base_url: str, headers: dict, db: str | Path, body: dict, score_before: int | None = None
) -> str:
    """Score a referral naming a non-resident adult; the adult's history, printable.

    ``score_before`` is the highest score of ``body`` as first posted (naming
    nobody), so the printout shows what naming the adult changed.
    """
    made = named_adult_body(db, body)
    if made is None:
        return (
            "Named adults: the store holds no linked agency identities "
            "(simulate with --agency-identities and run `mast link`)."
        )
    named_body, truly = made
    (result,) = score_over_http(base_url, [named_body], headers)
    lines = [
        f"Referral {named_body['referral_id']} (referral {body['referral_id']} again) names "
        f"{named_body['named_adults'][0]['name']}, the mother's new partner, not living at "
        "the address, born " + _uk_date(named_body["named_adults"][0]["date_of_birth"]) + ":"
    ]
    for adult in result["named_adults"]:
        lines.append(f"  {adult['text']}")
        for line in adult["history"][:8]:
            lines.append(f"    - {line}")
        for m in adult["matches"][:3]:
            lines.append(
                f"    match {m['person_key']}: probability {m['match_probability']:.1%}; "
                f"agreeing {', '.join(m['agreeing_fields']) or 'none'}; "
                f"disagreeing {', '.join(m['disagreeing_fields']) or 'none'}"
            )
    if score_before is not None:
        lines.append(
            f"  Highest score {score_before} of 20 as first received (naming nobody); "
            f"{result['highest_score']} of 20 naming this adult."
        )
    lines += [f"  - {line}" for line in _named_reasons(result)]
    counted = result.get("named_adults_counted") or []
    if counted:
        lines.append(
            "  Counted as the named-adult feature family counts them (what the model weighs):"
        )
        lines += [f"    - {line}" for line in counted]
    lines.append(
        f"  (The simulator's truth: this adult is person {truly}; evaluation only, never read "
        "by the service.)"
    )
    return "\n".join(lines)
