"""The scoring engine: one referral in, advisory scores with reasons out.

The engine holds the store in memory (:class:`features.StoreSnapshot`,
reloaded when the file changes, with what MAST received and decided since
overlaid by :mod:`serving.live`), the champion model and the feature
catalogue, loaded once.  A referral's features and its reasons' records come from
:class:`features.MemoryEngine` over the snapshot: the same definitions as
training, evaluated in memory, behind the interface every feature engine
offers (``tests/features/test_engines.py`` holds each engine to one
reference, column for column and record for record).
The chronology still reads the store, on a read-only connection opened
for the request and closed after it (the service never keeps the file open).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from features import MemoryEngine, SQLEngine, Targets, counting_features
from features.definitions import NAMED_ADULT_NAMES
from serving import chronology as chron
from serving import live
from serving.model import LoadedModel
from serving.named_adults import NamedAdultFinder, family_words
from serving.named_reasons import label_named_reasons
from serving.reasons import ReasonSpace, build_reasons, choose_reasons, not_found, records_held_to
from serving.schemas import ReferralIn
from store import vocabulary as v

# A referral time a little ahead of the server clock is clock skew, not a
# referral from the future.
CLOCK_SKEW = timedelta(minutes=5)
ADULT_AGE_YEARS = 18


class ServingError(Exception):
    """A request the service refuses, with the HTTP status and the reason."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


# The data contract's timestamps are local time in England, as the agencies'
# systems record them (docs/data-contract.md).  The audit trail, by contrast,
# is in UTC (records/trail.py): it orders what the service did, not the case.
STORE_TIMEZONE = ZoneInfo("Europe/London")


def to_store_time(moment: datetime) -> datetime:
    """A request timestamp in the store's convention: naive local time in England.

    A time with an offset is converted; one without is taken to be local
    already, as a screener would type it.  Comparing a UTC "now" with local
    store times would refuse, every summer, a referral received in the last
    hour as "in the future".
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(STORE_TIMEZONE).replace(tzinfo=None)
    return moment


def store_now() -> datetime:
    """Now, in the store's convention (naive local time in England)."""
    return datetime.now(STORE_TIMEZONE).replace(tzinfo=None)


@dataclass
class EngineConfig:
    """Tunables of the engine; the defaults are what the docs describe."""

    top_reasons: int = 5
    max_records: int = 10
    late_after_days: int = chron.LATE_AFTER_DAYS


