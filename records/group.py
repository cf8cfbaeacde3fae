"""Group commit: concurrent appends to the trail share one durable commit.

Every score and chronology view is written to the trail before the answer
leaves the service, and a commit is only acknowledged once it is fsynced
(``synchronous=FULL``): that fsync, not the insert, is what an entry costs.
When several requests finish at once, each used to wait for the one before
it to commit, then paid its own fsync.  Here they queue their entries, and
whichever thread gets the write lock first (the *leader*) writes every
queued entry in one transaction with one fsync; the others find theirs
already written when they get the lock, and return at once.

Nothing is acknowledged early: :meth:`GroupCommit.append` returns only
after the transaction holding its entry has committed, and if that commit
fails, every entry of the batch raises (none was acknowledged, none is
stored).  A lone request is written alone, with no waiting for company.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from records.db import Database
from records.trail import Entry, append_rows, new_row


@dataclass(eq=False)
class _Pending:
    content: dict[str, Any]
    payload: dict[str, Any]
    stored: dict[str, Any] | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class GroupCommit:
    """Appends from many threads of one process, committed in shared transactions.

    Parameters
    ----------
    db
        The database; its write lock serialises the batches with every other
        write of this process (decisions, tokens), and its database lock
        with other processes.
    max_batch
        Most entries per transaction (bounds one commit's time).
    """

    def __init__(self, db: Database, max_batch: int = 256) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.db = db
        self.max_batch = max_batch
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self.batches = 0  # transactions written (for tests and benchmarks)
        self.entries = 0

    def append(self, *, payload: dict[str, Any], **columns: Any) -> Entry:
        """Append one entry and return it once it is durably committed.

        Takes the keyword arguments of :func:`records.trail.append` other
        than the connection.  Raises whatever the commit raised if the
        transaction holding the entry failed; the entry is then not stored.
        """
        item = _Pending(new_row(payload=payload, **columns), payload)
        with self._queue_lock:
            self._queue.append(item)
        while True:
            with self.db.write_lock():
                if item.done:
                    break
                with self._queue_lock:
                    batch = self._queue[: self.max_batch]
                    del self._queue[: self.max_batch]
                self._write(batch)
            # A full batch may have left ``item`` for the next leader: go round.
            if item.done:
                break
        if item.error is not None:
            raise item.error
        return Entry(**{**item.stored, "payload": item.payload})

    def _write(self, batch: list[_Pending]) -> None:
        """Write ``batch`` in one transaction (the caller holds the write lock).

        A failed commit fails every entry of the batch: each waiting
        request raises it, so none of them is acknowledged.
        """
        try:
            with self.db.write(locked=True) as conn:
                stored = append_rows(conn, [p.content for p in batch])
        except BaseException as err:  # handed to every waiting request, re-raised there
            for p in batch:
                p.error, p.done = err, True
            return
        for p, row in zip(batch, stored, strict=True):
            p.stored, p.done = row, True
        self.batches += 1
        self.entries += len(batch)
