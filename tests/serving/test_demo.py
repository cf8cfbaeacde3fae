"""``mast serve`` as a process, and the demo's scoring over real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx

from serving.demo import demo_scoring, held_out_referrals
from serving.launch import serve_subprocess


def test_serve_refuses_to_start_without_a_champion(store_path, tmp_path):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mast.cli",
            "serve",
            "--db",
            str(store_path),
            "--tracking-uri",
            empty,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    out = " ".join((done.stdout + done.stderr).split())
    assert "champion" in out and "mast promote" in out


def test_serve_refuses_without_a_store(tracking_uri, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mast.cli",
            "serve",
            "--db",
            str(tmp_path / "none.duckdb"),
            "--tracking-uri",
            tracking_uri,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "No MAST store" in done.stdout + done.stderr


def test_held_out_referrals_are_the_most_recent(store_path):
    bodies = held_out_referrals(store_path, n=2)
    assert [b["referral_id"] for b in bodies] == ["R1", "R0"]
    assert bodies[0]["children"] == ["C1", "C2"]
    assert bodies[0]["concerns"] == ["domestic_abuse"]


def test_demo_scores_through_the_running_service(store_path, tracking_uri, tmp_path):
    records_url = f"sqlite:///{tmp_path / 'records.sqlite'}"
    result = demo_scoring(store_path, tracking_uri, n=2, subprocess=False, records_url=records_url)
    assert [s["referral_id"] for s in result.summary] == ["R1", "R0"]
    assert result.featured["referral_id"] in {"R1", "R0"}
    assert f"Referral {result.featured['referral_id']}" in result.text
    assert "advisory" in result.text.lower()
    assert (
        "/v1/referrals/score" in result.curl and "Authorization: Bearer $MAST_TOKEN" in result.curl
    )
    body = json.loads(result.curl.split("-d '", 1)[1].rstrip("'"))
    assert body["referral_id"] == result.featured["referral_id"]
    # A repeat referral: the second's history holds the first, at once.
    assert "The second's history now includes the first" in result.repeat, result.repeat
    before, now = re.search(
        r"(\d+) before MAST received the first, (\d+) now", result.repeat
    ).groups()
    assert int(now) == int(before) + 1
    # The work queue, read from the page: the two referrals received through MAST, newest first
    # (the store's own referrals are the local authority's history, not the queue's).
    lines = result.queue.splitlines()
    assert lines[0].startswith("The screener's work queue (2 referrals"), result.queue
    assert "REPEAT-2" in lines[1] and "REPEAT-1" in lines[2] and "awaiting a decision" in lines[1]
    assert " R1 " not in result.queue and "T" not in lines[1].split("  ")[1][:17]
    # A strategy discussion with the three agencies, recorded through the API (issue 17).
    assert "Strategy discussion recorded through the API" in result.review, result.review
    assert "children's social care, the police and health took part" in result.review
    assert "referrer told" in result.review and "NOT" not in result.review
    import records

    trail = records.RecordsStore(records_url)
    reviews = trail.query(kind=records.kinds.REVIEW)[0]
    assert len(reviews) == 1 and reviews[0].payload["missing_agencies"] == []
    assert {p["agency"] for p in reviews[0].payload["participants"]} == {
        "children_social_care",
        "police",
        "health",
    }
    assert trail.verify().ok
    trail.close()


def test_mast_serve_subprocess_scores_with_a_token(store_path, tracking_uri, tmp_path):
    import records

    url = f"sqlite:///{tmp_path / 'records.sqlite'}"
    token = records.RecordsStore(url).create_token("proc test", "screener")[0]
    body = held_out_referrals(store_path, n=1)[0]
    with serve_subprocess(store_path, tracking_uri, env={"MAST_RECORDS_DB": url}) as base:
        assert httpx.get(f"{base}/v1/health").json()["status"] == "ok"
        assert httpx.post(f"{base}/v1/referrals/score", json=body).status_code == 401
        r = httpx.post(
            f"{base}/v1/referrals/score",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        assert r.json()["referral_id"] == body["referral_id"]
    entries, _ = records.RecordsStore(url).query(referral_id=body["referral_id"])
    # A referral the store already holds is its own version 1: no register entry.
    assert [e.kind for e in entries] == ["score_view"]
