"""A referral is a record, not a request: the register, amendments, sticky flags, blind-first by child.

Over HTTP with the real engine and the tiny real champion: the bypass the
issue found (re-score a flagged referral with milder content, or another
child, under the same id, then close it) is refused and leaves the trail as
it was, and the rates still count the referral as flagged.
"""

from __future__ import annotations

import itertools
import math

import pytest
from fastapi.testclient import TestClient

import records
from store import vocabulary as v

_ids = itertools.count()
RECEIVED = "2026-10-01T10:00:00"
SOURCES = ("police", "school", "health", "anonymous")


def _content(source: str, concerns: list[str], children=("C1",)) -> dict:
    relationship = {
        "police": "police_officer",
        "school": "teacher",
        "health": "gp",
        "anonymous": "unknown",
    }[source]
    assert relationship in v.REFERRER_RELATIONSHIPS and source in v.REFERRAL_SOURCES
    return {
        "received_at": RECEIVED,
        "source": source,
        "referrer_relationship": relationship,
        "concerns": concerns,
        "children": list(children),
    }


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """The whole app over the page tests' stand-in engine, which flags a domestic-abuse concern.

    The serving fixtures' tiny champion rarely flags, and the register's
    rules do not depend on the model: they are tested here over HTTP with
    the real register, records store and rules.  (app, store, tokens).
    """
    from serving import create_app
    from tests.serving.page_fakes import FakeEngine

    store = records.RecordsStore(f"sqlite:///{tmp_path_factory.mktemp('register') / 'r.sqlite'}")
    tokens = {role: store.create_token(f"test {role}", role)[0] for role in records.ROLES}
    engine = FakeEngine()
    yield create_app(engine=engine, records_store=store), store, tokens
    engine.close()
    store.close()


@pytest.fixture(scope="module")
def flagged_and_mild():
    """A content the stand-in engine flags and a milder one, same date and child."""
    return _content("police", ["domestic_abuse"]), _content("school", ["other"])


def _uk_now():
    """Now on the store's clock (naive local time in England)."""
    from serving.scoring import store_now

    return store_now()


def _new_id(prefix: str = "REG") -> str:
    return f"{prefix}{next(_ids)}"


def _as(app, token: str) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def _post(client, rid: str, content: dict, **params):
    return client.post("/v1/referrals/score", json={"referral_id": rid, **content}, params=params)


def _decide(client, rid: str, decision: str, **extra):
    body = {
        "decision_id": f"dec-{_new_id()}",
        "decision": decision,
        "rationale": "test",
        **extra,
    }
    return client.post(f"/v1/referrals/{rid}/decisions", json=body)


def test_same_content_is_idempotent(fake, flagged_and_mild):
    app, records_store, tokens = fake
    client = _as(app, tokens["screener"])
    rid = _new_id()
    flagged, _ = flagged_and_mild
    first = _post(client, rid, flagged)
    # The same content, with the lists in another order: the same referral.
    again = _post(client, rid, {**flagged, "concerns": list(reversed(flagged["concerns"]))})
    assert first.status_code == again.status_code == 200, again.text
    a, b = first.json(), again.json()
    assert [c["score"] for c in a["children"]] == [c["score"] for c in b["children"]]
    assert [c["probability"] for c in a["children"]] == [c["probability"] for c in b["children"]]
    assert a["referral_version"] == b["referral_version"] == 1
    versions = records_store.referral_versions(rid)
    assert len(versions) == 1 and versions[0].payload["version"] == 1
    assert versions[0].payload["received_at"] == "2026-10-01T10:00:00"
    assert versions[0].payload["flagged"] is True


@pytest.mark.parametrize("change", ["milder", "other_child"])
def test_the_bypass_is_refused_and_leaves_the_trail_as_it_was(fake, flagged_and_mild, change):
    app, records_store, tokens = fake
    client = _as(app, tokens["screener"])
    rid = _new_id()
    flagged, mild = flagged_and_mild
    assert _post(client, rid, flagged).json()["multi_agency_review_recommended"] is True
    closing = _decide(client, rid, "no_further_action")
    assert closing.status_code == 422, closing.text
    before = records_store.verify()
    other = mild if change == "milder" else {**flagged, "children": ["C2"]}
    refused = _post(client, rid, other)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail["rule"] == "referral_content_differs"
    expected = (
        {"source", "referrer_relationship", "concerns"}
        - {f for f in ("source", "referrer_relationship", "concerns") if flagged[f] == mild[f]}
        if change == "milder"
        else {"children"}
    )
    assert set(detail["field"].split(", ")) == expected
    assert "amendment" in detail["message"]
    after = records_store.verify()
    assert (after.entries, after.head_hash) == (before.entries, before.head_hash)
    # Still flagged: closing is still refused.
    assert _decide(client, rid, "no_further_action").status_code == 422


def test_rates_count_the_referral_as_flagged(fake, flagged_and_mild):
    app, records_store, tokens = fake
    rid = _new_id()
    flagged, _ = flagged_and_mild
    screener = _as(app, tokens["screener"])
    manager = _as(app, tokens["manager"])
    assert _post(screener, rid, flagged).status_code == 200
    override = manager.post(
        f"/v1/referrals/{rid}/overrides",
        json={
            "override_id": f"ovr-{rid}",
            "kind": "flag",
            "decision": "early_help",
            "reason": "family already engaged with early help",
        },
    )
    assert override.status_code == 201, override.text
    assert _decide(screener, rid, "early_help").status_code == 201
    final = records.final_decisions(records_store).set_index("referral_id")
    assert bool(final.loc[rid, "flagged"]) is True
    rates = records.decision_rates(records_store)
    assert rates.loc["test screener", "n_flagged"] >= 1


