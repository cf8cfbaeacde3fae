"""A small fake store and feature table for training tests.

The real simulator and feature builder are tested elsewhere; these tests
need a store whose labels, splits and ground truth they fully control, with a
signal a model can learn, built in well under a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from store import SCHEMAS, connect, write_tables
from store import vocabulary as v

START = pd.Timestamp("2014-01-01")


def make_world(n_children: int = 600, years: float = 10.0, random_state: int = 0):
    """Return (tables, truth, feature_frame) for a fake local authority."""
    rng = np.random.default_rng(random_state)
    days = int(years * 365.25)
    person = np.array([f"C{i:05d}" for i in range(n_children)])
    risk = rng.gamma(1.0, 1.0, n_children)
    # Referrals: Poisson count by risk, at uniform times; some are for siblings together.
    n_ref = rng.poisson(0.3 * years * (0.3 + risk))
    refs, rc = [], []
    rid = 0
    for i in range(n_children):
        for t in np.sort(rng.integers(0, days, n_ref[i])):
            at = START + pd.Timedelta(days=int(t)) + pd.Timedelta(hours=int(rng.integers(8, 18)))
            refs.append((f"R{rid:06d}", at))
            rc.append((f"R{rid:06d}", person[i]))
            if rng.random() < 0.3:  # a sibling on the same referral
                j = (i + 1) % n_children
                rc.append((f"R{rid:06d}", person[j]))
            rid += 1
    referrals = pd.DataFrame(refs, columns=["referral_id", "received_at"])
    referrals["source"] = rng.choice(v.REFERRAL_SOURCES, len(referrals))
    referrals["referrer_relationship"] = "unknown"
    for c in v.CONCERN_COLUMNS:
        referrals[c] = False
    referrals["concern_neglect"] = True
    referral_children = pd.DataFrame(rc, columns=["referral_id", "person_id"]).drop_duplicates()
    # Outcomes: a CP plan start some time after some referrals, more likely with risk.
    events = []
    keys = referral_children.merge(referrals[["referral_id", "received_at"]], on="referral_id")
    r_of = dict(zip(person, risk, strict=True))
    for k in keys.itertuples():
        if rng.random() < 1 - np.exp(-0.25 * r_of[k.person_id]):
            occurred = k.received_at + pd.Timedelta(days=int(rng.integers(1, 900)))
            etype = "cp_plan_start" if rng.random() < 0.6 else "looked_after_start"
            events.append(
                (
                    f"E{len(events):07d}",
                    k.person_id,
                    "children_social_care",
                    etype,
                    occurred,
                    occurred + pd.Timedelta(days=int(rng.integers(0, 20))),
                    None,
                    None,
                )
            )
    # Noise events of other types that must never count.
    for i in range(n_children // 3):
        at = START + pd.Timedelta(days=int(rng.integers(0, days)))
        events.append(
            (
                f"E{len(events):07d}",
                person[i],
                "children_social_care",
                "assessment",
                at,
                at,
                None,
                None,
            )
        )
    agency_events = pd.DataFrame(
        events,
        columns=list(SCHEMAS["agency_events"].columns),
    )
    agency_events["severity"] = agency_events["severity"].astype("Int64")
    # The snapshot ends at ``years``: nothing recorded after it is in the store.
    agency_events = agency_events[agency_events["recorded_at"] < START + pd.Timedelta(days=days)]
    decisions = referrals[["referral_id", "received_at"]].copy()
    decisions["decided_at"] = decisions["received_at"] + pd.Timedelta(days=1)
    first_child = referral_children.drop_duplicates("referral_id").set_index("referral_id")[
        "person_id"
    ]
    p_strat = 1 - np.exp(-0.15 * decisions["referral_id"].map(first_child).map(r_of).to_numpy())
    decisions["decision"] = np.where(
        rng.random(len(decisions)) < p_strat, "strategy_discussion", "no_further_action"
    )
    decisions["closure_reason"] = None
    decisions = decisions.drop(columns="received_at")
    decisions = decisions[rng.random(len(decisions)) < 0.95]  # some have no decision
    people = pd.DataFrame(
        {
            "person_id": person,
            "date_of_birth": START
            - pd.to_timedelta(rng.integers(0, 365 * 12, n_children), unit="D"),
            "sex": rng.choice(v.SEXES, n_children),
            "ethnicity": rng.choice(v.ETHNICITIES, n_children),
            "disability": rng.choice(v.DISABILITIES, n_children),
        }
    )
    truth = []
    for i in range(n_children):
        for _ in range(rng.poisson(0.2 * years * risk[i] / 3)):
            s = START + pd.Timedelta(days=int(rng.integers(0, days)))
            truth.append(
                (
                    person[i],
                    s.date(),
                    (s + pd.Timedelta(days=int(rng.integers(10, 400)))).date(),
                    "neglect",
                    int(rng.integers(1, 4)),
                )
            )
    truth = pd.DataFrame(
        truth, columns=["person_id", "start_date", "end_date", "harm_type", "severity"]
    )
    tables = {
        "people": people,
        "referrals": referrals,
        "referral_children": referral_children,
        "agency_events": agency_events,
        "screening_decisions": decisions,
    }
    features = _features(keys, r_of, people, rng)
    return tables, truth, features


def _features(keys: pd.DataFrame, r_of: dict, people: pd.DataFrame, rng) -> pd.DataFrame:
    """Keys + protected + a few features with signal (noisy risk, prior referral count)."""
    keys = keys.sort_values(["referral_id", "person_id"]).reset_index(drop=True)
    prior = []
    by_child = keys.groupby("person_id")["received_at"].apply(lambda s: np.sort(s.to_numpy()))
    for k in keys.itertuples():
        times = by_child[k.person_id]
        lo = np.searchsorted(times, np.datetime64(k.received_at - pd.DateOffset(months=12)))
        hi = np.searchsorted(times, np.datetime64(k.received_at))
        prior.append(hi - lo)
    risk = keys["person_id"].map(r_of).to_numpy()
    X = pd.DataFrame(
        {
            "risk_signal": risk + rng.normal(0, 0.7, len(keys)),
            "child_prior_referrals_12m": np.asarray(prior, dtype=float),
            "noise_a": rng.normal(size=len(keys)),
            "noise_b": np.where(rng.random(len(keys)) < 0.1, np.nan, rng.normal(size=len(keys))),
        }
    )
    p = people.set_index("person_id")
    protected = pd.DataFrame(
        {
            "sex": keys["person_id"].map(p["sex"]).to_numpy(),
            "ethnicity": keys["person_id"].map(p["ethnicity"]).to_numpy(),
            "disability": keys["person_id"].map(p["disability"]).to_numpy(),
            "imd_decile": pd.array(rng.integers(1, 11, len(keys)), dtype="Int64"),
        }
    )
    protected["deprivation_quintile"] = [v.deprivation_quintile(d) for d in protected["imd_decile"]]
    protected["age_band"] = rng.choice(v.AGE_BANDS, len(keys))
    return pd.concat([keys[["referral_id", "person_id", "received_at"]], protected, X], axis=1)


class FakeFeatureTable:
    """The shape of ``features.FeatureTable``: keys, X, protected, feature_names."""

    def __init__(self, frame: pd.DataFrame):
        self.keys = frame[["referral_id", "person_id", "received_at"]]
        self.protected = frame[
            ["sex", "ethnicity", "disability", "imd_decile", "deprivation_quintile", "age_band"]
        ]
        self.X = frame.drop(columns=list(self.keys.columns) + list(self.protected.columns)).astype(
            float
        )

    @property
    def feature_names(self) -> list[str]:
        return list(self.X.columns)


def make_store(path, n_children: int = 600, years: float = 10.0, random_state: int = 0):
    """Write the fake world to a DuckDB store; return (path, tables, truth, FakeFeatureTable)."""
    tables, truth, frame = make_world(n_children, years, random_state)
    con = connect(path)
    try:
        write_tables(con, tables, truth=truth, replace=True)
    finally:
        con.close()
    return path, tables, truth, FakeFeatureTable(frame)
