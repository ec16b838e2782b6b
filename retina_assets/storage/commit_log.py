"""The commit log of one partition: the source of truth for which version is current, when, and why.

Each partition of each dataset in each zone has its own log, a folder of numbered JSON entries::

    <lake>/_commits/<zone>/<client>/<dataset>/as_of_date=D/00000000000000000001.json
                                                           00000000000000000002.json ...

An entry is never changed or removed. Entry ``n + 1`` is created with a put-if-absent
(:meth:`~retina_assets.storage.filesystem.LakeFileSystem.create_exclusive`: a hard link on local disk,
``If-None-Match: *`` on S3 and on Azure Blob), so of two writers appending after entry ``n`` exactly one
succeeds: that is the optimistic-concurrency commit. Actions:

* ``commit`` makes a version current; it carries the whole version record (path, hash, rows, schema,
  inputs, run id). The partition's current version is the version of its last ``commit`` entry.
* ``pin`` / ``unpin`` keep a version from retention, with who and why.
* ``tombstone`` says a version's file was deleted (by retention), when and why; the entry is written before
  the file is deleted, so a deleted file always has its tombstone.

Every entry has a ``txn`` id: a writer whose create was refused reads the entry that won and recognises its
own (a create that succeeded but whose answer was lost, then retried) by that id.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from retina_assets.storage.filesystem import LakeFileSystem
from retina_assets.storage.paths import join

Action = Literal["commit", "pin", "unpin", "tombstone"]
ACTIONS: tuple[Action, ...] = ("commit", "pin", "unpin", "tombstone")
SEQ_DIGITS = 20


def utc_now() -> str:
    """The current UTC time as ISO 8601 with microseconds (the format of every time the lake records)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def current_user() -> str:
    """Who is acting (for pins and tombstones): the login name, or ``unknown``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


@dataclass(frozen=True)
class CommitEntry:
    """One entry of a partition's commit log (see the module docstring for the actions)."""

    seq: int
    action: Action
    at: str
    txn: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: dict[str, Any] | None = None  # commit: the version record
    content_hash: str | None = None  # pin, unpin, tombstone: the version acted on
    path: str | None = None
    reason: str | None = None
    by: str | None = None

    @property
    def target_hash(self) -> str | None:
        """The content hash this entry is about (the committed version's, or the pinned/deleted one's)."""
        if self.version is not None:
            return str(self.version["content_hash"])
        return self.content_hash

    def to_json(self) -> bytes:
        record = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(record, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, origin: str) -> CommitEntry:
        try:
            record: Mapping[str, Any] = json.loads(data)
            known = set(cls.__dataclass_fields__)
            entry = cls(**{k: v for k, v in record.items() if k in known})
        except (ValueError, TypeError) as exc:
            raise CommitLogError(f"{origin}: not a commit log entry ({exc})") from None
        if entry.action not in ACTIONS:
            raise CommitLogError(f"{origin}: unknown action {entry.action!r}")
        return entry


class CommitLogError(RuntimeError):
    """A commit log entry that cannot be read (names the file)."""


class CommitLog:
    """The append-only commit log of one partition in folder ``log_dir`` (see the module docstring)."""

    def __init__(self, fs: LakeFileSystem, log_dir: str):
        self.fs = fs
        self.log_dir = log_dir

    def entry_uri(self, seq: int) -> str:
        return join(self.log_dir, f"{seq:0{SEQ_DIGITS}d}.json")

    def entries(self) -> list[CommitEntry]:
        """Every entry, in commit order."""
        out = []
        for info in self.fs.list_files(self.log_dir):
            name = info.uri.rsplit("/", 1)[-1]
            if name.endswith(".json") and name[:-5].isdigit():
                out.append(CommitEntry.from_json(self.fs.read_bytes(info.uri), info.uri))
        return sorted(out, key=lambda e: e.seq)

    def try_append(self, entry: CommitEntry) -> CommitEntry | None:
        """Create ``entry`` at its ``seq``. Returns ``None`` if it was created, else the entry that holds
        that number (never ours: an entry with our ``txn`` counts as created)."""
        if self.fs.create_exclusive(self.entry_uri(entry.seq), entry.to_json()):
            return None
        holder = CommitEntry.from_json(
            self.fs.read_bytes(self.entry_uri(entry.seq)), self.entry_uri(entry.seq)
        )
        return None if holder.txn == entry.txn else holder

    def append(self, action: Action, **fields: Any) -> CommitEntry:
        """Append an entry that does not depend on the log's state (pin, unpin, tombstone): retried at the
        next free number until it lands."""
        entries = self.entries()
        seq = entries[-1].seq + 1 if entries else 1
        txn = uuid.uuid4().hex
        while True:
            entry = CommitEntry(seq=seq, action=action, at=utc_now(), txn=txn, **fields)
            holder = self.try_append(entry)
            if holder is None:
                return entry
            seq = holder.seq + 1
