"""Benchmark: simulate 1,000,000 children over 5 years.

Target (issue 2): at most 5 minutes and 8 GB on a 2-core machine.  Prints
wall time and peak memory beside the targets, as ratios (below 1 is inside
the target), measured in one run.  Writing the world into a DuckDB store is
timed as well, for information (it has no target of its own).

Run it alone on the machine, under the shared lock::

    flock /tmp/mast-heavy.lock /work/venv/bin/python benchmarks/bench_simulate.py
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import threading
import time
from pathlib import Path

from settings import DEFAULT_RANDOM_STATE

TARGET_SECONDS = 300.0
TARGET_BYTES = 8 * 1024**3


class PeakMemory:
    """Samples this process's resident memory every 50 ms (ru_maxrss as a floor)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        self.peak = max(self.peak, maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--random-state", "--seed", dest="random_state", type=int, default=DEFAULT_RANDOM_STATE)
    parser.add_argument("--no-write", action="store_true", help="Skip writing the DuckDB store.")
    args = parser.parse_args()

    import store
    from synthetic import SimulationConfig, simulate

    config = SimulationConfig(
        n_children=args.children, years=args.years, random_state=args.random_state
    )
    with PeakMemory() as memory:
        began = time.perf_counter()
        world = simulate(config)
        sim_seconds = time.perf_counter() - began
        sim_peak = memory.peak
        write_seconds = float("nan")
        if not args.no_write:
            with tempfile.TemporaryDirectory() as tmp:
                began = time.perf_counter()
                con = store.connect(Path(tmp) / "bench.duckdb")
                store.write_tables(con, world.tables, truth=world.truth, replace=True)
                con.close()
                write_seconds = time.perf_counter() - began
    rows = {name: len(frame) for name, frame in world.tables.items()}

    print(f"mast simulate benchmark: {args.children:,} children x {args.years} years")
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    print(f"{'measure':<34}{'measured':>12}{'target':>12}{'ratio':>8}")
    print(
        f"{'simulate() wall time (s)':<34}{sim_seconds:>12.1f}{TARGET_SECONDS:>12.0f}"
        f"{sim_seconds / TARGET_SECONDS:>8.2f}"
    )
    gib = 1024**3
    print(
        f"{'simulate() peak memory (GiB)':<34}{sim_peak / gib:>12.2f}{TARGET_BYTES / gib:>12.0f}"
        f"{sim_peak / TARGET_BYTES:>8.2f}"
    )
    if not args.no_write:
        total = sim_seconds + write_seconds
        print(
            f"{'+ write DuckDB store, total (s)':<34}{total:>12.1f}{TARGET_SECONDS:>12.0f}"
            f"{total / TARGET_SECONDS:>8.2f}"
        )
        print(
            f"{'peak memory incl. write (GiB)':<34}{memory.peak / gib:>12.2f}"
            f"{TARGET_BYTES / gib:>12.0f}{memory.peak / TARGET_BYTES:>8.2f}"
        )


if __name__ == "__main__":
    main()
