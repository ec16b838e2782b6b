"""The fast single-byte -> UTF-8 transcoding gives exactly what Python's codecs give, on every kind of
block (pure ASCII, sparse and dense non-ASCII, runs across block edges), and fails as they do."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest

from retina_assets.ingestion import transcoding
from retina_assets.ingestion.readers import DropReadError, iter_drop_batches
from retina_assets.ingestion.transcoding import is_single_byte_ascii_superset, utf8_stream
from retina_assets.model.spec import DatasetSpec


def read_all(stream: pa.NativeFile, chunk: int) -> bytes:
    out = bytearray()
    while True:
        block = stream.read(chunk)
        if not block:
            return bytes(out)
        out += block


def sample_bytes(seed: int, size: int, high_share: float, alphabet: bytes) -> bytes:
    rng = random.Random(seed)
    ascii_part = b'abcdefghij0123456789;,\n" '
    return bytes(
        rng.choice(alphabet) if rng.random() < high_share else rng.choice(ascii_part) for _ in range(size)
    )


LATIN1_HIGH = bytes(range(0x80, 0x100))
CP1252_DEFINED = bytes(b for b in range(0x80, 0x100) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D))


@pytest.mark.parametrize("encoding, alphabet", [("latin-1", LATIN1_HIGH), ("cp1252", CP1252_DEFINED),
                                                ("iso-8859-15", LATIN1_HIGH)])  # fmt: skip
@pytest.mark.parametrize("high_share", [0.0, 0.0005, 0.01, 0.3, 1.0])
@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_same_bytes_as_python_codecs(
    tmp_path: Path, encoding: str, alphabet: bytes, high_share: float, chunk: int
) -> None:
    size = 3_000 if chunk < 100 else 200_000
    data = sample_bytes(int(high_share * 1e4) + chunk, size, high_share, alphabet)
    path = tmp_path / "drop.csv"
    path.write_bytes(data)
    assert read_all(utf8_stream(str(path), encoding), chunk) == data.decode(encoding).encode("utf-8")


@pytest.mark.parametrize("dense_share", [0.0, 1.0])  # every non-ASCII block whole / run by run
def test_whole_block_and_run_by_run_agree(monkeypatch: pytest.MonkeyPatch, dense_share: float) -> None:
    monkeypatch.setattr(transcoding, "_DENSE_SHARE", dense_share)
    transform = transcoding._SingleByteToUtf8("latin-1")
    ascii_block = pa.py_buffer(b"plain ascii;1\n" * 100)
    assert transform(ascii_block) is ascii_block  # no copy at all
    for data in (b"\xa3" + b"x" * 999, b"x" * 999 + b"\xe9", b"a\xe9\xe8b" * 50, bytes(range(256)) * 3):
        assert bytes(transform(pa.py_buffer(data))) == data.decode("latin-1").encode("utf-8")


def test_which_encodings_take_the_fast_path() -> None:
    for name in ("latin-1", "ISO-8859-1", "latin1", "cp1252", "windows-1252", "iso-8859-15", "mac_roman"):
        assert is_single_byte_ascii_superset(name), name
    for name in ("utf-8", "utf-16", "utf-16-le", "shift_jis", "cp037"):
        assert not is_single_byte_ascii_superset(name), name
    with pytest.raises(ValueError, match="single-byte"):
        utf8_stream("/nonexistent", "utf-16")


def csv_spec(encoding: str) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "canonical": "customers",
            "pattern": ".*",
            "as_of_date": {"from": "arrival"},
            "format": "csv",
            "reader": {"delimiter": ";", "encoding": encoding},
            "columns": {"id": {"name": "customer_id"}, "city": {}},
        }
    )


def test_csv_drop_in_cp1252_reads_exactly(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes("id;city\n1;Zürich €\n2;Malmö\n3;plain\n".encode("cp1252"))
    rows = [r for b in iter_drop_batches(str(path), csv_spec("cp1252")) for r in b.to_pylist()]
    assert rows == [
        {"id": "1", "city": "Zürich €"},
        {"id": "2", "city": "Malmö"},
        {"id": "3", "city": "plain"},
    ]


@pytest.mark.parametrize("good_lines", [1, 50_000])  # in the header's first read, or far into the body
def test_undefined_byte_fails_the_drop_naming_file_and_byte(tmp_path: Path, good_lines: int) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(b"id;city\n" + b"1;ok\n" * good_lines + b"2;bad \x81 byte\n")
    with pytest.raises(DropReadError) as failure:
        list(iter_drop_batches(str(path), csv_spec("cp1252"), "customers.csv"))
    message = str(failure.value)
    assert message.startswith("customers.csv: ")
    assert "0x81" in message and "cp1252" in message
