"""Possible matches: pairs of agency records ``mast link`` did not merge, for a person to judge.

``GET /v1/possible-matches`` lists them with their match probability, the
fields that agree and disagree, and both records' identifying details;
``POST /v1/possible-matches/reviews`` records a screener's or manager's
verdict (the same person, or different people) in the audit trail.  The
next ``mast link`` reads the latest verdict on each pair as a label
(:mod:`linkage.labels`).  Only a pair the store currently lists can be
judged: a client cannot confirm a link ``mast link`` never offered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from linkage.labels import DIFFERENT, SAME, VERDICTS, pair_key
from records import kinds
from records.auth import get_store, require
from records.roles import REVIEW_POSSIBLE_MATCH, VIEW_POSSIBLE_MATCHES
from records.rules import RuleViolation
from records.tokens import Principal
from serving.reasons import AGENCY_WORDS

UNIQUE_ID = r"^[a-z_]{2,40}:[A-Za-z0-9._/-]{1,64}$"
_COLUMNS = ("given_name", "family_name", "date_of_birth", "sex", "postcode", "address")


class MatchRecord(BaseModel):
    """One side of a possible match: an agency's record of a person, as the agency holds it."""

    unique_id: str
    agency: str
    agency_words: str
    given_name: str | None
    family_name: str | None
    date_of_birth: str | None
    sex: str | None
    postcode: str | None
    address: str | None


class MatchOut(BaseModel):
    """A possible match: never merged until a person confirms it and ``mast link`` runs again."""

    left: MatchRecord
    right: MatchRecord
    match_probability: float
    probability_words: str
    agreeing_fields: list[str]
    disagreeing_fields: list[str]
    status: str
    rule_version: str
    latest_verdict: str | None = None
    latest_verdict_by: str | None = None
    latest_verdict_at: str | None = None


class MatchReviewIn(BaseModel):
    """A person's verdict on a possible match."""

    model_config = ConfigDict(extra="forbid")

    review_id: str = Field(
        pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="Client id; replay-safe."
    )
    record_l: str = Field(pattern=UNIQUE_ID, description="``agency:agency_record_id``")
    record_r: str = Field(pattern=UNIQUE_ID, description="``agency:agency_record_id``")
    verdict: Literal["same_person", "different_people"]
    reason: str = Field(min_length=3, max_length=2000, description="Why: it is audited.")


class MatchSource:
    """The store's current possible matches (read-only; the file is closed between reads)."""

    def __init__(self, db: Path | str) -> None:
        self.db = Path(db)

    def frame(self, limit: int | None = None, pair: tuple[str, str] | None = None) -> pd.DataFrame:
        """Possible matches with both records' details, most probable first.

        ``pair`` (two ``agency:agency_record_id`` ids, either order) selects one pair.
        """
        from serving.live import reading

        if not self.db.exists():
            return pd.DataFrame()
        with reading(self.db) as con:
            present = {
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
                ).fetchall()
            }
            if not {"possible_matches", "agency_records"} <= present:
                return pd.DataFrame()
            cols = ", ".join(
                f"{side}.{c} AS {c}_{s}" for s, side in (("l", "a"), ("r", "b")) for c in _COLUMNS
            )
            where, params = "", []
            if pair is not None:
                where = (
                    "WHERE (m.agency_l || ':' || m.agency_record_id_l, "
                    "m.agency_r || ':' || m.agency_record_id_r) IN ((?, ?), (?, ?))"
                )
                params = [pair[0], pair[1], pair[1], pair[0]]
            return con.execute(
                f"""
                SELECT m.*, {cols}
                FROM possible_matches m
                JOIN agency_records a
                  ON a.agency = m.agency_l AND a.agency_record_id = m.agency_record_id_l
                JOIN agency_records b
                  ON b.agency = m.agency_r AND b.agency_record_id = m.agency_record_id_r
                {where}
                ORDER BY m.match_probability DESC, m.agency_l, m.agency_record_id_l
                {"LIMIT " + str(int(limit)) if limit is not None else ""}
                """,
                params,
            ).df()


def source_of(request: Request) -> MatchSource:
    """The app's match source: ``app.state.possible_matches``, else the scoring engine's store."""
    source = getattr(request.app.state, "possible_matches", None)
    return source if source is not None else MatchSource(request.app.state.engine.db)