def test_amendment_keeps_every_version_and_the_flag(fake, flagged_and_mild):
    app, records_store, tokens = fake
    rid = _new_id()
    flagged, mild = flagged_and_mild
    screener = _as(app, tokens["screener"])
    assert _post(screener, rid, flagged).status_code == 200
    body = {**mild, "amendment_id": f"amd-{rid}"}
    no_reason = screener.post(f"/v1/referrals/{rid}/amendments", json=body)
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    amended = screener.post(
        f"/v1/referrals/{rid}/amendments",
        json={**body, "reason": "the referrer rang back: it was the school, not the police"},
    )
    assert amended.status_code == 201, amended.text
    out = amended.json()
    assert out["referral_version"] == 2
    assert out["multi_agency_review_recommended"] is False
    assert out["referral_flagged"] is True  # sticky
    # The replay of the same amendment id is refused.
    assert (
        screener.post(f"/v1/referrals/{rid}/amendments", json={**body, "reason": "x"}).status_code
        == 409
    )
    versions = records_store.referral_versions(rid)
    assert [e.payload["version"] for e in versions] == [1, 2]
    assert versions[0].payload["source"] == flagged["source"]
    assert versions[1].payload["reason"].startswith("the referrer rang back")
    # Now the current content is version 2: it scores idempotently; version 1's is refused.
    assert _post(screener, rid, mild).json()["referral_version"] == 2
    assert _post(screener, rid, flagged).status_code == 409
    # The flag sticks until a manager's override.
    assert _decide(screener, rid, "no_further_action").status_code == 422


def test_a_store_referral_cannot_be_reposted_with_other_content(client, records_store, engine):
    from serving.register import stored_referral

    rid = engine.cursor().execute("SELECT min(referral_id) FROM referrals").fetchone()[0]
    stored = stored_referral(engine, rid)
    content = stored.model_dump(mode="json", exclude={"referral_id"})
    same = _post(client, rid, content)
    assert same.status_code == 200, same.text
    assert records_store.referral_versions(rid) == []  # the store holds version 1
    other_source = next(s for s in v.REFERRAL_SOURCES if s != content["source"])
    refused = _post(client, rid, {**content, "source": other_source})
    assert refused.status_code == 409 and refused.json()["detail"]["field"] == "source"


def test_features_are_the_models_inputs(client, engine):
    from serving.schemas import ReferralIn

    rid = _new_id()
    body = _content("school", ["neglect", "domestic_abuse"], children=["C1", "C2"])
    out = _post(client, rid, body, features="true").json()
    table = engine.features_for(ReferralIn(referral_id=rid, **body))
    keys, X = engine.model_inputs(table)
    for child in out["children"]:
        row = X.iloc[keys.index[keys["person_id"] == child["person_id"]][0]]
        assert list(child["features"]) == engine.feature_names
        for name, value in child["features"].items():
            expected = float(row[name])
            if math.isnan(expected):
                assert value is None, name
            else:
                assert value == pytest.approx(expected, abs=1e-9), name
    plain = _post(client, rid, body).json()
    assert all(c.get("features") is None for c in plain["children"])


@pytest.fixture
def blind_first(fake):
    app, _, tokens = fake
    governance = _as(app, tokens["governance"])
    on = governance.put("/v1/config/blind-first", json={"enabled": True, "reason": "test"})
    assert on.status_code == 200
    yield
    governance.put("/v1/config/blind-first", json={"enabled": False, "reason": "test over"})


def _initial_view(client, rid: str):
    return client.post(
        f"/v1/referrals/{rid}/initial-views",
        json={"view_id": f"view-{rid}-{next(_ids)}", "decision": "assessment"},
    )


def test_blind_first_alias_is_refused(fake, blind_first, flagged_and_mild):
    app, records_store, tokens = fake
    flagged, _ = flagged_and_mild
    # A screener of their own, so the only score of C1 they were shown is the alias's.
    fresh, _ = records_store.create_token(f"alias screener {next(_ids)}", "screener")
    screener, manager = _as(app, fresh), _as(app, tokens["manager"])
    alias, real = _new_id("ALIAS"), _new_id("REAL")
    assert _initial_view(screener, alias).status_code == 201
    assert _post(screener, alias, flagged).status_code == 200  # the peek
    assert _initial_view(screener, real).status_code == 201
    before = records_store.verify().entries
    refused = _post(screener, real, flagged)
    assert refused.status_code == 409 and alias in refused.json()["detail"]
    assert records_store.verify().entries == before  # nothing shown, nothing logged
    # A manager scores it (not blind-first gated); the screener still cannot decide on it.
    assert _post(manager, real, flagged).status_code == 200
    decision = _decide(screener, real, "strategy_discussion")
    assert decision.status_code == 409, decision.text
    assert decision.json()["detail"]["rule"] == "initial_view_after_score"


def test_blind_first_earlier_history_is_not_a_peek(fake, blind_first, flagged_and_mild):
    """A score of an earlier referral, seen before this one arrived, does not block it."""
    app, records_store, _ = fake
    from datetime import timedelta

    _, mild = flagged_and_mild
    fresh, _ = records_store.create_token(f"history screener {next(_ids)}", "screener")
    screener = _as(app, fresh)
    earlier = _new_id("EARLY")
    assert _initial_view(screener, earlier).status_code == 201
    assert _post(screener, earlier, mild).status_code == 200
    later = _new_id("LATER")
    received = (_uk_now() + timedelta(minutes=2)).replace(microsecond=0)
    assert _initial_view(screener, later).status_code == 201
    content = {**mild, "received_at": received.isoformat()}
    assert _post(screener, later, content).status_code == 200
