"""Append to, query and export the audit trail."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, select, true

from records.chain import (
    CONTENT_FIELDS,
    GENESIS,
    ChainReport,
    canonical_json,
    entry_hash,
    verify_rows,
)
from records.db import NEW_HEAD, Database, audit_log

# What is exported is what is hashed plus the two hashes, so a CSV can be re-verified.
EXPORT_COLUMNS = (*CONTENT_FIELDS, "prev_hash", "hash")
MAX_QUERY_LIMIT = 10_000
MAX_QUERY_OFFSET = 2**31 - 1  # bounded so every database takes it as an integer


def now_text() -> str:
    """UTC now as fixed-width ISO-8601 text: it sorts as time does, on every dialect."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """A datetime as the trail's text form; naive datetimes are taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except OverflowError as err:
        raise ValueError(f"time {moment.isoformat()} is out of range in UTC") from err


@dataclass(frozen=True)
class Entry:
    """One entry of the trail, as stored."""

    seq: int
    at: str
    kind: str
    actor: str
    role: str
    referral_id: str | None
    person_id: str | None
    record_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row) -> Entry:
        values = dict(row._mapping)
        values["payload"] = json.loads(values["payload"])
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in EXPORT_COLUMNS}


# Built once: constructing a statement per call costs more than running it.
_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT = audit_log.insert()


def new_row(
    *,
    kind: str,
    actor: str,
    role: str,
    payload: dict[str, Any],
    referral_id: str | None = None,
    person_id: str | None = None,
    record_id: str | None = None,
) -> dict[str, Any]:
    """An entry's content before it has a place in the chain (no seq, time or hashes yet).

    The payload is made canonical and every column checked here, so an
    entry that cannot be stored (NaN, a value JSON cannot hold, an id longer
    than its column, a NUL character PostgreSQL refuses) fails alone, with
    the field named, before it joins a batch of other requests' entries.
    """
    row = {
        "kind": kind,
        "actor": actor,
        "role": role,
        "referral_id": referral_id,
        "person_id": person_id,
        "record_id": record_id,
    }
    for field, value in row.items():
        if value is not None or not audit_log.c[field].nullable:
            _check_text(field, value, audit_log.c[field].type.length)
    row["payload"] = canonical_json(payload)
    _check_text("payload", row["payload"], None)
    return row


def _check_text(field: str, value: Any, length: int | None) -> None:
    """Refuse what one dialect would store and another reject, naming the field.

    SQLite stores any text in any column; PostgreSQL refuses text longer
    than ``VARCHAR(n)`` and any NUL character, and neither can encode a
    lone surrogate.  Checking here makes both behave alike.
    """
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected text, got {type(value).__name__}")
    if length is not None and len(value) > length:
        raise ValueError(f"{field}: at most {length} characters, got {len(value)}")
    if "\x00" in value:
        raise ValueError(f"{field}: contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{field}: contains characters that are not valid Unicode text") from err


def head(conn: Connection) -> tuple[int, str]:
    """The last entry's ``seq`` and hash (0 and ``GENESIS`` for an empty trail)."""
    row = conn.execute(_HEAD).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


