"""``mast load`` of a local-authority-sized events CSV: time and peak memory, before vs now.

Writes a people extract and a ~50 MB ``agency_events.csv`` (as a local
authority's system would: ISO timestamps, empty cells for missing values),
then, for the ``store`` package of a git revision from before issue #16 and
for the current one, each in a fresh subprocess (``ru_maxrss`` is a
process's high-water mark, so runs cannot contaminate each other):

1. loads the people into a new store (not timed), then
2. times the load of the events file into it, and records peak RSS.

It does the same with every timestamp written ``dd/mm/yyyy HH:MM`` and
without ``--date-format dayfirst``: the load must be refused, and the
question is how long that takes and how much memory the report costs.
Prints one side-by-side table with the ratios.

    flock /tmp/mast-heavy.lock .venv/bin/python benchmarks/bench_load.py
    flock /tmp/mast-heavy.lock .venv/bin/python benchmarks/bench_load.py --mb 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# main just before issue #16's loader changes.
BEFORE = "ef029bd"

_RUN = r"""
import json, resource, sys, time
from store import ContractError, load_extracts
db, people, events = sys.argv[1:4]
load_extracts(db, people)
started = time.perf_counter()
try:
    load_extracts(db, events)
    outcome = "loaded"
except ContractError as err:
    outcome = f"refused, {len(err.problems):,} problem(s)"
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
import store
print(json.dumps({"seconds": seconds, "peak_gb": peak, "outcome": outcome, "store": store.__file__}))
"""


def write_extracts(
    directory: Path, megabytes: float, random_state: int = 0
) -> tuple[Path, Path, Path]:
    """people/ and events/ (ISO) and events_uk/ (dd/mm/yyyy), sized to ``megabytes``."""
    rng = np.random.default_rng(random_state)
    n_events = int(megabytes * 1e6 / 84)  # ~84 bytes a row as written
    n_people = max(n_events // 10, 100)
    people_dir, events_dir, uk_dir = (directory / d for d in ("people", "events", "events_uk"))
    for d in (people_dir, events_dir, uk_dir):
        d.mkdir(parents=True, exist_ok=True)
    ids = np.char.add("P", np.arange(n_people).astype(str))
    pd.DataFrame(
        {
            "person_id": ids,
            "date_of_birth": "2010-05-01",
            "sex": rng.choice(["Female", "Male"], n_people),
            "ethnicity": rng.choice(["White", "Asian", "Black", "Mixed"], n_people),
            "disability": "No",
        }
    ).to_csv(people_dir / "people.csv", index=False)
    occurred = pd.Timestamp("2015-01-01") + pd.to_timedelta(
        rng.integers(0, 9 * 365 * 24 * 60, n_events), unit="min"
    )
    recorded = occurred + pd.to_timedelta(rng.integers(0, 30 * 24 * 60, n_events), unit="min")
    events = pd.DataFrame(
        {
            "event_id": np.char.add("E", np.arange(n_events).astype(str)),
            "person_id": ids[rng.integers(0, n_people, n_events)],
            "agency": "police",
            "event_type": rng.choice(["domestic_incident", "arrest", "violent_offence"], n_events),
            "occurred_at": occurred.strftime("%Y-%m-%d %H:%M:%S"),
            "recorded_at": recorded.strftime("%Y-%m-%d %H:%M:%S"),
            "role": rng.choice(["victim", "perpetrator", ""], n_events),
            "severity": rng.choice(["1", "2", "3", ""], n_events),
        }
    )
    events.to_csv(events_dir / "agency_events.csv", index=False)
    events["occurred_at"] = occurred.strftime("%d/%m/%Y %H:%M")
    events["recorded_at"] = recorded.strftime("%d/%m/%Y %H:%M")
    events.to_csv(uk_dir / "agency_events.csv", index=False)
    return people_dir, events_dir, uk_dir


def _package(which: str, tmp: Path) -> Path:
    """A folder whose ``store`` package is that of ``which`` (``current``: this tree)."""
    if which == "current":
        return ROOT
    out = tmp / f"rev-{which}"
    out.mkdir()
    archive = subprocess.run(
        ["git", "archive", which, "store"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def _run(package: Path, db: Path, people: Path, events: Path) -> dict:
    env = {"PYTHONPATH": str(package), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(db), str(people), str(events)],
        capture_output=True,
        text=True,
        env=env,
        cwd=package,
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of agency_events.csv")
    parser.add_argument("--before", default=BEFORE, help="git revision to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        people, events, uk = write_extracts(tmp / "x", args.mb)
        size = (events / "agency_events.csv").stat().st_size / 1e6
        print(f"wrote {size:.0f} MB of agency_events.csv in {time.perf_counter() - started:.0f} s")
        packages = {"before": _package(args.before, tmp), "now": _package("current", tmp)}
        results = {}
        for case, folder in (("ISO dates", events), ("UK dates, no --date-format", uk)):
            for which, package in packages.items():
                db = tmp / f"{which}-{case[:3]}.duckdb"
                results[case, which] = _run(package, db, people, folder)
        print(f"\n{'case':<28}{'':>8}{'before':>12}{'now':>12}{'before/now':>12}")
        for case in ("ISO dates", "UK dates, no --date-format"):
            b, n = results[case, "before"], results[case, "now"]
            for label, key, unit in (("time", "seconds", "s"), ("peak RSS", "peak_gb", "GB")):
                print(
                    f"{case:<28}{label:>8}{b[key]:>11.2f}{unit[0]}{n[key]:>11.2f}{unit[0]}"
                    f"{b[key] / n[key]:>11.2f}x"
                )
            print(f"{'':<28}{'outcome':>8}  before: {b['outcome']}; now: {n['outcome']}")
            print(f"{'':<28}{'code':>8}  before: {b['store']}; now: {n['store']}")


if __name__ == "__main__":
    main()
