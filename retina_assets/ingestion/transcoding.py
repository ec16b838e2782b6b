"""Turning a single-byte encoded text drop (Latin-1, Windows-1252, ISO-8859-x) into UTF-8 as it is read.

Arrow's CSV reader only parses UTF-8. Its own ``encoding=`` option decodes and re-encodes every byte of the
file with Python codecs while holding the GIL (~1 CPU-second per 400 MB). Client files in these encodings are
nearly all ASCII, which is already valid UTF-8 and the same text in every one of them. :func:`utf8_stream`
therefore passes ASCII blocks through untouched and re-encodes only the runs of non-ASCII bytes, with the
same Python codec: the output is byte for byte what ``data.decode(encoding).encode("utf-8")`` gives, and a
byte the encoding does not define raises the same :class:`UnicodeDecodeError`.
"""

from __future__ import annotations

import codecs

import numpy as np
import pyarrow as pa

# Python codec names (codecs.lookup(...).name) of stateless encodings that map every byte to at most one
# character and bytes 0x00-0x7F to ASCII, so any block boundary is a character boundary.
_SINGLE_BYTE_PREFIXES = ("iso8859-", "cp125", "latin-1", "mac-", "koi8-")
# Above this share of non-ASCII bytes a block is re-encoded whole (one C call) instead of run by run.
_DENSE_SHARE = 1 / 64


def is_single_byte_ascii_superset(encoding: str) -> bool:
    """Whether :func:`utf8_stream` can transcode ``encoding`` (else use Arrow's own transcoding)."""
    name = codecs.lookup(encoding).name
    return name.startswith(_SINGLE_BYTE_PREFIXES)


class UndecodableByteError(ValueError):
    """A byte the drop's declared encoding does not define; the message gives the byte and its file offset."""


class _SingleByteToUtf8:
    """The transform applied to each block read from the file (called by Arrow's reader thread)."""

    def __init__(self, encoding: str):
        self.encoding = codecs.lookup(encoding).name
        self.offset = 0  # of the current block in the file

    def __call__(self, block: pa.Buffer) -> pa.Buffer | bytes:
        try:
            return self._transcode(block)
        except UnicodeDecodeError as exc:
            view = memoryview(block).cast("B")
            bad = next(
                i for i in range(view.nbytes) if view[i] >= 0x80 and _undefined(view[i], self.encoding)
            )
            raise UndecodableByteError(
                f"byte 0x{view[bad]:02x} at byte offset {self.offset + bad:,} is not valid {self.encoding} "
                f"({exc.reason})"
            ) from None
        finally:
            self.offset += memoryview(block).nbytes

    def _transcode(self, block: pa.Buffer) -> pa.Buffer | bytes:
        view = memoryview(block)
        if view.nbytes == 0:
            return block
        octets = np.frombuffer(view, dtype=np.uint8)
        high = np.flatnonzero(octets >= 0x80)
        if high.size == 0:
            return block
        if high.size > octets.size * _DENSE_SHARE:
            return bytes(view).decode(self.encoding).encode("utf-8")
        # maximal runs of consecutive non-ASCII bytes: [starts[i], ends[i])
        gaps = np.flatnonzero(np.diff(high) != 1)
        starts = np.concatenate(([high[0]], high[gaps + 1])).tolist()
        ends = np.concatenate((high[gaps] + 1, [high[-1] + 1])).tolist()
        pieces: list[bytes | memoryview] = []
        previous = 0
        for start, end in zip(starts, ends, strict=True):
            pieces.append(view[previous:start])
            pieces.append(bytes(view[start:end]).decode(self.encoding).encode("utf-8"))
            previous = end
        pieces.append(view[previous:])
        return b"".join(pieces)


def _undefined(byte: int, encoding: str) -> bool:
    try:
        bytes([byte]).decode(encoding)
    except UnicodeDecodeError:
        return True
    return False


def utf8_stream(source: str | pa.NativeFile, encoding: str) -> pa.NativeFile:
    """An Arrow input stream of ``source`` (a file path or an input stream) decoded from ``encoding`` and
    encoded as UTF-8.

    ``encoding`` must satisfy :func:`is_single_byte_ascii_superset`.
    """
    if not is_single_byte_ascii_superset(encoding):
        raise ValueError(f"{encoding!r} is not a single-byte ASCII-compatible encoding")
    stream = pa.OSFile(source) if isinstance(source, str) else source
    return pa.lib.TransformInputStream(stream, _SingleByteToUtf8(encoding))