def _side(row: dict, s: str) -> MatchRecord:
    agency = row[f"agency_{s}"]
    dob = row[f"date_of_birth_{s}"]
    return MatchRecord(
        unique_id=f"{agency}:{row[f'agency_record_id_{s}']}",
        agency=agency,
        agency_words=AGENCY_WORDS.get(agency, agency.replace("_", " ")),
        date_of_birth=None
        if dob is None or pd.isna(dob)
        else pd.Timestamp(dob).strftime("%d %b %Y"),
        **{c: _text(row[f"{c}_{s}"]) for c in _COLUMNS if c != "date_of_birth"},
    )


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _split(fields: str) -> list[str]:
    return [f.strip() for f in str(fields or "").split(",") if f.strip()]


def list_matches(source: MatchSource, verdicts: dict, limit: int = 200) -> list[MatchOut]:
    """Possible matches, most probable first, each with the latest verdict on it."""
    out = []
    for row in source.frame(limit=limit).to_dict("records"):
        left, right = _side(row, "l"), _side(row, "r")
        latest = verdicts.get(pair_key(left.unique_id, right.unique_id))
        p = float(row["match_probability"])
        out.append(
            MatchOut(
                left=left,
                right=right,
                match_probability=p,
                probability_words=f"{p:.0%} likely to be the same person",
                agreeing_fields=_split(row["agreeing_fields"]),
                disagreeing_fields=_split(row["disagreeing_fields"]),
                status=row["status"],
                rule_version=row["rule_version"],
                latest_verdict=VERDICTS[latest.payload["verdict"]] if latest else None,
                latest_verdict_by=latest.actor if latest else None,
                latest_verdict_at=latest.at if latest else None,
            )
        )
    return out


def latest_by_pair(store) -> dict:
    """The latest review entry per pair, from the trail."""
    latest = {}
    for entry in store.match_reviews():
        latest[pair_key(entry.payload["unique_id_l"], entry.payload["unique_id_r"])] = entry
    return latest


def review(source: MatchSource, store, principal: Principal, body: MatchReviewIn):
    """Record a verdict on a pair the store lists; ``RuleViolation`` otherwise."""
    key = pair_key(body.record_l, body.record_r)
    hit = source.frame(pair=key)
    match = None if hit.empty else hit.iloc[0]
    if match is None:
        raise RuleViolation(
            "unknown_possible_match",
            "these two records are not a possible match in the current linkage run; "
            "nothing was written",
            status=404,
            field="record_r",
        )
    payload = {
        "unique_id_l": key[0],
        "unique_id_r": key[1],
        "verdict": body.verdict,
        "reason": body.reason,
        "match_probability": float(match["match_probability"]),
        "rule_version": str(match["rule_version"]),
        "run_id": str(match["run_id"]),
    }
    return store.record_match_review(principal, body.review_id, payload)


def make_matches_router() -> APIRouter:
    """The possible-matches API (mounted by :func:`serving.create_app`)."""
    router = APIRouter(prefix="/v1", tags=["linkage"])

    @router.get("/possible-matches", response_model=list[MatchOut])
    def get_possible_matches(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        principal: Principal = Depends(require(VIEW_POSSIBLE_MATCHES)),
    ) -> list[MatchOut]:
        """Pairs of records scored below the linking threshold: never merged unless confirmed."""
        return list_matches(source_of(request), latest_by_pair(get_store(request)), limit)

    @router.post("/possible-matches/reviews", status_code=201)
    def post_review(
        body: MatchReviewIn,
        request: Request,
        principal: Principal = Depends(require(REVIEW_POSSIBLE_MATCH)),
    ) -> dict:
        """Confirm (the same person) or reject (different people) a possible match; audited."""
        try:
            entry = review(source_of(request), get_store(request), principal, body)
        except RuleViolation as err:
            raise HTTPException(err.status, detail=err.as_detail()) from err
        return {
            "seq": entry.seq,
            "kind": kinds.POSSIBLE_MATCH_REVIEW,
            "verdict": VERDICTS[body.verdict],
            "note": "Used as a label by the next `mast link`: "
            + (
                "the two records will be linked."
                if body.verdict == SAME
                else "they will be kept apart."
            )
            if body.verdict in (SAME, DIFFERENT)
            else "",
        }

    return router
