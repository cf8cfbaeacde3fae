"""The hash chain: canonical content, entry hashes and verification.

Each entry's hash is ``sha256(prev_hash + "\\n" + canonical_json(content))``
where the content is every column except the two hashes.  Changing any
stored field, deleting an entry (a gap in ``seq``) or reordering entries
breaks the chain at that entry, and :func:`verify_rows` names it.

What a chain cannot show on its own is truncation of the newest entries:
the signed heads of :mod:`records.anchor` (checked here when given) and a
head hash kept elsewhere (``--expect-head``) do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

GENESIS = "0" * 64
CONTENT_FIELDS = (
    "seq",
    "at",
    "kind",
    "actor",
    "role",
    "referral_id",
    "person_id",
    "record_id",
    "payload",
)


def canonical_json(value) -> str:
    """JSON with sorted keys and no insignificant whitespace: one text per value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(prev_hash: str, row: Mapping) -> str:
    """The hash of one entry, chained to the previous entry's hash."""
    content = {field: row[field] for field in CONTENT_FIELDS}
    return hashlib.sha256(f"{prev_hash}\n{canonical_json(content)}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The outcome of verifying the chain.

    Attributes
    ----------
    ok
        True when every entry checks out.
    entries
        How many entries were checked (up to and including a broken one).
    head_hash
        The hash of the last good entry (``GENESIS`` for an empty trail).
    broken_seq
        The ``seq`` of the first broken entry, or ``None``.
    reason
        Why that entry is broken, in words.
    """

    ok: bool
    entries: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None
    anchors: int = 0
    anchored_seq: int = 0


def verify_rows(
    rows: Iterable[Mapping], expect_hash: str | None = None, anchors: Sequence = ()
) -> ChainReport:
    """Check rows ordered by ``seq`` and stop at the first broken entry.

    ``expect_hash``, a head hash recorded earlier, must be the hash of some
    entry: if it is not, entries were removed from the end (or this is
    another trail).  ``anchors`` (signed heads, :class:`records.anchor.Head`)
    must each be the hash of the entry with their ``seq``: a missing entry
    means the trail was truncated, a different hash that it was rewritten.
    """
    anchored: dict[int, list] = {}
    for a in anchors:
        anchored.setdefault(a.seq, []).append(a)
    newest = max((a.seq for a in anchors), default=0)
    seen = expect_hash is None
    prev = GENESIS
    expected_seq = 1
    n = 0
    for row in rows:
        n += 1
        seq = row["seq"]
        if seq != expected_seq:
            return ChainReport(
                False,
                n,
                prev,
                seq,
                f"entry {seq} follows entry {expected_seq - 1}: entries {expected_seq}..{seq - 1} are missing",
            )
        if row["prev_hash"] != prev:
            return ChainReport(
                False, n, prev, seq, f"entry {seq} does not point at the hash of entry {seq - 1}"
            )
        if entry_hash(prev, row) != row["hash"]:
            return ChainReport(
                False,
                n,
                prev,
                seq,
                f"entry {seq}: its content does not match its hash (altered after it was written)",
            )
        prev = row["hash"]
        for a in anchored.get(seq, ()):
            if a.hash != prev:
                return ChainReport(
                    False,
                    n,
                    prev,
                    seq,
                    f"entry {seq} is not the entry whose hash was signed in the anchor at {a.at} "
                    f"(line {a.line}): the trail was rewritten from entry {seq} or earlier",
                )
        seen = seen or prev == expect_hash
        expected_seq += 1
    if newest > n:
        gone = "every entry was" if n == 0 else f"entries {n + 1}..{newest} at least were"
        return ChainReport(
            False,
            n,
            prev,
            None,
            f"the trail has {n:,} entries but a signed anchor vouches for entry {newest}: "
            f"{gone} removed (or this is another trail)",
        )
    if not seen:
        return ChainReport(
            False,
            n,
            prev,
            None,
            f"no entry has the expected hash {expect_hash}: entries were removed from the end, or this is another trail",
        )
    return ChainReport(True, n, prev, anchors=len(anchors), anchored_seq=newest)
