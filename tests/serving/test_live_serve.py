"""Live history and store refresh in the real ``mast serve`` (two worker processes).

One server, on a copy of the hand-made store: a referral scored on one
worker is in the history every worker serves within a second; rows appended
to the store while requests are running are picked up without a restart,
and no request fails meanwhile.
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import timedelta

import duckdb
import httpx
import pytest

from serving.launch import serve_subprocess
from serving.scoring import store_now
from store import vocabulary as v


@pytest.fixture(scope="module")
def served(serving_dir, store_path, tracking_uri, tmp_path_factory):
    import records

    tmp = tmp_path_factory.mktemp("live-serve")
    db = tmp / "store.duckdb"
    shutil.copy(store_path, db)
    url = f"sqlite:///{tmp / 'records.sqlite'}"
    store = records.RecordsStore(url)
    token = store.create_token("live test", "screener")[0]
    store.close()
    with serve_subprocess(db, tracking_uri, workers=2, env={"MAST_RECORDS_DB": url}) as base:
        yield base, token, db, url


def body(rid, received_at, children=("C1",), source="school", referrer="teacher"):
    return {
        "referral_id": rid,
        "received_at": received_at.isoformat(),
        "source": source,
        "referrer_relationship": referrer,
        "concerns": ["neglect"],
        "children": list(children),
    }


def test_a_referral_scored_on_one_worker_is_history_on_every_worker_within_a_second(served):
    base, token, *_ = served
    auth = {"Authorization": f"Bearer {token}"}
    at = store_now().replace(microsecond=0) - timedelta(minutes=30)
    r = httpx.post(
        f"{base}/v1/referrals/score",
        json=body("TWO1", at, source="health", referrer="gp"),
        headers=auth,
        timeout=60,
    )
    assert r.status_code == 200, r.text
    acknowledged = time.monotonic()
    # A new connection each time: the kernel hands each to either worker.
    seen = []
    for _ in range(12):
        chron = httpx.get(
            f"{base}/v1/children/C1/chronology",
            params={"referral_id": "TWO1", "as_of": store_now().isoformat()},
            headers=auth,
            timeout=60,
        ).json()
        seen.append(
            any(
                e["event_type"] == v.CHRONOLOGY_REFERRAL and e["detail"] == "from health (gp)"
                for e in chron["entries"]
            )
        )
    assert all(seen), seen
    assert time.monotonic() - acknowledged < 12 * 1.0  # each answered at once, not after a poll


def _append(db, rows_at):
    """Append two police referrals about C1 and a police record of A1, in one transaction.

    As ``mast load --append`` would: the workers hold the file only while
    they load a snapshot, so the writer retries while one does.
    """
    deadline = time.monotonic() + 60
    while True:
        try:
            con = duckdb.connect(str(db))
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    concerns = ", ".join(v.CONCERN_COLUMNS)
    flags = ", ".join(
        "TRUE" if c == "concern_domestic_abuse" else "FALSE" for c in v.CONCERN_COLUMNS
    )
    try:
        con.execute("BEGIN")
        for k, at in enumerate(rows_at):
            rid = f"APP{k}"
            con.execute(
                f"INSERT INTO referrals (referral_id, received_at, source, referrer_relationship, "
                f"{concerns}) VALUES (?, ?, 'police', 'police_officer', {flags})",
                [rid, at],
            )
            con.execute("INSERT INTO referral_children VALUES (?, 'C1')", [rid])
        con.execute("COMMIT")
    finally:
        con.close()


def test_store_append_while_serving_no_request_fails_and_the_next_score_sees_it(
    served, engine, tmp_path
):
    import records
    from serving import ReferralIn, ScoringEngine

    base, token, db, url = served
    auth = {"Authorization": f"Bearer {token}"}
    now = store_now().replace(microsecond=0)
    probe_at = now - timedelta(minutes=1)
    appended_at = [now - timedelta(days=20), now - timedelta(days=3)]

    # What the next score must be: an engine on a copy of the store with the rows appended.
    expected_db = tmp_path / "expected.duckdb"
    shutil.copy(db, expected_db)
    _append(expected_db, appended_at)
    probe = ReferralIn(**body("PROBE0", probe_at))
    # Both follow the server's records store: its overlay is part of what it serves.
    trail = records.RecordsStore(url)

    def expect(store_db):
        reference = ScoringEngine(store_db, engine.model)
        reference.follow(trail, start=False)
        return reference.score(probe, with_records=False)

    before, after = expect(db), expect(expected_db)
    margin = {c["person_id"]: c["raw_margin"] for c in after["children"]}
    assert margin != {c["person_id"]: c["raw_margin"] for c in before["children"]}

    # Requests all the while: referrals received later than the probe, so not its history.
    errors, done, stop = [], [0], threading.Event()

    def load():
        with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
            k = 0
            while not stop.is_set():
                k += 1
                r = client.post(
                    "/v1/referrals/score", json=body(f"LOAD{k}", now + timedelta(minutes=2))
                )
                if r.status_code != 200:
                    errors.append(f"score {r.status_code} {r.text[:200]}")
                c = client.get("/v1/children/C1/chronology", params={"referral_id": f"LOAD{k}"})
                if c.status_code != 200:
                    errors.append(f"chronology {c.status_code} {c.text[:200]}")
                done[0] += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        _append(db, appended_at)
        appended = time.monotonic()
        seen, k = None, 0
        while time.monotonic() - appended < 60:
            k += 1
            r = httpx.post(
                f"{base}/v1/referrals/score",
                json={**body("PROBE0", probe_at)},
                params={"records": "false"},
                headers=auth,
                timeout=60,
            )
            assert r.status_code == 200, r.text
            seen = {c["person_id"]: c["raw_margin"] for c in r.json()["children"]}
            if seen == pytest.approx(margin, rel=1e-9):
                break
            time.sleep(0.2)
        picked_up = time.monotonic() - appended
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert seen == pytest.approx(margin, rel=1e-9), "the service never saw the appended rows"
    assert not errors, errors[:3]
    assert done[0] > 0
    # Both workers follow the store: a few more probes, on fresh connections, all agree.
    time.sleep(3 * 1.0)  # a store check each second, and the load of this small store
    for _ in range(6):
        r = httpx.post(
            f"{base}/v1/referrals/score",
            json=body("PROBE0", probe_at),
            params={"records": "false"},
            headers=auth,
            timeout=60,
        )
        got = {c["person_id"]: c["raw_margin"] for c in r.json()["children"]}
        assert got == pytest.approx(margin, rel=1e-9)
    assert picked_up < 30
    trail.close()
