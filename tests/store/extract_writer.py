"""Contract extracts written as a local authority's system would, not by pandas.

Every contract column type appears: identifiers, categories (as DfE codes
and ONS labels too), dates, timestamps (with and without a time), booleans
in every accepted spelling, nullable integers and empty cells.  ``as_csv``
writes the text with the ``csv`` module; ``as_parquet`` writes the same
values typed (bool, int, timestamp) with pyarrow, as a database export would.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from store.vocabulary import CONCERN_COLUMNS

TRUE_SPELLINGS = ("true", "TRUE", "True", "t", "T", "yes", "Yes", "y", "Y", "1", "1.0")
FALSE_SPELLINGS = ("false", "FALSE", "False", "f", "F", "no", "NO", "n", "N", "0", "0.0")
ETHNICITY = ("WBRI", "MWBC", "White - British", "Asian: Pakistani", "Black", "REFU", "CHNE")
SEX = ("1", "2", "Female", "M", "9")
DISABILITY = ("NONE", "LD,MOB", "Yes", "No", "Not recorded")


def generate(n_people: int = 40, random_state: int = 0) -> dict[str, list[dict]]:
    """Typed rows per table: ``None`` is an empty cell; booleans are Python bools."""
    rng = np.random.default_rng(random_state)
    people, members, referrals, children, decisions, events = [], [], [], [], [], []
    households = [
        {"household_id": f"H{h}", "imd_decile": None if h % 4 == 0 else int(h % 10) + 1,
         "local_authority": "Testshire"}
        for h in range(n_people // 4)
    ]  # fmt: skip
    for i in range(n_people):
        pid = f"P{i:03d}"
        child = i % 2 == 0
        born = datetime(2008 + int(rng.integers(0, 12)) if child else 1975, 1 + i % 12, 1 + i % 28)
        people.append(
            {"person_id": pid, "date_of_birth": born, "sex": SEX[i % len(SEX)],
             "ethnicity": ETHNICITY[i % len(ETHNICITY)], "disability": DISABILITY[i % len(DISABILITY)]}
        )  # fmt: skip
        start = datetime(2015, 1 + i % 12, 1 + i % 27)
        ended = i % 5 == 0
        members.append(
            {"person_id": pid, "household_id": f"H{i // 4}", "role": "child" if child else "parent",
             "start_date": start, "end_date": datetime(2023, 3, 1) if ended else None,
             "recorded_at": datetime(2015, 1 + i % 12, 1 + i % 27, 9, 30),
             "end_recorded_at": datetime(2023, 3, 10, 14) if ended else None}
        )  # fmt: skip
        if child:
            rid = f"R{i:03d}"
            flags = {c: bool(rng.random() < 0.3) for c in CONCERN_COLUMNS}
            flags["concern_neglect"] = True
            referrals.append(
                {"referral_id": rid, "received_at": datetime(2023, 1 + i % 12, 1 + i % 28, 10, 15),
                 "source": "police" if i % 4 else "school",
                 "referrer_relationship": "police_officer" if i % 4 else "teacher", **flags}
            )  # fmt: skip
            children.append({"referral_id": rid, "person_id": pid})
            if i % 3:
                decisions.append(
                    {"referral_id": rid, "decided_at": datetime(2023, 1 + i % 12, 1 + i % 28, 16),
                     "decision": "no_further_action", "closure_reason": None if i % 2 else "signposted"}
                )  # fmt: skip
        events.append(
            {"event_id": f"E{i:03d}", "person_id": pid, "agency": "police",
             "event_type": "domestic_incident", "occurred_at": datetime(2022, 1 + i % 12, 5, 23),
             "recorded_at": datetime(2022, 1 + i % 12, 6, 8), "role": None if i % 3 else "victim",
             "severity": None if i % 2 else 1 + i % 3}
        )  # fmt: skip
    return {
        "people": people, "households": households, "household_members": members,
        "referrals": referrals, "referral_children": children,
        "screening_decisions": decisions, "agency_events": events,
    }  # fmt: skip


def _text(value, column: str, n: int) -> str:
    """A cell as a local authority's CSV writes it: booleans in rotating spellings."""
    if value is None:
        return ""
    if isinstance(value, bool):
        spellings = TRUE_SPELLINGS if value else FALSE_SPELLINGS
        return spellings[(n + len(column)) % len(spellings)]
    if isinstance(value, datetime):
        return (
            value.strftime("%Y-%m-%d") if value == value.replace(hour=0, minute=0) else str(value)
        )
    return str(value)


def as_csv(tables: dict[str, list[dict]], directory: Path, columns: dict | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        header = list(rows[0])
        with open(directory / f"{name}.csv", "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(header)
            for n, row in enumerate(rows):
                out.writerow([_text(row[c], c, n) for c in header])
    return directory


def as_parquet(tables: dict[str, list[dict]], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        pq.write_table(pa.Table.from_pylist(rows), directory / f"{name}.parquet")
    return directory
