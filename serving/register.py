"""The service's side of the referral register: one version of each referral.

:mod:`records.register` keeps the versions in the trail; this module knows
what a referral looks like to the service (:class:`~serving.schemas.ReferralIn`),
where the local authority's own referrals are (the store), and how scoring,
the register and the audit of what was shown fit together.  The JSON API
and the page both score through :meth:`ReferralRegister.score`, so neither
can show a score the other would refuse.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import records
from features import StoreSnapshot
from records import register as reg
from records.trail import format_time
from serving import statutory
from serving.schemas import ReferralIn
from serving.scoring import STORE_TIMEZONE, to_store_time
from store import vocabulary as v


def content_of(referral: ReferralIn) -> dict[str, Any]:
    """The register's canonical content of ``referral`` (received_at in store local time)."""
    return reg.referral_content(
        to_store_time(referral.received_at).isoformat(),
        str(referral.source),
        str(referral.referrer_relationship),
        [str(c) for c in referral.concerns],
        referral.children,
        [a.model_dump(mode="json") for a in referral.named_adults],
        **{f: _fact(getattr(referral, f)) for f in reg.FACT_FIELDS},
    )


def _fact(value: Any) -> Any:
    return value if value is None or isinstance(value, bool) else str(value)


def referral_of(referral_id: str, content: dict[str, Any]) -> ReferralIn:
    """A register version's content as the :class:`ReferralIn` it scores as."""
    return ReferralIn(
        referral_id=referral_id,
        received_at=datetime.fromisoformat(content["received_at"]),
        source=content["source"],
        referrer_relationship=content["referrer_relationship"],
        concerns=content["concerns"],
        children=content["children"],
        named_adults=content.get("named_adults") or [],
        **{f: content[f] for f in reg.FACT_FIELDS if content.get(f) is not None},
    )


def trail_time(store_time: datetime | str) -> str:
    """A store time (naive, England) as the trail's UTC text, for comparing with ``Entry.at``."""
    moment = datetime.fromisoformat(store_time) if isinstance(store_time, str) else store_time
    return format_time(to_store_time(moment).replace(tzinfo=STORE_TIMEZONE))


def stored_referral(engine, referral_id: str) -> ReferralIn | None:
    """A referral as the local authority's store holds it, or ``None`` if it is not there."""
    if referral_id not in engine.snapshot.referral:
        return None
    from contextlib import closing

    columns = ", ".join(v.CONCERN_COLUMNS)
    # A connection for these two reads only: the service never keeps the store open.
    with closing(engine.cursor()) as cur:
        row = cur.execute(
            f"SELECT referral_id, received_at, source, referrer_relationship, {columns} "
            "FROM referrals WHERE referral_id = ?",
            [referral_id],
        ).fetchone()
        if row is None:  # a referral held in memory only (received through MAST)
            return None
        children = [
            r[0]
            for r in cur.execute(
                "SELECT person_id FROM referral_children WHERE referral_id = ? ORDER BY person_id",
                [referral_id],
            ).fetchall()
        ]
    concerns = [c for c, flag in zip(v.CONCERNS, row[4:], strict=True) if flag]
    return ReferralIn(
        referral_id=row[0],
        received_at=row[1],
        source=row[2],
        referrer_relationship=row[3],
        concerns=concerns,
        children=children,
    )


