"""The merged chronology against a plain-Python reference on a hand-made store."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from serving.chronology import LATE_AFTER_DAYS, chronology
from store import vocabulary as v
from tests.serving.fixtures import tables, write_store


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    path = tmp_path_factory.mktemp("chron") / "store.duckdb"
    write_store(path)
    c = duckdb.connect(str(path), read_only=True)
    yield c
    c.close()


def lived_with(m: pd.DataFrame, person_id: str, as_of: datetime) -> tuple[set, dict]:
    """Row by row: the child's households and who lived with the child in the 24 months before as_of, as known then."""
    ts = pd.Timestamp
    since = ts(as_of) - pd.DateOffset(months=24)

    def missing(x):
        return x is None or pd.isna(x)

    def known(r):
        return ts(r.recorded_at) < as_of and ts(r.start_date) <= as_of

    def end(r):
        recorded = not missing(r.end_recorded_at) and ts(r.end_recorded_at) < as_of
        return ts(r.end_date) if not missing(r.end_date) and recorded else ts(as_of)

    stays = [r for r in m.itertuples() if r.person_id == person_id and known(r)]
    homes = {r.household_id for r in stays if max(ts(r.start_date), since) <= end(r)}
    who = {person_id: "child"}
    for r in m.itertuples():
        if r.person_id == person_id or r.role not in v.ADULT_ROLES or not known(r):
            continue
        for c in stays:
            start = max(ts(r.start_date), ts(c.start_date), since)
            if c.household_id == r.household_id and start <= min(end(r), end(c)):
                who[r.person_id] = min(who.get(r.person_id, r.role), r.role)
    return homes, who


def reference(person_id: str, as_of: datetime, late_days: int = LATE_AFTER_DAYS):
    """Row by row: who lived with the child in the 24 months before as_of, as known then, and their records."""
    t = tables()
    ts = pd.Timestamp
    homes, who = lived_with(t["household_members"], person_id, as_of)
    out = []
    for e in t["agency_events"].itertuples():
        if e.person_id in who and ts(e.recorded_at) < as_of:
            # The documented rule: late when recorded more than N whole days after.
            days = (ts(e.recorded_at) - ts(e.occurred_at)) // pd.Timedelta(days=1)
            out.append(
                (
                    ts(e.occurred_at),
                    e.person_id,
                    e.event_type,
                    who[e.person_id],
                    days > late_days,
                )
            )
    mine = set(t["referral_children"].query("person_id == @person_id")["referral_id"])
    for r in t["referrals"].itertuples():
        if r.referral_id in mine and ts(r.received_at) < as_of:
            out.append((ts(r.received_at), person_id, "referral", "child", False))
    for d in t["screening_decisions"].itertuples():
        if d.referral_id in mine and ts(d.decided_at) < as_of:
            out.append((ts(d.decided_at), person_id, "screening_decision", "child", False))
    return sorted(homes), who, sorted(out)


AS_OFS = [
    datetime(2019, 6, 1),
    datetime(2025, 12, 1),
    datetime(2026, 3, 1),
    datetime(2026, 3, 17),
    datetime(2026, 9, 3),
    datetime(2026, 9, 6),
    datetime(2026, 11, 1),
]


@pytest.mark.parametrize("as_of", AS_OFS)
@pytest.mark.parametrize("person_id", ["C1", "C2", "NB"])
def test_chronology_matches_reference(con, person_id, as_of):
    got = chronology(con, person_id, as_of)
    homes, who, expected = reference(person_id, as_of)
    assert got["household_ids"] == homes
    assert {p["person_id"]: p["relationship"] for p in got["people"]} == who
    rows = sorted(
        (
            pd.Timestamp(e["occurred_at"]),
            e["person_id"],
            e["event_type"],
            e["relationship"],
            e["late"],
        )
        for e in got["entries"]
    )
    assert rows == expected


def test_entries_are_ordered_by_date(con):
    entries = chronology(con, "C1", datetime(2026, 11, 1))["entries"]
    dates = [e["occurred_at"] for e in entries]
    assert len(dates) >= 5
    assert dates == sorted(dates)


def test_late_is_strictly_more_than_threshold(con):
    entries = {
        e["event_type"] + e["person_id"]: e
        for e in chronology(con, "C1", datetime(2026, 11, 1))["entries"]
    }
    assert entries["domestic_incidentA1"]["late"] is True
    assert entries["domestic_incidentA1"]["days_to_record"] == 74
    # Recorded exactly 30 days after: on time.
    assert entries["mh_contactA1"]["days_to_record"] == 30
    assert entries["mh_contactA1"]["late"] is False
    # A tighter threshold marks it late.
    tight = {
        e["event_type"] + e["person_id"]: e
        for e in chronology(con, "C1", datetime(2026, 11, 1), late_after_days=29)["entries"]
    }
    assert tight["mh_contactA1"]["late"] is True


