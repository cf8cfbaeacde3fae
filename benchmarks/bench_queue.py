"""Benchmark: the screener's work queue (the page's landing page), whole trail vs kept index.

One run fills a fresh SQLite trail with ``--referrals`` referrals received
through MAST (each with three score views; half decided, a quarter of those
strategy discussions not yet recorded), then prints side by side:

1. a queue load that reads the whole trail (a worker's first load);
2. later loads with the per-worker :class:`serving.queue.QueueIndex`, but
   the follow-ups (the referrer told, reviews, escalations) of every decided
   referral read from the trail on each load, as the queue did before the
   index kept them;
3. later loads with the index keeping the follow-ups too, reading only the
   entries written since (median of ``--repeats``).

Run it under the shared lock::

    flock /tmp/mast-heavy.lock env PYTHONPATH=. .venv/bin/python benchmarks/bench_queue.py --referrals 3000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import records
from records import follow_up, kinds, trail
from serving import queue


def fill(store: records.RecordsStore, n: int) -> int:
    rows = []
    for i in range(n):
        rid, child = f"R{i:06d}", f"C{i % 700}"
        content = {
            "received_at": f"2026-{1 + i % 11:02d}-{1 + i % 27:02d}T09:{i % 60:02d}:00",
            "source": "school",
            "referrer_relationship": "teacher",
            "concerns": ["neglect"],
            "children": [child],
        }
        rows.append(
            trail.new_row(
                kind=kinds.REFERRAL,
                actor="bench",
                role="manager",
                payload={"version": 1, **content, "flagged": i % 10 == 0, "reason": None},
                referral_id=rid,
            )
        )
        for _ in range(3):
            rows.append(
                trail.new_row(
                    kind=kinds.SCORE_VIEW,
                    actor="bench",
                    role="manager",
                    payload={
                        "request_id": "b",
                        "model_version": "1",
                        "highest_score": i % 20 + 1,
                        "review_recommended": i % 10 == 0,
                        "person_ids": [child],
                        "statutory": [],
                    },
                    referral_id=rid,
                )
            )
        if i % 2 == 0:
            rows.append(
                trail.new_row(
                    kind=kinds.DECISION,
                    actor="bench",
                    role="manager",
                    payload={
                        "decision": "strategy_discussion" if i % 4 == 0 else "assessment",
                        "rationale": "bench",
                    },
                    referral_id=rid,
                    record_id=f"d-{rid}",
                )
            )
    with store.db.write() as conn:
        for k in range(0, len(rows), 5000):
            trail.append_rows(conn, rows[k : k + 5000])
    return len(rows)


def follow_ups_read_each_load(store: records.RecordsStore):
    """The follow-up reading the queue did before the index kept it: every decided referral's
    follow-up entries read from the trail on each load (:func:`records.follow_up.follow_up`)."""

    def read(index, decided, now):
        if not decided:
            return {}
        with store.db.read() as conn:
            found = follow_up.follow_up(conn, sorted(decided), now=now)
        return {rid: markers for rid, f in found.items() if (markers := queue._markers(f, now))}

    return read


def _median(load, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        load()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--referrals", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = records.RecordsStore(f"sqlite:///{tmp}/records.sqlite")
        token, _ = store.create_token("bench screener", "screener")
        user = store.verify_token(token)
        entries = fill(store, args.referrals)
        items = queue.queue_items(store, user)
        index = queue.QueueIndex()
        queue.queue_items(store, user, index=index)
        old = [follow_ups_read_each_load(store)]
        before = queue.queue_items(store, user, index=index, follow_ups=old)
        assert [_row(i) for i in before] == [_row(i) for i in items], "the two readings differ"
        a = _median(lambda: queue.queue_items(store, user), args.repeats)
        b = _median(
            lambda: queue.queue_items(store, user, index=index, follow_ups=old), args.repeats
        )
        c = _median(lambda: queue.queue_items(store, user, index=index), args.repeats)
        store.close()
    print(f"{args.referrals:,} referrals, {entries:,} trail entries, {len(items):,} on the queue")
    print(f"  per load, median of {args.repeats}:")
    print(f"  whole trail                         : {1000 * a:8.1f} ms")
    print(f"  kept index, follow-ups read per load: {1000 * b:8.1f} ms")
    print(f"  kept index, follow-ups kept too     : {1000 * c:8.1f} ms")
    print(f"  ratio, follow-ups read / kept       : {b / c:8.1f}x")
    print(f"  ratio, whole trail / kept           : {a / c:8.1f}x")


def _row(item: queue.QueueItem) -> tuple:
    return (item.referral_id, item.status, [m.text for m in item.follow_ups], item.flagged)


if __name__ == "__main__":
    main()
