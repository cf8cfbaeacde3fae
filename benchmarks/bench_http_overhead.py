"""Benchmark: what the scoring service costs per request *without* its features.

The scoring service's targets (issue #6: p50 <= 10 ms, p99 <= 40 ms, >= 150
referrals/s on 2 cores, HTTP <= 3x the in-process floor) must be met by the
whole request path.  ``bench_serving.py`` measures the whole path on a real
store.  This benchmark takes the feature engine *out* of it, so that what is
left is the service's own overhead: uvicorn, FastAPI, validating the
``ReferralIn`` body, the token check (``records.require``), the blind-first
check, the durable audit-trail entry of every score (``Guard.record_score``)
and building and serialising the ``ScoreOut`` response.

It runs the real :func:`serving.create_app` over a *stub engine* whose
``score`` returns a precomputed 3-child result shaped like
:meth:`serving.ScoringEngine.score`'s (5 reasons raising and 5 lowering the
score per child, with their records: about 50 records a referral), and
serves it with the same uvicorn settings as ``mast serve``
(:func:`serving.launch.run_server`), in a subprocess, over loopback.  The
records store is a fresh SQLite file on disk (the trail's ``fsync`` is real).

It prints, in one run:

1. the in-process cost of each piece, one at a time (no HTTP);
2. over HTTP: 1 client (latency) and ``--concurrency`` clients (throughput);

beside the targets, each as a ratio.  The stub answers in microseconds, so
every millisecond measured is the service's own; what is left under the
target is the engine's budget.  Run it under the shared lock::

    flock /tmp/mast-heavy.lock /work/venv/bin/python benchmarks/bench_http_overhead.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench_serving import percentiles  # noqa: E402  (benchmarks/ is this script's folder)

from serving.launch import stop_group  # noqa: E402

TARGETS = {"p50_ms": 10.0, "p99_ms": 40.0, "throughput": 150.0}
CHILDREN = ("P00001801", "P00002695", "P00003478")
# Records behind the 5 reasons raising and the 5 lowering a child's score: a
# count's reasons list up to 10 records; most lowering reasons are counts of
# 0 and have none (the engine skips their query).
RAISING_RECORDS = (10, 6, 3, 1, 0)
LOWERING_RECORDS = (0, 0, 2, 0, 1)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the stub engine -----------------------------------------------------------
def _record(i: int, pid: str) -> dict:
    occurred = datetime(2026, 1, 1, 9, 0) + timedelta(days=7 * i, hours=i)
    return {
        "record": "agency_event",
        "agency": ("police", "education", "health", "social_care")[i % 4],
        "event_type": ("domestic_incident", "school_absence", "a_and_e_attendance")[i % 3],
        "person_id": pid if i % 2 else "P00900001",
        "relationship": "child" if i % 2 else "partner",
        "occurred_at": occurred,
        "recorded_at": occurred + timedelta(days=1 + i % 40),
        "detail": "as perpetrator" if i % 3 == 0 else None,
    }


def _reason(feature: str, direction: str, contribution: float, n: int, pid: str) -> dict:
    return {
        "feature": feature,
        "text": f"{n} police domestic-abuse incidents as perpetrator in the last 12 months"
        if n
        else "no school absence in the last 12 months",
        "direction": direction,
        "contribution": contribution,
        "value": n,
        "records": [_record(i, pid) for i in range(n)],
        "records_total": n if n < 10 else 14,
    }


def stub_result(children: tuple[str, ...] = CHILDREN) -> dict:
    """A 3-child result in the shape of :meth:`serving.ScoringEngine.score`'s."""
    out = []
    for k, pid in enumerate(children):
        out.append(
            {
                "person_id": pid,
                "probability": 0.4123456789 - 0.1 * k,
                "score": 17 - 3 * k,
                "flag": k == 0,
                "reasons_for": [
                    _reason(f"adults_da_perpetrator_{j}_12m", "raises", 0.91 / (j + 1), n, pid)
                    for j, n in enumerate(RAISING_RECORDS)
                ],
                "reasons_against": [
                    _reason(f"child_school_absence_{j}_12m", "lowers", -0.31 / (j + 1), n, pid)
                    for j, n in enumerate(LOWERING_RECORDS)
                ],
                "base_value": -2.0123456789,
                "raw_margin": -0.7123456789,
            }
        )
    return {
        "request_id": "",
        "referral_id": "",
        "highest_score": 17,
        "multi_agency_review_recommended": True,
        "recommendation": (
            "Mandatory multi-agency review recommended: the highest score is 17 of 20, at or "
            "above the review threshold of 15. This is advisory; the screener decides and "
            "records the decision."
        ),
        "children": out,
        "model_name": "mast-referral-screening",
        "model_version": "3",
        "policy_version": "policy-v1",
        "scored_at": datetime.now(UTC),
    }


