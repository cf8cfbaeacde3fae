"""The batched evidence look-up lists exactly what ``features.evidence`` lists.

The service finds the records behind all of a child's reasons in memory
(``ScoringEngine.evidence_batch``, :func:`features.ondemand_evidence` on the
store snapshot); the reference is the one-feature-at-a-time SQL
``features.evidence`` on the store, for every feature in the catalogue.
"""

from __future__ import annotations

import pytest

import features
from features import definitions as d
from serving.scoring import _record

REFERRAL = {
    "referral_id": "EB1",
    "received_at": "2026-10-01T10:00:00",
    "source": "police",
    "referrer_relationship": "police_officer",
    "concerns": ["domestic_abuse"],
    "children": ["C1", "C2"],
}


@pytest.fixture(scope="module")
def engine(engine):
    """The session's engine without live history: the reference SQL reads the store alone.

    The session's engine follows the records trail once the app is built, so
    referrals other tests scored are history in its snapshot but not in the
    DuckDB file ``features.evidence`` reads (``tests/serving/test_live.py``
    checks the overlay against a rebuilt store instead).
    """
    from serving import ScoringEngine

    base = engine.live.base if engine.live is not None else engine.snapshot
    return ScoringEngine(engine.db, engine.model, engine.config, snapshot=base)


def _key(r: dict) -> tuple:
    return tuple("" if r[c] is None else str(r[c]) for c in features.EVIDENCE_COLUMNS)


def _order(r: dict) -> tuple:
    return (r["occurred_at"], r["recorded_at"], r["person_id"])


@pytest.mark.parametrize(
    "when", ["2019-06-01T10:00:00", "2026-03-25T10:00:00", "2026-10-01T10:00:00"]
)
def test_batch_equals_one_query_per_feature(engine, when):
    from serving import ReferralIn
    from serving.scoring import _referral_frames

    referral = ReferralIn(**{**REFERRAL, "received_at": when})
    frame, referral_children = _referral_frames(referral)
    names = list(d.FEATURE_NAMES)
    wanted = {pid: names for pid in referral.children}
    batch = engine.evidence_batch(frame, referral_children, wanted)
    assert set(batch) == {(pid, f) for pid in referral.children for f in names}
    nonempty = 0
    for pid in referral.children:
        for feature in names:
            ref = features.evidence(
                engine.cursor(), frame, pid, feature, referral_children=referral_children
            )
            expected = [_record(r) for r in ref.to_dict("records")]
            got = batch[(pid, feature)]
            # Same records (ties in the sort key may come in either order) ...
            assert sorted(map(_key, got)) == sorted(map(_key, expected)), (pid, feature)
            # ... in the same order as features.evidence sorts them.
            assert [_order(r) for r in got] == [_order(r) for r in expected], (pid, feature)
            nonempty += bool(got)
    assert nonempty > 20, "the store should give many features some records"


def test_score_lists_the_batched_records(engine):
    from serving import ReferralIn
    from serving.scoring import _referral_frames

    referral = ReferralIn(**REFERRAL)
    out = engine.score(referral)
    frame, referral_children = _referral_frames(referral)
    listed = 0
    for child in out["children"]:
        for reason in child["reasons_for"] + child["reasons_against"]:
            # A field of the referral (its source...) is backed by its set column.
            feature = engine.reasons.evidence_feature(
                reason["feature"], {reason["feature"]: reason["value"]}
            )
            if feature is None:
                assert reason["records_total"] == 0 and reason["records"] == []
                continue
            ref = features.evidence(
                engine.cursor(),
                frame,
                child["person_id"],
                feature,
                referral_children=referral_children,
            )
            assert reason["records_total"] == len(ref), reason["feature"]
            expected = [_record(r) for r in ref.to_dict("records")][: engine.config.max_records]
            assert [_order(r) for r in reason["records"]] == [_order(r) for r in expected]
            listed += len(reason["records"])
    assert listed > 0