def append_rows(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chain and insert ``rows`` (from :func:`new_row`), in order, inside one write transaction.

    The caller holds the write lock (:meth:`Database.write`), so reading the
    head once and inserting the next entries cannot interleave with another
    append, in this process or another.  Every entry of one call gets the
    same time: the moment it was written.

    Returns
    -------
    list of dict
        The stored rows, with ``seq``, ``at``, ``prev_hash`` and ``hash``.
    """
    seq, prev = head(conn)
    at = now_text()
    stored = []
    for content in rows:
        seq += 1
        row = {"seq": seq, "at": at, **content, "prev_hash": prev}
        row["hash"] = prev = entry_hash(row["prev_hash"], row)
        stored.append(row)
    if stored:
        conn.execute(_INSERT, stored)
        # Read by Database.write after the commit, to anchor the new head.
        first = conn.info.get(NEW_HEAD, (stored[0]["seq"] - 1,))[0]
        conn.info[NEW_HEAD] = (first, seq, prev)
    return stored


def append(
    conn: Connection,
    *,
    kind: str,
    actor: str,
    role: str,
    payload: dict[str, Any],
    referral_id: str | None = None,
    person_id: str | None = None,
    record_id: str | None = None,
) -> Entry:
    """Append one entry inside a write transaction from :meth:`Database.write`."""
    content = new_row(
        kind=kind,
        actor=actor,
        role=role,
        payload=payload,
        referral_id=referral_id,
        person_id=person_id,
        record_id=record_id,
    )
    (row,) = append_rows(conn, [content])
    return Entry(**{**row, "payload": payload})


def find_record(conn: Connection, record_id: str) -> Entry | None:
    """The entry holding a client-supplied record id, if any."""
    row = conn.execute(select(audit_log).where(audit_log.c.record_id == record_id)).first()
    return Entry.from_row(row) if row else None


def entries_for(
    conn: Connection, referral_id: str, kind: str, actor: str | None = None
) -> list[Entry]:
    """Entries of one kind for one referral (optionally by one person), oldest first."""
    conditions = [audit_log.c.referral_id == referral_id, audit_log.c.kind == kind]
    if actor is not None:
        conditions.append(audit_log.c.actor == actor)
    rows = conn.execute(select(audit_log).where(and_(*conditions)).order_by(audit_log.c.seq))
    return [Entry.from_row(r) for r in rows]


def entries_of_kind(conn: Connection, kind: str) -> list[Entry]:
    """Every entry of one kind, oldest first (for kinds that are few: invitations)."""
    rows = conn.execute(select(audit_log).where(audit_log.c.kind == kind).order_by(audit_log.c.seq))
    return [Entry.from_row(r) for r in rows]


def entries_by(
    conn: Connection, actor: str, kind: str, *, since_at: str | None, before_seq: int
) -> list[Entry]:
    """One person's entries of one kind, at or after ``since_at`` and before ``before_seq``."""
    conditions = [
        audit_log.c.actor == actor,
        audit_log.c.kind == kind,
        audit_log.c.seq < before_seq,
    ]
    if since_at is not None:
        conditions.append(audit_log.c.at >= since_at)
    rows = conn.execute(select(audit_log).where(and_(*conditions)).order_by(audit_log.c.seq))
    return [Entry.from_row(r) for r in rows]


def entries_since(
    conn: Connection, seq: int, kinds: tuple[str, ...], limit: int | None = None
) -> list[Entry]:
    """Entries of ``kinds`` after ``seq``, in chain order (for readers that follow the trail)."""
    statement = (
        select(audit_log)
        .where(and_(audit_log.c.seq > seq, audit_log.c.kind.in_(list(kinds))))
        .order_by(audit_log.c.seq)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [Entry.from_row(r) for r in conn.execute(statement)]


def _bound(value: datetime | date | None, end: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.max if end else time.min)
    return format_time(value)


def query(
    db: Database,
    *,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    referral_id: str | None = None,
    actor: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[Entry], int]:
    """Entries filtered by time (inclusive; a date covers the whole day), referral, user and kind.

    Returns
    -------
    entries, total
        One page of entries in chain order, and how many match in all.
    """
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_QUERY_LIMIT}, got {limit}")
    if not 0 <= offset <= MAX_QUERY_OFFSET:
        raise ValueError(f"offset must be between 0 and {MAX_QUERY_OFFSET}, got {offset}")
    for name, value in (("referral_id", referral_id), ("actor", actor), ("kind", kind)):
        if value is not None and "\x00" in value:  # PostgreSQL refuses it outright
            raise ValueError(f"{name} {value!r}: contains a NUL character")
    lo, hi = _bound(start, end=False), _bound(end, end=True)
    if lo and hi and lo > hi:
        raise ValueError(f"start {lo} is after end {hi}")
    conditions = []
    if lo:
        conditions.append(audit_log.c.at >= lo)
    if hi:
        conditions.append(audit_log.c.at <= hi)
    if referral_id is not None:
        conditions.append(audit_log.c.referral_id == referral_id)
    if actor is not None:
        conditions.append(audit_log.c.actor == actor)
    if kind is not None:
        conditions.append(audit_log.c.kind == kind)
    where = and_(true(), *conditions)
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(audit_log).where(where)).scalar_one()
        rows = conn.execute(
            select(audit_log).where(where).order_by(audit_log.c.seq).limit(limit).offset(offset)
        )
        return [Entry.from_row(r) for r in rows], total


def iter_rows(db: Database, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every stored row in ``seq`` order, in batches so memory stays flat."""
    last = 0
    while True:
        with db.read() as conn:
            rows = conn.execute(
                select(audit_log)
                .where(audit_log.c.seq > last)
                .order_by(audit_log.c.seq)
                .limit(batch)
            ).all()
        if not rows:
            return
        for row in rows:
            yield dict(row._mapping)
        last = rows[-1].seq


def verify(db: Database, expect_hash: str | None = None, anchors=()) -> ChainReport:
    """Verify the whole chain against signed heads; see :func:`records.chain.verify_rows`."""
    return verify_rows(iter_rows(db), expect_hash, anchors)


def export_csv(db: Database, out: Path | str) -> int:
    """Write the whole trail to CSV atomically (temp file, fsync, rename).

    Values are written exactly as stored, so the hashes can be re-checked
    from the file.  Spreadsheet users: free-text cells are not escaped
    against formula injection; open the file as text/CSV import.

    Returns
    -------
    int
        The number of entries written.
    """
    out = Path(out)
    if out.parent and not out.parent.exists():
        raise ValueError(f"--out {out}: folder {out.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent or ".")
    n = 0
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
            writer.writeheader()
            for row in iter_rows(db):
                writer.writerow(row)
                n += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