class StubEngine:
    """The public surface ``create_app`` uses of :class:`serving.ScoringEngine`, instantly.

    ``score`` returns the precomputed result with fresh ids and times (a new
    top-level dict, the children shared: nothing downstream mutates them).
    """

    def __init__(self, cpu_ms: float = 0.0) -> None:
        self.cpu_ms = cpu_ms
        self.db = Path("stub.duckdb")
        self.model = SimpleNamespace(
            name="mast-referral-screening",
            version="3",
            alias="champion",
            run_id=None,
            policy={"threshold_score": 15, "version": "policy-v1"},
            policy_version="policy-v1",
            gate={"gate_verdict": "pass"},
            feature_names=["adults_da_perpetrator_12m"],
            loaded_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        self._result = stub_result()
        self.snapshot = SimpleNamespace(referral={})  # no store referrals: all are new

    def check_children(self, referral, now=None) -> None:
        return None

    def score(
        self, referral, now=None, with_records: bool = True, with_features: bool = False
    ) -> dict:
        if self.cpu_ms:  # stand in for the engine's own work: Python holding the GIL
            end = time.thread_time() + self.cpu_ms / 1000
            while time.thread_time() < end:
                pass
        return {
            **self._result,
            "request_id": uuid.uuid4().hex,
            "referral_id": referral.referral_id,
            "scored_at": datetime.now(UTC),
        }

    def chronology(self, person_id: str, as_of=None, *, referral=None) -> dict:  # not benchmarked
        raise NotImplementedError


def stub_app_from_env():
    """The uvicorn factory of the server subprocess: the real app over the stub engine."""
    import records
    from serving.app import create_app
    from serving.launch import DEFAULT_THREADS

    store = records.RecordsStore(os.environ["MAST_RECORDS_DB"])
    threads = int(os.environ.get("MAST_SERVE_THREADS", DEFAULT_THREADS))
    engine = StubEngine(float(os.environ.get("MAST_STUB_ENGINE_CPU_MS", "0")))
    return create_app(engine=engine, records_store=store, threads=threads)


def body(i: int) -> dict:
    return {
        "referral_id": f"R-BENCH-{i:06d}",
        "received_at": "2026-10-01T10:00:00",
        "source": "police",
        "referrer_relationship": "police_officer",
        "concerns": ["domestic_abuse"],
        "children": list(CHILDREN),
    }


# -- measurement ---------------------------------------------------------------
def timed(fn, n: int) -> float:
    """Median milliseconds of ``n`` calls of ``fn``."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def in_process(records_url: str, n: int) -> dict[str, float]:
    """Each piece of the request path alone, in this process (median ms)."""
    import records
    from serving import access
    from serving.schemas import ReferralIn, ScoreOut

    store = records.RecordsStore(records_url)
    token, principal = store.create_token("bench in-process", "screener")
    guard = access.Guard(store)
    engine = StubEngine()
    raw = json.dumps(body(0)).encode()
    referral = ReferralIn.model_validate_json(raw)
    result = engine.score(referral)
    out = {
        "validate ReferralIn": timed(lambda: ReferralIn.model_validate_json(raw), n),
        "token check": timed(lambda: store.verify_token(token), n),
        "blind-first check": timed(store.blind_first, n),
        "audit entry (durable)": timed(lambda: guard.record_score(principal, referral, result), n),
        "ScoreOut validate + JSON": timed(
            lambda: ScoreOut.model_validate(result).model_dump_json(), n
        ),
        "response bytes": float(len(ScoreOut.model_validate(result).model_dump_json())),
    }
    store.close()
    return out


def drive(base_url: str, token: str, n: int, concurrency: int, offset: int) -> dict[str, float]:
    """POST ``n`` referrals with ``concurrency`` clients; latency and throughput."""
    local = threading.local()
    clients = []
    errors = []

    def client() -> httpx.Client:
        if not hasattr(local, "c"):
            local.c = httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60.0
            )
            clients.append(local.c)
        return local.c

    def one(i: int) -> float:
        t = time.perf_counter()
        r = client().post("/v1/referrals/score", json=body(offset + i))
        ms = (time.perf_counter() - t) * 1000
        if r.status_code != 200:
            errors.append(f"{r.status_code} {r.text[:200]}")
        return ms

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(min(20, n))))  # warm the connections
        start = time.perf_counter()
        times = list(pool.map(one, range(n)))
        wall = time.perf_counter() - start
    for c in clients:
        c.close()
    if errors:
        raise RuntimeError(f"{len(errors)} request(s) failed, e.g. {errors[0]}")
    out = percentiles(times)
    out["throughput"] = n / wall
    return out


def health_latency(base_url: str, n: int) -> dict[str, float]:
    """``GET /v1/health`` (no token, no trail, tiny body): uvicorn + FastAPI alone."""
    with httpx.Client(base_url=base_url) as c:
        for _ in range(20):
            c.get("/v1/health")
        times = []
        for _ in range(n):
            t = time.perf_counter()
            c.get("/v1/health")
            times.append((time.perf_counter() - t) * 1000)
    return percentiles(times)


def serve(records_url: str, workers: int, threads: int, log_path: Path, engine_cpu_ms: float = 0):
    """Start the stub service in a subprocess; returns (process, base URL)."""
    from serving.launch import free_port, wait_healthy

    port = free_port()
    env = {
        **os.environ,
        "MAST_RECORDS_DB": records_url,
        "MAST_SERVE_THREADS": str(threads),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "MAST_STUB_ENGINE_CPU_MS": str(engine_cpu_ms),
    }
    cmd = [sys.executable, str(Path(__file__)), "--serve", str(port), "--workers", str(workers)]
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, 60, proc, log_path)
    except BaseException:
        stop_group(proc)
        raise
    return proc, base_url


def run_server(port: int, workers: int) -> None:
    """The ``--serve`` mode: uvicorn exactly as ``mast serve`` runs it, over the stub."""
    from serving.launch import run_server as launch

    launch("bench_http_overhead:stub_app_from_env", "127.0.0.1", port, workers)


def measure(
    records_url: str,
    token: str,
    workers: int,
    threads: int,
    engine_cpu_ms: float,
    args: argparse.Namespace,
    log_path: Path,
) -> dict[str, dict[str, float]]:
    """One server configuration: health, 1 client, ``--concurrency`` clients."""
    proc, base_url = serve(records_url, workers, threads, log_path, engine_cpu_ms)
    try:
        health = health_latency(base_url, args.requests)
        one = drive(base_url, token, args.requests, 1, offset=0)
        many = drive(base_url, token, args.requests, args.concurrency, offset=10**5)
    finally:
        stop_group(proc)
    return {"health": health, "one": one, "many": many}


def verdict(value: float, target: float, kind: str) -> str:
    ok = value <= target if kind == "le" else value >= target
    return f"{value / target:7.2f}  {'ok' if ok else 'MISS'}"


def print_main(result: dict, workers: int, threads: int, n: int, engine_cpu_ms: float) -> None:
    one, many, health = result["one"], result["many"], result["health"]
    print(
        f"Over HTTP (workers {workers}, threads {threads}; the stub engine's own work "
        f"{engine_cpu_ms:g} ms of CPU a referral)"
    )
    rows = [
        ("p50, 1 client (ms)", one["p50_ms"], TARGETS["p50_ms"], "le"),
        ("p95, 1 client (ms)", one["p95_ms"], None, ""),
        ("p99, 1 client (ms)", one["p99_ms"], TARGETS["p99_ms"], "le"),
        (f"p50, {n} clients (ms)", many["p50_ms"], None, ""),
        (f"p99, {n} clients (ms)", many["p99_ms"], TARGETS["p99_ms"], "le"),
        ("throughput, 1 client (/s)", one["throughput"], TARGETS["throughput"], "ge"),
        (f"throughput, {n} clients (/s)", many["throughput"], TARGETS["throughput"], "ge"),
        ("GET /v1/health p50 (ms)", health["p50_ms"], None, ""),
    ]
    print(f"  {'measure':30s} {'measured':>9s} {'target':>7s} {'ratio':>7s}")
    for name, value, target, kind in rows:
        if target is None:
            print(f"  {name:30s} {value:9.2f} {'-':>7s} {'-':>7s}")
        else:
            print(f"  {name:30s} {value:9.2f} {target:7.0f} {verdict(value, target, kind)}")


def main(argv: list[str] | None = None) -> int:
    from serving.launch import DEFAULT_THREADS, DEFAULT_WORKERS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=400, help="Requests per HTTP phase.")
    p.add_argument("--concurrency", type=int, default=4, help="Clients in the throughput phase.")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="Server worker processes.")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="Request threads a worker.")
    p.add_argument(
        "--engine-cpu-ms",
        type=float,
        default=0.0,
        help="CPU the stub engine burns per referral (GIL held), standing in for the engine.",
    )
    p.add_argument(
        "--compare",
        default="",
        help="Also compare server settings, e.g. '1x4,2x2,2x4' (workers x threads), each with "
        "the stub engine at 0 ms and at --compare-engine-ms of CPU.",
    )
    p.add_argument("--compare-engine-ms", type=float, default=2.5)
    p.add_argument("--in-process", type=int, default=200, help="Calls per in-process piece.")
    p.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve is not None:
        run_server(args.serve, args.workers)
        return 0

    import records

    with tempfile.TemporaryDirectory(prefix="mast-bench-http-") as tmp:
        tmp = Path(tmp)
        log(f"in-process pieces (median of {args.in_process} calls each)")
        pieces = in_process(f"sqlite:///{tmp / 'pieces.sqlite'}", args.in_process)
        records_url = f"sqlite:///{tmp / 'records.sqlite'}"
        store = records.RecordsStore(records_url)
        token, _ = store.create_token("bench screener", "screener")
        store.close()
        log(f"server: stub engine, --workers {args.workers} --threads {args.threads}")
        main_result = measure(
            records_url,
            token,
            args.workers,
            args.threads,
            args.engine_cpu_ms,
            args,
            tmp / "server.log",
        )
        sent = 2 * (args.requests + min(20, args.requests))
        grid = {}
        for config in filter(None, args.compare.split(",")):
            w, t = (int(x) for x in config.lower().split("x"))
            for cpu in (0.0, args.compare_engine_ms):
                log(f"compare: --workers {w} --threads {t}, engine {cpu:g} ms")
                grid[(w, t, cpu)] = measure(
                    records_url, token, w, t, cpu, args, tmp / f"server-{w}x{t}-{cpu}.log"
                )
                sent += 2 * (args.requests + min(20, args.requests))
        store = records.RecordsStore(records_url)
        report = store.verify()
        kept = store.query(kind="score_view", limit=1)[1]
        store.close()

    print()
    print("Service overhead with a stub engine (no features, no model)")
    print()
    print("In process, one piece at a time (median ms):")
    for name, ms in pieces.items():
        shown = f"{ms:10.0f}" if name == "response bytes" else f"{ms:10.3f}"
        print(f"  {name:28s} {shown}")
    print()
    print_main(main_result, args.workers, args.threads, args.concurrency, args.engine_cpu_ms)
    one, many = main_result["one"], main_result["many"]
    print()
    print(
        f"Engine budget left under the p50 target with 1 client: "
        f"{TARGETS['p50_ms'] - one['p50_ms']:.1f} ms; under the p99 target: "
        f"{TARGETS['p99_ms'] - one['p99_ms']:.1f} ms.  The service alone serves "
        f"{many['throughput']:.0f} referrals/s with {args.concurrency} clients "
        f"({many['throughput'] / TARGETS['throughput']:.2f}x the 150/s target)."
    )
    if grid:
        n = args.concurrency
        print()
        print(f"Server settings compared (each measured once, in this run; {n} clients):")
        print(
            f"  {'workers x threads':18s} {'engine ms':>9s} {'p50 1c':>7s} {'p99 1c':>7s} "
            f"{'p50 ' + str(n) + 'c':>7s} {'p99 ' + str(n) + 'c':>7s} {'/s ' + str(n) + 'c':>7s} "
            f"{'vs 150/s':>8s}"
        )
        for (w, t, cpu), r in grid.items():
            o, m = r["one"], r["many"]
            print(
                f"  {f'{w} x {t}':18s} {cpu:9g} {o['p50_ms']:7.2f} {o['p99_ms']:7.2f} "
                f"{m['p50_ms']:7.2f} {m['p99_ms']:7.2f} {m['throughput']:7.0f} "
                f"{m['throughput'] / TARGETS['throughput']:8.2f}"
            )
    print()
    print(
        f"Audit trail: {kept} score entries stored for {sent} requests; "
        f"chain {'verifies' if report.ok else 'BROKEN: ' + str(report.reason)}."
    )
    return 0 if report.ok and kept == sent else 1


if __name__ == "__main__":
    raise SystemExit(main())
