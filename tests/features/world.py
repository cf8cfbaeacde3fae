"""A tiny random multi-agency world for feature tests.

Small enough to check by brute force, and built to hit the point-in-time
edge cases on purpose: records recorded exactly at a referral's
``received_at``, records that happened before a referral but were recorded
after it, adults joining and leaving households (with the leaving recorded
late), and several children on one referral.

On top of the random records, :func:`_boundaries` puts records exactly on
every boundary the feature rules draw, read from :mod:`features.definitions`
so a new counter or window gets its boundary too: for every event counter
and state, events recorded exactly at a referral's ``received_at`` on the
referral's child and on someone who lives with them (so every event group of
the SQL meets one); events that happened exactly at the start of every
counter window, exactly at the 18th birthday and at the end of the
non-mobile months; a state's start and end at the same instant; referrals
received exactly at midnight whose child moves home that day (one
membership ends, ``end_date == as_of``, another starts, ``start_date ==
as_of``) or whose household gains and loses an adult that day, or gained
one exactly 3, 6 or 12 months before; memberships (a child's second home,
an adult joining, an adult leaving, a child's home ending) whose start or
end is recorded exactly as a referral arrives; prior referrals received exactly on every referral
window's edge; and referrals about an adult of today received at the last
moment before their 18th birthday (one at the birthday itself is refused by
the data contract).  ``tests/features/test_mutations.py`` checks these are enough:
flipping any comparison of the feature SQL by one changes some feature.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from features import definitions as d
from store import create_schema, validate_tables, write_tables
from store import vocabulary as v

T0 = pd.Timestamp("2018-01-01")
T1 = pd.Timestamp("2024-01-01")
# The first referrals of a world are received exactly at midnight, where a date
# (start_date, end_date) equals the timestamp as_of.
N_MIDNIGHT = 6


def _maybe_decide(rng, decisions: list, rid: str, received, p: float, max_days: int) -> None:
    """With probability ``p``, a screening decision on ``rid`` within ``max_days`` of receipt."""
    if rng.random() < p:
        decision = rng.choice(v.DECISIONS)
        decisions.append(
            {
                "referral_id": rid,
                "decided_at": received + pd.Timedelta(hours=int(rng.integers(1, 24 * max_days))),
                "decision": decision,
                "closure_reason": rng.choice(v.CLOSURE_REASONS)
                if decision == "no_further_action"
                else None,
            }
        )


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
        child_ids = [person("child") for _ in range(int(rng.integers(1, 4)))]
        children_by_hh[hh] = child_ids
        for k in child_ids:
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
    born = {p["person_id"]: pd.Timestamp(p["date_of_birth"]) for p in people}
    hh_ids = list(children_by_hh)
    for r in range(n_referrals):
        hh = hh_ids[int(rng.integers(0, len(hh_ids)))]
        child_ids = children_by_hh[hh]
        chosen = list(
            rng.choice(child_ids, size=int(rng.integers(1, len(child_ids) + 1)), replace=False)
        )
        received = _ts(rng)
        if r < N_MIDNIGHT:  # the boundary scenarios need referrals received at midnight
            received = received.normalize()
        # Only children: the contract refuses a referral child aged 18 or over (no
        # draw is skipped, so the rest of the world is as it was).
        young = [k for k in chosen if born[k] + pd.DateOffset(years=d.ADULT_YEARS) > received]
        chosen = young or [min(child_ids, key=lambda k: -born[k].value)]
        if born[chosen[0]] + pd.DateOffset(years=d.ADULT_YEARS) <= received:
            received = born[chosen[0]] + pd.DateOffset(years=d.ADULT_YEARS) - pd.Timedelta(days=1)
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
        _maybe_decide(rng, decisions, rid, received, 0.85, max_days=60)

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
    _boundaries(
        rng, person, membership, people, members, referrals, ref_children, decisions, events
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


def counted_event(c: d.EventCounter, rng) -> tuple[str, str, str | None, int | None]:
    """(agency, event type, role, severity) of an event counter ``c`` counts."""
    f = c.filter
    etype = f.event_types[int(rng.integers(0, len(f.event_types)))]
    agencies = f.agencies or [a for a, types in v.EVENT_TYPES.items() if etype in types]
    agency = agencies[int(rng.integers(0, len(agencies)))]
    role = f.roles[0] if f.roles else None
    severity = None
    if etype in ("injury", "violent_offence"):
        severity = (
            max(v.SEVERITIES) if f.min_severity is not None else int(rng.choice(v.SEVERITIES))
        )
    return agency, etype, role, severity


def _boundaries(
    rng, person, membership, people, members, referrals, ref_children, decisions, events
):
    """Append records lying exactly on every point-in-time boundary (see the module docstring).

    Sizes stay small: about 130 events, 30 referrals and 15 memberships
    per world.
    """
    dob = {p["person_id"]: pd.Timestamp(p["date_of_birth"]) for p in people}
    child_ids_of: dict[str, list[str]] = {}
    for rc in ref_children:
        child_ids_of.setdefault(rc["referral_id"], []).append(rc["person_id"])
    homes: dict[str, set[str]] = {}
    for m in members:
        homes.setdefault(m["person_id"], set()).add(m["household_id"])
    lives_with: dict[str, list[str]] = {}
    for p, hhs in homes.items():
        lives_with[p] = sorted({m["person_id"] for m in members if m["household_id"] in hhs} - {p})
    n_ref = len(referrals)

    def pick(seq):
        return seq[int(rng.integers(0, len(seq)))]

    def active(m, t) -> bool:
        ended = m["end_date"] < t and m["end_recorded_at"] < t  # False if NaT
        return m["recorded_at"] < t and m["start_date"] <= t and not ended

    def concerned(r, counter: str) -> list[str]:
        """The referral's child, and someone who lives with them (as of the referral if
        anyone does): an adult if adults' features show ``counter``, else a sibling if
        siblings' do, else anyone."""
        child, t = pick(child_ids_of[r["referral_id"]]), r["received_at"]
        here = {m["household_id"] for m in members if m["person_id"] == child and active(m, t)}
        now = {m["person_id"] for m in members if m["household_id"] in here and active(m, t)}
        others = sorted(now - {child}) or lives_with.get(child, [])
        grown_up = {m["person_id"] for m in members if m["role"] in v.ADULT_ROLES}
        if counter in d.ADULT_COUNTERS:
            others = [p for p in others if p in grown_up] or others
        elif counter in d.SIBLING_COUNTERS:
            others = [p for p in others if p not in grown_up] or others
        return [child, *([pick(others)] if others else [])]

    def event(p, agency, etype, occurred, recorded, role=None, severity=None):
        events.append(
            {
                "event_id": f"B{len(events):05d}",
                "person_id": p,
                "agency": agency,
                "event_type": etype,
                "occurred_at": occurred,
                "recorded_at": max(recorded, occurred),
                "role": role,
                "severity": severity,
            }
        )

    original = referrals[:n_ref]
    midnight = [r for r in original if r["received_at"] == r["received_at"].normalize()]
    households = sorted({m["household_id"] for m in members})
    for k, r in enumerate(midnight):
        day, child = r["received_at"], pick(child_ids_of[r["referral_id"]])
        home = pick(sorted(homes[child]))
        scenario = k % 5
        if scenario == 0:
            # The child moves home on the day: the old home ends (end_date == as_of,
            # recorded the day before), the new one starts (start_date == as_of).
            for m in members:
                if m["person_id"] == child and m["start_date"] < day and pd.isna(m["end_date"]):
                    m["end_date"], m["end_recorded_at"] = day, day - pd.Timedelta(days=1)
            other = pick([h for h in households if h != home] or [home])
            membership(child, other, "child", day)
            members[-1]["recorded_at"] = day - pd.Timedelta(days=2)
        elif scenario == 1:
            # An adult joins on the day, another leaves on the day (recorded before).
            membership(person("adult"), home, "partner", day)
            members[-1]["recorded_at"] = day - pd.Timedelta(days=3)
            membership(person("adult"), home, "relative", day - pd.Timedelta(days=500), day)
            members[-1]["end_recorded_at"] = day - pd.Timedelta(days=1)
        else:
            # An adult who joined exactly at the edge of a "new adult" window, with a
            # record the "new adults" features count.
            w = d.NEW_ADULT_WINDOWS[(scenario - 2) % len(d.NEW_ADULT_WINDOWS)]
            joined = day - pd.Timedelta(days=d.WINDOWS[w])
            adult = person("adult")
            membership(adult, home, "partner", joined)
            members[-1]["recorded_at"] = joined + pd.Timedelta(hours=2)
            for name in d.NEW_ADULT_COUNTERS:
                agency, etype, role, sev = counted_event(d.COUNTERS[name], rng)
                event(adult, agency, etype, joined - pd.Timedelta(days=100), joined, role, sev)
    # Memberships whose start or end is recorded exactly as a referral arrives: a
    # second home of the child, an adult joining the child's home, an adult leaving it.
    for r in rng.choice(original, size=min(2, n_ref), replace=False):
        t, child = r["received_at"], pick(child_ids_of[r["referral_id"]])
        home = pick(sorted(homes[child]))
        membership(
            child,
            pick([h for h in households if h != home] or [home]),
            "child",
            t - pd.Timedelta(days=200),
        )
        members[-1]["recorded_at"] = t
        membership(person("adult"), home, "partner", t - pd.Timedelta(days=300))
        members[-1]["recorded_at"] = t
        membership(
            person("adult"), home, "relative", t - pd.Timedelta(days=600), t - pd.Timedelta(days=30)
        )
        members[-1]["recorded_at"] = t - pd.Timedelta(days=590)
        members[-1]["end_recorded_at"] = t
    # A child's home whose end is recorded exactly as a referral arrives.
    for r in rng.choice(original, size=min(2, n_ref), replace=False):
        child = pick(child_ids_of[r["referral_id"]])
        for m in members:
            if (
                m["person_id"] == child
                and pd.isna(m["end_date"])
                and m["start_date"] < r["received_at"]
            ):
                m["end_recorded_at"] = r["received_at"]
                m["end_date"] = max(
                    m["start_date"], (r["received_at"] - pd.Timedelta(days=10)).normalize()
                )
                break

    # Events, once the households are settled (so 'who lives with the child' holds).
    for c in d.EVENT_COUNTERS:
        # Recorded exactly as a referral arrives (invisible to it), having happened within any window.
        r = pick(original)
        for p in concerned(r, c.name):
            agency, etype, role, sev = counted_event(c, rng)
            t = r["received_at"]
            event(p, agency, etype, t - pd.Timedelta(days=int(rng.integers(0, 60))), t, role, sev)
        # Happened exactly at the start of the counter's window (inside it), recorded before.
        days = d.WINDOWS[c.window]
        if days is not None:
            r = pick(original)
            for p in concerned(r, c.name):
                agency, etype, role, sev = counted_event(c, rng)
                when = r["received_at"] - pd.Timedelta(days=days)
                event(p, agency, etype, when, when + pd.Timedelta(hours=1), role, sev)
        # Happened exactly at the person's age bound (outside "before it").
        if c.filter.age_limit is not None:
            for p in rng.choice(list(dob), size=min(8, len(dob)), replace=False):
                bound = (
                    dob[p] + pd.DateOffset(years=d.ADULT_YEARS)
                    if c.filter.age_limit == "adult"
                    else dob[p] + pd.Timedelta(days=d.NON_MOBILE_DAYS)
                )
                agency, etype, role, sev = counted_event(c, rng)
                event(p, agency, etype, bound, bound + pd.Timedelta(days=1), role, sev)
    for st in d.EVENT_STATES:
        # A start and an end at the same instant: the state is not current.
        r = pick(original)
        for p in concerned(r, st.name):
            when = r["received_at"] - pd.Timedelta(days=int(rng.integers(2, 400)))
            for etype in (st.start, st.end):
                event(p, st.agency, etype, when, when + pd.Timedelta(days=1))

    def referral(received, child_ids, source=None):
        rid = f"R{len(referrals):04d}"
        concerns = rng.random(len(v.CONCERNS)) < 0.4
        concerns[int(rng.integers(0, len(v.CONCERNS)))] = True
        referrals.append(
            {
                "referral_id": rid,
                "received_at": received,
                "source": source or rng.choice(v.REFERRAL_SOURCES),
                "referrer_relationship": rng.choice(v.REFERRER_RELATIONSHIPS),
                **{c: bool(x) for c, x in zip(v.CONCERN_COLUMNS, concerns, strict=True)},
            }
        )
        ref_children.extend({"referral_id": rid, "person_id": k} for k in child_ids)
        _maybe_decide(rng, decisions, rid, received, 0.7, max_days=30)

    # Prior referrals received exactly on the edge of every referral window (inside
    # it), from every source a counter looks at, about one child; and on the edges
    # about all a referral's children, from a random source.
    windows = sorted({d.WINDOWS[c.window] for c in d.REFERRAL_COUNTERS} - {None})
    counted = sorted({s for c in d.REFERRAL_COUNTERS for s in c.sources or ()})
    first, second = rng.choice(original, size=2, replace=n_ref < 2)
    child = pick(child_ids_of[first["referral_id"]])
    for days in windows:
        for source in counted:
            referral(first["received_at"] - pd.Timedelta(days=days), [child], source)
        referral(
            second["received_at"] - pd.Timedelta(days=days), child_ids_of[second["referral_id"]]
        )
    # Referrals about adults of today received at 10 and at the last moment before
    # their 18th birthday (the contract refuses a referral child aged 18 or over).
    dob = {p["person_id"]: pd.Timestamp(p["date_of_birth"]) for p in people}
    adults = sorted({m["person_id"] for m in members if m["role"] in v.ADULT_ROLES})
    for a in rng.choice(adults, size=min(3, len(adults)), replace=False):
        for years in (10, d.ADULT_YEARS):
            at = dob[a] + pd.DateOffset(years=years)
            referral(at - pd.Timedelta(microseconds=1) if years == d.ADULT_YEARS else at, [a])


