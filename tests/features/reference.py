"""A brute-force reference for every feature.

Plain Python loops over records, written from the rules in the brief, not
from the SQL: for each (referral, child) walk every membership, referral,
decision and event and decide by hand whether it counts.  The SQL must agree
with it exactly.

Two layers: a few dozen representative features written out by hand, one by
one, and every counter of :mod:`features.definitions` (each event counter,
state and referral counter, for each subject that exposes it) evaluated by
reading its definition as data, record by record.  Where both give a column
they must agree (checked here), so the generic layer cannot drift from the
hand-written one.  Covering every counter is what lets the mutation test
(``test_mutations.py``) see an off-by-one in any window of any counter.
"""

from __future__ import annotations

import math

import pandas as pd

from features import definitions as d
from store import vocabulary as v

DAY = pd.Timedelta(days=1)


def _nat(x) -> bool:
    return x is None or x is pd.NaT or (isinstance(x, float) and math.isnan(x)) or pd.isna(x)


def whole_days(start, end) -> int:
    return math.floor((pd.Timestamp(end) - pd.Timestamp(start)) / DAY)


def whole_months(born, as_of) -> int:
    """Whole calendar months, counted as a person counts an age: by the calendar."""
    born, as_of = pd.Timestamp(born), pd.Timestamp(as_of)
    months = (as_of.year - born.year) * 12 + as_of.month - born.month
    return months - (1 if as_of.day < born.day else 0)


def active(m: dict, as_of) -> bool:
    if not m["recorded_at"] < as_of:
        return False
    if not pd.Timestamp(m["start_date"]) <= as_of:
        return False
    ended = (
        not _nat(m["end_date"])
        and pd.Timestamp(m["end_date"]) < as_of
        and not _nat(m["end_recorded_at"])
        and m["end_recorded_at"] < as_of
    )
    return not ended


def _adult_at(dob) -> pd.Timestamp:
    return pd.Timestamp(dob) + pd.DateOffset(years=d.ADULT_YEARS)


def event_counts(c: d.EventCounter, e: dict, dob, as_of) -> bool:
    """Does event ``e`` (already known to be recorded before ``as_of``) count for ``c``?"""
    f = c.filter
    if e["event_type"] not in f.event_types:
        return False
    if f.agencies and e["agency"] not in f.agencies:
        return False
    role = None if _nat(e["role"]) else e["role"]
    if f.roles and role not in f.roles:
        return False
    if f.exclude_roles and role in f.exclude_roles:
        return False
    if f.min_severity is not None and (_nat(e["severity"]) or e["severity"] < f.min_severity):
        return False
    if f.age_limit == "adult" and not e["occurred_at"] < _adult_at(dob):
        return False
    if f.age_limit == "non_mobile" and not e["occurred_at"] < pd.Timestamp(dob) + pd.Timedelta(
        days=d.NON_MOBILE_DAYS
    ):
        return False
    days = d.WINDOWS[c.window]
    return days is None or e["occurred_at"] >= as_of - pd.Timedelta(days=days)


def referral_counts(c: d.ReferralCounter, r: dict, dec: dict | None, dob, as_of) -> bool:
    """Does prior referral ``r`` (with its decision if made before ``as_of``) count for ``c``?"""
    if c.sources and r["source"] not in c.sources:
        return False
    days = d.WINDOWS[c.window]
    if days is not None and not r["received_at"] >= as_of - pd.Timedelta(days=days):
        return False
    if c.decision and (dec is None or dec["decision"] != c.decision):
        return False
    if c.closure_reason and (dec is None or dec["closure_reason"] != c.closure_reason):
        return False
    return not (c.age_limit == "adult" and not r["received_at"] < _adult_at(dob))


def household_as_of(members: list[dict], child: str, as_of) -> tuple[frozenset, dict]:
    """The child's homes as of ``as_of``, and each other member's (lowest role, latest start)."""
    homes = frozenset(
        m["household_id"] for m in members if m["person_id"] == child and active(m, as_of)
    )
    found: dict[str, tuple[list, list]] = {}
    for m in members:
        if m["household_id"] in homes and m["person_id"] != child and active(m, as_of):
            roles, starts = found.setdefault(m["person_id"], ([], []))
            roles.append(m["role"])
            starts.append(pd.Timestamp(m["start_date"]))
    return homes, {p: (min(roles), max(starts)) for p, (roles, starts) in found.items()}


def prior_of(
    referral_ids, referrals: dict, decisions: dict, as_of
) -> list[tuple[dict, dict | None]]:
    """The referrals of ``referral_ids`` received before ``as_of``, each with its decision if made by then."""
    out = []
    for rid in referral_ids:
        r = referrals[rid]
        if r["received_at"] < as_of:
            dec = decisions.get(rid)
            out.append((r, dec if dec is not None and dec["decided_at"] < as_of else None))
    return out


