"""The kept queue index against a simple reading of the whole trail, after random writes.

The index (:class:`serving.queue.QueueIndex`) keeps the register, decisions,
score views, initial views and every referral's follow-up, and reads only
what was appended since its last load.  Here two "workers" (two stores on
one SQLite file, each with its own index) take turns appending a random
sequence of entries, and after every step the queue each worker shows must
equal :func:`reference_queue`, which re-reads every entry of the trail and
works the queue out directly, with no index and no cache.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import records
from records import follow_up, kinds, review, trail
from serving import queue as work_queue

REFERRALS = ("R1", "R2", "R3")
SCREENERS = ("Sam Screener", "Kit Screener")
DECISIONS = ("no_further_action", "early_help", "assessment", "strategy_discussion")
STEP = st.tuples(
    st.sampled_from(
        (
            "referral",
            "score_view",
            "initial_view",
            "decision",
            "review",
            "told_referrer",
            "told_police",
            "escalation",
            "answer",
        )
    ),
    st.sampled_from(REFERRALS),
    st.integers(0, 3),  # a choice within the step: a decision, a screener, a score, a source
    st.sampled_from((0, 1)),  # which worker writes
)


def _append(store, kind, rid, payload, actor="bench", record_id=None) -> dict:
    row = trail.new_row(
        kind=kind, actor=actor, role="manager", payload=payload, referral_id=rid,
        record_id=record_id,
    )  # fmt: skip
    with store.db.write() as conn:
        (stored,) = trail.append_rows(conn, [row])
    return stored


def write(store, step, state: dict) -> None:
    """Append the entry ``step`` asks for, as the service would lay it out (rules not checked:
    the index reads whatever the trail holds)."""
    what, rid, pick, _ = step
    n = state["n"] = state["n"] + 1
    if what == "referral":
        version = state["versions"][rid] = state["versions"].get(rid, 0) + 1
        payload = {
            "version": version,
            "received_at": f"2026-11-{10 + REFERRALS.index(rid):02d}T09:{pick:02d}:00",
            "source": ("school", "police", "health", "neighbour")[pick],
            "referrer_relationship": "teacher",
            "concerns": ["neglect"],
            "children": [f"C{REFERRALS.index(rid) % 2}"],
            "flagged": pick == 3,
            "reason": None,
        }
        _append(store, kinds.REFERRAL, rid, payload)
    elif what == "score_view":
        statutory = [{"rule_id": "physical_injury", "title": "injury"}] if pick == 2 else []
        payload = {"highest_score": 5 * pick + 1, "review_recommended": pick == 3}
        _append(store, kinds.SCORE_VIEW, rid, {**payload, "statutory": statutory})
    elif what == "initial_view":
        _append(store, kinds.INITIAL_VIEW, rid, {"decision": "assessment"}, SCREENERS[pick % 2])
    elif what == "decision":
        stored = _append(
            store, kinds.DECISION, rid, {"decision": DECISIONS[pick]}, record_id=f"d{n}"
        )
        state["decision_seq"][rid] = stored["seq"]
    elif what == "review" and rid in state["decision_seq"]:
        held = (datetime(2026, 11, 20, 10) + timedelta(days=3 * pick)).isoformat()
        payload = {"decision_seq": state["decision_seq"][rid], "held_at": held}
        _append(store, kinds.REVIEW, rid, payload, record_id=f"rv{n}")
    elif what in ("told_referrer", "told_police"):
        recipient = "referrer" if what == "told_referrer" else "police"
        _append(store, kinds.REFERRER_TOLD, rid, {"recipient": recipient}, record_id=f"t{n}")
    elif what == "escalation":
        _append(store, kinds.ESCALATION, rid, {"reason": "why"}, record_id=f"e{n}")
        state["escalations"].setdefault(rid, []).append(f"e{n}")
    elif what == "answer" and state["escalations"].get(rid):
        escalation = state["escalations"][rid].pop(pick % len(state["escalations"][rid]))
        _append(store, kinds.ESCALATION_ANSWER, rid, {"escalation_id": escalation})


def reference_queue(store, principal, now: datetime) -> list[tuple]:
    """The queue worked out from every entry of the trail, with no index: the rows it shows."""
    entries = [trail.Entry.from_row(_Row(r)) for r in trail.iter_rows(store.db)]
    by_referral: dict[str, list] = {}
    for e in entries:
        if e.referral_id is not None:
            by_referral.setdefault(e.referral_id, []).append(e)
    blind = principal.role == "screener" and store.blind_first()
    viewed = {
        e.referral_id for e in entries if e.kind == kinds.INITIAL_VIEW and e.actor == principal.name
    }
    rows = []
    for rid, mine in by_referral.items():
        versions = [e for e in mine if e.kind == kinds.REFERRAL]
        if not versions:
            continue
        latest = versions[-1].payload
        decisions = [e for e in mine if e.kind == kinds.DECISION]
        f = follow_up.summarise(
            rid, [e for e in mine if e.kind in follow_up.FOLLOW_UP_KINDS], now, 1
        )
        markers = [m.text for m in work_queue._markers(f, now)] if decisions else []
        if decisions and not markers:
            continue
        views = [e for e in mine if e.kind == kinds.SCORE_VIEW]
        flagged = any(e.payload["review_recommended"] for e in views) or any(
            v.payload["flagged"] for v in versions
        )
        rules = sorted({t["rule_id"] for e in views for t in e.payload["statutory"]})
        status = work_queue.STATUS_FOLLOW_UP if decisions else work_queue.STATUS_AWAITING
        shown = (flagged, views[-1].payload["highest_score"]) if views else (None, None)
        rows.append([rid, latest["received_at"], status, markers, rules, shown, latest["children"]])
    if blind:
        waiting = {
            c
            for r in rows
            if r[0] not in viewed and r[2] == work_queue.STATUS_AWAITING
            for c in r[6]
        }
        for r in rows:
            if r[0] not in viewed or waiting & set(r[6]):
                r[5] = "hidden"
    rows.sort(key=lambda r: (r[1], r[0]), reverse=True)
    return [tuple(r[:6]) for r in rows]


class _Row:
    """A stored row as :meth:`trail.Entry.from_row` reads it."""

    def __init__(self, values: dict) -> None:
        self._mapping = values


def shown(items: list[work_queue.QueueItem]) -> list[tuple]:
    return [
        (
            i.referral_id,
            i.received_at.isoformat(timespec="seconds"),
            i.status,
            [m.text for m in i.follow_ups],
            sorted(t["rule_id"] for t in i.triggers),
            "hidden" if i.score_hidden else (i.flagged, i.highest_score),
        )
        for i in items
    ]


@pytest.fixture(autouse=True)
def _one_working_day(monkeypatch):
    monkeypatch.delenv(review.WORKING_DAYS_ENV, raising=False)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(STEP, min_size=1, max_size=30),
    blind=st.booleans(),
    days_on=st.integers(0, 12),
)
def test_the_kept_index_equals_the_queue_read_from_the_whole_trail(
    tmp_path_factory, steps, blind, days_on
):
    url = f"sqlite:///{tmp_path_factory.mktemp('queue') / 'records.sqlite'}"
    workers = [records.RecordsStore(url), records.RecordsStore(url)]
    try:
        governance = records.Principal("Gov", "governance", "tg")
        if blind:
            workers[0].set_blind_first(True, governance, "blind-first trial")
        screener = records.Principal(SCREENERS[0], "screener", "ts")
        indexes = [work_queue.QueueIndex(), work_queue.QueueIndex()]
        now = datetime(2026, 11, 20, 9) + timedelta(days=days_on)
        state = {"n": 0, "versions": {}, "decision_seq": {}, "escalations": {}}
        for step in steps:
            write(workers[step[3]], step, state)
            # The worker that did not write must see what the other appended.
            reader = 1 - step[3]
            got = work_queue.queue_items(workers[reader], screener, now=now, index=indexes[reader])
            assert shown(got) == reference_queue(workers[reader], screener, now), step
        for store, index in zip(workers, indexes, strict=True):
            got = work_queue.queue_items(store, screener, now=now, index=index)
            assert shown(got) == reference_queue(store, screener, now)
        # A later "now" with no new entries: overdue follows the clock, not the cache.
        later = now + timedelta(days=10)
        got = work_queue.queue_items(workers[0], screener, now=later, index=indexes[0])
        assert shown(got) == reference_queue(workers[0], screener, later)
    finally:
        for store in workers:
            store.close()


def test_a_summary_is_read_again_when_its_referral_changes(tmp_path):
    """The cached follow-up of a referral changes when an entry for it arrives, and only then."""
    store = records.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    try:
        state = {"n": 0, "versions": {}, "decision_seq": {}, "escalations": {}}
        for step in (("referral", "R1", 0, 0), ("decision", "R1", 0, 0)):
            write(store, step, state)
        index = work_queue.QueueIndex()
        screener = records.Principal(SCREENERS[0], "screener", "ts")
        now = datetime(2026, 11, 20, 9)
        (row,) = work_queue.queue_items(store, screener, now=now, index=index)
        assert [m.kind for m in row.follow_ups] == ["referrer_not_told"]
        write(store, ("told_referrer", "R1", 0, 0), state)
        assert work_queue.queue_items(store, screener, now=now, index=index) == []
    finally:
        store.close()
