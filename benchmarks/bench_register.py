"""Benchmark: what the referral register adds to the first score of a referral.

The first time MAST receives a ``referral_id`` its content is registered in
the trail (``records.kinds.REFERRAL``), durably, before the score is shown.
That is a second fsync'd commit beside the score view's, unless the two are
written together (``RecordsStore.register_referral(..., view=...)``, what the
service does).  One run prints, side by side on a fresh SQLite trail:

1. a score view alone (what a score cost the trail before the register);
2. the registration and the view in two commits;
3. the registration and the view in one commit (the service's path);
4. the read-only checks a score makes (register check, sticky flag).

Run it under the shared lock::

    flock /tmp/mast-heavy.lock .venv/bin/python benchmarks/bench_register.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import records
from records import kinds
from records import register as reg


def _p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="Referrals per measure.")
    args = parser.parse_args(argv)
    store = records.RecordsStore(f"sqlite:///{tempfile.mkdtemp()}/records.sqlite")
    _, who = store.create_token("bench", "screener")
    content = reg.referral_content(
        "2026-10-01T10:00:00", "police", "police_officer", ["neglect"], ["C1", "C2", "C3"]
    )
    payload = {
        "request_id": "0" * 32,
        "model_version": "3",
        "highest_score": 7,
        "review_recommended": False,
        "person_ids": ["C1", "C2", "C3"],
    }
    times: dict[str, list[float]] = {k: [] for k in ("view", "two", "one", "check", "sticky")}
    for i in range(args.n):  # interleaved, so load on the host falls on all alike
        t0 = time.perf_counter()
        store.log_view(who, kinds.SCORE_VIEW, referral_id=f"V{i}", detail=payload)
        t1 = time.perf_counter()
        store.register_referral(who, f"T{i}", content, flagged=False)
        store.log_view(who, kinds.SCORE_VIEW, referral_id=f"T{i}", detail=payload)
        t2 = time.perf_counter()
        store.register_referral(
            who, f"O{i}", content, flagged=False, view={"payload": payload, "person_id": None}
        )
        t3 = time.perf_counter()
        store.check_referral(f"O{i}", content)
        t4 = time.perf_counter()
        store.referral_flagged(f"O{i}")
        t5 = time.perf_counter()
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            times[key].append(dt)
    base = statistics.median(times["view"])
    labels = {
        "view": "score view alone (before the register)",
        "two": "register + view, two commits",
        "one": "register + view, one commit (service)",
        "check": "register check (read)",
        "sticky": "sticky flag (read)",
    }
    print(f"{'measure':42} {'p50 ms':>8} {'p99 ms':>8} {'p50 / view':>11}")
    for key, label in labels.items():
        xs = times[key]
        ratio = statistics.median(xs) / base
        print(f"{label:42} {_p(xs, 0.5):8.2f} {_p(xs, 0.99):8.2f} {ratio:11.2f}")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