def test_new_partner_appears_only_once_recorded(con):
    before = chronology(con, "C1", datetime(2026, 9, 3))
    after = chronology(con, "C1", datetime(2026, 9, 6))
    assert "A2" not in {p["person_id"] for p in before["people"]}
    assert {"A2": "partner"}.items() <= {
        p["person_id"]: p["relationship"] for p in after["people"]
    }.items()
    assert any(
        e["person_id"] == "A2" and e["event_type"] == "domestic_incident" for e in after["entries"]
    )


def test_other_households_and_former_adults_are_left_out(con):
    got = chronology(con, "C1", datetime(2026, 11, 1))
    ids = {e["person_id"] for e in got["entries"]}
    assert "X" not in ids and "A3" not in ids
    # In 2019 the former partner still lived there, and his arrest shows.
    old = chronology(con, "C1", datetime(2019, 6, 1))
    assert any(e["person_id"] == "A3" and e["event_type"] == "arrest" for e in old["entries"])


def test_detail_is_text_or_none(con):
    entries = chronology(con, "C1", datetime(2026, 11, 1))["entries"]
    details = {e["event_type"] + e["person_id"]: e["detail"] for e in entries}
    assert details["ed_attendanceC1"] is None
    assert details["violent_offenceA2"] == "as perpetrator, severity 2"


def test_household_is_the_features_household_on_the_day_a_membership_ends(tmp_path):
    """The chronology and the features agree on who lived with the child.

    A3's end is recorded in advance (a planned move), so on his end date
    itself (midnight) only the definition decides: the features count him,
    and the chronology must show him too.  It used ``end_date <= as_of`` and
    dropped him.
    """
    import features

    t = tables()
    members = t["household_members"]
    members.loc[members["person_id"] == "A3", "end_recorded_at"] = "2020-06-01"
    c = _store_of(tmp_path, t)
    for as_of in (datetime(2020, 6, 30), datetime(2020, 6, 30, 0, 0, 1), datetime(2020, 7, 1)):
        refs = pd.DataFrame(
            {
                "referral_id": ["Q"],
                "received_at": [as_of],
                "source": ["police"],
                "referrer_relationship": ["police_officer"],
                **{col: [col == "concern_neglect"] for col in v.CONCERN_COLUMNS},
            }
        )
        referral_children = pd.DataFrame({"referral_id": ["Q"], "person_id": ["C1"]})
        n_adults = (
            features.build_features(c, refs, referral_children).X["household_n_adults"].iloc[0]
        )
        people = chronology(c, "C1", as_of)["people"]
        adults = [
            p["person_id"]
            for p in people
            if p["relationship"] in v.ADULT_ROLES and p["lives_with_child"]
        ]
        assert len(adults) == n_adults, as_of
        assert ("A3" in adults) == (as_of == datetime(2020, 6, 30)), as_of
    c.close()


def _store_of(tmp_path, t: dict[str, pd.DataFrame]):
    """A read-only connection to a store of the fixture's tables as changed by a test."""
    path = tmp_path / "store.duckdb"
    write_store(path, t)
    return duckdb.connect(str(path), read_only=True)


def _store_with(tmp_path, extra_events: list[tuple]):
    """The fixture store plus some events (same columns as the fixture's)."""
    t = tables()
    events = t["agency_events"]
    t["agency_events"] = pd.concat(
        [events, pd.DataFrame(extra_events, columns=events.columns)], ignore_index=True
    )
    return _store_of(tmp_path, t)


def test_late_counts_whole_days_as_documented(tmp_path):
    """30 days and 5 hours is 30 days: on time; 31 days is late (docs/serving.md)."""
    c = _store_with(
        tmp_path,
        [
            (
                "L1",
                "C1",
                "health",
                "missed_appointment",
                "2026-02-01 09:00",
                "2026-03-03 14:00",
                None,
                None,
            ),
            (
                "L2",
                "C1",
                "health",
                "ed_attendance",
                "2026-02-01 09:00",
                "2026-03-04 09:00",
                None,
                None,
            ),
        ],
    )
    entries = {
        e["event_type"]: e
        for e in chronology(c, "C1", datetime(2026, 11, 1))["entries"]
        if e["occurred_at"] == datetime(2026, 2, 1, 9)
    }
    c.close()
    assert entries["missed_appointment"]["days_to_record"] == 30
    assert entries["missed_appointment"]["late"] is False
    assert entries["ed_attendance"]["days_to_record"] == 31
    assert entries["ed_attendance"]["late"] is True