def reference_features(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every feature and protected column, one row per (referral, child), sorted like the SQL."""
    people = {r["person_id"]: r for r in tables["people"].to_dict("records")}
    households = {r["household_id"]: r for r in tables["households"].to_dict("records")}
    members = tables["household_members"].to_dict("records")
    referrals = {r["referral_id"]: r for r in tables["referrals"].to_dict("records")}
    ref_children = tables["referral_children"].to_dict("records")
    decisions = {r["referral_id"]: r for r in tables["screening_decisions"].to_dict("records")}
    events = tables["agency_events"].to_dict("records")

    def prior_referrals(person, as_of):
        rids = [rc["referral_id"] for rc in ref_children if rc["person_id"] == person]
        return prior_of(rids, referrals, decisions, as_of)

    def known_events(person, as_of):
        return [e for e in events if e["person_id"] == person and e["recorded_at"] < as_of]

    def count_events(person, as_of, types, window_days=None, **cond):
        n = 0
        for e in known_events(person, as_of):
            if e["event_type"] not in types:
                continue
            if window_days is not None and e["occurred_at"] < as_of - pd.Timedelta(
                days=window_days
            ):
                continue
            if "agency" in cond and e["agency"] != cond["agency"]:
                continue
            if "role" in cond and e["role"] != cond["role"]:
                continue
            if cond.get("not_victim_or_witness") and e["role"] in ("victim", "witness"):
                continue
            dob = pd.Timestamp(people[person]["date_of_birth"])
            if cond.get("under_days") is not None and not e["occurred_at"] < dob + pd.Timedelta(
                days=cond["under_days"]
            ):
                continue
            if cond.get("under_18") and not e["occurred_at"] < dob + pd.DateOffset(years=18):
                continue
            n += 1
        return n

    def current(person, as_of, start, end):
        starts = [e["occurred_at"] for e in known_events(person, as_of) if e["event_type"] == start]
        ends = [e["occurred_at"] for e in known_events(person, as_of) if e["event_type"] == end]
        if not starts:
            return 0
        return int(not ends or max(starts) > max(ends))

    def household(child, as_of):
        return household_as_of(members, child, as_of)

    cache: dict = {}

    def counters(person, as_of) -> dict[str, int]:
        """Every counter of the definitions for one person as of ``as_of``, by brute force."""
        if (person, as_of) in cache:
            return cache[(person, as_of)]
        dob = people[person]["date_of_birth"]
        known = known_events(person, as_of)
        out = {c.name: sum(event_counts(c, e, dob, as_of) for e in known) for c in d.EVENT_COUNTERS}
        for s in d.EVENT_STATES:
            mine = [e for e in known if e["agency"] == s.agency]
            starts = [e["occurred_at"] for e in mine if e["event_type"] == s.start]
            ends = [e["occurred_at"] for e in mine if e["event_type"] == s.end]
            out[s.name] = int(bool(starts) and (not ends or max(starts) > max(ends)))
        prior = prior_referrals(person, as_of)
        for c in d.REFERRAL_COUNTERS:
            out[c.name] = sum(referral_counts(c, r, dec, dob, as_of) for r, dec in prior)
        cache[(person, as_of)] = out
        return out

    n_children = {}
    for rc in ref_children:
        n_children[rc["referral_id"]] = n_children.get(rc["referral_id"], 0) + 1

    rows = []
    for rc in sorted(ref_children, key=lambda r: (r["referral_id"], r["person_id"])):
        ref = referrals[rc["referral_id"]]
        child = rc["person_id"]
        as_of = ref["received_at"]
        dob = pd.Timestamp(people[child]["date_of_birth"])
        row = {"referral_id": rc["referral_id"], "person_id": child}
        row["child_age_months"] = whole_months(dob, as_of)
        prior = prior_referrals(child, as_of)
        for name, days in (("3m", 91), ("12m", 365), ("ever", None)):
            row[f"child_prior_referrals_{name}"] = sum(
                1
                for r, _ in prior
                if days is None or r["received_at"] >= as_of - pd.Timedelta(days=days)
            )
        row["child_prior_referrals_family_12m"] = sum(
            1
            for r, _ in prior
            if r["source"] == "family" and r["received_at"] >= as_of - pd.Timedelta(days=365)
        )
        row["child_prior_referrals_police_ever"] = sum(
            1 for r, _ in prior if r["source"] == "police"
        )
        row["child_days_since_last_referral"] = (
            whole_days(max(r["received_at"] for r, _ in prior), as_of) if prior else math.nan
        )
        row["child_prior_nfa_ever"] = sum(
            1 for _, dec in prior if dec is not None and dec["decision"] == "no_further_action"
        )
        row["child_prior_malicious_ever"] = sum(
            1 for _, dec in prior if dec is not None and dec["closure_reason"] == "malicious"
        )
        same = [r for r, _ in prior if any(r[c] and ref[c] for c in v.CONCERN_COLUMNS)]
        row["child_prior_referrals_same_concern_ever"] = len(same)
        row["child_prior_referrals_same_concern_12m"] = sum(
            1 for r in same if r["received_at"] >= as_of - pd.Timedelta(days=365)
        )
        row["child_injuries_12m"] = count_events(child, as_of, {"injury"}, 365)
        row["child_injuries_non_mobile_ever"] = count_events(
            child, as_of, {"injury"}, under_days=182
        )
        row["child_section47_enquiries_ever"] = count_events(child, as_of, {"section47_enquiry"})
        row["child_services_declined_12m"] = count_events(child, as_of, {"service_declined"}, 365)
        row["child_cp_plan_current"] = current(child, as_of, "cp_plan_start", "cp_plan_end")
        homes, others = household(child, as_of)
        adults = {p: x for p, x in others.items() if x[0] in v.ADULT_ROLES}
        sibs = [p for p, x in others.items() if x[0] == "child"]
        # Each group event counter, read from its declaration: distinct moments.
        for g in d.GROUP_EVENT_COUNTERS:
            m, c = d.MEMBERSHIPS[g.membership], d.COUNTERS[g.counter]
            since = None if m.joined_within is None else as_of - DAY * d.WINDOWS[m.joined_within]
            row[g.name] = len(
                {
                    e["occurred_at"]
                    for p, (role, start) in others.items()
                    if role in m.roles and (since is None or start >= since)
                    for e in known_events(p, as_of)
                    if event_counts(c, e, people[p]["date_of_birth"], as_of)
                }
            )
        row["household_n_adults"] = len(adults)
        row["household_n_siblings"] = len(sibs)
        for name, days in (("3m", 91), ("12m", 365)):
            row[f"household_new_adult_{name}"] = int(
                any(start >= as_of - pd.Timedelta(days=days) for _, start in adults.values())
            )
        perp = [
            count_events(p, as_of, {"domestic_incident"}, agency="police", role="perpetrator")
            for p in adults
        ]
        row["adults_da_perpetrator_ever_max"] = max(perp, default=0)
        row["adults_da_perpetrator_ever_sum"] = sum(perp)
        row["new_adults_da_perpetrator_ever_max"] = max(
            (
                n
                for n, (_, start) in zip(perp, adults.values(), strict=True)
                if start >= as_of - pd.Timedelta(days=365)
            ),
            default=0,
        )
        row["adults_violent_offences_ever_sum"] = sum(
            count_events(p, as_of, {"violent_offence"}, not_victim_or_witness=True) for p in adults
        )
        csc_types = set(v.EVENT_TYPES["children_social_care"])
        row["adults_childhood_csc_events_max"] = max(
            (
                count_events(p, as_of, csc_types, agency="children_social_care", under_18=True)
                for p in adults
            ),
            default=0,
        )
        row["adults_childhood_referrals_sum"] = sum(
            1
            for p in adults
            for r, _ in prior_referrals(p, as_of)
            if r["received_at"] < pd.Timestamp(people[p]["date_of_birth"]) + pd.DateOffset(years=18)
        )
        parent_ages = [
            math.floor(whole_days(people[p]["date_of_birth"], dob) / 365.25)
            for p, (role, _) in adults.items()
            if role == "parent"
        ]
        row["parent_age_at_birth_min"] = min(parent_ages) if parent_ages else math.nan
        row["siblings_prior_referrals_ever_sum"] = sum(len(prior_referrals(s, as_of)) for s in sibs)
        row["siblings_cp_plan_current_sum"] = sum(
            current(s, as_of, "cp_plan_start", "cp_plan_end") for s in sibs
        )
        row["referral_n_children"] = n_children[rc["referral_id"]]
        row["referral_source_family"] = int(ref["source"] == "family")
        row["referral_n_concerns"] = sum(int(ref[c]) for c in v.CONCERN_COLUMNS)
        row["sex"] = people[child]["sex"]
        deciles = [
            households[h]["imd_decile"] for h in homes if not _nat(households[h]["imd_decile"])
        ]
        row["imd_decile"] = min(deciles) if deciles else math.nan
        row["deprivation_quintile"] = v.deprivation_quintile(min(deciles) if deciles else None)
        row["age_band"] = v.age_band(whole_days(dob, as_of) / 365.25)
        row.update(_named_row(tables, rc["referral_id"], as_of, counters, people))
        for key, value in _generic(ref, child, as_of, counters, adults, sibs, people).items():
            if key in row:
                same = (_nat(row[key]) and _nat(value)) or row[key] == value
                assert same, f"reference disagrees with itself on {key}: {row[key]} vs {value}"
            else:
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows)


def _named_row(tables, referral_id, as_of, counters, people) -> dict:
    """The named-adult family for one referral, read adult by adult from the two tables.

    No ``referral_named_adults``: no one named, 0.  An adult with no row in
    ``named_adult_links`` (or no such table: never linked) was not searched:
    every value missing.  Found adults' store persons (those the store holds)
    are counted once each, as household adults are.
    """
    named = tables.get("referral_named_adults")
    mine = (
        []
        if named is None
        else [r for r in named.to_dict("records") if r["referral_id"] == referral_id]
    )
    links = tables.get("named_adult_links")
    link_rows = (
        []
        if links is None
        else [r for r in links.to_dict("records") if r["referral_id"] == referral_id]
    )
    found, missed, persons = set(), set(), set()
    for adult in mine:
        rows = [r for r in link_rows if r["adult_number"] == adult["adult_number"]]
        if links is None or not rows:
            return {n: math.nan for n in d.NAMED_ADULT_NAMES}
        for r in rows:
            if r["status"] == "found":
                found.add(adult["adult_number"])
                if isinstance(r["person_id"], str) and r["person_id"] in people:
                    persons.add(r["person_id"])
            else:
                missed.add(adult["adult_number"])
    out = {d.NAMED_FOUND: len(found), d.NAMED_NOT_FOUND: len(missed)}
    for n in d.NAMED_ADULT_COUNTERS:
        values = [counters(p, as_of)[n] for p in sorted(persons)]
        out[f"named_adults_{n}_max"] = max(values, default=0)
        out[f"named_adults_{n}_sum"] = sum(values)
    return out


def _generic(ref, child, as_of, counters, adults, sibs, people) -> dict:
    """The features every definition and the household give, read from the definitions."""
    out = {}
    mine = counters(child, as_of)
    for n in d.CHILD_COUNTERS:
        out[f"child_{n}"] = mine[n]
    per_adult = {p: counters(p, as_of) for p in adults}
    for n in d.ADULT_COUNTERS:
        values = [x[n] for x in per_adult.values()]
        out[f"adults_{n}_max"] = max(values, default=0)
        out[f"adults_{n}_sum"] = sum(values)
    year_ago = as_of - pd.Timedelta(days=d.WINDOWS["12m"])
    for n in d.NEW_ADULT_COUNTERS:
        out[f"new_adults_{n}_max"] = max(
            (per_adult[p][n] for p, (_, start) in adults.items() if start >= year_ago), default=0
        )
    for n in d.SIBLING_COUNTERS:
        out[f"siblings_{n}_sum"] = sum(counters(s, as_of)[n] for s in sibs)
    for w in d.NEW_ADULT_WINDOWS:
        since = as_of - pd.Timedelta(days=d.WINDOWS[w])
        out[f"household_new_adult_{w}"] = int(any(st >= since for _, st in adults.values()))
    out["household_days_since_adult_joined"] = min(
        (whole_days(st, as_of) for _, st in adults.values()), default=math.nan
    )
    dob = pd.Timestamp(people[child]["date_of_birth"])
    parent_ages = [
        math.floor(whole_days(people[p]["date_of_birth"], dob) / d.DAYS_PER_YEAR)
        for p, (role, _) in adults.items()
        if role == "parent"
    ]
    out["parent_age_at_birth_max"] = max(parent_ages) if parent_ages else math.nan
    for src in v.REFERRAL_SOURCES:
        out[f"referral_source_{src}"] = int(ref["source"] == src)
    for rel in v.REFERRER_RELATIONSHIPS:
        out[f"referrer_{rel}"] = int(ref["referrer_relationship"] == rel)
    for col in v.CONCERN_COLUMNS:
        out[f"referral_{col}"] = int(bool(ref[col]))
    out["ethnicity"] = people[child]["ethnicity"]
    out["disability"] = people[child]["disability"]
    return out


def assert_features_equal(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The SQL's feature table equals the reference's, row for row and column by column."""
    import numpy as np

    assert list(table["referral_id"]) == list(expected["referral_id"])
    assert list(table["person_id"]) == list(expected["person_id"])
    for col in expected.columns.drop(["referral_id", "person_id"]):
        got, want = table[col].to_numpy(), expected[col].to_numpy()
        if got.dtype.kind == "f" or want.dtype.kind == "f":
            np.testing.assert_array_equal(got.astype(float), want.astype(float), err_msg=col)
        else:
            assert list(got) == list(want), col
