"""The bytes of one drop file, read under its dataset's limits.

:func:`open_drop_stream` is the only way a reader gets at a drop's bytes: it undoes the compression the
file name declares (``.gz``, ``.bz2``, ``.zst``, ``.zip`` holding one file), streaming, and passes every block
through a :class:`ReadGuard`, which stops the read with a :class:`DropLimitError` as soon as the drop is
larger after decompression than ``limits.max_bytes``, takes longer than ``limits.max_seconds``, or (for
JSON) nests deeper than ``limits.max_nesting``. The nesting check runs on the bytes *before* a parser sees
them, so no drop can drive a native JSON parser into a stack overflow that would kill the process.

Any problem is a :class:`DropReadError` naming the file and the reason.
"""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pyarrow as pa

from retina_assets.model.spec import DropLimits

# compression declared by a drop's file name -> (Arrow codec or "zip", the bytes such a file starts with)
COMPRESSIONS = {
    ".gz": ("gzip", b"\x1f\x8b"),
    ".bz2": ("bz2", b"BZh"),
    ".zst": ("zstd", b"\x28\xb5\x2f\xfd"),
    ".zip": ("zip", b"PK\x03\x04"),
}


class DropReadError(ValueError):
    """A drop file that cannot be read as declared; the message names the file and the reason."""

    def __init__(self, file: str, reason: str):
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


class DropLimitError(DropReadError):
    """A drop that exceeds one of its dataset's limits (``limits:`` in the client spec)."""


def compression_of(name: str) -> str | None:
    """The compression a drop's name declares (``gzip``, ``bz2``, ``zstd``, ``zip``) or ``None``."""
    lower = name.lower()
    for suffix, (kind, _) in COMPRESSIONS.items():
        if lower.endswith(suffix):
            return kind
    return None


class JsonNestingScanner:
    """Tracks how deep JSON objects and arrays nest across consecutive blocks of UTF-8 JSON text, with
    vectorised passes over each block (brackets inside strings, and escaped quotes, are not counted)."""

    def __init__(self, max_depth: int):
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False
        self.trailing_backslashes = 0  # at the end of the previous block

    def feed(self, block: memoryview | bytes) -> int | None:
        """Consume the next block; return the depth reached if it exceeds ``max_depth``, else ``None``."""
        octets = np.frombuffer(block, dtype=np.uint8)
        n = octets.size
        if n == 0:
            return None
        is_backslash = octets == 0x5C
        index = np.arange(n, dtype=np.int64)
        last_other = np.maximum.accumulate(np.where(is_backslash, -1, index))
        run = index - last_other  # backslashes ending at each position
        run = np.where(last_other < 0, run + self.trailing_backslashes, run)
        before = np.empty(n, dtype=np.int64)  # backslashes right before each position
        before[0] = self.trailing_backslashes
        before[1:] = run[:-1]
        quotes = (octets == 0x22) & (before % 2 == 0)
        quotes_so_far = np.cumsum(quotes, dtype=np.int64)
        opens = (octets == 0x7B) | (octets == 0x5B)
        closes = (octets == 0x7D) | (octets == 0x5D)
        where = np.flatnonzero(opens | closes)
        if where.size:
            outside = (quotes_so_far[where] + int(self.in_string)) % 2 == 0
            steps = np.where(opens[where], 1, -1)[outside]
            if steps.size:
                depths = self.depth + np.cumsum(steps)
                deepest = int(depths.max())
                self.depth = int(depths[-1])
                if deepest > self.max_depth:
                    return deepest
        self.in_string = bool((int(quotes_so_far[-1]) + int(self.in_string)) % 2)
        self.trailing_backslashes = int(run[-1]) if is_backslash[-1] else 0
        return None


class ReadGuard:
    """Counts and checks the bytes of one drop as they are read (an Arrow stream transform), and its rows
    and columns as they are parsed; raises :class:`DropLimitError` naming the file and the limit."""

    def __init__(self, name: str, limits: DropLimits, deadline: float | None = None, json: bool = False):
        self.name = name
        self.limits = limits
        self.deadline = deadline if deadline is not None else time.monotonic() + limits.max_seconds
        self.bytes_read = 0
        self.rows = 0
        self.scanner = JsonNestingScanner(limits.max_nesting) if json else None

    def __call__(self, block: pa.Buffer) -> pa.Buffer:
        view = memoryview(block)
        self.bytes_read += view.nbytes
        if self.bytes_read > self.limits.max_bytes:
            raise DropLimitError(
                self.name,
                f"more than {self.limits.max_bytes:,} bytes after decompression (limits.max_bytes)",
            )
        self.check_time()
        if self.scanner is not None:
            deepest = self.scanner.feed(view)
            if deepest is not None:
                raise DropLimitError(
                    self.name,
                    f"JSON nested {deepest:,} levels deep near byte {self.bytes_read:,}, more than "
                    f"{self.limits.max_nesting} (limits.max_nesting)",
                )
        return block

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise DropLimitError(
                self.name, f"reading took longer than {self.limits.max_seconds:g} s (limits.max_seconds)"
            )

    def check_columns(self, count: int) -> None:
        if count > self.limits.max_columns:
            raise DropLimitError(
                self.name, f"{count:,} columns, more than {self.limits.max_columns:,} (limits.max_columns)"
            )

    def add_rows(self, count: int) -> None:
        self.rows += count
        if self.rows > self.limits.max_rows:
            raise DropLimitError(self.name, f"more than {self.limits.max_rows:,} rows (limits.max_rows)")
        self.check_time()


def open_drop_stream(path: str, name: str, guard: ReadGuard) -> pa.NativeFile:
    """A stream of the drop's bytes after decompression (declared by ``name``'s suffix, checked against
    the file's first bytes), passed through ``guard``. A ``.zip`` must hold exactly one file."""
    kind = compression_of(name)
    if kind is None:
        return pa.lib.TransformInputStream(pa.OSFile(path), guard)
    magic = dict(COMPRESSIONS.values())
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head.startswith(magic[kind]):
        raise DropReadError(name, f"the name says {kind}-compressed, but the file is not {kind} data")
    if kind != "zip":
        return pa.lib.TransformInputStream(pa.CompressedInputStream(pa.OSFile(path), kind), guard)
    try:
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DropReadError(name, f"not a readable zip archive: {exc}") from None
    if len(members) != 1:
        raise DropReadError(
            name, f"a zip drop must hold exactly one file; it holds {len(members)}: "
            f"{[m.filename for m in members[:10]]}"
        )  # fmt: skip
    member = members[0]
    if member.file_size > guard.limits.max_bytes:
        raise DropLimitError(
            name,
            f"{member.filename} is {member.file_size:,} bytes unzipped, more than "
            f"{guard.limits.max_bytes:,} (limits.max_bytes)",
        )
    return pa.lib.TransformInputStream(pa.PythonFile(archive.open(member), mode="r"), guard)
