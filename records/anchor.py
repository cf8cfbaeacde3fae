"""The trail's anchor: signed heads kept outside the database.

The hash chain shows that no stored entry was altered, removed from the
middle or reordered.  It cannot show, on its own, that the newest entries
(or all of them) were deleted, nor tell a forged entry chained onto the
end by someone with write access from a real one: both leave a chain that
checks out.  The anchor closes the first gap and narrows the second.

Every so often (at least every ``MAST_ANCHOR_EVERY`` entries, and when a
process that wrote to the trail shuts down) the head of the chain (the
newest entry's ``seq`` and hash) is appended to a separate, append-only
file, one line per head, each line signed with HMAC-SHA256 under a key that
is not in the database.  ``mast audit-log verify`` then checks that every
anchored head is still in the chain, unchanged.  Someone who can write to
the database but cannot read the key, or rewrite the anchor file, cannot
remove anchored entries or rewrite them without ``verify`` saying so.

The same key signs token events (:mod:`records.tokens`), so a token row or
event inserted with direct SQL is not honoured by the service.

Settings (environment variables; see docs/records.md, "Threat model"):

``MAST_ANCHOR_FILE``
    The anchor file (default: beside a SQLite database, ``<db>.anchors``;
    for PostgreSQL, ``<MAST_HOME>/anchors/<host>-<port>-<database>-<digest of the URL>.anchors``).
``MAST_ANCHOR_KEY``
    The key itself, as text (an environment secret), or
``MAST_ANCHOR_KEY_FILE``
    a file holding it (default: ``<anchor file folder>/records.anchor-key``,
    created with 32 random bytes, mode 0600, the first time a process that
    writes to the trail finds none).
``MAST_ANCHOR_EVERY``
    Anchor at least every this many entries (default 100).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

_log = logging.getLogger(__name__)
ENV_FILE = "MAST_ANCHOR_FILE"
ENV_KEY = "MAST_ANCHOR_KEY"
ENV_KEY_FILE = "MAST_ANCHOR_KEY_FILE"
ENV_EVERY = "MAST_ANCHOR_EVERY"
DEFAULT_EVERY = 100
KEY_FILE_NAME = "records.anchor-key"


class AnchorError(ValueError):
    """The anchor file or its key cannot be used (named, in words)."""


@dataclass(frozen=True)
class Head:
    """One signed head: the newest entry's ``seq`` and hash at the moment ``at``."""

    seq: int
    hash: str
    at: str
    line: int


def default_path(url: str) -> Path:
    """Where the anchors of the trail at ``url`` go unless ``MAST_ANCHOR_FILE`` says."""
    if os.environ.get(ENV_FILE):
        return Path(os.environ[ENV_FILE]).expanduser()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(f"{Path(parsed.database).expanduser()}.anchors")
    from settings import home as mast_home

    home = mast_home()
    # The URL's digest tells apart trails in one database's schemas (its options).
    digest = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()
    name = f"{parsed.host or 'local'}-{parsed.port or 'default'}-{parsed.database or 'db'}-{digest[:8]}"
    return home / "anchors" / f"{name}.anchors"


def load_key(anchor_path: Path, create: bool) -> bytes | None:
    """The signing key: ``MAST_ANCHOR_KEY``, else the key file (made if ``create``).

    Returns ``None`` when there is no key and ``create`` is false (a
    read-only command on a trail that was never anchored).
    """
    if os.environ.get(ENV_KEY):
        return os.environ[ENV_KEY].encode()
    path = Path(os.environ.get(ENV_KEY_FILE) or anchor_path.parent / KEY_FILE_NAME).expanduser()
    if path.exists():
        key = path.read_bytes().strip()
        if len(key) < 16:
            raise AnchorError(f"the anchor key file {path} holds fewer than 16 bytes")
        return key
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole beside it, then linked into place: a worker starting at the same
    # moment finds either no key or the whole key, never an empty or half-written file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:  # another worker made it first
        return path.read_bytes().strip()
    finally:
        tmp.unlink()
    _log.warning(
        "made a new anchor key at %s; keep it (or set %s) away from the records database",
        path,
        ENV_KEY,
    )
    return path.read_bytes().strip()


def sign(key: bytes, message: dict) -> str:
    """HMAC-SHA256 of ``message`` in canonical JSON, as hex."""
    text = json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def signed(key: bytes, message: dict, mac: str | None) -> bool:
    """Whether ``mac`` is ``message``'s signature under ``key`` (compared in constant time)."""
    return isinstance(mac, str) and hmac.compare_digest(sign(key, message), mac)


