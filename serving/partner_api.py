"""A referral's chronology for a partner agency's lead invited to it (issue 17).

The front door opens a child's chronology at ``/v1/children/{person_id}/chronology``.
A police, health or education safeguarding lead cannot: that endpoint would
let them open any referral on record.  Here the chronology is opened through
the referral, and a partner lead gets it only for a referral they have been
invited to (404, as for an unknown referral, otherwise).  The view is logged
in the trail like every other.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

import records
from records.roles import READ_INVITED_REFERRAL
from serving.schemas import ChronologyOut, SaneDatetime
from serving.scoring import ServingError

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


def invited_chronology(request: Request, principal, referral_id: str, person_id: str, as_of=None):
    """The chronology of ``person_id`` named on ``referral_id``, if ``principal`` may open it.

    Raises :class:`records.RuleViolation` (404) for a partner not invited and
    :class:`ServingError` for a referral not on record or a person not named
    on it.  Shared by the JSON endpoint and the partner's page.
    """
    app = request.app
    app.state.records.check_access(principal, referral_id)
    referral = app.state.register.current(referral_id)
    if referral is None:
        raise ServingError(404, f"No referral {referral_id!r} is on record.")
    if person_id not in referral.children:
        raise ServingError(403, f"{person_id!r} is not a child named on referral {referral_id}.")
    result = app.state.engine.chronology(person_id, as_of, referral=referral)
    opened_as = "invited" if principal.role in records.PARTNER_ROLES else "front_door"
    record_chronology_view(
        app.state.guard, principal, referral_id, person_id, result, opened_as=opened_as
    )
    return result


def record_chronology_view(guard, principal, referral_id, person_id, result, **extra) -> None:
    """Write a chronology shown to the trail: who saw which child's records, as of when.

    One place for the front door's endpoint and the invited partner's, so the
    trail's ``chronology_view`` entries read the same whoever opened them.
    """
    guard.record(
        "chronology_view",
        principal,
        referral_id=referral_id,
        person_ids=[person_id],
        detail={
            "entries": len(result["entries"]),
            "recorded_since": len(result["recorded_since"]),
            "as_of": result["as_of"].isoformat(),
            **extra,
        },
    )


def make_partner_router() -> APIRouter:
    router = APIRouter(tags=["review and partners"])

    @router.get(
        "/v1/referrals/{referral_id}/children/{person_id}/chronology",
        response_model=ChronologyOut,
        responses={404: {"description": "No such referral that you are invited to."}},
    )
    def referral_chronology(
        request: Request,
        referral_id: str = Path(..., pattern=_ID),
        person_id: str = Path(..., pattern=_ID),
        as_of: SaneDatetime | None = Query(
            None, description="Default: when the referral was received."
        ),
        principal=Depends(records.require(READ_INVITED_REFERRAL)),
    ) -> dict:
        """A child's chronology opened through a referral: the front door, or a partner lead invited to it."""
        return invited_chronology(request, principal, referral_id, person_id, as_of)

    return router
