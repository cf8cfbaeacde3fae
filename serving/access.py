"""Who may call which endpoint, and the audit trail of views and scores.

Roles, tokens and the audit trail belong to :mod:`records`.  This module is
the one seam between them and the service: it gives each route the role
dependency for its action, writes every score and chronology view to the
trail (who, when, which referral), and answers records' question "was this
referral flagged?" from the trail itself, so it works across worker
processes and restarts.
"""

from __future__ import annotations

from typing import Any

import records
from records import kinds, roles
from serving import statutory

# The action each of the service's own endpoints performs, from the role matrix.
ACTIONS = {
    "model": roles.VIEW_MODEL,
    "score": roles.SCORE_REFERRAL,
    "chronology": roles.VIEW_CHRONOLOGY,
    "amend": roles.AMEND_REFERRAL,
}
_KINDS = {"score": kinds.SCORE_VIEW, "chronology_view": kinds.CHRONOLOGY_VIEW}


class Guard:
    """Role dependencies per action, the audit writer and the referral lookup.

    Parameters
    ----------
    store
        The records store (tokens and the audit trail).
    """

    def __init__(self, store: records.RecordsStore):
        self.store = store
        # Set by create_app (serving.register.ReferralRegister): the referral's
        # children and received time, for blind-first by child.
        self.register = None
        self._dependencies = {name: records.require(action) for name, action in ACTIONS.items()}

    def dependency(self, name: str):
        """The FastAPI dependency enforcing the role matrix for ``name``."""
        if name not in self._dependencies:
            raise ValueError(f"Unknown action {name!r}; expected one of {sorted(ACTIONS)}")
        return self._dependencies[name]

    def record(
        self,
        kind: str,
        principal: records.Principal,
        *,
        referral_id: str | None,
        person_ids: list[str],
        detail: dict[str, Any],
    ) -> None:
        """Append one view to the trail; a score of several children is one entry."""
        self.store.log_view(
            principal,
            _KINDS[kind],
            referral_id=referral_id,
            person_id=person_ids[0] if len(person_ids) == 1 else None,
            detail={**detail, "person_ids": person_ids},
        )

    def record_score(self, principal: records.Principal, referral, result: dict, **extra) -> None:
        """Log that ``principal`` was shown ``result`` for ``referral`` (API or page).

        The decision rules later read the flag from this entry, so every place
        that shows a score must log it the same way (:meth:`score_view`).
        """
        view = self.score_view(referral, result, **extra)
        self.store.log_view(
            principal,
            kinds.SCORE_VIEW,
            referral_id=referral.referral_id,
            person_id=view["person_id"],
            detail=view["payload"],
        )

    @staticmethod
    def score_view(referral, result: dict, **extra) -> dict[str, Any]:
        """The score view entry's ``person_id`` and ``payload`` for ``result``."""
        person_ids = list(referral.children)
        return {
            "person_id": person_ids[0] if len(person_ids) == 1 else None,
            "payload": {
                "request_id": result["request_id"],
                "model_version": result["model_version"],
                "highest_score": result["highest_score"],
                "review_recommended": result["multi_agency_review_recommended"],
                **{k: result[k] for k in ("referral_version",) if k in result},
                **extra,
                "person_ids": person_ids,
            },
        }

    def lookup(self, referral_id: str) -> records.ReferralStatus | None:
        """The referral's flag, from the trail: flagged if any score shown of it was.

        A decision is checked against what the tool said when the referral
        was scored; a referral this service never scored is unknown (404).
        The score and model are the latest shown.
        """
        from records import trail

        with self.store.db.read() as conn:
            entries = trail.entries_for(conn, referral_id, kinds.SCORE_VIEW)
            # A recorded strategy discussion (issue 17): the page's preview of the
            # decisions allowed must agree with the store, which reads it again.
            reviewed = bool(trail.entries_for(conn, referral_id, kinds.REVIEW))
        if not entries:
            return None
        last = max(entries, key=lambda e: e.seq).payload
        status = records.ReferralStatus(
            # Sticky: flagged if any score shown of it was (records re-checks in its write).
            flagged=any(bool(e.payload.get("review_recommended")) for e in entries),
            score=last.get("highest_score"),
            model_version=last.get("model_version"),
            **statutory.status_fields(last),
            review_held=reviewed,
        )
        return status if self.register is None else self.register.status(referral_id, status)

    def install(self, app) -> None:
        """Mount records' own endpoints (decisions, overrides, audit) on ``app``."""
        records.install(app, self.store, self.lookup)
