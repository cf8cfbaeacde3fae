"""Benchmark: ``import serving.app`` with pandera's probe of ``pyspark.pandas`` and without.

``store/_quiet.py`` imports pandera with ``pyspark.pandas`` made unfindable,
so pandera skips its pandas-on-Spark types (MAST never validates such frames).
The "with the probe" run imports ``pandera.pandas`` first, as pandera does
alone, which ``store`` then reuses.  Each variant runs in a fresh interpreter,
alternately, ``--runs`` times; the medians are compared.  Only meaningful
with the ``spark`` extra installed (without pyspark there is nothing to probe).

Usage: python benchmarks/bench_import_serving.py [--runs 7]
(wrap in `flock /tmp/mast-heavy.lock` on a shared machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "with the probe (pandera alone)": "import pandera.pandas; import serving.app",
    "without (store/_quiet.py)": "import serving.app",
}
CHECK = "; import sys; print(int('pyspark' in sys.modules))"


def run(code: str) -> tuple[float, bool]:
    """Seconds for a fresh interpreter to run ``code``, and whether pyspark got imported."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code + CHECK], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, out.stdout.strip().endswith("1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if importlib.util.find_spec("pyspark") is None:
        sys.exit("pyspark is not installed: install the spark extra to measure this")
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    spark: dict[str, bool] = {}
    for _ in range(args.runs):
        for name, code in VARIANTS.items():
            seconds, spark[name] = run(code)
            times[name].append(seconds)
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, m in medians.items():
        print(
            f"{name:32s} median {m:5.2f} s over {args.runs} runs; pyspark imported: {spark[name]}"
        )
    before, after = medians.values()
    print(f"ratio (with / without): {before / after:.2f}; saved {before - after:.2f} s per process")


if __name__ == "__main__":
    main()
