"""What ``mast demo`` shows of the service: held-out referrals scored over HTTP.

:func:`demo_scoring` starts the service against a store and a tracking URI,
scores a few of the store's most recent referrals (the test period, which
training never saw) through the running service, and returns the flag and
reasons for one of them as printable text, together with the ``curl`` call
that does the same by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import httpx

from serving.reasons import plain
from store import vocabulary as v


@dataclass
class DemoResult:
    """What the demo prints: one line per referral, one in full, and the curl call."""

    base_url: str
    summary: list[dict] = field(default_factory=list)
    featured: dict | None = None
    text: str = ""
    curl: str = ""
    repeat: str = ""
    review: str = ""
    queue: str = ""
    named_adult: str = ""


def held_out_referrals(db: str | Path, n: int = 5, max_children: int = 3) -> list[dict]:
    """The ``n`` most recent referrals in the store, as request bodies.

    The most recent referrals fall in the test period (and after the label
    horizon), so no model trained on this store has seen their outcome.
    """
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT r.referral_id, r.received_at, r.source, r.referrer_relationship, "
            + ", ".join(f"r.{c}" for c in v.CONCERN_COLUMNS)
            + ", list(rc.person_id ORDER BY rc.person_id) AS children "
            "FROM referrals r JOIN referral_children rc USING (referral_id) "
            "GROUP BY ALL HAVING count(*) <= ? "
            "ORDER BY r.received_at DESC, r.referral_id LIMIT ?",
            [max_children, n],
        ).fetchall()
    finally:
        con.close()
    out = []
    for row in rows:
        flags = row[4 : 4 + len(v.CONCERNS)]
        out.append(
            {
                "referral_id": row[0],
                "received_at": row[1].isoformat() if isinstance(row[1], datetime) else str(row[1]),
                "source": row[2],
                "referrer_relationship": row[3],
                "concerns": [c for c, f in zip(v.CONCERNS, flags, strict=True) if f],
                "children": list(row[-1]),
            }
        )
    return out


def format_score(result: dict) -> str:
    """A scored referral as the screener would read it, in plain text."""
    lines = [
        f"Referral {result['referral_id']}: highest score {result['highest_score']} of 20",
        result["recommendation"],
    ]
    for child in result["children"]:
        lines.append(
            f"  Child {child['person_id']}: score {child['score']}, probability "
            f"{child['probability']:.1%}{'  [FLAG]' if child['flag'] else ''}"
        )
        for title, reasons in (
            ("raises the score", child["reasons_for"]),
            ("lowers the score", child["reasons_against"]),
        ):
            for r in reasons:
                lines.append(f"    - {title}: {r['text']}")
                for rec in r["records"][:3]:
                    when = str(rec["occurred_at"])[:10]
                    lines.append(
                        f"        {when} {plain(rec['agency']) or 'household'}: "
                        f"{plain(rec['event_type'])} ({rec['relationship']} {rec['person_id']})"
                    )
                if r["records_total"] > 3:
                    lines.append(f"        ... and {r['records_total'] - 3} more record(s)")
        for item in child.get("not_found", []):
            lines.append(f"    - not found in the records MAST holds: {item['text']}")
    lines.append(
        f"Model {result['model_name']} v{result['model_version']}, policy "
        f"{result['policy_version']}, request {result['request_id']}"
    )
    lines.append(result["advisory_notice"])
    return "\n".join(lines)


def curl_example(base_url: str, body: dict, token_var: str | None = "MAST_TOKEN") -> str:
    """The exact ``curl`` call that scores ``body`` (for the README)."""
    auth = f' \\\n  -H "Authorization: Bearer ${token_var}"' if token_var else ""
    return (
        f"curl -s -X POST {base_url}/v1/referrals/score \\\n"
        f'  -H "Content-Type: application/json"{auth} \\\n'
        f"  -d '{json.dumps(body)}'"
    )


def score_over_http(base_url: str, bodies: list[dict], headers: dict | None = None) -> list[dict]:
    """POST each referral to the running service; raise with the body on any error."""
    out = []
    with httpx.Client(base_url=base_url, headers=headers or {}, timeout=30.0) as client:
        for body in bodies:
            response = client.post("/v1/referrals/score", json=body)
            if response.status_code != 200:
                raise RuntimeError(
                    f"scoring {body['referral_id']} failed: {response.status_code} {response.text}"
                )
            out.append(response.json())
    return out


def _when(text: str) -> str:
    """A store time (England local) as a screener reads it."""
    return datetime.fromisoformat(str(text)).strftime("%d %B %Y at %H:%M")


def _referrals_on_record(
    client: httpx.Client, person_id: str, referral_id: str, as_of: str | None = None
) -> list[dict]:
    """The referrals in the child's chronology, opened for ``referral_id``, recorded before ``as_of``.

    ``as_of`` defaults to when ``referral_id`` was received (the service's default).
    """
    params = {"referral_id": referral_id, **({"as_of": as_of} if as_of else {})}
    r = client.get(f"/v1/children/{person_id}/chronology", params=params)
    if r.status_code != 200:
        raise RuntimeError(f"chronology of {person_id} failed: {r.status_code} {r.text}")
    return [e for e in r.json()["entries"] if e["event_type"] == v.CHRONOLOGY_REFERRAL]


def demo_repeat_referral(base_url: str, headers: dict, body: dict) -> str:
    """Score a new referral about a child, then a second a minute later: history at once.

    The first referral is new to the store (it exists only because MAST
    received it); the second's history, read back from the running
    service, includes it, without a reload or a restart.
    """
    from datetime import timedelta

    from serving.scoring import store_now

    child = body["children"][0]
    latest = store_now() - timedelta(hours=1)
    first_at = min(datetime.fromisoformat(body["received_at"]) + timedelta(days=1), latest)
    first_at = first_at.replace(microsecond=0)
    second_at = first_at + timedelta(minutes=1)
    first = {
        "referral_id": f"{body['referral_id']}-REPEAT-1",
        "received_at": first_at.isoformat(),
        "source": "school",
        "referrer_relationship": "teacher",
        "concerns": ["neglect"],
        "children": [child],
    }
    second = {
        **first,
        "referral_id": f"{body['referral_id']}-REPEAT-2",
        "received_at": second_at.isoformat(),
        "source": "health",
        "referrer_relationship": "health_visitor",
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        # Opened for the referral already scored (a chronology needs one naming the child).
        before = _referrals_on_record(client, child, body["referral_id"], second["received_at"])
        scored = score_over_http(base_url, [first, second], headers)
        # The second's own chronology, as of when it was received.
        after = _referrals_on_record(client, child, second["referral_id"])
    new = [e for e in after if e["occurred_at"][:19] == first["received_at"][:19]]
    lines = [
        f"A repeat referral about child {child}:",
        f"  1. Referral {first['referral_id']}, received {_when(first['received_at'])} from a "
        f"school: scored {scored[0]['highest_score']} of 20.",
        f"  2. Referral {second['referral_id']}, about the same child one minute later, from a "
        f"health visitor: scored {scored[1]['highest_score']} of 20.",
        f"  Referrals on record for {child} before the second was received: {len(before)} "
        f"before MAST received the first, {len(after)} now.",
    ]
    if new:
        lines.append(
            f"  The second's history now includes the first ({_when(new[0]['occurred_at'])}, "
            "received through MAST a minute earlier): no reload or restart was needed."
        )
    else:
        lines.append("  The second's history does NOT include the first: live history is broken.")
    return "\n".join(lines)


def demo_strategy_discussion(base_url: str, headers: dict, body: dict) -> str:
    """Record a strategy discussion with police, health and children's social care, over HTTP.

    A new referral about the featured child alleging a physical injury (the
    statutory trigger fires whatever the score) is scored, decided
    "strategy discussion", its discussion recorded with the three required
    agencies and the referrer told, each by a call a client would make; the
    follow-up the queue reads is then fetched back.  Returns one line.
    """
    import uuid

    run = uuid.uuid4().hex[:8]
    rid = f"{body['referral_id']}-SD-{run}"[:64]
    referral = {
        **{k: body[k] for k in ("received_at", "children")},
        "referral_id": rid,
        "source": "health",
        "referrer_relationship": "health_visitor",
        "concerns": ["physical_abuse"],
        "injury_alleged": True,
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:

        def post(path: str, payload: dict) -> dict:
            r = client.post(path, json=payload)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"{path} failed: {r.status_code} {r.text}")
            return r.json()

        scored = post("/v1/referrals/score", referral)
        post(
            f"/v1/referrals/{rid}/decisions",
            {
                "decision_id": f"demo-sd-{run}",
                "decision": "strategy_discussion",
                "rationale": "bruising to a child's arm reported by the health visitor; unexplained",
            },
        )
        held_at = datetime.now().replace(microsecond=0, second=0)
        post(
            f"/v1/referrals/{rid}/reviews",
            {
                "review_id": f"demo-rv-{run}",
                "held_at": held_at.isoformat(),
                "participants": [
                    {"agency": "children_social_care", "name": "MASH team manager"},
                    {"agency": "police", "name": "DS, child abuse investigation team"},
                    {"agency": "health", "name": "named nurse for safeguarding"},
                ],
                "shared": [
                    {"agency": "police", "summary": "one domestic incident at the address in 2025"},
                    {
                        "agency": "health",
                        "summary": "missed 12-month review; bruise seen at home visit",
                    },
                ],
                "outcome": {
                    "section_47": True,
                    "section_47_rationale": "unexplained bruising to a young child",
                    "cp_medical": True,
                    "cp_medical_rationale": "bruising pattern needs a paediatric opinion",
                },
                "actions": [
                    {"action": "child protection medical today", "owner": "duty paediatrician"},
                    {"action": "joint visit with police", "owner": "allocated social worker"},
                ],
            },
        )
        post(
            f"/v1/referrals/{rid}/referrer-told",
            {
                "record_id": f"demo-tl-{run}",
                "told_at": datetime.now().replace(microsecond=0).isoformat(),
                "method": "phone",
                "outcome_given": "a strategy discussion was held; a section 47 enquiry has begun",
            },
        )
        r = client.get(f"/v1/referrals/{rid}/follow-up")
        follow = r.json() if r.status_code == 200 else {}
    triggered = ", ".join(t["title"] for t in scored.get("statutory_triggers", [])) or "none"
    timely = "held late" if follow.get("review_held_late") else "held within the local timescale"
    told = "referrer told" if follow.get("referrer_told") else "referrer NOT told"
    return (
        f"Strategy discussion recorded through the API on referral {rid} "
        f"(statutory rule: {triggered}): children's social care, the police and health took part; "
        f"section 47 enquiry and child protection medical agreed; {timely}; {told}."
    )


class _QueueRows(HTMLParser):
    """The text of each ``<tr class="queue-row">`` of the queue page, cell by cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_row = False

    def handle_starttag(self, tag, attrs):
        if tag == "tr" and ("class", "queue-row") in attrs:
            self._in_row = True
            self.rows.append([])
        elif tag == "td" and self._in_row:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._in_row = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data + " ")


