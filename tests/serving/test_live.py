"""Live history: what MAST receives and decides is the next referral's history at once.

The property test drives the real app over HTTP (referrals scored, decisions
recorded, referrals posted again) and then compares the features of a next
referral with those of a full rebuild: a copy of the store into which the
test itself writes, as an extract would hold them, every referral it posted
and every decision the service acknowledged.  The rebuild's features come
from the training SQL (:func:`features.build_features` on DuckDB), so the
overlay, the snapshot and the SQL are held equal in one comparison.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.scoring import store_now
from store import vocabulary as v

LONDON = ZoneInfo("Europe/London")
CHILDREN = ["C1", "C2", "NB"]


@pytest.fixture(scope="module")
def model(engine):
    return engine.model


def make_engine(store_path, model):
    """An engine of its own: the session's follows the session's records store."""
    from serving import ScoringEngine

    return ScoringEngine(store_path, model)


class Service:
    """The real app over a fresh records store, with a screener's and a manager's token."""

    def __init__(self, store_path, model, records_url: str):
        from fastapi.testclient import TestClient

        import records
        from serving import create_app

        self.records = records.RecordsStore(records_url)
        self.engine = make_engine(store_path, model)
        self.app = create_app(engine=self.engine, records_store=self.records)
        token = self.records.create_token("live screener", "screener")[0]
        self.client = TestClient(self.app, headers={"Authorization": f"Bearer {token}"})

    def close(self):
        self.client.close()
        self.engine.close()
        self.records.close()


def referral_body(rid: str, received_at: datetime, children, source, referrer, concerns) -> dict:
    return {
        "referral_id": rid,
        "received_at": received_at.isoformat(),
        "source": source,
        "referrer_relationship": referrer,
        "concerns": list(concerns),
        "children": list(children),
    }


def store_time(at: str) -> datetime:
    """The trail's UTC time as the store holds times (naive, England)."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return moment.astimezone(LONDON).replace(tzinfo=None)


def rebuild(store_path: Path, out: Path, bodies: dict[str, dict], decisions: dict) -> Path:
    """A copy of the store with the posted referrals and acknowledged decisions added."""
    shutil.copy(store_path, out)
    con = duckdb.connect(str(out))
    existing = {r[0] for r in con.execute("SELECT referral_id FROM referrals").fetchall()}
    for rid, b in bodies.items():
        if rid in existing:  # the extract's own referral: it holds it already
            continue
        concerns = set(b["concerns"])
        row = [rid, pd.Timestamp(b["received_at"]), b["source"], b["referrer_relationship"]]
        row += [c in concerns for c in v.CONCERNS]
        con.execute(
            f"INSERT INTO referrals (referral_id, received_at, source, referrer_relationship, "
            f"{', '.join(v.CONCERN_COLUMNS)}) VALUES ({', '.join('?' * len(row))})",
            row,
        )
        for pid in sorted(set(b["children"])):
            con.execute("INSERT INTO referral_children VALUES (?, ?)", [rid, pid])
    decided = {r[0] for r in con.execute("SELECT referral_id FROM screening_decisions").fetchall()}
    for rid, (at, decision, closure) in decisions.items():
        if rid in decided:
            continue
        con.execute(
            "INSERT INTO screening_decisions (referral_id, decided_at, decision, closure_reason) "
            "VALUES (?, ?, ?, ?)",
            [rid, store_time(at), decision, closure],
        )
    con.close()
    return out


def sql_features(db: Path, body: dict):
    import features

    refs, children = frames(body)
    con = duckdb.connect(str(db), read_only=True)
    try:
        return features.build_features(con, referrals=refs, referral_children=children)
    finally:
        con.close()


