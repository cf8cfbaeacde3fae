"""Labels and the harm label against brute-force loops over the records."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from store import connect, write_tables
from training import LABELS, compute_labels, get_label
from training.truth import harm_labels


def _brute_event_label(keys, events, types, months):
    out = []
    for k in keys.itertuples():
        end = k.received_at + pd.DateOffset(months=months)
        hit = any(
            e.person_id == k.person_id
            and e.agency == "children_social_care"
            and e.event_type in types
            and k.received_at < e.occurred_at <= end
            for e in events.itertuples()
        )
        out.append(int(hit))
    return np.array(out)


def _brute_rereferral(keys, all_keys, months):
    out = []
    for k in keys.itertuples():
        end = k.received_at + pd.DateOffset(months=months)
        hit = any(
            o.person_id == k.person_id
            and o.referral_id != k.referral_id
            and k.received_at < o.received_at <= end
            for o in all_keys.itertuples()
        )
        out.append(int(hit))
    return np.array(out)


def _keys(tables):
    return tables["referral_children"].merge(
        tables["referrals"][["referral_id", "received_at"]], on="referral_id"
    )


def test_default_label_matches_brute_force(fake_store):
    path, tables, _, _ = fake_store
    keys = _keys(tables).sample(250, random_state=0).reset_index(drop=True)
    d = get_label("cp_or_looked_after_24m")
    con = duckdb.connect(str(path), read_only=True)
    got = compute_labels(con, keys, d)
    want = _brute_event_label(keys, tables["agency_events"], d.event_types, 24)
    assert got.tolist() == want.tolist()
    assert 0 < got.sum() < len(got)


def test_rereferral_label_matches_brute_force(fake_store):
    path, tables, _, _ = fake_store
    all_keys = _keys(tables)
    keys = all_keys.sample(250, random_state=1).reset_index(drop=True)
    con = duckdb.connect(str(path), read_only=True)
    got = compute_labels(con, keys, get_label("re_referred_12m"))
    assert got.tolist() == _brute_rereferral(keys, all_keys, 12).tolist()
    assert 0 < got.sum() < len(got)


def test_window_edges(tmp_path):
    """At received_at: excluded. At exactly +24 months: included. Other types: excluded."""
    at = pd.Timestamp("2020-01-31 10:00")
    con = connect(tmp_path / "edge.duckdb")
    ev = pd.DataFrame(
        [
            ("e1", "A", "children_social_care", "cp_plan_start", at, at),
            (
                "e2",
                "B",
                "children_social_care",
                "looked_after_start",
                at + pd.DateOffset(months=24),
                at,
            ),
            (
                "e3",
                "C",
                "children_social_care",
                "cp_plan_start",
                at + pd.DateOffset(months=24) + pd.Timedelta(seconds=1),
                at,
            ),
            ("e4", "D", "children_social_care", "assessment", at + pd.Timedelta(days=5), at),
            ("e5", "E", "police", "domestic_incident", at + pd.Timedelta(days=5), at),
            ("e6", "F", "children_social_care", "cp_plan_start", at - pd.Timedelta(days=1), at),
        ],
        columns=["event_id", "person_id", "agency", "event_type", "occurred_at", "recorded_at"],
    ).assign(role=None, severity=pd.array([None] * 6, dtype="Int64"))
    write_tables(con, {"agency_events": ev})
    keys = pd.DataFrame(
        {"referral_id": list("rrrrrr"), "person_id": list("ABCDEF"), "received_at": [at] * 6}
    )
    got = compute_labels(con, keys, get_label("cp_or_looked_after_24m"))
    assert got.tolist() == [0, 1, 0, 0, 0, 0]


def test_labels_are_versioned_and_unknown_names_are_refused():
    assert all(d.version and d.tag.endswith(f"@{d.version}") for d in LABELS.values())
    with pytest.raises(ValueError, match="label.name"):
        get_label("harm")


def test_harm_label_matches_brute_force(fake_store):
    path, tables, truth, _ = fake_store
    keys = _keys(tables).sample(400, random_state=2).reset_index(drop=True)
    con = duckdb.connect(str(path), read_only=True)
    got = harm_labels(con, keys, 24, min_severity=2)
    want = []
    for k in keys.itertuples():
        lo, hi = k.received_at.normalize(), (k.received_at + pd.DateOffset(months=24)).normalize()
        want.append(
            int(
                any(
                    t.person_id == k.person_id
                    and t.severity >= 2
                    and pd.Timestamp(t.start_date) <= hi
                    and pd.Timestamp(t.end_date) >= lo
                    for t in truth.itertuples()
                )
            )
        )
    assert got.tolist() == want
    assert 0 < got.sum() < len(got)


def test_no_truth_schema_gives_none(tmp_path):
    con = connect(tmp_path / "real.duckdb")
    keys = pd.DataFrame(
        {"referral_id": ["r"], "person_id": ["A"], "received_at": [pd.Timestamp("2020-01-01")]}
    )
    assert harm_labels(con, keys, 24) is None