def _referral_frames(referral: ReferralIn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The referral as rows of the contract's ``referrals`` and ``referral_children``."""
    return Targets(*_referral_records(referral)).frames()


def _referral_records(referral: ReferralIn) -> tuple[list[dict], list[dict]]:
    """The referral as checked contract records (no DataFrame: this is per request)."""
    concerns = {str(c) for c in referral.concerns}
    row = {
        "referral_id": referral.referral_id,
        "received_at": pd.Timestamp(to_store_time(referral.received_at)),
        "source": str(referral.source),
        "referrer_relationship": str(referral.referrer_relationship),
        **{f"concern_{c}": c in concerns for c in v.CONCERNS},
    }
    referral_children = [
        {"referral_id": referral.referral_id, "person_id": p} for p in referral.children
    ]
    return [row], referral_children


class ScoringEngine:
    """Scores referrals and builds chronologies against one store and one model.

    Parameters
    ----------
    db
        Path of the DuckDB store, opened read-only.
    model
        The champion, loaded once (see :func:`serving.model.load_champion`).
    config
        Reason and chronology tunables.
    """

    def __init__(
        self,
        db: str | Path,
        model: LoadedModel,
        config: EngineConfig | None = None,
        snapshot=None,
    ):
        import features

        self.db = Path(db)
        self.model = model
        self.config = config or EngineConfig()
        self._features = features
        # The whole store in memory, indexed by person: read by every request.
        # The DuckDB file is open only while it loads (serving/live.py says why).
        self._base = snapshot if snapshot is not None else live.load_snapshot(self.db)
        self.live: live.LiveHistory | None = None
        # Up to when MAST holds each agency's records, for the base it was read with.
        self._held: tuple[Any, dict[str, Any]] | None = None
        entries = features.catalogue()
        if isinstance(entries, dict):
            entries = entries.values()
        self.catalogue = {e.name: e for e in entries}
        self.feature_names = model.feature_names
        # The model's columns in the feature code's own order: no reordering per request.
        self._native_order = self.feature_names == list(features.FEATURE_NAMES)
        # A reason is one feature, or one categorical field of the referral (its source...).
        self.reasons = ReasonSpace(self.feature_names, self.catalogue)
        self.zero_means_no_records = counting_features(self.catalogue.values())
        # Adults the referrer names, searched for in the linked records (issue #20).
        self.named = NamedAdultFinder(lambda: live.reading(self.db))
        # A model trained before the named-adult family does not weigh them (and says so).
        self.weighs_named = any(n in NAMED_ADULT_NAMES for n in self.feature_names)

    @property
    def records_held_to(self) -> dict[str, Any]:
        """Up to when MAST holds each agency's records: an absence is only one up to then.

        Read from the store once per snapshot loaded (the store refreshes
        under a running service), on a connection closed straight after.
        """
        base = self._base if self.live is None else self.live.base
        held = self._held
        if held is None or held[0] is not base:
            with live.reading(self.db) as con:
                held = self._held = (base, records_held_to(con))
        return held[1]

    @property
    def snapshot(self):
        """The store in memory, with what MAST received and decided since merged in."""
        return self.live.snapshot if self.live is not None else self._base

    def follow(self, records_store, start: bool = True) -> live.LiveHistory:
        """Make referrals and decisions in ``records_store`` live history, and follow the store.

        Idempotent for the same records store; a worker calls it once, at start-up.
        """
        follower = self.live
        if follower is None or follower.records is not records_store:
            if follower is not None:
                follower.stop()
            base = self._base if follower is None else follower.base
            follower = self.live = live.LiveHistory(self.db, records_store, base)
        if start:
            follower.start()
        return follower

    def catch_up(self, people=None) -> None:
        """See every referral and decision acknowledged before now (any worker's).

        ``people``: only what could touch these children's history is needed now.
        """
        if self.live is not None:
            self.live.catch_up(people)

    # -- connections ---------------------------------------------------------
    def cursor(self):
        """A read-only connection to the store, closed when the caller drops it.

        The service never keeps the store open between requests, so that
        ``mast load --append`` can write it while the service runs.
        """
        return live.open_store(self.db)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()

    # -- checks --------------------------------------------------------------
    def check_children(
        self, referral: ReferralIn, now: datetime | None = None, snapshot=None
    ) -> None:
        """Refuse what cannot be scored: unknown children, impossible dates.

        Raises
        ------
        ServingError
            404 naming an unknown ``person_id``; 422 for a referral dated in
            the future, before a child's birth, or about an adult.
        """
        now = now or store_now()
        received = to_store_time(referral.received_at)
        if received > now + CLOCK_SKEW:
            raise ServingError(
                422,
                f"received_at {referral.received_at.isoformat()} is in the future; "
                "a referral can only be scored once it has been received.",
            )
        snap = snapshot if snapshot is not None else self.snapshot
        for pid in referral.children:
            if pid not in snap.person:
                raise ServingError(404, f"Unknown child: no person_id {pid!r} in the store.")
        received_us = int(np.datetime64(received, "us").astype(np.int64))
        for pid in referral.children:
            i = snap.person[pid]
            if int(snap.dob[i]) > received_us:
                born = pd.Timestamp(int(snap.dob[i]), unit="us")
                raise ServingError(
                    422,
                    f"received_at {received.isoformat()} is before child {pid!r} was born "
                    f"({born.date().isoformat()}).",
                )
            if int(snap.adult_at[i]) <= received_us:
                raise ServingError(
                    422,
                    f"person_id {pid!r} was {ADULT_AGE_YEARS} or over on "
                    f"{received.date().isoformat()}: MAST screens referrals about children.",
                )

    # -- features and scores -------------------------------------------------
    def features_for(self, referral: ReferralIn):
        """The feature table for the referral, from the in-memory engine."""
        self.catch_up(referral.children)
        return MemoryEngine(self.snapshot).features(Targets(*_referral_records(referral)))

    def model_inputs(self, table) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Keys and ``X`` in the model's own column order."""
        if self._native_order:
            return table.keys, table.X
        missing = [f for f in self.feature_names if f not in table.X.columns]
        if missing:
            raise RuntimeError(
                f"The model expects features the feature code no longer builds: {missing}. "
                "Retrain and promote a model on the current features."
            )
        return table.keys, table.X[self.feature_names]

    def evidence(
        self, referral: pd.DataFrame, children: pd.DataFrame, person_id: str, feature: str
    ) -> list[dict]:
        """The records behind one feature for one child, as plain dicts.

        ``features.evidence`` selects them with the feature's own predicates,
        so the records listed are the ones the feature counted.
        """
        found = SQLEngine(self.cursor()).evidence(
            Targets(referral, children), {person_id: [feature]}
        )
        return [_record(r) for r in found[(person_id, feature)]]

    def evidence_batch(
        self, referral, children, wanted: Mapping[str, list[str]]
    ) -> dict[tuple[str, str], list[dict]]:
        """The records behind several features of several children, from memory.

        Equal to :meth:`evidence` for each (child, feature) in ``wanted``
        (``tests/serving`` checks this); ``referral`` and ``children`` are
        frames or records of one referral.
        """
        found = MemoryEngine(self.snapshot).evidence(Targets(referral, children), wanted)
        return {key: [_record(r) for r in rows] for key, rows in found.items()}

    def score(
        self,
        referral: ReferralIn,
        now: datetime | None = None,
        with_records: bool = True,
        with_features: bool = False,
    ) -> dict:
        """Score every child on the referral; see :class:`serving.schemas.ScoreOut`.

        ``with_records=False`` gives the same scores and reasons without
        listing the records behind each reason (about 1 ms of a request,
        from the snapshot); for bulk re-scoring.  ``with_features=True`` adds
        each child's feature values as the model saw them (``None`` for a
        value the model took as missing), so a score can be checked against
        the catalogue.
        """
        self.catch_up(referral.children)
        snapshot = self.snapshot  # one consistent snapshot for the whole request
        self.check_children(referral, now=now, snapshot=snapshot)
        # The named adults are searched for first, so the features (and the
        # score) count the found ones as training counted them (issue #20).
        base = self._base if self.live is None else self.live.base
        named_adults, _, _, found = self.named.describe_with_family(
            referral.named_adults, to_store_time(referral.received_at), base, self.weighs_named
        )
        named_rows = self.named.feature_rows(referral.referral_id, found)
        targets = Targets(*_referral_records(referral), named_rows)
        engine = MemoryEngine(snapshot)
        table = engine.features(targets)
        family = {n: float(table.X[n].iloc[0]) for n in NAMED_ADULT_NAMES} if len(table) else {}
        keys, X = self.model_inputs(table)
        scorer = self.model.scorer
        M = X.to_numpy(dtype=float)
        predicted = scorer.predict_arrays(M)
        C, base_value = scorer.contribution_matrix(M)
        space = self.reasons
        R = space.combine(C)
        names = self.feature_names
        ranked = {}
        wanted: dict[str, list[str]] = {}
        for i, pid in enumerate(keys["person_id"].tolist()):
            features_row = dict(zip(names, M[i], strict=True))
            values = space.values(features_row)
            # Never the referrer, never silence as safety (serving.reasons.choose_reasons).
            raising, lowering = choose_reasons(space, R[i], values, self.config.top_reasons)
            row_c = dict(zip(space.names, R[i], strict=True))
            backing = {r: space.evidence_feature(r, values) for r in raising + lowering}
            ranked[pid] = (i, row_c, values, raising, lowering, backing)
            # A count of 0 has no records behind it: skip it in the look-up.
            wanted[pid] = [
                f
                for f in backing.values()
                if f and not (f in self.zero_means_no_records and features_row[f] == 0)
            ]
        records = engine.evidence(targets, wanted) if with_records else {}
        probability, score, flag = (predicted[k] for k in ("probability", "score", "flag"))
        by_child = {}
        for pid, (i, row_c, values, raising, lowering, backing) in ranked.items():

            def records_for(reason, pid=pid, backing=backing):
                if not with_records:
                    return None
                rows = records.get((pid, backing[reason]), [])
                return [_record(r) for r in rows[: self.config.max_records]], len(rows)

            by_child[pid] = {
                "person_id": pid,
                "probability": float(probability[i]),
                "score": int(score[i]),
                "flag": bool(flag[i]),
                "reasons_for": build_reasons(
                    raising, row_c, values, space.describers, records_for, self.config.max_records
                ),
                "reasons_against": build_reasons(
                    lowering, row_c, values, space.describers, records_for, self.config.max_records
                ),
                "not_found": not_found(
                    space, R[i], values, self.records_held_to, self.config.top_reasons
                ),
                "base_value": float(base_value),
                "raw_margin": float(base_value + C[i].sum()),
            }
            if with_features:
                by_child[pid]["features"] = {
                    name: None if np.isnan(x) else float(x)
                    for name, x in zip(names, M[i], strict=True)
                }
        children = [by_child[pid] for pid in referral.children if pid in by_child]
        highest = max(c["score"] for c in children)
        review = any(c["flag"] for c in children)
        policy = self.model.policy
        threshold = policy.get("threshold_score", policy.get("threshold"))
        return {
            "request_id": uuid.uuid4().hex,
            "referral_id": referral.referral_id,
            "highest_score": highest,
            "multi_agency_review_recommended": review,
            "recommendation": recommendation(review, highest, threshold),
            # Reasons about named adults say whose records they count (serving.named_reasons).
            "children": label_named_reasons(children, named_adults),
            "model_name": self.model.name,
            "model_version": self.model.version,
            "policy_version": self.model.policy_version,
            "scored_at": datetime.now(UTC),
            "named_adults": named_adults,
            "named_adults_counted": family_words(family),
        }

    def named_adults(self, referral: ReferralIn) -> tuple[list[dict], list[dict], list[dict]]:
        """The referral's named adults searched for as of its receipt (:mod:`serving.named_adults`)."""
        base = self._base if self.live is None else self.live.base
        return self.named.describe(
            referral.named_adults, to_store_time(referral.received_at), base, self.weighs_named
        )

    def chronology(
        self,
        person_id: str,
        as_of: datetime | None = None,
        *,
        referral: ReferralIn | None = None,
    ) -> dict:
        """The child's multi-agency chronology as known at ``as_of``.

        With ``referral`` the cut-off defaults to its ``received_at``, its
        other children are shown as siblings, and what was recorded since,
        up to now, comes apart in ``recorded_since``.  Without either, it is
        the chronology as of now.
        """
        now = store_now()
        if as_of is not None:
            as_of = to_store_time(as_of)
        elif referral is not None:
            as_of = to_store_time(referral.received_at)
        else:
            as_of = now
        if as_of > now + CLOCK_SKEW:
            raise ServingError(422, f"as_of {as_of.isoformat()} is in the future.")
        self.catch_up([person_id])
        upto = now if referral is not None else None
        with live.reading(self.db) as cur:
            known = cur.execute("SELECT 1 FROM people WHERE person_id = ?", [person_id]).fetchone()
            if known is None:
                raise ServingError(404, f"Unknown child: no person_id {person_id!r} in the store.")
            built = chron.chronology(
                cur,
                person_id,
                as_of,
                self.config.late_after_days,
                siblings=tuple(referral.children) if referral is not None else (),
                until=upto,
            )
        if self.live is not None:
            # What MAST received and decided since the store was loaded: before
            # the cut-off among the entries, from then up to now in recorded_since.
            cut = as_of if upto is None or upto < as_of else upto
            extra = self.live.chronology_entries(person_id, cut)
            built["entries"] = live_entries(
                built["entries"], [e for e in extra if e["recorded_at"] < as_of]
            )
            built["recorded_since"] = live_entries(
                built["recorded_since"], [e for e in extra if e["recorded_at"] >= as_of]
            )
        if referral is not None and referral.named_adults:
            adults, entries, people = self.named_adults(referral)
            built["named_adults"] = adults
            built["people"] = built["people"] + people
            built["entries"] = sorted(
                built["entries"] + [e for e in entries if e["recorded_at"] < as_of],
                key=lambda e: (e["occurred_at"], e["recorded_at"]),
            )
        return {
            "person_id": person_id,
            "referral_id": referral.referral_id if referral is not None else None,
            "as_of": as_of,
            "late_after_days": self.config.late_after_days,
            **built,
        }

    # -- start-up ------------------------------------------------------------
    def warm_up(self) -> None:
        """One prediction and one SHAP call so the first screener is not kept waiting.

        The first call builds LightGBM's and SHAP's internal state; a
        historical referral from the store, when there is one, then has its
        features computed from the snapshot, so that path is warm too.
        """
        X = pd.DataFrame([[0.0] * len(self.feature_names)], columns=self.feature_names)
        # The named-adult search index (none for a store never linked).
        self.named.search_index(self._base if self.live is None else self.live.base)
        self.model.scorer.predict_frame(X)
        self.model.scorer.contributions(X)
        with live.reading(self.db) as con:
            sample = con.execute(
                "SELECT r.referral_id, r.received_at, r.source, r.referrer_relationship, "
                + ", ".join(f"r.{c}" for c in v.CONCERN_COLUMNS)
                + ", list(rc.person_id ORDER BY rc.person_id) AS children "
                "FROM referrals r JOIN referral_children rc USING (referral_id) "
                "GROUP BY ALL ORDER BY r.received_at DESC LIMIT 1"
            ).fetchone()
        if sample is not None:
            concerns = [c for c, flag in zip(v.CONCERNS, sample[4:-1], strict=True) if flag]
            referral = ReferralIn(
                referral_id=sample[0],
                received_at=sample[1],
                source=sample[2],
                referrer_relationship=sample[3],
                concerns=concerns,
                children=sample[-1],
            )
            self.model_inputs(self.features_for(referral))


def live_entries(entries: list[dict], extra: list[dict]) -> list[dict]:
    """The store's chronology entries with the live ones, in the chronology's order."""
    if not extra:
        return entries
    return sorted(
        entries + extra, key=lambda e: (e["occurred_at"], e["recorded_at"], e["person_id"])
    )


def _record(r: Mapping[str, Any]) -> dict:
    """One evidence row (a ``features.evidence`` record) as the API's plain dict."""
    return {
        "record": str(r["record"]),
        "agency": _text(r["agency"]),
        "event_type": str(r["event_type"]),
        "person_id": str(r["person_id"]),
        "relationship": str(r["relationship"]),
        "occurred_at": _ts(r["occurred_at"]),
        "recorded_at": _ts(r["recorded_at"]),
        "detail": _text(r["detail"]),
    }


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    text = str(value)
    return text or None


def _ts(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return None
    if type(value) is datetime:
        return value
    return pd.Timestamp(value).to_pydatetime()


def recommendation(review: bool, highest: int, threshold: Any) -> str:
    """The referral-level recommendation in words, always advisory."""
    if review:
        return (
            f"Mandatory multi-agency review recommended: the highest score is {highest} of 20"
            + (
                f", at or above the review threshold of {threshold}"
                if threshold is not None
                else ""
            )
            + ". This is advisory; the screener decides and records the decision."
        )
    return (
        f"No mandatory multi-agency review indicated by the tool: the highest score is {highest} "
        "of 20. This is advisory; the screener decides on all the information available."
    )