class ReferralRegister:
    """The register as the service uses it: check, score, register, audit.

    Parameters
    ----------
    guard
        The service's :class:`serving.access.Guard`: its records store holds
        the versions, and it writes every score shown to the trail.
    engine
        The scoring engine (its store holds the local authority's referrals).
    """

    def __init__(self, guard, engine) -> None:
        self.guard, self.store, self.engine = guard, guard.store, engine

    def stored(self, referral_id: str) -> dict[str, Any] | None:
        """The store's content of the referral (its version 1), if the store holds it."""
        found = stored_referral(self.engine, referral_id)
        return None if found is None else content_of(found)

    def versions(self, referral_id: str) -> list[dict[str, Any]]:
        """Every version, oldest first: the store's (if any), then the trail's.

        Each is the content plus ``version``, ``flagged`` (``None`` for the
        store's, which MAST did not score when loading), ``reason``, and
        ``actor``/``at`` for versions recorded in MAST.
        """
        out = []
        stored = self.stored(referral_id)
        if stored is not None:
            out.append({"version": 1, **stored, "flagged": None, "reason": None, "actor": None})
        for e in self.store.referral_versions(referral_id):
            out.append({**e.payload, "actor": e.actor, "role": e.role, "at": e.at})
        return out

    def current(self, referral_id: str) -> ReferralIn | None:
        """The referral's current version, or ``None`` if MAST has never received it."""
        found = reg.latest(self.store.referral_versions(referral_id), self.stored(referral_id))
        return None if found is None else referral_of(referral_id, found[1])

    def blind_first_refusal(self, principal: records.Principal, referral: ReferralIn) -> str | None:
        """Why ``principal`` may not see this referral's score yet in blind-first mode, or ``None``.

        A screener must have recorded an initial view of *this* referral, and
        before being shown the score of any other referral naming one of its
        children since it was received (an alias id is not a way round).
        """
        if principal.role != "screener" or not self.store.blind_first():
            return None
        rid = referral.referral_id
        if not self.store.has_initial_view(rid, principal):
            return (
                f"Blind-first mode is on: record your initial view of referral {rid} "
                f"(POST /v1/referrals/{rid}/initial-views) before the score is shown."
            )
        seen = self.store.scores_seen_first(
            principal, rid, referral.children, trail_time(referral.received_at)
        )
        if seen:
            return (
                f"Blind-first mode is on: you were shown the score of referral "
                f"{seen[0].referral_id}, about the same child, at {seen[0].at}, before you "
                f"recorded your initial view of referral {rid}. That view is not blind: a "
                "colleague who has not seen the score should take this referral."
            )
        return None

    def score(
        self,
        referral: ReferralIn,
        *,
        with_records: bool = True,
        with_features: bool = False,
    ) -> tuple[dict, dict | None]:
        """Score ``referral`` under the register's rules.

        Returns the result and, for a referral MAST has not received before,
        what :meth:`shown` must register with it (``None`` otherwise).  The
        caller checks the result against the response contract, then calls
        :meth:`shown`: the registration and the score view are one durable
        write, and nothing is logged as shown before it is.

        Raises
        ------
        records.RuleViolation
            409 naming the fields, if the referral is known with other content.
        ServingError
            What :meth:`ScoringEngine.score` refuses.
        """
        # What cannot be scored at all (an unknown child, a date in the future)
        # is refused as such, before the register is asked.
        self.engine.check_children(referral)
        content = content_of(referral)
        stored = self.stored(referral.referral_id)
        known = self.store.check_referral(referral.referral_id, content, stored)
        result = self.engine.score(referral, with_records=with_records, with_features=with_features)
        pending = None if known else {"content": content, "stored": stored}
        return self._sticky(referral, result, known or 1), pending

    def shown(
        self,
        principal: records.Principal,
        referral: ReferralIn,
        result: dict,
        pending: dict | None,
        **extra,
    ) -> None:
        """Log that ``principal`` was shown ``result``, registering a new referral with it.

        A new referral's registration checks the register again in the same
        write, so two first posts of one id with different content cannot
        both pass: the second raises :class:`records.RuleViolation` (409) and
        nothing of it is written.
        """
        # The triggers go into the view, so a decision is checked against them.
        extra = {**statutory.detail(result), **extra} if "statutory_triggers" in result else extra
        if pending is None:
            self.guard.record_score(principal, referral, result, **extra)
            return
        self.store.register_referral(
            principal,
            referral.referral_id,
            pending["content"],
            flagged=result["multi_agency_review_recommended"],
            stored=pending["stored"],
            view=self.guard.score_view(referral, result, **extra),
        )

    def amend(
        self,
        principal: records.Principal,
        referral: ReferralIn,
        *,
        reason: str | None,
        amendment_id: str,
    ) -> dict:
        """Record a corrected version of ``referral`` and return its score.

        The amendment is written (with its own score's flag) before the
        caller logs the score as shown, so a refused amendment shows nothing.
        """
        stored = self.stored(referral.referral_id)
        result = self.engine.score(referral)
        entry = self.store.amend_referral(
            principal,
            referral.referral_id,
            content_of(referral),
            flagged=result["multi_agency_review_recommended"],
            reason=reason,
            amendment_id=amendment_id,
            stored=stored,
        )
        return self._sticky(referral, result, entry.payload["version"])

    def _sticky(self, referral: ReferralIn, result: dict, version: int) -> dict:
        """``result`` with the version scored, the referral's sticky flag and its statutory triggers."""
        snap = self.engine.snapshot
        source = snap if isinstance(snap, StoreSnapshot) else self.engine.cursor()
        result.update(statutory.triggers(source, referral))
        result["referral_version"] = version
        result["referral_flagged"] = bool(
            result["multi_agency_review_recommended"]
            or self.store.referral_flagged(referral.referral_id)
        )
        return result

    def status(self, referral_id: str, status: records.ReferralStatus) -> records.ReferralStatus:
        """``status`` with the referral's children and received time, for blind-first by child."""
        current = self.current(referral_id)
        if current is None:
            return status
        return dataclasses.replace(
            status,
            children=tuple(current.children),
            received_at=trail_time(current.received_at),
        )
