"""The mechanisms the issue asks for, each checked on a small default world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from store import vocabulary as v


@pytest.fixture(scope="module")
def t(small):
    return small.tables


def _children(t) -> pd.DataFrame:
    children = t["household_members"].query("role == 'child'")[["person_id", "household_id"]]
    children = children.drop_duplicates("person_id")
    return children.merge(t["people"], on="person_id")


def test_population_holds_steady_and_ages_span_0_to_17(t, small_config):
    children = _children(t)
    dob = children["date_of_birth"]
    n = small_config.n_children
    start = pd.Timestamp(small_config.window_start)
    for months in (0, 12, 24, 35):
        day = start + pd.DateOffset(months=months)
        alive = (dob <= day) & (dob + pd.DateOffset(years=18) > day)
        assert abs(alive.sum() - n) < 0.08 * n
        ages = ((day - dob[alive]).dt.days // 365.25).astype(int)
        assert set(ages) == set(range(18))


def test_births_enter_and_eighteen_year_olds_leave(t, small_config):
    children = _children(t)
    ws, we = pd.Timestamp(small_config.window_start), pd.Timestamp(small_config.window_end)
    born = children[(children["date_of_birth"] >= ws) & (children["date_of_birth"] < we)]
    assert len(born) > 0.04 * small_config.n_children
    births = t["agency_events"].query("event_type == 'birth'")
    assert born["person_id"].isin(births["person_id"]).mean() > 0.95
    m = t["household_members"].query("role == 'child'").merge(t["people"], on="person_id")
    left = m[m["end_date"].notna() & (m["end_date"] >= ws)]
    at18 = left["end_date"] == left["date_of_birth"] + pd.DateOffset(years=18)
    assert at18.sum() > 0.03 * small_config.n_children


def test_agency_events_sorted_by_person_then_recorded_at(t):
    e = t["agency_events"]
    key = list(zip(e["person_id"], e["recorded_at"], strict=True))
    assert key == sorted(key)
    assert (e["recorded_at"] >= e["occurred_at"]).all()


def test_recording_delays_differ_by_agency(t):
    e = t["agency_events"]
    delay = (e["recorded_at"] - e["occurred_at"]).dt.total_seconds() / 86_400
    median = delay.groupby(e["agency"]).median()
    assert median["police"] < 1.5
    assert median["education"] > 3 * median["police"]
    assert median["housing"] > median["health"]


def test_every_agency_and_statutory_step_appears(t):
    e = t["agency_events"]
    assert set(e["agency"]) == set(v.AGENCIES)
    csc = set(e.loc[e["agency"] == "children_social_care", "event_type"])
    assert csc >= {
        "section47_enquiry",
        "initial_child_protection_conference",
        "cp_plan_start",
        "cp_plan_end",
        "looked_after_start",
        "looked_after_end",
        "assessment",
        "early_help_start",
        "service_declined",
    }
    assert {"victim", "perpetrator", "witness", "subject"} <= set(e["role"].dropna())
    assert set(e["severity"].dropna().astype(int)) == {1, 2, 3}


def test_injuries_to_non_mobile_infants_are_seen_and_referred(small_config):
    from synthetic import simulate

    t = simulate(small_config.model_copy(update={"n_children": 8_000})).tables
    e = t["agency_events"].query("event_type == 'injury'").merge(t["people"], on="person_id")
    baby = e[(e["occurred_at"] - e["date_of_birth"]).dt.days < 183]
    assert len(baby) >= 5
    rc = t["referral_children"].merge(t["referrals"]).query("source == 'health'")
    x = baby.merge(rc, on="person_id")
    gap = (x["received_at"] - x["occurred_at"]).dt.days
    referred = x[(gap >= 0) & (gap <= 31)]["event_id"].nunique() / len(baby)
    older = e[(e["occurred_at"] - e["date_of_birth"]).dt.days > 5 * 365]
    y = older.merge(rc, on="person_id")
    gap = (y["received_at"] - y["occurred_at"]).dt.days
    referred_older = y[(gap >= 0) & (gap <= 31)]["event_id"].nunique() / len(older)
    assert referred > 2 * referred_older


def test_new_partners_arrive_with_histories_and_are_recorded_late(t):
    m = t["household_members"]
    partners = m[m["role"] == "partner"]
    parents = m[m["role"] == "parent"]
    assert len(partners) > 50
    delay = lambda f: (f["recorded_at"] - f["start_date"]).dt.days  # noqa: E731
    assert delay(partners).mean() > delay(parents).mean() + 30
    assert (delay(partners) > 90).mean() > 0.2 > (delay(parents) > 90).mean()
    e = t["agency_events"].merge(partners[["person_id", "start_date"]], on="person_id")
    before = e[(e["occurred_at"] < e["start_date"]) & (e["agency"] != "children_social_care")]
    assert set(before["agency"]) >= {"police", "adult_mental_health", "substance_misuse"}
    assert before["person_id"].nunique() > 0.1 * len(partners)


def test_legacy_records_predate_the_simulation(t, small_config):
    e = t["agency_events"]
    span_start = pd.Timestamp(small_config.span_start)
    assert (e["occurred_at"] < span_start).sum() > 100
    adults = t["household_members"].query("role == 'parent'")["person_id"]
    care = e[(e["event_type"] == "looked_after_start") & e["person_id"].isin(adults)]
    assert len(care) > 0  # care leavers' own childhood in care
    assert (care["occurred_at"] < span_start).all()


def test_referrals_name_siblings_and_repeat(t):
    per_ref = t["referral_children"].groupby("referral_id").size()
    assert (per_ref >= 2).mean() > 0.1
    per_child = t["referral_children"].groupby("person_id").size()
    assert (per_child >= 2).sum() > 20
    assert set(t["referrals"]["source"]) == set(v.REFERRAL_SOURCES)
    assert t["referrals"][list(v.CONCERN_COLUMNS)].any(axis=1).all()


def test_screeners_close_family_referrals_more_often_some_as_malicious(t):
    d = t["screening_decisions"].merge(t["referrals"], on="referral_id")
    nfa = (d["decision"] == "no_further_action").groupby(d["source"]).mean()
    assert nfa["family"] > nfa["police"] + 0.1
    malicious = d[d["closure_reason"] == "malicious"]
    assert len(malicious) > 0
    assert set(malicious["source"]) <= {"family", "friend_or_neighbour", "anonymous"}
    assert set(malicious["decision"]) == {"no_further_action"}
    closed = d["closure_reason"].notna()
    assert set(d.loc[closed, "decision"]) <= {"no_further_action", "early_help"}
    assert d.loc[d["decision"] == "no_further_action", "closure_reason"].notna().all()


def test_statutory_chain_against_a_reference(t):
    """Every conference follows an enquiry; every plan starts at a conference."""
    e = t["agency_events"]
    e = e[e["agency"] == "children_social_care"]
    s47 = e[e["event_type"] == "section47_enquiry"][["person_id", "occurred_at"]]
    icpc = e[e["event_type"] == "initial_child_protection_conference"][["person_id", "occurred_at"]]
    plans = e[e["event_type"] == "cp_plan_start"][["person_id", "occurred_at"]]
    assert len(icpc) > 10 and len(plans) > 10
    pairs = icpc.merge(s47, on="person_id", suffixes=("", "_s47"))
    gap = (pairs["occurred_at"] - pairs["occurred_at_s47"]).dt.days
    ok = pairs[(gap >= 0) & (gap <= 60)].drop_duplicates(["person_id", "occurred_at"])
    assert len(ok) == len(icpc.drop_duplicates())
    same_day = plans.assign(d=plans["occurred_at"].dt.floor("D")).merge(
        icpc.assign(d=icpc["occurred_at"].dt.floor("D")), on=["person_id", "d"]
    )
    assert same_day[["person_id", "d"]].drop_duplicates().shape[0] == len(plans.drop_duplicates())
    # A child never has two plans (or two care episodes) open at once.
    for start, end in (
        ("cp_plan_start", "cp_plan_end"),
        ("looked_after_start", "looked_after_end"),
    ):
        child_ids = set(_children(t)["person_id"])
        x = e[e["event_type"].isin([start, end]) & e["person_id"].isin(child_ids)]
        x = x.sort_values(["person_id", "occurred_at", "event_type"])
        step = np.where(x["event_type"] == start, 1, -1)
        open_ = pd.Series(step, index=x.index).groupby(x["person_id"].to_numpy()).cumsum()
        assert open_.max() <= 1


def test_outcome_label_has_real_but_imperfect_signal(small, small_config):
    """Plan or care within 24 months depends on latent harm and on history."""
    t = small.tables
    rc = t["referral_children"].merge(t["referrals"][["referral_id", "received_at"]])
    rc = rc.sort_values("received_at")
    ws = pd.Timestamp(small_config.span_start)
    cutoff = pd.Timestamp(small_config.window_end) - pd.DateOffset(months=24)
    rc["prior"] = rc.groupby("person_id").cumcount() > 0
    rc = rc[(rc["received_at"] >= ws) & (rc["received_at"] < cutoff)]
    e = t["agency_events"]
    out = e[e["event_type"].isin(["cp_plan_start", "looked_after_start"])][
        ["person_id", "occurred_at"]
    ]
    x = rc.merge(out, on="person_id", how="left")
    hit = (x["occurred_at"] > x["received_at"]) & (
        x["occurred_at"] <= x["received_at"] + pd.DateOffset(months=24)
    )
    label = hit.groupby([x["referral_id"], x["person_id"]]).any()
    h = small.truth
    y = rc.merge(h, on="person_id", how="left")
    harmed = (y["start_date"] <= y["received_at"]) & (y["end_date"] > y["received_at"])
    harm = harmed.groupby([y["referral_id"], y["person_id"]]).any()
    frame = pd.DataFrame({"label": label, "harm": harm}).join(
        rc.set_index(["referral_id", "person_id"])["prior"]
    )
    by_harm = frame.groupby("harm")["label"].mean()
    assert by_harm[True] > 3 * by_harm[False]
    assert by_harm[True] < 0.9 and by_harm[False] > 0.01
    by_prior = frame.groupby("prior")["label"].mean()
    assert by_prior[True] > by_prior[False]


def test_exposure_bias_default_on_and_zero_switches_it_off(small_config):
    """At equal latent risk (never harmed), agencies see deprived and Black or Mixed
    families more at the default setting, and everyone alike at 0."""
    from synthetic import simulate

    def ratios(bias: float) -> tuple[float, float]:
        cfg = small_config.model_copy(
            update={"exposure_bias": bias, "n_children": 6_000, "burn_in_years": 0}
        )
        w = simulate(cfg)
        t = w.tables
        children = _children(t).merge(t["households"], on="household_id")
        children = children[~children["person_id"].isin(w.truth["person_id"])]
        e = t["agency_events"]
        child_signals = e[
            e["event_type"].isin(
                ["ed_attendance", "missed_appointment", "school_absence", "injury", "exclusion"]
            )
        ]
        counts = child_signals.groupby("person_id").size()
        children["n"] = children["person_id"].map(counts).fillna(0)

        def ratio(a: pd.DataFrame, b: pd.DataFrame) -> float:
            # Like with like on age: rates per child within birth-year strata.
            rate = lambda k: k.groupby(k["date_of_birth"].dt.year)["n"].mean()  # noqa: E731
            both = pd.concat([rate(a), rate(b)], axis=1, keys=["a", "b"]).dropna()
            weights = b.groupby(b["date_of_birth"].dt.year).size().reindex(both.index)
            return float((both["a"] * weights).sum() / (both["b"] * weights).sum())

        deprived = ratio(
            children[children["imd_decile"] <= 2], children[children["imd_decile"] >= 9]
        )
        minority = children["ethnicity"].isin(["Black", "Mixed"])
        ethnic = ratio(children[minority], children[children["ethnicity"] == "White"])
        return deprived, ethnic

    deprived, ethnic = ratios(0.0)
    assert 0.9 < deprived < 1.1
    assert 0.85 < ethnic < 1.15
    deprived, ethnic = ratios(0.8)
    assert deprived > 1.6
    assert ethnic > 1.15


def test_start_again_syndrome_history_weight_is_under_used(small_config):
    """Screeners with full history weight assess re-referred families more often."""
    from synthetic import simulate

    def assessed_share_of_repeats(weight: float) -> float:
        cfg = small_config.model_copy(update={"history_weight": weight, "n_children": 4_000})
        t = simulate(cfg).tables
        rc = t["referral_children"].merge(t["referrals"][["referral_id", "received_at"]])
        rc = rc.sort_values("received_at")
        rc["n_before"] = rc.groupby("person_id").cumcount()
        repeats = rc.groupby("referral_id")["n_before"].max()
        repeats = repeats[repeats >= 2].index
        d = t["screening_decisions"].set_index("referral_id").loc[repeats, "decision"]
        return float(d.isin(["assessment", "strategy_discussion"]).mean())

    assert assessed_share_of_repeats(1.0) > assessed_share_of_repeats(0.0) + 0.05


def test_source_lean_closes_family_referrals_more_and_zero_switches_it_off(small_config):
    """The screeners' lean against family referrals (issue #14's tests need it on and off)."""
    from synthetic import simulate

    def nfa_gap(lean: float) -> float:
        cfg = small_config.model_copy(update={"source_lean": lean, "n_children": 4_000})
        t = simulate(cfg).tables
        d = t["screening_decisions"].merge(t["referrals"][["referral_id", "source"]])
        nfa = d["decision"].eq("no_further_action").groupby(d["source"]).mean()
        return float(nfa["family"] - nfa["police"])

    assert nfa_gap(1.0) > nfa_gap(0.0) + 0.05