def frames(body: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    concerns = set(body["concerns"])
    refs = pd.DataFrame(
        [
            {
                "referral_id": body["referral_id"],
                "received_at": pd.Timestamp(body["received_at"]),
                "source": body["source"],
                "referrer_relationship": body["referrer_relationship"],
                **{f"concern_{c}": c in concerns for c in v.CONCERNS},
            }
        ]
    )
    children = pd.DataFrame(
        [{"referral_id": body["referral_id"], "person_id": p} for p in body["children"]]
    )
    return refs, children


def served_features(engine, body: dict):
    from serving import ReferralIn

    return engine.features_for(ReferralIn(**body))


def assert_same_features(got, expected) -> None:
    g = got.X.reset_index(drop=True)
    e = expected.X.reset_index(drop=True)[g.columns]
    pd.testing.assert_frame_equal(g, e, check_dtype=False)
    assert got.keys["person_id"].tolist() == expected.keys["person_id"].tolist()


# -- the property ------------------------------------------------------------------
referral_parts = st.tuples(
    st.lists(st.sampled_from(CHILDREN), min_size=1, max_size=3, unique=True),
    st.sampled_from(v.REFERRAL_SOURCES),
    st.sampled_from(v.REFERRER_RELATIONSHIPS),
    st.lists(st.sampled_from(v.CONCERNS), min_size=1, max_size=3, unique=True),
    # Minutes before the test's "now": received in the last two days, or just now.
    st.one_of(st.integers(1, 48 * 60), st.integers(-3, 3)),
)
step = st.one_of(
    st.tuples(st.just("score"), referral_parts),
    st.tuples(st.just("again"), st.integers(0, 50)),
    st.tuples(
        st.just("decide"),
        st.integers(0, 50),
        st.sampled_from(v.DECISIONS),
        st.sampled_from([None, *v.CLOSURE_REASONS]),
    ),
    st.tuples(st.just("stored"), st.sampled_from(["R1"])),
)


@settings(
    max_examples=max(6, int(40 * float(os.environ.get("MAST_TEST_SCALE", "1")))),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=7), final=referral_parts)
def test_next_referral_sees_every_referral_and_decision(store_path, model, steps, final):
    now = store_now().replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(store_path, model, f"sqlite:///{Path(tmp) / 'records.sqlite'}")
        try:
            bodies: dict[str, dict] = {}
            decisions: dict[str, tuple] = {}
            for n, s in enumerate(steps):
                if s[0] == "score":
                    children, source, referrer, concerns, minutes = s[1]
                    body = referral_body(
                        f"LV{n}",
                        now - timedelta(minutes=minutes),
                        children,
                        source,
                        referrer,
                        concerns,
                    )
                    r = service.client.post("/v1/referrals/score", json=body)
                    assert r.status_code in (200, 422), r.text  # 422: a child not yet born
                    if r.status_code == 200:
                        bodies[body["referral_id"]] = body
                elif s[0] == "again" and bodies:
                    body = list(bodies.values())[s[1] % len(bodies)]
                    assert service.client.post("/v1/referrals/score", json=body).status_code == 200
                elif s[0] == "stored":
                    # A referral of the extract, scored in MAST: the extract's row is the one.
                    r = service.client.post("/v1/referrals/score", json=stored_body(s[1]))
                    assert r.status_code == 200, r.text
                    bodies[s[1]] = stored_body(s[1])
                elif s[0] == "decide" and bodies:
                    rid = list(bodies)[s[1] % len(bodies)]
                    _, _, decision, closure = s
                    closure = closure if decision == "no_further_action" else None
                    payload = {
                        "decision_id": f"decision-{rid}-{n}",
                        "decision": decision,
                        "rationale": "Seen by the test.",
                        "closure_reason": closure,
                    }
                    if closure == "malicious":
                        payload["referrer_spoken_to"] = "Spoke to the referrer."
                    if rid in decisions:
                        payload["supersedes"] = decisions[rid][3]
                    r = service.client.post(f"/v1/referrals/{rid}/decisions", json=payload)
                    # Refused only by the decision rules (a flagged referral closed), never as malformed.
                    assert r.status_code == 201 or (
                        r.status_code in (409, 422) and "rule" in r.json().get("detail", {})
                    ), r.text
                    if r.status_code == 201:
                        decisions[rid] = (r.json()["at"], decision, closure, payload["decision_id"])
            children, source, referrer, concerns, _ = final
            # The next referral arrives a little after the last decision.
            nxt = referral_body(
                "NEXT", store_now() + timedelta(seconds=2), children, source, referrer, concerns
            )
            got = served_features(service.engine, nxt)
            db = rebuild(
                store_path,
                Path(tmp) / "rebuilt.duckdb",
                bodies,
                {rid: d[:3] for rid, d in decisions.items()},
            )
            assert_same_features(got, sql_features(db, nxt))
        finally:
            service.close()


def stored_body(rid: str) -> dict:
    """The extract's own referral ``rid`` as a client would post it."""
    from tests.serving.fixtures import tables

    t = tables()
    r = t["referrals"].set_index("referral_id").loc[rid]
    children = t["referral_children"].query("referral_id == @rid")["person_id"].tolist()
    return referral_body(
        rid,
        pd.Timestamp(r["received_at"]).to_pydatetime(),
        children,
        r["source"],
        r["referrer_relationship"],
        [c for c in v.CONCERNS if r[f"concern_{c}"]],
    )