class Anchor:
    """Appends signed heads to the anchor file and reads them back.

    Parameters
    ----------
    path
        The anchor file (created 0600; opened append-only).
    key
        The HMAC key; ``None`` only for reading a file whose key is missing
        (then :meth:`heads` refuses).
    every
        Anchor at least every this many entries.
    """

    def __init__(self, path: Path, key: bytes | None, every: int = DEFAULT_EVERY) -> None:
        if every < 1:
            raise AnchorError(f"{ENV_EVERY} must be at least 1, got {every}")
        self.path = Path(path)
        self.key = key
        self.every = every
        self.anchored_seq = 0  # the newest head this process wrote
        self.seen_seq = 0  # the newest head this process appended
        self._seen_hash = ""
        self._lock = threading.Lock()

    @classmethod
    def for_url(cls, url: str, writing: bool) -> Anchor:
        """The anchor of the trail at ``url``, from the ``MAST_ANCHOR_*`` settings."""
        path = default_path(url)
        every = int(os.environ.get(ENV_EVERY) or DEFAULT_EVERY)
        return cls(path, load_key(path, create=writing), every)

    def noted(self, before_seq: int, seq: int, head_hash: str) -> None:
        """Called after each commit that appended entries ``before_seq + 1 .. seq``.

        Writes the head when the batch reached or crossed a multiple of
        ``every`` (so whichever process writes that entry anchors it).
        """
        with self._lock:
            if seq > self.seen_seq:
                self.seen_seq, self._seen_hash = seq, head_hash
        if seq // self.every > before_seq // self.every:
            self._try_write(seq, head_hash)

    def flush(self) -> None:
        """Anchor the newest head this process appended, if not yet anchored (at shutdown)."""
        with self._lock:
            seq, head_hash = self.seen_seq, self._seen_hash
        if seq > self.anchored_seq:
            self._try_write(seq, head_hash)

    def _try_write(self, seq: int, head_hash: str) -> None:
        """Write a head, logging (not raising) a failure.

        Called after the entries' commit: raising here would report as
        failed a write that is already stored.  A missing anchor is what
        ``verify`` then shows (fewer heads, or none).
        """
        try:
            self.write(seq, head_hash)
        except (OSError, AnchorError) as err:
            _log.error(
                "could not anchor the trail's head at entry %s in %s: %s", seq, self.path, err
            )

    def write(self, seq: int, head_hash: str) -> None:
        """Append one signed head: one line, written whole and fsynced."""
        if self.key is None:
            raise AnchorError("no anchor key: cannot sign the trail's head")
        from records.trail import now_text

        message = {"seq": seq, "hash": head_hash, "at": now_text()}
        line = json.dumps({**message, "mac": sign(self.key, message)}, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        with self._lock:
            self.anchored_seq = max(self.anchored_seq, seq)

    def latest(self) -> Head | None:
        """The newest signed head (the file's last line), or ``None`` if nothing is anchored.

        Reads the file but checks only the last line's signature: a cheap
        check for a reader on a request's path (:meth:`heads` checks all).

        Raises
        ------
        AnchorError
            The last line is not a signed head, or there is no key to check it.
        """
        if not self.path.exists():
            return None
        if self.key is None:
            raise AnchorError(
                f"the anchor file {self.path} exists but no key was found to check it"
            )
        lines = [
            t
            for t in self.path.read_text(encoding="utf-8", errors="replace").splitlines()
            if t.strip()
        ]
        if not lines:
            return None
        try:
            data = json.loads(lines[-1])
            message = {"seq": int(data["seq"]), "hash": data["hash"], "at": data["at"]}
        except (ValueError, KeyError, TypeError) as err:
            raise AnchorError(f"the last line of {self.path} is not a signed head") from err
        if not signed(self.key, message, data.get("mac")):
            raise AnchorError(f"the last line of {self.path} is not signed with this key")
        return Head(message["seq"], message["hash"], message["at"], len(lines))

    def heads(self) -> list[Head]:
        """Every signed head in the file, oldest line first; a bad line is an error.

        Raises
        ------
        AnchorError
            A line that is not a signed head (edited, forged, or signed with
            another key), or a file with no key to check it.
        """
        if not self.path.exists():
            return []
        if self.key is None:
            raise AnchorError(
                f"the anchor file {self.path} exists but no key was found to check it "
                f"(set {ENV_KEY} or {ENV_KEY_FILE})"
            )
        out = []
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    data = json.loads(text)
                    message = {"seq": int(data["seq"]), "hash": data["hash"], "at": data["at"]}
                except (ValueError, KeyError, TypeError) as err:
                    raise AnchorError(f"line {number} of {self.path} is not a signed head") from err
                if not signed(self.key, message, data.get("mac")):
                    raise AnchorError(
                        f"line {number} of {self.path} is not signed with this key "
                        "(edited, forged, or signed with another key)"
                    )
                out.append(Head(message["seq"], message["hash"], message["at"], number))
        return out
