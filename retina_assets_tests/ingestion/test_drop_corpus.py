"""Every file of the messy CSV and bad JSON corpora (``shared/data/messy_csv``, ``bad_json``) either
converts correctly or fails with a clear :class:`DropReadError` naming the file and the reason. The drop is
never altered, and nothing (not even a half-written file) appears in the lake when a conversion fails.

"Correctly" is checked against independent readers: csv-spectrum files against their expected JSON, other
delimited files against Python's ``csv`` module, JSON against ``json.loads``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from retina_assets.ingestion.coercion import SchemaMismatchError
from retina_assets.ingestion.landing import Drop
from retina_assets.ingestion.raw_conversion import DropConversion
from retina_assets.ingestion.readers import DropReadError
from retina_assets.model.naming import LINEAGE_COLUMNS
from retina_assets.model.spec import DatasetSpec
from retina_assets.storage.filesystem import filesystem_for, sha256_file
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.lake_env import SHARED_DATA

SKIP_NAMES = {"README.txt", "MANIFEST.tsv", "LICENSE"}
CORPUS = sorted(
    p
    for folder in ("messy_csv", "bad_json")
    for p in (SHARED_DATA / folder).rglob("*")
    if p.is_file() and p.name not in SKIP_NAMES
)
SPECTRUM = SHARED_DATA / "messy_csv" / "csv-spectrum"
# csv-spectrum's golden JSON for location_coordinates.csv has another phone number than the CSV itself
# (upstream erratum); every other value, including the mis-encoded coordinates, must match.
SPECTRUM_ERRATA = {"location_coordinates": {"Contact Phone Number": "2095257564"}}
NULLS = ["", "NULL", "null", "NA", "N/A"]

pytestmark = pytest.mark.skipif(not CORPUS, reason="shared/data corpora not beside the checkout")


def format_of(path: Path) -> tuple[str, dict[str, str]]:
    """The format (and reader options) a client would declare for this file, from its name."""
    name = path.name.lower()
    if name.endswith(".json"):
        return "json", {}
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl", {}
    if name.endswith(".tsv"):
        return "tsv", {}
    if name.endswith(".psv"):
        return "csv", {"delimiter": "|"}
    if name.endswith(".ssv"):
        return "csv", {"delimiter": ";"}
    return "csv", {}


def spec_for(path: Path) -> DatasetSpec:
    fmt, reader = format_of(path)
    return DatasetSpec.model_validate(
        {
            "canonical": "products",
            "pattern": ".*",
            "as_of_date": {"from": "arrival"},
            "format": fmt,
            "reader": reader,
            "columns": {"product_id": {"required": False}},  # everything else is kept as extra columns
        }
    )


def convert(path: Path, spec: DatasetSpec, lake: Path) -> tuple[list[str], list[dict]]:
    """Run the raw stage's conversion and store exactly as the raw asset does; return the drop's columns
    and its rows as read back from the stored Parquet (lineage columns removed)."""
    drop = Drop(str(path), path.name, path.stat().st_size, "0", "corpus", "2024-01-01")
    conversion = DropConversion([drop], spec, filesystem_for(str(path.parent)), progress=lambda _: None)
    version = VersionedStore(str(lake)).write(
        "raw", "corpus", "x", "2024-01-01", conversion.batches(), schema=conversion.schema
    )
    table = pq.read_table(version.path)
    columns = conversion.stats.drop_columns[path.name]
    rows = [{k: v for k, v in r.items() if k not in LINEAGE_COLUMNS} for r in table.to_pylist()]
    return columns, rows


def expected_csv(path: Path, delimiter: str) -> tuple[list[str], list[list[str]]]:
    """Python's csv module: strict first; for malformed quoting (``"a"b``) that the converter accepts
    leniently, the lenient csv module must agree value for value."""
    for strict in (True, False):
        with open(path, encoding="utf-8", newline="") as fh:
            try:
                records = [r for r in csv.reader(fh, delimiter=delimiter, strict=strict) if r]
            except csv.Error:
                continue
        header = [h.strip().lstrip("\ufeff") for h in records[0]]
        return header, records[1:]
    raise AssertionError(f"{path}: converted, but Python's csv module cannot read it at all")


def without_nulls(value: object) -> object:
    """Nested JSON values compared with null members left out (Arrow cannot tell missing from null)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def json_records(text: str) -> list[dict]:
    """Every JSON value of a JSON Lines text: several per line, or one spread over lines, as Arrow's
    reader accepts them."""
    decoder = json.JSONDecoder()
    out = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        value, pos = decoder.raw_decode(text, pos)
        out.append(value)


