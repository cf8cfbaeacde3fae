"""Loading the in-memory store snapshot: peak memory and time, whole tables vs by person ranges.

``features.StoreSnapshot.load`` used to fetch each table whole and then
convert it, so loading a national store peaked at about twice the snapshot's
arrays.  It now reads the tables grouped by person a range of people at a
time into arrays allocated at their final size.  This script loads the same
store with the loader of a git revision from before that change and with
the current one, each in a fresh subprocess (``ru_maxrss`` is a process's
high-water mark, so runs cannot contaminate each other), alternating them,
and prints load time, peak RSS and whether both built the very same arrays.

    flock /tmp/mast-heavy.lock python benchmarks/bench_snapshot.py --scale 0.2
    flock /tmp/mast-heavy.lock python benchmarks/bench_snapshot.py --db mast-data/ratio-0.05.duckdb

A store is generated with ``bench_features.generate_national`` when ``--db``
is not given (scale 1.0 is ~50 M events, 0.2 ~10 M).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# The last revision whose loader fetched whole tables.
BEFORE = "4518c0ac9588830153ab289d8ee437bb6eac117d"


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _rss_gb() -> float:
    """Resident now (Linux): what the process keeps once the load is over."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kb / 1024**2


def _loader(which: str):
    """``StoreSnapshot`` of the current tree, or of git revision ``which``."""
    if which == "current":
        from features import StoreSnapshot

        return StoreSnapshot
    source = subprocess.run(
        ["git", "show", f"{which}:features/snapshot.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("snapshot_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(source, f"{which[:12]}:features/snapshot.py", "exec"), module.__dict__)
    return module.StoreSnapshot


def _digest(snapshot) -> str:
    """A hash of every array (name, dtype, shape, values): equal iff the snapshots are."""
    h = hashlib.sha256()
    for name, x in sorted(vars(snapshot).items()):
        if not isinstance(x, np.ndarray):
            continue
        h.update(f"{name}:{x.dtype.str}:{x.shape}".encode())
        if x.dtype == object:
            h.update("\x00".join(map(repr, x.tolist())).encode())
        else:
            h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def child(db: str, which: str, chunk_rows: int | None) -> None:
    """One load in this (fresh) process; prints its figures as JSON."""
    import duckdb

    loader = _loader(which)
    con = duckdb.connect(db, read_only=True)
    rss0 = _peak_rss_gb()
    t0 = time.perf_counter()
    kw = {"chunk_rows": chunk_rows} if chunk_rows and which == "current" else {}
    snapshot = loader.load(con, **kw)
    seconds = time.perf_counter() - t0
    peak = _peak_rss_gb()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_before": rss0,
                "peak": peak,
                "after": _rss_gb(),
                "arrays": snapshot.nbytes() / 1e9,
                "events": snapshot.n_events,
                "digest": _digest(snapshot),
            }
        )
    )


def _run(db: Path, which: str, chunk_rows: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--db", str(db)]
    if chunk_rows:
        cmd += ["--chunk-rows", str(chunk_rows)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare(db: Path, before: str, repeats: int, chunk_rows: int | None) -> None:
    runs: dict[str, list[dict]] = {before: [], "current": []}
    for _ in range(repeats):
        for which in ("current", before):  # alternate, so both see a warm page cache
            runs[which].append(_run(db, which, chunk_rows))
    old, new = runs[before], runs["current"]
    print(
        f"store {db} ({db.stat().st_size / 1e9:.2f} GB on disk, {new[0]['events']:,} events), "
        f"snapshot arrays {new[0]['arrays']:.3f} GB; best of {repeats} fresh processes each"
    )
    print(
        f"  {'loader':<34}{'load s':>8}{'peak RSS GB':>13}{'of which load':>15}{'RSS after GB':>14}"
    )
    rows = []
    for label, rs in ((f"whole tables ({before[:7]})", old), ("by person ranges (current)", new)):
        best = min(r["seconds"] for r in rs)
        peak = min(r["peak"] for r in rs)
        grown = min(r["peak"] - r["rss_before"] for r in rs)
        after = min(r["after"] for r in rs)
        rows.append((best, peak, grown))
        print(f"  {label:<34}{best:8.2f}{peak:13.2f}{grown:15.2f}{after:14.2f}")
    (t_old, p_old, g_old), (t_new, p_new, g_new) = rows
    print(
        f"  current / before: load time {t_new / t_old:.2f}x, peak RSS {p_new / p_old:.2f}x, "
        f"growth during load {g_new / g_old:.2f}x "
        f"(growth / arrays: {g_old / old[0]['arrays']:.2f} -> {g_new / new[0]['arrays']:.2f})"
    )
    same = {r["digest"] for r in old + new}
    print(f"  identical snapshots: {'yes' if len(same) == 1 else 'NO'}")
    if len(same) != 1:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="an existing store (else one is generated)")
    parser.add_argument("--scale", type=float, default=0.2, help="generator scale without --db")
    parser.add_argument("--random-state", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=2, help="loads per loader, keep the best")
    parser.add_argument("--before", default=BEFORE, help="git revision of the old loader")
    parser.add_argument("--chunk-rows", type=int, default=None, help="current loader's chunk")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(str(args.db), args.child, args.chunk_rows)
        return
    if args.db:
        compare(args.db, args.before, args.repeats, args.chunk_rows)
        return
    if args.generate:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_features import generate_national

        print(generate_national(args.generate, args.scale, args.random_state))
        return
    with tempfile.TemporaryDirectory(prefix="mast-bench-") as tmp:
        db = Path(tmp) / "national.duckdb"
        t0 = time.perf_counter()
        # In a subprocess too: a child forked from a process that has grown
        # starts with that process's ru_maxrss, which would hide its own peak.
        counts = subprocess.run(
            [sys.executable, __file__, "--generate", str(db), "--scale", str(args.scale)]
            + ["--random-state", str(args.random_state)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(f"generated scale {args.scale} in {time.perf_counter() - t0:.0f} s: {counts}")
        compare(db, args.before, args.repeats, args.chunk_rows)


if __name__ == "__main__":
    main()