# -- a repeat referral ---------------------------------------------------------------
def test_repeat_referral_one_minute_later_sees_the_first_and_its_decision(
    store_path, model, tmp_path
):
    service = Service(store_path, model, f"sqlite:///{tmp_path / 'records.sqlite'}")
    try:
        first_at = store_now().replace(microsecond=0) - timedelta(seconds=50)
        first = referral_body("REP1", first_at, ["C1"], "school", "teacher", ["neglect"])
        second = referral_body(
            "REP2", first_at + timedelta(minutes=1), ["C1"], "police", "police_officer", ["neglect"]
        )
        before = served_features(service.engine, second).X.iloc[0]
        assert service.client.post("/v1/referrals/score", json=first).status_code == 200
        r = service.client.post(
            "/v1/referrals/REP1/decisions",
            json={
                "decision_id": "D-REP1-1",
                "decision": "early_help",
                "rationale": "Family agreed to early help.",
            },
        )
        assert r.status_code == 201, r.text
        scored = service.client.post("/v1/referrals/score", json=second)
        assert scored.status_code == 200
        after = served_features(service.engine, second).X.iloc[0]
        # Every window of "prior referrals" holds the first referral now.
        for w in ("3m", "6m", "12m", "24m", "ever"):
            name = f"child_prior_referrals_{w}"
            if name in after.index:
                assert after[name] == before[name] + 1, name
        assert after["child_prior_referrals_same_concern_ever"] == (
            before["child_prior_referrals_same_concern_ever"] + 1
        )
        # The decision on the first is among the second's prior decisions.
        assert after["child_prior_early_help_ever"] == before["child_prior_early_help_ever"] + 1
        assert after["child_days_since_last_referral"] == 0
        # And the second's chronology (as of when it was received) shows both, at
        # once: the first among what was known, its decision on whichever side
        # of the second's receipt it was recorded.
        r = service.client.get("/v1/children/C1/chronology", params={"referral_id": "REP2"})
        assert r.status_code == 200, r.text
        chron = r.json()
        as_of = chron["as_of"][:19]
        kinds = [(e["event_type"], e["detail"]) for e in chron["entries"]]
        assert (v.CHRONOLOGY_REFERRAL, "from school (teacher)") in kinds
        decided = [
            (side, e["recorded_at"][:19])
            for side in ("entries", "recorded_since")
            for e in chron[side]
            if (e["event_type"], e["detail"]) == (v.CHRONOLOGY_DECISION, "early_help")
        ]
        assert len(decided) == 1, decided
        side, at = decided[0]
        assert side == ("entries" if at < as_of else "recorded_since"), (decided, as_of)
        # The first's own chronology, as of its receipt: it and its decision
        # were recorded from then on, so both are apart in recorded_since.
        r = service.client.get("/v1/children/C1/chronology", params={"referral_id": "REP1"})
        assert r.status_code == 200, r.text
        chron = r.json()
        first_seen = (v.CHRONOLOGY_REFERRAL, first_at.isoformat())
        since = [(e["event_type"], e["occurred_at"][:19]) for e in chron["recorded_since"]]
        known = [(e["event_type"], e["occurred_at"][:19]) for e in chron["entries"]]
        assert first_seen in since and first_seen not in known
        decision = [e for e in chron["recorded_since"] if e["event_type"] == v.CHRONOLOGY_DECISION]
        assert [e["detail"] for e in decision] == ["early_help"]
        assert not any(e["recorded_at"][:19] >= as_of for e in chron["entries"])
    finally:
        service.close()


def test_the_extracts_copy_of_a_referral_is_not_counted_twice(store_path, model, tmp_path):
    """Once the next extract holds a referral MAST received, the overlay drops it."""
    from serving.live import LiveHistory, load_snapshot

    service = Service(store_path, model, f"sqlite:///{tmp_path / 'records.sqlite'}")
    try:
        at = store_now().replace(microsecond=0) - timedelta(hours=1)
        first = referral_body("EXT1", at, ["C2"], "health", "gp", ["neglect"])
        assert service.client.post("/v1/referrals/score", json=first).status_code == 200
        later = referral_body(
            "EXT2", at + timedelta(minutes=5), ["C2"], "school", "teacher", ["neglect"]
        )
        with_overlay = served_features(service.engine, later)
        # The extract arrives with EXT1 in it; the service follows the refreshed store.
        extract = rebuild(store_path, tmp_path / "extract.duckdb", {"EXT1": first}, {})
        follower = LiveHistory(extract, service.records, load_snapshot(extract))
        assert "EXT1" in follower.base.referral
        assert not follower.merged.referrals  # reconciled by referral_id
        from serving import ScoringEngine

        engine = ScoringEngine(extract, model, snapshot=follower.base)
        engine.live = follower
        assert_same_features(served_features(engine, later), with_overlay)
        assert (
            served_features(engine, later).X.iloc[0]["child_prior_referrals_ever"]
            == with_overlay.X.iloc[0]["child_prior_referrals_ever"]
        )
    finally:
        service.close()