def same_instant(got: str, want: str) -> bool:
    """Arrow's JSON reader types ISO date/time strings as timestamps (a documented limitation: their text
    comes back as ``YYYY-MM-DD HH:MM:SS``); the instant must be the same."""
    try:
        a = dt.datetime.fromisoformat(got.replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(want.replace("Z", "+00:00"))
    except ValueError:
        return False
    return a.replace(tzinfo=None) == b.astimezone(dt.UTC).replace(tzinfo=None) if b.tzinfo else a == b


def same_json(got: object, want: object) -> bool:
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(same_json(got[k], want[k]) for k in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(same_json(a, b) for a, b in zip(got, want, strict=True))
    if isinstance(got, str) and isinstance(want, str):
        return got == want or same_instant(got, want)
    return got == want


def matches(got: object, want: object) -> bool:
    """``got`` (a stored string) is the oracle's ``want``: nulls stand for the spec's null tokens."""
    if got is None:
        return want is None or (isinstance(want, str) and want in NULLS)
    if isinstance(want, str):
        return got == want or (isinstance(got, str) and same_instant(got, want))
    if isinstance(want, bool):
        return str(got).lower() == str(want).lower()
    if isinstance(want, int | float) and isinstance(got, str):
        return math.isclose(float(got), want)
    if isinstance(want, dict | list) and isinstance(got, str):
        return same_json(json.loads(got), without_nulls(want))
    return str(got) == str(want)


def check_converted(path: Path, spec: DatasetSpec, columns: list[str], rows: list[dict]) -> None:
    if path.is_relative_to(SPECTRUM / "csvs"):
        want = json.loads((SPECTRUM / "json" / f"{path.stem}.json").read_text(encoding="utf-8"))
        want = [want] if isinstance(want, dict) else want
        want = [{**w, **SPECTRUM_ERRATA.get(path.stem, {})} for w in want]
        if b"\r" not in path.read_bytes():
            # newlines_crlf.csv was stored with LF line ends in this copy; its JSON still expects CRLF
            want = [{k: v.replace("\r\n", "\n") for k, v in w.items()} for w in want]
        assert [{k: r.get(k) or "" for k in columns} for r in rows] == want  # csv-spectrum: null = ""
        return
    if spec.format in ("csv", "tsv"):
        header, records = expected_csv(path, spec.reader.delimiter or ("\t" if spec.format == "tsv" else ","))
        assert columns == header
        assert len(rows) == len(records), f"{path}: {len(rows)} rows stored, csv module reads {len(records)}"
        for got, want in zip(rows, records, strict=True):
            assert all(matches(got[h], w) for h, w in zip(header, want, strict=True)), (got, want)
        return
    text = path.read_text(encoding="utf-8")
    if spec.format == "jsonl":
        want_rows = json_records(text)
    else:
        doc = json.loads(text)
        lists = [v for v in doc.values() if isinstance(v, list)] if isinstance(doc, dict) else []
        want_rows = lists[0] if len(lists) == 1 else ([doc] if isinstance(doc, dict) else doc)
    assert len(rows) == len(want_rows)
    for got, want in zip(rows, want_rows, strict=True):
        assert isinstance(want, dict), f"{path}: converted, but a record is not an object: {want!r}"
        for key, value in want.items():
            assert matches(got[key], value), (key, got[key], value)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(SHARED_DATA)))
def test_corpus_file_converts_correctly_or_fails_clearly(path: Path, tmp_path: Path) -> None:
    spec = spec_for(path)
    lake = tmp_path / "lake"
    before = sha256_file(path)
    try:
        columns, rows = convert(path, spec, lake)
    except (DropReadError, SchemaMismatchError) as exc:
        message = str(exc)
        assert message.startswith(f"{path.name}: ") and len(message) > len(path.name) + 10
        assert "Traceback" not in message
        assert [p for p in lake.rglob("*") if p.is_file()] == [], "a failed conversion left files in the lake"
    else:
        check_converted(path, spec, columns, rows)
        stored = sorted(p.relative_to(lake).parts[0] for p in lake.rglob("*") if p.is_file())
        assert stored == ["_commits", "_versions", "raw"]  # one commit, its version and view; no leftovers
    assert sha256_file(path) == before, "the drop file was altered"
    assert path.exists()


def test_corpus_has_both_outcomes() -> None:
    """Guard against a harness that silently accepts or rejects everything: csv-spectrum must convert,
    and the JSONTestSuite n_* files must not."""
    assert len([p for p in CORPUS if p.is_relative_to(SPECTRUM / "csvs")]) == 12
    assert len([p for p in CORPUS if p.name.startswith("n_")]) > 150