def demo_queue(base_url: str, token: str, lines: int = 5) -> str:
    """The first lines of the screener's work queue, read from the page over HTTP.

    Signs in to ``/page/`` with ``token`` as a screener's browser does and
    reads the queue's rows: received (UK time), referral, children, source,
    concerns, statutory rules, repeat markers, flag, status.
    """
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        r = client.post("/page/sign-in", data={"token": token})
        if r.status_code != 303:
            raise RuntimeError(f"signing in to the page failed: {r.status_code}")
        page = client.get("/page/")
        if page.status_code != 200:
            raise RuntimeError(f"the work queue failed: {page.status_code}")
    parser = _QueueRows()
    parser.feed(page.text)
    out = [
        f"The screener's work queue ({len(parser.rows)} referrals received through MAST need someone; newest first):"
    ]
    for cells in parser.rows[:lines]:
        received, rid, children, source, concerns, rules, repeat, flag, status = cells[:9]
        extra = "; ".join(x for x in (rules if rules != "none triggered" else "", repeat) if x)
        out.append(
            f"  {received}  {rid} (child {children}, from {source}, {concerns}): {flag}; {status}"
            + (f" [{extra}]" if extra else "")
        )
    return "\n".join(out)


def demo_scoring(
    db: str | Path,
    tracking_uri: str,
    *,
    n: int = 5,
    subprocess: bool = True,
    token: str | None = None,
    records_url: str | None = None,
    port: int | None = None,
) -> DemoResult:
    """Start the service, score ``n`` held-out referrals over HTTP, stop it.

    Parameters
    ----------
    db, tracking_uri
        The store and the MLflow tracking URI with a ``champion``.
    subprocess
        Run ``mast serve`` in a subprocess (default) or uvicorn in a thread.
    token
        A screener's API token; by default one is created (named "mast demo")
        in the records store at ``records_url``.
    records_url
        The records store the service uses (default :func:`records.default_url`).

    Returns
    -------
    DemoResult
        ``text`` holds the flag and reasons of one referral (a flagged one if
        any was flagged) ready to print; ``curl`` the call to do it by hand.
    """
    from serving.launch import serve_in_thread, serve_subprocess

    bodies = held_out_referrals(db, n=n)
    if not bodies:
        raise ValueError(f"the store at {db} has no referrals to score")
    import records

    records_url = records_url or records.default_url()
    if token is None:
        store = records.RecordsStore(records_url)
        token = store.create_token(
            "mast demo", "screener", created_by="mast demo", team="Demo MASH team"
        )[0]
        store.close()
    headers = {"Authorization": f"Bearer {token}"}
    if subprocess:
        ctx = serve_subprocess(db, tracking_uri, port=port, env={"MAST_RECORDS_DB": records_url})
    else:
        from serving.app import ServingSettings, create_app

        settings = ServingSettings.from_mast(
            db=Path(db), tracking_uri=tracking_uri, records_url=records_url
        )
        ctx = serve_in_thread(create_app(settings), port=port)
    with ctx as base_url:
        results = score_over_http(base_url, bodies, headers)
        featured = next((r for r in results if r["multi_agency_review_recommended"]), results[0])
        body = next(b for b in bodies if b["referral_id"] == featured["referral_id"])
        repeat = demo_repeat_referral(base_url, headers, body)
        queue = demo_queue(base_url, token)
        # Recorded after the queue is read: the queue shows what awaits the screener.
        review = demo_strategy_discussion(base_url, headers, body)
        from serving.demo_named import demo_named_adult

        # A referral not flagged as first received, so what the adult adds can show.
        plain_result = next(
            (r for r in results if not r["multi_agency_review_recommended"]), featured
        )
        plain_body = next(b for b in bodies if b["referral_id"] == plain_result["referral_id"])
        named_adult = demo_named_adult(
            base_url, headers, db, plain_body, plain_result["highest_score"]
        )
    return DemoResult(
        base_url=base_url,
        summary=[
            {
                "referral_id": r["referral_id"],
                "highest_score": r["highest_score"],
                "review_recommended": r["multi_agency_review_recommended"],
            }
            for r in results
        ],
        featured=featured,
        text=format_score(featured),
        curl=curl_example("http://127.0.0.1:8000", body),
        repeat=repeat,
        review=review,
        queue=queue,
        named_adult=named_adult,
    )
