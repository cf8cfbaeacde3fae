"""One way to append an entry in someone's name, for every write of the store."""

from __future__ import annotations

from typing import Any

from records import tokens, trail
from records.tokens import Principal
from records.trail import Entry


def append_as(conn, principal: Principal, kind: str, payload: dict[str, Any], **ids) -> Entry:
    """Append an entry in ``principal``'s name: every write records who made it, in what role
    (and, when their token names one, in what team: :func:`records.tokens.team_payload`).

    ``ids`` are the entry's ``referral_id``, ``person_id`` and ``record_id``.
    """
    return trail.append(
        conn,
        kind=kind,
        actor=principal.name,
        role=principal.role,
        payload=tokens.team_payload(principal, payload),
        **ids,
    )
