"""A tiny random multi-agency world for feature tests.

Small enough to check by brute force, and built to hit the point-in-time
edge cases on purpose: records recorded exactly at a referral's
``received_at``, records that happened before a referral but were recorded
after it, adults joining and leaving households (with the leaving recorded
late), and several children on one referral.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from store import create_schema, validate_tables, write_tables
from store import vocabulary as v

T0 = pd.Timestamp("2018-01-01")
T1 = pd.Timestamp("2024-01-01")


def _ts(rng, lo=T0, hi=T1) -> pd.Timestamp:
    seconds = int(rng.integers(0, int((hi - lo).total_seconds())))
    # Half the time land exactly on midnight, so date/timestamp boundaries are exercised.
    if rng.random() < 0.5:
        seconds -= seconds % 86400
    return lo + pd.Timedelta(seconds=seconds)


def random_world(
    random_state: int, n_households: int = 6, n_referrals: int = 14
) -> dict[str, pd.DataFrame]:
    """Contract-valid tables for a handful of households (validated before return)."""
    rng = np.random.default_rng(random_state)
    people, households, members = [], [], []
    children_by_hh: dict[str, list[str]] = {}
    pid = 0

    def person(kind: str) -> str:
        nonlocal pid
        pid += 1
        p = f"P{pid:04d}"
        if kind == "child":
            dob = T0 + pd.Timedelta(days=int(rng.integers(-15 * 365, 5 * 365)))
        else:
            dob = pd.Timestamp("1965-01-01") + pd.Timedelta(days=int(rng.integers(0, 35 * 365)))
        people.append(
            {
                "person_id": p,
                "date_of_birth": dob.normalize(),
                "sex": rng.choice(v.SEXES),
                "ethnicity": rng.choice(v.ETHNICITIES),
                "disability": rng.choice(v.DISABILITIES),
            }
        )
        return p

    def membership(p, hh, role, start, end=None):
        start = start.normalize()
        rec = start + pd.Timedelta(
            seconds=int(rng.choice([0, 3600, 86400 * int(rng.integers(1, 90))]))
        )
        row = {
            "person_id": p,
            "household_id": hh,
            "role": role,
            "start_date": start,
            "end_date": pd.NaT,
            "recorded_at": rec,
            "end_recorded_at": pd.NaT,
        }
        if end is not None:
            end = max(end.normalize(), start)
            row["end_date"] = end
            row["end_recorded_at"] = end + pd.Timedelta(days=int(rng.choice([0, 1, 30, 400])))
        members.append(row)

    for h in range(n_households):
        hh = f"H{h:03d}"
        households.append(
            {
                "household_id": hh,
                "imd_decile": None if rng.random() < 0.2 else int(rng.integers(1, 11)),
                "local_authority": "E06000001",
            }
        )
        kids = [person("child") for _ in range(int(rng.integers(1, 4)))]
        children_by_hh[hh] = kids
        for k in kids:
            membership(k, hh, "child", T0 - pd.Timedelta(days=400))
        for role in ["parent"] * int(rng.integers(1, 3)):
            membership(
                person("adult"), hh, role, T0 - pd.Timedelta(days=int(rng.integers(0, 3000)))
            )
        # Adults who join (and sometimes leave) during the period.
        for _ in range(int(rng.integers(0, 3))):
            start = _ts(rng)
            end = (
                start + pd.Timedelta(days=int(rng.integers(30, 900)))
                if rng.random() < 0.5
                else None
            )
            membership(
                person("adult"), hh, rng.choice(["partner", "relative", "other_adult"]), start, end
            )
    # An adult who moves between two households.
    if n_households >= 2:
        mover = members[-1]["person_id"]
        moved = _ts(rng)
        membership(mover, "H001", "partner", moved)

    referrals, ref_children, decisions = [], [], []
    hh_ids = list(children_by_hh)
    for r in range(n_referrals):
        hh = hh_ids[int(rng.integers(0, len(hh_ids)))]
        kids = children_by_hh[hh]
        chosen = list(rng.choice(kids, size=int(rng.integers(1, len(kids) + 1)), replace=False))
        received = _ts(rng)
        concerns = rng.random(len(v.CONCERNS)) < 0.3
        if not concerns.any():
            concerns[int(rng.integers(0, len(v.CONCERNS)))] = True
        rid = f"R{r:04d}"
        referrals.append(
            {
                "referral_id": rid,
                "received_at": received,
                "source": rng.choice(v.REFERRAL_SOURCES),
                "referrer_relationship": rng.choice(v.REFERRER_RELATIONSHIPS),
                **{c: bool(x) for c, x in zip(v.CONCERN_COLUMNS, concerns, strict=True)},
            }
        )
        ref_children += [{"referral_id": rid, "person_id": k} for k in chosen]
        if rng.random() < 0.85:
            decision = rng.choice(v.DECISIONS)
            decisions.append(
                {
                    "referral_id": rid,
                    "decided_at": received + pd.Timedelta(hours=int(rng.integers(1, 24 * 60))),
                    "decision": decision,
                    "closure_reason": rng.choice(v.CLOSURE_REASONS)
                    if decision == "no_further_action"
                    else None,
                }
            )

    # Events, aimed at the people referrals concern, with nasty timestamps.
    times = [r["received_at"] for r in referrals]
    # Memberships whose start, or whose end, was recorded exactly at a referral.
    for m in members:
        if rng.random() < 0.25:
            m["recorded_at"] = times[int(rng.integers(0, len(times)))]
        if not pd.isna(m["end_date"]) and rng.random() < 0.5:
            t = times[int(rng.integers(0, len(times)))]
            m["end_recorded_at"] = t
            m["end_date"] = max(
                m["start_date"], (t - pd.Timedelta(days=int(rng.integers(0, 60)))).normalize()
            )
    # Decisions made exactly when a later referral arrived.
    for dec in decisions[::3]:
        later = [t for t in times if t > dec["decided_at"] - pd.Timedelta(days=30)]
        if later:
            dec["decided_at"] = max(min(later), dec["decided_at"] - pd.Timedelta(days=30))
    events = []
    all_people = [p["person_id"] for p in people]
    pairs = [(a, t) for a, types in v.EVENT_TYPES.items() for t in types]
    for e in range(len(all_people) * 12):
        p = all_people[int(rng.integers(0, len(all_people)))]
        agency, etype = pairs[int(rng.integers(0, len(pairs)))]
        mode = rng.random()
        if mode < 0.15:  # recorded exactly at a referral's received_at
            recorded = times[int(rng.integers(0, len(times)))]
            occurred = recorded - pd.Timedelta(days=int(rng.integers(0, 200)))
        elif mode < 0.3:  # occurred before a referral, recorded after it
            t = times[int(rng.integers(0, len(times)))]
            occurred = t - pd.Timedelta(days=int(rng.integers(1, 100)))
            recorded = t + pd.Timedelta(seconds=int(rng.integers(1, 86400 * 30)))
        elif mode < 0.4:  # on the edge of a window (exactly 365 / 91 days before)
            t = times[int(rng.integers(0, len(times)))]
            occurred = t - pd.Timedelta(days=int(rng.choice([91, 182, 365, 730])))
            recorded = occurred + pd.Timedelta(seconds=int(rng.choice([0, 1])))
        else:
            occurred = _ts(rng, T0 - pd.Timedelta(days=2000))
            recorded = occurred + pd.Timedelta(
                seconds=int(rng.choice([0, 60, 86400 * 3, 86400 * 60]))
            )
        role = rng.choice(v.EVENT_ROLES) if agency == "police" and rng.random() < 0.9 else None
        severity = int(rng.choice(v.SEVERITIES)) if etype in ("injury", "violent_offence") else None
        events.append(
            {
                "event_id": f"E{e:05d}",
                "person_id": p,
                "agency": agency,
                "event_type": etype,
                "occurred_at": occurred,
                "recorded_at": recorded,
                "role": role,
                "severity": severity,
            }
        )
    # Injuries to infants in their first weeks, and childhood CSC history of adults.
    for i, p in enumerate(people):
        if rng.random() < 0.4:
            dob = p["date_of_birth"]
            occurred = dob + pd.Timedelta(days=int(rng.choice([10, 181, 182, 183, 6574])))
            etype = "injury" if rng.random() < 0.6 else "section47_enquiry"
            events.append(
                {
                    "event_id": f"X{i:05d}",
                    "person_id": p["person_id"],
                    "agency": "health" if etype == "injury" else "children_social_care",
                    "event_type": etype,
                    "occurred_at": occurred,
                    "recorded_at": occurred + pd.Timedelta(days=1),
                    "role": None,
                    "severity": 2 if etype == "injury" else None,
                }
            )
    tables = {
        "people": pd.DataFrame(people),
        "households": pd.DataFrame(households),
        "household_members": pd.DataFrame(members),
        "referrals": pd.DataFrame(referrals),
        "referral_children": pd.DataFrame(ref_children),
        "screening_decisions": pd.DataFrame(
            decisions, columns=["referral_id", "decided_at", "decision", "closure_reason"]
        ),
        "agency_events": pd.DataFrame(events).sort_values("person_id", kind="stable"),
    }
    tables["household_members"] = tables["household_members"].drop_duplicates(
        ["person_id", "household_id", "start_date"]
    )
    return validate_tables(tables)


def store_of(tables: dict[str, pd.DataFrame]) -> duckdb.DuckDBPyConnection:
    """An in-memory store holding ``tables``."""
    con = duckdb.connect()
    create_schema(con)
    write_tables(con, tables)
    return con
