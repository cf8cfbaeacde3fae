"""Partner invitations expire and can be withdrawn, over HTTP as a client sends it.

A lead whose invitation has expired or been withdrawn gets the same 404 as a
lead never invited; the old referral id does not open it again, nor does a
direct edit of the store (an expiry lengthened, an invitation forged, a
withdrawal deleted).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

import records
from records import kinds, partners, roles, trail
from tests.records.conftest import auth, both, new_id
from tests.records.test_anchor import _sql
from tests.records.test_partners import STAFF, post, scored

LEAD = roles.POLICE_LEAD
LEAD_NAME = f"{LEAD} person"  # the name on the police lead's token (tests/records/conftest.py)


def invite(client, tokens, rid, name=LEAD_NAME, role=LEAD) -> dict:
    body = {
        "invitation_id": new_id("inv"),
        "partner_name": name,
        "partner_role": role,
        "reason": "the police attended twice",
    }
    got = post(client, tokens["screener"], rid, "invitations", body)
    assert got.status_code == 201, got.text
    return got.json()


def withdraw(client, token, rid, invitation_id, reason="the police enquiry has closed"):
    body = {"withdrawal_id": new_id("wd"), "reason": reason}
    return post(client, token, rid, f"invitations/{invitation_id}/withdrawal", body)


def reads(client, tokens, rid) -> int:
    return client.get(f"/v1/referrals/{rid}/record", headers=auth(tokens[LEAD])).status_code


def lead_requests(client, tokens, rid) -> list[int]:
    """Every request a lead makes about one referral: read, contribute, escalate."""
    lead = tokens[LEAD]
    contribution = {"contribution_id": new_id("c"), "summary": "two call-outs"}
    escalation = {"escalation_id": new_id("e"), "reason": "third incident"}
    return [
        client.get(f"/v1/referrals/{rid}/record", headers=auth(lead)).status_code,
        post(client, lead, rid, "contributions", contribution).status_code,
        post(client, lead, rid, "escalations", escalation).status_code,
    ]


@pytest.fixture
def rid(store):
    referral = "R-" + new_id()
    scored(store, referral)
    return referral


@pytest.fixture
def clock(monkeypatch):
    """Move the clock invitations expire by: ``clock(days)`` is that many days from now."""
    start = datetime.now(UTC)

    def move(days: float) -> None:
        monkeypatch.setattr(partners, "utc_now", lambda: start + timedelta(days=days))

    return move


def lead(store) -> records.Principal:
    return records.Principal(name=LEAD_NAME, role=LEAD, token_id="tp")


def test_an_invitation_lasts_thirty_days_by_default(client, tokens, store, rid, clock):
    clock(0)
    made = invite(client, tokens, rid)
    assert made["payload"]["days"] == 30
    expires = datetime.fromisoformat(made["payload"]["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=30) - (expires - datetime.now(UTC)) < timedelta(minutes=1)
    clock(29.9)
    assert reads(client, tokens, rid) == 200
    assert store.invited_referrals(lead(store)) == [rid]
    clock(30.01)
    assert lead_requests(client, tokens, rid) == [404, 404, 404]
    refused = client.get(f"/v1/referrals/{rid}/record", headers=auth(tokens[LEAD])).json()
    assert (
        refused["detail"]["message"] == f"there is no referral {rid} that you have been invited to"
    )
    assert store.invited_referrals(lead(store)) == []
    # Invited again: a new invitation, with its own 30 days.
    invite(client, tokens, rid)
    assert reads(client, tokens, rid) == 200


def test_the_days_are_a_setting(client, tokens, store, rid, clock, monkeypatch):
    monkeypatch.setenv("MAST_INVITATION_DAYS", "2")
    clock(0)
    assert invite(client, tokens, rid)["payload"]["days"] == 2
    clock(1.9)
    assert reads(client, tokens, rid) == 200
    clock(2.1)
    assert reads(client, tokens, rid) == 404
    for bad in ("0", "two", "400"):
        monkeypatch.setenv("MAST_INVITATION_DAYS", bad)
        with pytest.raises(ValueError, match="MAST_INVITATION_DAYS must be a whole number"):
            records.partners.expiry(__import__("settings").invitation_days())


@both
def test_a_manager_withdraws_an_invitation_with_a_reason(client, tokens, store, rid):
    made = invite(client, tokens, rid)
    other = invite(client, tokens, rid, name=f"{roles.HEALTH_LEAD} person", role=roles.HEALTH_LEAD)
    assert lead_requests(client, tokens, rid)[0] == 200
    inv = made["record_id"]
    assert withdraw(client, tokens["screener"], rid, inv).status_code == 403
    assert withdraw(client, tokens[LEAD], rid, inv).status_code == 403
    assert withdraw(client, None, rid, inv).status_code == 401
    done = withdraw(client, tokens["manager"], rid, inv)
    assert done.status_code == 201, done.text
    entry = done.json()
    assert entry["kind"] == kinds.INVITATION_WITHDRAWN and entry["actor"] == "manager person"
    assert entry["payload"]["reason"] == "the police enquiry has closed"
    assert entry["payload"]["invitation_id"] == inv
    assert store.verify().ok  # in the hash chain
    # The lead trying the old referral id: 404, exactly as for a referral never invited to.
    assert lead_requests(client, tokens, rid) == [404, 404, 404]
    never = "R-" + new_id()
    scored(store, never)
    assert client.get(f"/v1/referrals/{rid}/record", headers=auth(tokens[LEAD])).json()["detail"][
        "message"
    ] == client.get(f"/v1/referrals/{never}/record", headers=auth(tokens[LEAD])).json()["detail"][
        "message"
    ].replace(never, rid)
    assert store.invited_referrals(lead(store)) == []
    # The health lead's own invitation is untouched.
    health = client.get(f"/v1/referrals/{rid}/record", headers=auth(tokens[roles.HEALTH_LEAD]))
    assert health.status_code == 200 and other["record_id"]
    # Withdrawn once: again is 409, an unknown or another referral's invitation 404.
    again = withdraw(client, tokens["manager"], rid, inv)
    assert again.status_code == 409 and again.json()["detail"]["rule"] == "invitation_closed"
    assert withdraw(client, tokens["manager"], rid, "inv-nothing-here").status_code == 404
    assert withdraw(client, tokens["manager"], never, other["record_id"]).status_code == 404
    # Re-posting the old invitation's id cannot re-open it (a replay is 409).
    replay = {
        "invitation_id": inv,
        "partner_name": LEAD_NAME,
        "partner_role": LEAD,
        "reason": "again",
    }
    assert post(client, tokens["screener"], rid, "invitations", replay).status_code == 409
    assert reads(client, tokens, rid) == 404
    # The record shows the withdrawal, with its reason, to the front door.
    record = client.get(f"/v1/referrals/{rid}/record", headers=auth(tokens["manager"])).json()
    assert [e["kind"] for e in record["entries"]].count(kinds.INVITATION_WITHDRAWN) == 1


def test_an_expired_invitation_cannot_be_withdrawn(client, tokens, rid, clock):
    clock(0)
    made = invite(client, tokens, rid)
    clock(31)
    got = withdraw(client, tokens["manager"], rid, made["record_id"])
    assert got.status_code == 409 and "no longer open" in got.json()["detail"]["message"]


@both
def test_deleting_the_withdrawal_does_not_reopen_it(client, tokens, store, rid, caplog):
    made = invite(client, tokens, rid)
    assert withdraw(client, tokens["manager"], rid, made["record_id"]).status_code == 201
    # Newer entries after it, then the withdrawal deleted from the middle: a gap.
    for _ in range(3):
        store.log_view(STAFF, kinds.SCORE_VIEW, referral_id=rid, detail={})
    _sql(store, f"DELETE FROM audit_log WHERE kind = '{kinds.INVITATION_WITHDRAWN}'")
    assert reads(client, tokens, rid) == 404
    assert store.invited_referrals(lead(store)) == []
    assert "partner access refused" in caplog.text


@both
def test_deleting_the_newest_entry_a_withdrawal_does_not_reopen_it(client, tokens, store, rid):
    made = invite(client, tokens, rid)
    assert withdraw(client, tokens["manager"], rid, made["record_id"]).status_code == 201
    # The withdrawal is the newest entry: deleting it leaves no gap, but the head it anchored.
    _sql(store, f"DELETE FROM audit_log WHERE kind = '{kinds.INVITATION_WITHDRAWN}'")
    assert reads(client, tokens, rid) == 404
    # Writing on after the deletion (the chain looks whole from the database alone) is no help.
    store.log_view(STAFF, kinds.SCORE_VIEW, referral_id=rid, detail={})
    assert reads(client, tokens, rid) == 404


@both
def test_an_expiry_edited_in_the_database_is_not_honoured(client, tokens, store, rid, clock):
    clock(0)
    made = invite(client, tokens, rid)
    clock(31)
    assert reads(client, tokens, rid) == 404
    payload = dict(made["payload"], expires_at="2099-01-01T00:00:00.000000Z")
    _sql(store)  # the append-only triggers dropped, as an insider would
    with store.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET payload = :p WHERE record_id = :r"),
            {"p": trail.canonical_json(payload), "r": made["record_id"]},
        )
    assert reads(client, tokens, rid) == 404


def test_an_invitation_written_around_the_api_is_not_honoured(client, tokens, store, rid):
    payload = {
        "partner_name": LEAD_NAME,
        "partner_role": LEAD,
        "reason": "slipped in",
        "agency": "police",
        "days": 30,
        "expires_at": "2099-01-01T00:00:00.000000Z",
        "mac": "0" * 64,
    }
    with store.db.write() as conn:
        trail.append(
            conn,
            kind=kinds.PARTNER_INVITATION,
            actor="insider",
            role="manager",
            payload=payload,
            referral_id=rid,
            record_id=new_id("inv"),
        )
    assert store.verify().ok  # a well-chained entry: only its signature gives it away
    assert reads(client, tokens, rid) == 404
    assert store.invited_referrals(lead(store)) == []


@both
def test_a_head_anchored_during_a_lead_request_is_not_taken_for_tampering(
    client, tokens, store, rid
):
    invite(client, tokens, rid)
    (invitation,) = store.query(kind=kinds.PARTNER_INVITATION)[0]
    with store.db.read() as conn:
        before, _ = trail.head(conn)  # this request's snapshot begins
        entry = store.log_view(STAFF, kinds.SCORE_VIEW, referral_id=rid, detail={})
        store.anchor.write(entry.seq, entry.hash)  # another request's write, anchored
        assert trail.head(conn)[0] == before  # not in this snapshot
        assert store._intact_since(conn, invitation.seq)
    assert reads(client, tokens, rid) == 200