def test_as_of_a_referral_keeps_what_came_after_apart(con):
    """Cut at a referral: former adults of the last 24 months with their dates, siblings, and hindsight apart."""
    cut, now = datetime(2020, 7, 10), datetime(2026, 11, 1)
    got = chronology(con, "C1", cut, siblings=("C1", "C2"), until=now)
    people = {p["person_id"]: p for p in got["people"]}
    # A3 moved out ten days before the referral (recorded on 3 July): shown, with the day he left.
    assert people["A3"]["relationship"] == "partner"
    assert people["A3"]["left"] == datetime(2020, 6, 30)
    assert people["A3"]["lives_with_child"] is False
    assert people["A1"]["lives_with_child"] is True and people["A1"]["left"] is None
    assert people["A1"]["joined"] == datetime(2014, 1, 1)
    assert people["C2"]["relationship"] == "sibling"
    assert "A2" not in people  # joined in 2026: not part of the picture in 2020
    assert all(e["recorded_at"] < cut for e in got["entries"])
    assert got["recorded_since"], "the fixture has records entered after 2020"
    assert all(cut <= e["recorded_at"] < now for e in got["recorded_since"])
    # Together they are every record of the same people up to now: nothing lost, nothing twice.
    both = sorted(
        (e["occurred_at"], e["person_id"], e["event_type"])
        for e in got["entries"] + got["recorded_since"]
    )
    whole = chronology(con, "C1", now, siblings=("C2",))
    same_people = {p["person_id"] for p in got["people"]}
    expected = sorted(
        (e["occurred_at"], e["person_id"], e["event_type"])
        for e in whole["entries"]
        if e["person_id"] in same_people
    )
    assert set(both) <= set(expected) | {x for x in both if x[1] == "A3"}
    assert {x for x in expected if x[1] in same_people - {"A3"}} <= set(both)
    assert any(e["person_id"] == "C2" for e in got["entries"] + got["recorded_since"])


def test_the_child_is_not_listed_among_the_adults(con):
    got = chronology(con, "C1", datetime(2026, 11, 1))
    adults = [p["person_id"] for p in got["people"] if p["relationship"] in v.ADULT_ROLES]
    assert "C1" not in adults and adults
    assert [p["person_id"] for p in got["people"] if p["relationship"] == "child"] == ["C1"]


def test_simulated_referrals_show_everyone_who_lived_with_the_child_before(tmp_path):
    """On a simulated world: each referral's chronology holds every adult of the 24 months before it.

    The demo's case is among them: parents who lived with the child until
    after the referral are shown, and nothing recorded after received_at is
    among the entries.
    """
    import synthetic
    from store import connect, write_tables

    world = synthetic.small_world(random_state=5, n_children=1_200, years=3)
    t = world.tables
    path = tmp_path / "world.duckdb"
    con = connect(path)
    write_tables(con, t)
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    m = t["household_members"]
    rc = t["referral_children"].merge(t["referrals"][["referral_id", "received_at"]])
    # Children whose adults moved out within a month after the referral (the demo's case) first.
    leaving = m[m["role"].isin(v.ADULT_ROLES) & m["end_date"].notna()]
    pairs = []
    for r in rc.itertuples():
        homes = set(m.loc[m["person_id"] == r.person_id, "household_id"])
        after = leaving[
            leaving["household_id"].isin(homes)
            & (leaving["end_date"] > r.received_at)
            & (leaving["end_date"] <= r.received_at + pd.Timedelta(days=31))
        ]
        if len(after):
            pairs.append(r)
        if len(pairs) == 15:
            break
    pairs += list(rc.sample(15, random_state=1).itertuples())
    assert len(pairs) > 15, "the world has referrals whose adults left just after them"
    until = max(t["agency_events"]["recorded_at"]) + pd.Timedelta(days=1)
    for r in pairs:
        cut = pd.Timestamp(r.received_at).to_pydatetime()
        got = chronology(con, r.person_id, cut, until=until.to_pydatetime())
        _, who = lived_with(m, r.person_id, cut)
        assert {p["person_id"]: p["relationship"] for p in got["people"]} == who, r
        assert all(e["recorded_at"] < cut for e in got["entries"])
        assert all(e["recorded_at"] >= cut for e in got["recorded_since"])
    con.close()
