"""The statutory triggers read each child's history from the snapshot in memory.

Held to the SQL over the store it was loaded from (``serving.statutory.histories``),
for every child with a referral in the store: the same dates of birth, the
same earlier referrals and the same decisions, field for field.
"""

from __future__ import annotations

from features import StoreSnapshot
from serving import statutory
from store import connect


def _as_sets(histories):
    return {
        h.person_id: (h.date_of_birth, frozenset(h.referrals), frozenset(h.decisions))
        for h in histories
    }


def test_snapshot_histories_equal_the_store_sql(store_path):
    con = connect(store_path, read_only=True)
    try:
        snap = StoreSnapshot.load(con)
        children = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT person_id FROM referral_children ORDER BY person_id"
            ).fetchall()
        ]
        assert children, "the fixture store has referrals"
        expected = _as_sets(statutory.histories(con, children + ["NOT-A-PERSON"]))
    finally:
        con.close()
    got = _as_sets(statutory.snapshot_histories(snap, children + ["NOT-A-PERSON"]))
    assert got == expected
    assert any(decisions for _, _, decisions in got.values()), "some child has a decision"
