"""Accumulating agency events as integer arrays while the world runs.

The monthly loop emits thousands of events per step; keeping them as chunks
of small integer arrays (person index, event code, day, role, severity,
incident) and turning them into strings once, at the end, is what keeps a
million-child run inside its memory and time budget.

An *incident* is one occurrence recorded for several people (a police
domestic incident: its victim, its perpetrator and the children who
witnessed it).  The contract has no incident column, so what ties the rows
together is that they share the incident's time: the rows of one incident
carry one incident number here, and the tables give them one ``occurred_at``
and one ``recorded_at``.
"""

from __future__ import annotations

import numpy as np

from store import vocabulary as v

# Every allowed (agency, event_type) pair, numbered.
PAIRS: tuple[tuple[str, str], ...] = tuple(
    (agency, etype) for agency in v.AGENCIES for etype in v.EVENT_TYPES[agency]
)
CODE = {pair: i for i, pair in enumerate(PAIRS)}
ROLE = {r: i for i, r in enumerate(v.EVENT_ROLES)}  # -1 means no role


def code(agency: str, event_type: str) -> int:
    """Number of an (agency, event_type) pair; fails loudly on a pair the contract lacks."""
    return CODE[(agency, event_type)]


class Incidents:
    """Hands out incident numbers, unique across every log of one run."""

    def __init__(self) -> None:
        self.count = 0

    def take(self, n: int) -> np.ndarray:
        """``n`` new incident numbers."""
        numbers = np.arange(self.count, self.count + n, dtype=np.int32)
        self.count += n
        return numbers


class EventLog:
    """Chunks of events: person index, event code, day, role code, severity (0 = none)
    and incident number (-1 = an event of its own)."""

    _DTYPES = (np.int64, np.int16, np.int32, np.int8, np.int8, np.int32)

    def __init__(self) -> None:
        self._chunks: list[tuple[np.ndarray, ...]] = []

    def add(self, person, event_code, day, role=-1, severity=0, incident=-1) -> None:
        person = np.asarray(person, dtype=np.int64)
        n = person.size
        if n == 0:
            return
        rest = (event_code, day, role, severity, incident)
        self._chunks.append(
            (
                person,
                *(
                    np.broadcast_to(np.asarray(x, dtype=d), n).copy()
                    for x, d in zip(rest, self._DTYPES[1:], strict=True)
                ),
            )
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The events as six concatenated arrays (empty ones if there are none)."""
        if not self._chunks:
            return tuple(np.zeros(0, dtype=d) for d in self._DTYPES)
        return tuple(np.concatenate(parts) for parts in zip(*self._chunks, strict=True))
