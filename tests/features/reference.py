"""A brute-force reference for a representative subset of features.

Plain Python loops over records, written from the rules in the brief, not
from the SQL: for each (referral, child) walk every membership, referral,
decision and event and decide by hand whether it counts.  The SQL must agree
with it exactly.
"""

from __future__ import annotations

import math

import pandas as pd

from store import vocabulary as v

DAY = pd.Timedelta(days=1)


def _nat(x) -> bool:
    return x is None or x is pd.NaT or (isinstance(x, float) and math.isnan(x)) or pd.isna(x)


def _whole_days(start, end) -> int:
    return math.floor((pd.Timestamp(end) - pd.Timestamp(start)) / DAY)


def _active(m: dict, as_of) -> bool:
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


def reference_features(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The subset of features below, one row per (referral, child), sorted like the SQL."""
    people = {r["person_id"]: r for r in tables["people"].to_dict("records")}
    households = {r["household_id"]: r for r in tables["households"].to_dict("records")}
    members = tables["household_members"].to_dict("records")
    referrals = {r["referral_id"]: r for r in tables["referrals"].to_dict("records")}
    ref_children = tables["referral_children"].to_dict("records")
    decisions = {r["referral_id"]: r for r in tables["screening_decisions"].to_dict("records")}
    events = tables["agency_events"].to_dict("records")

    def prior_referrals(person, as_of):
        out = []
        for rc in ref_children:
            if rc["person_id"] != person:
                continue
            r = referrals[rc["referral_id"]]
            if r["received_at"] < as_of:
                dec = decisions.get(r["referral_id"])
                if dec is not None and not dec["decided_at"] < as_of:
                    dec = None
                out.append((r, dec))
        return out

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
        homes = {
            m["household_id"] for m in members if m["person_id"] == child and _active(m, as_of)
        }
        found: dict[str, dict] = {}
        for m in members:
            if m["household_id"] in homes and m["person_id"] != child and _active(m, as_of):
                p = found.setdefault(m["person_id"], {"roles": [], "starts": []})
                p["roles"].append(m["role"])
                p["starts"].append(pd.Timestamp(m["start_date"]))
        return homes, {p: (min(x["roles"]), max(x["starts"])) for p, x in found.items()}

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
        row["child_age_months"] = math.floor(_whole_days(dob, as_of) / 30.4375)
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
            _whole_days(max(r["received_at"] for r, _ in prior), as_of) if prior else math.nan
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
            math.floor(_whole_days(people[p]["date_of_birth"], dob) / 365.25)
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
        row["deprivation_quintile"] = v.deprivation_quintile(min(deciles) if deciles else None)
        row["age_band"] = v.age_band(_whole_days(dob, as_of) / 365.25)
        rows.append(row)
    return pd.DataFrame(rows)
