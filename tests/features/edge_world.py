"""One world with every boundary of one referral's evidence look-ups around it.

The random worlds of ``world.py`` put records on every boundary the feature
SQL draws, spread over many referrals; the evidence look-ups draw two more
(which membership is listed for a member, an adult's referrals in their own
childhood).  :func:`edge_world` surrounds one referral with all of them.
Used by the evidence mutation test and by the in-memory evidence test.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np
import pandas as pd

from features import definitions as d
from store import validate_tables
from store import vocabulary as v
from tests.features.mutants import World
from tests.features.reference import DAY, active, reference_features
from tests.features.world import add_named_adults, counted_event, random_world, store_of

# Tables whose records lie behind a non-zero count (the referral's own features
# and ages always list the one referral).
RECORD_TABLES = ("agency_events", "referrals", "household_members")
# The key of :func:`_edge_world` (world 0 of ``world.py`` and the boundaries
# only the evidence meets), searched before the worlds of ``world.py``.
EDGE_WORLD = 1000


class Edge(NamedTuple):
    """The edge world, and the referral, child and home its boundaries are around."""

    world: World
    referral_id: str
    child: str
    home: str


@cache
def edge_world(seed: int = 0) -> Edge:
    """World ``seed`` of ``world.py`` plus every boundary of one referral's look-ups.

    The random worlds put records on every boundary the feature SQL draws,
    but spread over many referrals, and never on two the look-up draws on
    its own: the membership listed for a household member, and the adults'
    referrals in their own childhood.  Here all of them surround one
    referral, received at midnight, and one of its children:

    - homes of the child (each with a parent in it) known exactly at
      ``as_of`` (not a home), moved into or out of exactly at ``as_of``
      (homes), and moved out of before, recorded exactly at ``as_of`` (a home);
    - the child's records of every event counter recorded exactly at
      ``as_of`` (not counted), and on the edge of every window (counted);
    - for a parent and for a sibling: one who joins the child's home exactly
      at ``as_of`` (a new member, with records of every counter of their
      kind recorded exactly at ``as_of``); one who leaves it exactly at
      ``as_of``; one whose leaving, a month before, is recorded exactly at
      ``as_of``; one who joined both the child's homes the same day, the
      second recorded exactly at ``as_of`` (listed once, by the first); and
      one whose joining is recorded exactly at ``as_of`` (not a member),
      with a record of every counter of their kind;
    - a 17-year-old relative in the child's home, on the same referral,
      referred 100 days before with the decision made exactly at ``as_of``.
    """
    tables = {name: t.copy() for name, t in random_world(seed).items()}
    members = tables["household_members"].to_dict("records")
    referrals = tables["referrals"].sort_values("referral_id").to_dict("records")
    on = tables["referral_children"].to_dict("records")
    ref, child, home = next(
        (r, rc["person_id"], m["household_id"])
        for r in referrals
        if r["received_at"] == r["received_at"].normalize()
        for rc in on
        if rc["referral_id"] == r["referral_id"]
        for m in members
        if m["person_id"] == rc["person_id"] and active(m, r["received_at"])
    )
    as_of = ref["received_at"]
    second = next(h for h in tables["households"]["household_id"] if h != home)
    people, rows, events, households = [], [], [], []
    rng = np.random.default_rng(seed)

    def person(pid: str, years: int) -> str:
        dob = (as_of - pd.DateOffset(years=years)).normalize()
        people.append({**tables["people"].iloc[0].to_dict(), "person_id": pid})
        people[-1]["date_of_birth"] = dob
        return pid

    def member(pid, hh, role, start, recorded, end=pd.NaT, end_recorded=pd.NaT):
        row = {"person_id": pid, "household_id": hh, "role": d.cat(role, v.HOUSEHOLD_ROLES)}
        row |= {"start_date": start, "end_date": end, "recorded_at": recorded}
        rows.append({**row, "end_recorded_at": end_recorded})

    def counted(pid: str, names: list[str], occurred, recorded) -> None:
        """An event for ``pid`` each event counter of ``names`` counts."""
        for c in (d.COUNTERS[n] for n in names):
            if isinstance(c, d.EventCounter):
                agency, etype, role, severity = counted_event(c, rng)
                events.append({"event_id": f"E-EDGE-{len(events)}", "person_id": pid})
                events[-1] |= {"agency": agency, "event_type": etype, "role": role}
                events[-1] |= {"occurred_at": occurred, "recorded_at": recorded}
                events[-1]["severity"] = severity

    long_ago = as_of - 500 * DAY
    member(child, second, "child", as_of - 800 * DAY, as_of - 799 * DAY)  # a second home
    # Homes of the child on each boundary, each with a parent in it: known exactly
    # at as_of (not a home); moved into exactly at as_of, moved out of exactly at
    # as_of (homes); moved out of before, recorded exactly at as_of (a home).
    for tag, start, recorded, end, end_recorded in [
        ("KNOWN-LATE", long_ago, as_of, pd.NaT, pd.NaT),
        ("MOVED-IN", as_of, as_of - 2 * DAY, pd.NaT, pd.NaT),
        ("MOVING-OUT", long_ago, long_ago, as_of, as_of - DAY),
        ("MOVED-OUT", long_ago, long_ago, as_of - 30 * DAY, as_of),
    ]:
        hh = f"H-EDGE-{tag}"
        households.append({**tables["households"].iloc[0].to_dict(), "household_id": hh})
        member(child, hh, "child", start, recorded, end, end_recorded)
        member(person(f"P-IN-{tag}", 40), hh, "parent", long_ago, long_ago)
    # The child's own records exactly at as_of (not counted) and on every window's edge.
    counted(child, d.CHILD_COUNTERS, as_of - 10 * DAY, as_of)
    for window in sorted({c.window for c in d.EVENT_COUNTERS} - {"ever"}):
        counted(child, d.CHILD_COUNTERS, as_of - d.WINDOWS[window] * DAY, as_of - 9 * DAY)
    # Members on each boundary of their own membership, a parent and a sibling each.
    for role, years in (("parent", 35), ("child", 8)):
        tag = role.upper()
        kind = d.ADULT_COUNTERS if role == "parent" else d.SIBLING_COUNTERS
        joins = person(f"P-{tag}-JOINS", years)
        member(joins, home, role, as_of, as_of - 3 * DAY)
        # (a new member, with records recorded exactly at as_of: not counted)
        counted(joins, kind, as_of - 10 * DAY, as_of)
        member(person(f"P-{tag}-LEAVES", years), home, role, long_ago, long_ago, as_of, as_of - DAY)
        member(person(f"P-{tag}-LEFT", years), home, role, long_ago, long_ago, as_of - 30 * DAY)
        rows[-1]["end_recorded_at"] = as_of
        twice = person(f"P-{tag}-TWICE", years)
        member(twice, home, role, as_of - 300 * DAY, as_of - 299 * DAY)
        member(twice, second, role, as_of - 300 * DAY, as_of)
        # Joined both homes the same day, both known before as_of: one member, listed
        # once (by the membership recorded first, here the second home's).
        both = person(f"P-{tag}-BOTH", years)
        member(both, home, role, as_of - 200 * DAY, as_of - 150 * DAY)
        member(both, second, role, as_of - 200 * DAY, as_of - 190 * DAY)
        # Joined long ago, recorded exactly at as_of (not a member), with a record
        # every counter of their kind counts: only the counters would list them.
        late = person(f"P-{tag}-LATE", years)
        member(late, home, role, long_ago, as_of)
        counted(late, kind, as_of - 10 * DAY, as_of - 9 * DAY)
    minor = person("P-MINOR", d.ADULT_YEARS - 1)
    member(minor, home, "relative", as_of - 400 * DAY, as_of - 399 * DAY)
    earlier = {**ref, "referral_id": "R-MINOR", "received_at": as_of - 100 * DAY}
    decision = {"referral_id": "R-MINOR", "decided_at": as_of, "closure_reason": None}
    decision["decision"] = d.cat("early_help", v.DECISIONS)
    add = {
        "people": people,
        "households": households,
        "household_members": rows,
        "referrals": [earlier],
        "referral_children": [
            {"referral_id": ref["referral_id"], "person_id": minor},
            {"referral_id": "R-MINOR", "person_id": minor},
        ],
        "screening_decisions": [decision],
        "agency_events": events,
    }
    for name, new in add.items():
        tables[name] = pd.concat([tables[name], pd.DataFrame(new)], ignore_index=True)
    tables = add_named_adults(validate_tables(tables), seed)
    # The edge referral names the adults whose records sit on every edge around it.
    m = tables["household_members"]
    adults = sorted(
        set(m.loc[(m["household_id"] == home) & m["role"].isin(v.ADULT_ROLES), "person_id"])
    )
    links = tables["named_adult_links"]
    links = links[links["referral_id"] != ref["referral_id"]]
    named = tables["referral_named_adults"]
    named = named[named["referral_id"] != ref["referral_id"]]
    new_named = (
        [
            {**named.iloc[0].to_dict(), "referral_id": ref["referral_id"], "adult_number": i + 1}
            for i in range(len(adults) + 1)
        ]
        if len(named)
        else []
    )
    new_links = (
        [
            {
                **links.iloc[0].to_dict(),
                "referral_id": ref["referral_id"],
                "adult_number": i + 1,
                "status": "found",
                "person_id": p,
            }
            for i, p in enumerate([*adults, child])
        ]
        if len(links)
        else []
    )
    tables["referral_named_adults"] = pd.concat([named, pd.DataFrame(new_named)], ignore_index=True)
    tables["named_adult_links"] = pd.concat([links, pd.DataFrame(new_links)], ignore_index=True)
    w = World(EDGE_WORLD + seed, tables, store_of(tables), reference_features(tables))
    return Edge(w, ref["referral_id"], child, home)
