"""A stand-in scoring engine for the page tests: no model, no MLflow.

It has the public surface the page uses (``score``, ``chronology``,
``cursor``, ``model.policy``) and answers like :class:`serving.ScoringEngine`:
a referral with a domestic-abuse concern is flagged; each reason cites a
record that appears in the child's chronology, so links can be checked.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pandas as pd

from serving import ADVISORY_NOTICE, ServingError
from store import vocabulary as v

KNOWN_CHILDREN = ("C1", "C2")
# Recorded after the store's referral S1 was received: hindsight, kept apart.
LATER_EVENT = {
    "record": "agency_event",
    "detail": None,
    "agency": "children_social_care",
    "event_type": "section47_enquiry",
    "person_id": "C1",
    "relationship": "child",
    "occurred_at": datetime(2026, 10, 9, 11, 0),
    "recorded_at": datetime(2026, 10, 9, 16, 0),
}
POLICE_EVENT = {
    "record": "agency_event",
    "detail": "as perpetrator",
    "agency": "police",
    "event_type": "domestic_incident",
    "person_id": "A2",
    "relationship": "partner",
    "occurred_at": datetime(2026, 9, 10, 22, 5),
    "recorded_at": datetime(2026, 9, 11, 8, 0),
}
SCHOOL_EVENT = {
    "record": "agency_event",
    "detail": None,
    "agency": "education",
    "event_type": "school_absence",
    "person_id": "C1",
    "relationship": "child",
    "occurred_at": datetime(2026, 5, 3, 9, 0),
    "recorded_at": datetime(2026, 7, 20, 9, 0),
}


class FakeEngine:
    """Deterministic answers in the shape of :class:`serving.ScoringEngine`'s."""

    def __init__(self) -> None:
        self.db = Path("fake.duckdb")
        self.model = SimpleNamespace(
            name="fake-model",
            version="7",
            alias="champion",
            run_id=None,
            policy={"threshold_score": 15, "version": "fake-policy"},
            policy_version="fake-policy",
            gate={"gate_verdict": "pass"},
            feature_names=["adults_da_perpetrator_12m", "child_school_absence_12m"],
            loaded_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        self._con = duckdb.connect()
        concern_cols = ", ".join(f"{c} BOOLEAN" for c in v.CONCERN_COLUMNS)
        self._con.execute(
            f"CREATE TABLE referrals (referral_id VARCHAR, received_at TIMESTAMP, source VARCHAR, referrer_relationship VARCHAR, {concern_cols})"
        )
        self._con.execute("CREATE TABLE referral_children (referral_id VARCHAR, person_id VARCHAR)")
        flags = [c == "concern_domestic_abuse" for c in v.CONCERN_COLUMNS]
        self._con.execute(
            f"INSERT INTO referrals VALUES ('S1', TIMESTAMP '2026-10-02 09:30', 'police', 'police_officer', {', '.join(map(str, flags))})"
        )
        self._con.execute("INSERT INTO referral_children VALUES ('S1', 'C1')")
        # The store's referrals by id, as the real engine's snapshot indexes them.
        self.snapshot = SimpleNamespace(referral={"S1": 0})

    def cursor(self):
        return self._con.cursor()

    def check_children(self, referral) -> None:
        for pid in referral.children:
            if pid not in KNOWN_CHILDREN:
                raise ServingError(404, f"Unknown child: no person_id {pid!r} in the store.")

    def score(self, referral, with_records: bool = True, with_features: bool = False) -> dict:
        self.check_children(referral)
        flagged = "domestic_abuse" in {str(c) for c in referral.concerns}
        score = 17 if flagged else 6
        children = []
        for pid in referral.children:
            raising = {
                "feature": "adults_da_perpetrator_12m",
                "text": "an adult who joined the household 1 month ago has 1 police domestic-abuse incident as perpetrator",
                "direction": "raises",
                "contribution": 0.9,
                "value": 1,
                "records": [POLICE_EVENT],
                "records_total": 1,
            }
            lowering = {
                "feature": "child_school_absence_12m",
                "text": "1 school absence in the last 12 months",
                "direction": "lowers",
                "contribution": -0.1,
                "value": 1,
                "records": [SCHOOL_EVENT],
                "records_total": 3,
            }
            children.append(
                {
                    "person_id": pid,
                    "probability": 0.4 if flagged else 0.05,
                    "score": score,
                    "flag": flagged,
                    "reasons_for": [raising],
                    "reasons_against": [lowering],
                    "base_value": -2.0,
                    "raw_margin": -1.2,
                }
            )
        return {
            "request_id": uuid.uuid4().hex,
            "referral_id": referral.referral_id,
            "advisory_notice": ADVISORY_NOTICE,
            "highest_score": score,
            "multi_agency_review_recommended": flagged,
            "recommendation": (
                "Mandatory multi-agency review recommended"
                if flagged
                else "No mandatory multi-agency review indicated"
            )
            + ". This is advisory.",
            "children": children,
            "model_name": self.model.name,
            "model_version": self.model.version,
            "policy_version": self.model.policy_version,
            "scored_at": datetime.now(UTC),
        }

    def chronology(self, person_id: str, as_of=None, *, referral=None) -> dict:
        if person_id not in KNOWN_CHILDREN:
            raise ServingError(404, f"Unknown child: no person_id {person_id!r} in the store.")
        cut = (
            referral.received_at.replace(tzinfo=None)
            if referral is not None
            else datetime(2026, 11, 1)
        )
        rows = []
        for e in (SCHOOL_EVENT, POLICE_EVENT, LATER_EVENT):
            late = (e["recorded_at"] - e["occurred_at"]).days
            rows.append(
                {
                    "occurred_at": pd.Timestamp(e["occurred_at"]),
                    "recorded_at": pd.Timestamp(e["recorded_at"]),
                    "agency": e["agency"],
                    "event_type": e["event_type"],
                    "detail": None,
                    "person_id": e["person_id"],
                    "relationship": e["relationship"],
                    "late": late > 30,
                    "days_to_record": late,
                }
            )
        return {
            "person_id": person_id,
            "referral_id": referral.referral_id if referral is not None else None,
            "as_of": datetime(2026, 10, 1, 10, 0),
            "late_after_days": 30,
            "household_ids": ["H1"],
            "people": [
                {"person_id": person_id, "relationship": "child", "joined": None, "left": None},
                {
                    "person_id": "A2",
                    "relationship": "partner",
                    "joined": datetime(2026, 9, 1),
                    "left": None,
                    "lives_with_child": True,
                },
            ],
            "entries": [r for r in rows if r["recorded_at"] < cut],
            "recorded_since": [r for r in rows if r["recorded_at"] >= cut],
        }

    def close(self) -> None:
        self._con.close()