NAMED_TABLES = ("referral_named_adults", "named_adult_links")


def add_named_adults(tables: dict[str, pd.DataFrame], random_state: int) -> dict[str, pd.DataFrame]:
    """``tables`` with adults named on their referrals, and what ``mast link`` found of them.

    Each of about half the referrals names one to three adults; each adult is
    found (one store person, sometimes two, sometimes one another adult of the
    referral is also found to be, sometimes a person the store does not hold),
    only possibly matched, not found, or, on a few referrals, never searched
    (no link row: the family must be missing, not 0).  Found persons are drawn
    from everyone, children and household adults included, so their records
    cross every counter's edges.
    """
    rng = np.random.default_rng(random_state + 7_000)
    people = list(tables["people"]["person_id"])
    named, links = [], []
    for rid in sorted(tables["referrals"]["referral_id"]):
        if rng.random() < 0.5:
            continue
        unsearched = rng.random() < 0.1
        taken: list[str] = []
        for n in range(1, int(rng.integers(1, 4)) + 1):
            named.append(
                {
                    "referral_id": rid,
                    "adult_number": n,
                    "name": f"Adult {n}",
                    "date_of_birth": pd.NaT,
                    "date_of_birth_approximate": False,
                    "postcode": None,
                    "address": None,
                    "relationship": "visitor",
                    "lives_at_address": "no",
                }
            )
            if unsearched:
                continue
            status = rng.choice(["found", "found", "possible", "not_found"])
            persons: list[str | None] = [None]
            if status == "found":
                pick = rng.random()
                if pick < 0.1:
                    persons = [None]  # found, but their records carry no events here
                elif pick < 0.2:
                    persons = ["P9999"]  # a person the store does not hold
                elif pick < 0.35 and taken:
                    persons = [taken[0]]  # the same person named twice
                else:
                    persons = list(rng.choice(people, size=int(rng.integers(1, 3)), replace=False))
                taken += [p for p in persons if p]
            for p in persons:
                links.append(
                    {
                        "referral_id": rid,
                        "adult_number": n,
                        "status": str(status),
                        "person_id": p,
                        "rule_version": "test",
                        "run_id": "test",
                        "resolved_at": pd.Timestamp("2026-01-01"),
                    }
                )
    out = dict(tables)
    out["referral_named_adults"] = pd.DataFrame(named)
    out["named_adult_links"] = pd.DataFrame(
        links,
        columns=[
            "referral_id",
            "adult_number",
            "status",
            "person_id",
            "rule_version",
            "run_id",
            "resolved_at",
        ],
    )
    return out


def write_named(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    """Write the named-adult tables of ``tables`` (if any) as ``mast link`` leaves them."""
    from store.identities import IDENTITY_DDL

    for name in NAMED_TABLES:
        if name not in tables:
            continue
        con.execute(f"CREATE TABLE {name} ({IDENTITY_DDL[name]})")
        frame = tables[name]
        cols = ", ".join(frame.columns)
        con.register("_named", frame)
        con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _named")
        con.unregister("_named")


def store_of(tables: dict[str, pd.DataFrame]) -> duckdb.DuckDBPyConnection:
    """An in-memory store holding ``tables`` (and the named adults' tables, if given)."""
    con = duckdb.connect()
    create_schema(con)
    write_tables(con, {k: t for k, t in tables.items() if k not in NAMED_TABLES})
    write_named(con, tables)
    return con
