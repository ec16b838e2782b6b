"""A hostile-input corpus, generated at test time: small files that each attack one guarantee of the raw
stage (bounded size, rows, columns, nesting, row size and time; exact values; one immutable snapshot).

Every generator writes into a folder the test owns and returns the path; nothing here is committed as a
binary. Sizes are kept small by pairing each file with a small per-dataset limit where a real attack would
need a large file.
"""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa

from retina_assets.model.spec import DatasetSpec


def dataset(fmt: str = "csv", columns: dict[str, Any] | None = None, **sections: Any) -> DatasetSpec:
    """A ``products`` dataset of format ``fmt`` (any file name matches; ``as_of_date`` from arrival) with
    ``columns`` (default: an optional ``product_id``, so every other column is kept as text) and further
    spec sections such as ``reader={...}`` or ``limits={...}``."""
    return DatasetSpec.model_validate(
        {
            "canonical": "products",
            "pattern": ".*",
            "as_of_date": {"from": "arrival"},
            "format": fmt,
            "columns": columns or {"product_id": {"required": False}},
            **sections,
        }
    )


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def deep_json(depth: int) -> str:
    """One JSON object whose ``v`` field nests ``depth`` arrays."""
    return '{"product_id": "p1", "v": ' + "[" * depth + "]" * depth + "}"


def jsonl_with_deep_record(folder: Path, depth: int) -> Path:
    return write(folder, "deep.jsonl", '{"product_id": "p0", "v": 1}\n' + deep_json(depth) + "\n")


def json_with_duplicate_key(folder: Path) -> Path:
    return write(folder, "dupes.json", '[{"product_id": "p1", "price": 1, "price": 2}]')


def csv_with_columns(folder: Path, columns: int) -> Path:
    """A header-only CSV with ``columns`` distinct column names (about 8 bytes each)."""
    header = ",".join(["product_id", *(f"c{i}" for i in range(columns - 1))])
    return write(folder, "wide.csv", header + "\n")


def csv_with_long_field(folder: Path, field_bytes: int, rows: int = 3) -> Path:
    """A well-formed CSV whose middle row has a quoted field of ``field_bytes`` bytes (with a newline)."""
    big = "x" * (field_bytes // 2) + "\n" + "y" * (field_bytes - field_bytes // 2 - 1)
    lines = ["product_id,note"] + [f'p{i},"{big if i == rows // 2 else "short"}"' for i in range(rows)]
    return write(folder, "long_field.csv", "\n".join(lines) + "\n")


def gzip_bomb(folder: Path, decompressed_bytes: int) -> Path:
    """A ``.csv.gz`` that expands to about ``decompressed_bytes`` of valid CSV rows."""
    body = b"product_id\n" + b"p\n" * (decompressed_bytes // 2)
    return write(folder, "bomb.csv.gz", gzip.compress(body, compresslevel=9))


def compressed_csv(folder: Path, kind: str, text: str) -> Path:
    """``text`` as ``drop.csv.<kind>`` (kind: gz, bz2, zst, zip)."""
    data = text.encode()
    if kind == "gz":
        packed = gzip.compress(data)
    elif kind == "bz2":
        packed = bz2.compress(data)
    elif kind == "zst":
        buffer = pa.BufferOutputStream()
        with pa.CompressedOutputStream(buffer, "zstd") as out:
            out.write(data)
        packed = buffer.getvalue().to_pybytes()
    elif kind == "zip":
        sink = io.BytesIO()
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("drop.csv", data)
        packed = sink.getvalue()
    else:
        raise ValueError(kind)
    return write(folder, f"drop.csv.{kind}", packed)


def zip_with_two_members(folder: Path) -> Path:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("a.csv", "product_id\np1\n")
        archive.writestr("b.csv", "product_id\np2\n")
    return write(folder, "two.csv.zip", sink.getvalue())


def _workbook(rows: list[list[Any]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    sink = io.BytesIO()
    wb.save(sink)
    return sink.getvalue()


def xlsx_with_sheet_xml(folder: Path, sheet_rows_xml: str) -> Path:
    """A valid workbook whose first sheet's ``<sheetData>`` is replaced by ``sheet_rows_xml``."""
    original = zipfile.ZipFile(io.BytesIO(_workbook([["product_id"], ["p1"]])))
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as out:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start, end = text.index("<sheetData>"), text.index("</sheetData>") + len("</sheetData>")
                data = (text[:start] + f"<sheetData>{sheet_rows_xml}</sheetData>" + text[end:]).encode()
            out.writestr(item, data)
    return write(folder, "sheet.xlsx", sink.getvalue())


def xlsx_row_bomb(folder: Path) -> Path:
    """A tiny workbook whose data row sits at row 20,000,000 (far beyond any real sheet): readers that
    fill in missing rows expand it to twenty million rows."""
    return xlsx_with_sheet_xml(
        folder,
        '<row r="1"><c r="A1" t="inlineStr"><is><t>product_id</t></is></c></row>'
        '<row r="20000000"><c r="A20000000" t="inlineStr"><is><t>p1</t></is></c></row>',
    )


def xlsx_with_uncached_formula(folder: Path) -> Path:
    """A workbook whose ``total`` cells are formulas saved without computed values (as any library that
    writes formulas leaves them until Excel recalculates)."""
    return write(
        folder,
        "formulas.xlsx",
        _workbook([["product_id", "qty", "total"], ["p1", 2, "=B2*3"], ["p2", 4, 12]]),
    )