def referral_rows(s, person_id: str) -> list[tuple[str, int]]:
    """A person's ``referral_children`` rows in a snapshot: (referral_id, predicate bits)."""
    p = s.person[person_id]
    rows = slice(s.rc_offsets[p], s.rc_offsets[p + 1])
    return sorted(
        (s.referral_ids[r], int(m))
        for r, m in zip(s.rc_referral[rows], s.rc_mask[rows], strict=True)
    )


@pytest.mark.parametrize("slice_add_max", [0, 4])
def test_merge_equals_a_snapshot_of_the_rebuilt_store(
    store_path, tmp_path, monkeypatch, slice_add_max
):
    """The overlay's arrays equal a snapshot loaded from a store holding the same rows."""
    import records as rec
    import serving.live

    monkeypatch.setattr(serving.live, "SLICE_ADD_MAX", slice_add_max)
    from serving.live import LiveHistory, load_snapshot

    store = rec.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    who = store.create_token("t", "screener")[1]
    at = store_now().replace(microsecond=0) - timedelta(days=1)
    bodies = {
        "M1": referral_body("M1", at, ["C1", "C2"], "police", "police_officer", ["domestic_abuse"]),
        "M2": referral_body("M2", at + timedelta(hours=2), ["NB"], "self", "parent", ["neglect"]),
    }
    from serving import ReferralIn
    from serving.register import content_of

    for b in bodies.values():
        store.register_referral(who, b["referral_id"], content_of(ReferralIn(**b)), flagged=False)
    follower = LiveHistory(store_path, store, load_snapshot(store_path))
    rebuilt = load_snapshot(rebuild(store_path, tmp_path / "rebuilt.duckdb", bodies, {}))
    merged = follower.snapshot
    for p in ("C1", "C2", "NB"):
        assert referral_rows(merged, p) == referral_rows(rebuilt, p)
    assert np.array_equal(merged.rc_offsets, rebuilt.rc_offsets)
    for rid in bodies:
        i, j = merged.referral[rid], rebuilt.referral[rid]
        assert merged.r_received[i] == rebuilt.r_received[j]
        assert merged.r_source[i] == rebuilt.r_source[j]
        assert np.array_equal(merged.r_concerns[i], rebuilt.r_concerns[j])
    store.close()


def test_a_request_merges_only_what_can_touch_its_children(store_path, tmp_path):
    """New entries about another household wait for the background thread; the child's do not."""
    import records as rec
    from serving import ReferralIn
    from serving.live import LiveHistory, load_snapshot
    from serving.register import content_of

    store = rec.RecordsStore(f"sqlite:///{tmp_path / 'records.sqlite'}")
    who = store.create_token("t", "screener")[1]
    follower = LiveHistory(store_path, store, load_snapshot(store_path))
    at = store_now().replace(microsecond=0) - timedelta(days=1)
    b = referral_body("REL1", at, ["NB"], "health", "midwife", ["neglect"])
    store.register_referral(who, "REL1", content_of(ReferralIn(**b)), flagged=False)
    # X lives in another household: the referral about NB cannot change X's history.
    assert follower.reach(["X"]) == {"X"}
    assert follower.reach(["C1"]) >= {"C1", "C2", "NB", "A1", "A2", "A3"}
    follower.catch_up(["X"])
    assert not follower.merged.referrals
    # C1 lives with NB: it must be merged before C1's request goes on.
    follower.catch_up(["C1"])
    assert [r.referral_id for r in follower.merged.referrals] == ["REL1"]
    # A decision on it, then a request about C2 (same household): merged too.
    store.db.dispose()
    with store.db.write() as conn:
        from records import trail

        trail.append(
            conn,
            kind="decision",
            actor="t",
            role="screener",
            payload={"decision": "assessment", "closure_reason": None},
            referral_id="REL1",
        )
    follower.catch_up(["X"])
    assert not follower.merged.decisions
    follower.catch_up(["C2"])
    assert [d.decision for d in follower.merged.decisions] == ["assessment"]
    store.close()
