"""Accumulating agency events as integer arrays while the world runs.

The monthly loop emits thousands of events per step; keeping them as chunks
of small integer arrays (person index, event code, day, role, severity) and
turning them into strings once, at the end, is what keeps a million-child run
inside its memory and time budget.
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


class EventLog:
    """Chunks of events: person index, event code, day, role code, severity (0 = none)."""

    def __init__(self) -> None:
        self._chunks: list[tuple[np.ndarray, ...]] = []

    def add(self, person, event_code, day, role=-1, severity=0) -> None:
        person = np.asarray(person, dtype=np.int64)
        n = person.size
        if n == 0:
            return
        self._chunks.append(
            (
                person,
                np.broadcast_to(np.asarray(event_code, dtype=np.int16), n).copy(),
                np.broadcast_to(np.asarray(day, dtype=np.int32), n).copy(),
                np.broadcast_to(np.asarray(role, dtype=np.int8), n).copy(),
                np.broadcast_to(np.asarray(severity, dtype=np.int8), n).copy(),
            )
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The events as five concatenated arrays (empty ones if there are none)."""
        if not self._chunks:
            dtypes = (np.int64, np.int16, np.int32, np.int8, np.int8)
            return tuple(np.zeros(0, dtype=d) for d in dtypes)
        return tuple(np.concatenate(parts) for parts in zip(*self._chunks, strict=True))
