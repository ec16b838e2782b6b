"""Reader edge cases: fixed-width drops (whitespace-aligned or declared widths), JSON Lines limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from retina_assets.ingestion.readers import DropReadError, iter_drop_batches, sample_drop
from retina_assets.model.spec import DatasetSpec


def spec(**reader: object) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "canonical": "customers",
            "pattern": ".*",
            "as_of_date": {"from": "arrival"},
            "format": "fixed_width",
            "reader": reader,
            "columns": {"id": {"name": "customer_id"}},
        }
    )


def rows(path: Path, dataset: DatasetSpec) -> list[dict]:
    return [r for b in iter_drop_batches(str(path), dataset) for r in b.to_pylist()]


def test_declared_widths_keep_spaces_inside_values_and_blank_is_null(tmp_path: Path) -> None:
    drop = tmp_path / "c.txt"
    drop.write_text(
        "# exported 2024-01-01\r\nid   name        city\r\n00001John Smith  Leeds\r\n00002            York\r\n"
    )
    got = rows(drop, spec(widths=[5, 12, 10], comment="#"))
    assert got == [
        {"id": "00001", "name": "John Smith", "city": "Leeds"},
        {"id": "00002", "name": None, "city": "York"},
    ]


def test_whitespace_aligned_without_widths(tmp_path: Path) -> None:
    drop = tmp_path / "c.txt"
    drop.write_text(" id  date  n\r\n 00001 19970101  1\r\n\r\n 00002 19970102  5\r\n")
    assert rows(drop, spec()) == [
        {"id": "00001", "date": "19970101", "n": "1"},
        {"id": "00002", "date": "19970102", "n": "5"},
    ]


@pytest.mark.parametrize(
    ("text", "options", "reason"),
    [
        ("id name\n1 a b\n", {}, "line 2: expected 2 fields, found 3"),
        (
            "id   name\n00001John Smith and more\n",
            {"widths": [5, 5]},
            "line 2: 24 characters, longer than the widths \\(10\\)",
        ),
        ("id id\n1 2\n", {}, "duplicate column names in header: ['id']"),
        ("\n\n", {}, "no header row"),
    ],
)
def test_bad_fixed_width_drops_fail_clearly(tmp_path: Path, text: str, options: dict, reason: str) -> None:
    drop = tmp_path / "bad.txt"
    drop.write_text(text)
    with pytest.raises(DropReadError, match=reason.replace("[", r"\[").replace("]", r"\]")) as info:
        rows(drop, spec(**options))
    assert str(info.value).startswith("bad.txt: ")


def test_jsonl_field_appearing_after_the_first_block_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retina_assets.ingestion import readers

    monkeypatch.setattr(readers, "BLOCK_BYTES", 1 << 20)
    drop = tmp_path / "late.jsonl"
    drop.write_text("".join(f'{{"id":"{i}"}}\n' for i in range(100_000)) + '{"id":"x","late":1}\n')
    dataset = DatasetSpec.model_validate(
        {
            "canonical": "customers",
            "pattern": ".*",
            "as_of_date": {"from": "arrival"},
            "format": "jsonl",
            "columns": {"id": {"name": "customer_id"}},
        }  # fmt: skip
    )
    with pytest.raises(DropReadError, match="late.jsonl: a record after the first 1 MiB has a field"):
        rows(drop, dataset)


def test_regroup_keeps_order_and_bounds_batches() -> None:
    """CSV sub-blocks are concatenated into batches of about the target size, never over max_rows."""
    import pyarrow as pa

    from retina_assets.ingestion.readers import regroup

    parts = [pa.record_batch({"x": list(range(i * 10, i * 10 + 10))}) for i in range(25)]
    target = parts[0].nbytes * 3  # about three parts per batch
    out = list(regroup(iter(parts), target, max_rows=1_000))
    assert [b.num_rows for b in out] == [30] * 8 + [10]
    assert pa.Table.from_batches(out).column("x").to_pylist() == list(range(250))
    capped = list(regroup(iter(parts), 10**9, max_rows=25))
    assert max(b.num_rows for b in capped) <= 25
    assert sum(b.num_rows for b in capped) == 250
    assert list(regroup(iter([]), target, max_rows=10)) == []


def test_sample_is_the_first_rows_of_the_full_read(tmp_path: Path) -> None:
    """Drift sampling reads small blocks but must see exactly the rows a full read starts with."""
    dataset = DatasetSpec.model_validate(
        {
            "canonical": "customers",
            "pattern": ".*",
            "as_of_date": {"from": "arrival"},
            "format": "csv",
            "reader": {"delimiter": ";", "encoding": "latin-1"},
            "columns": {"id": {"name": "customer_id"}, "city": {}},
        }
    )
    path = tmp_path / "customers.csv"
    lines = [f'{i};"Malm\xf6 {i}\nsecond line"' if i % 97 == 0 else f"{i};Lyon {i}" for i in range(60_000)]
    path.write_bytes(("id;city\n" + "\n".join(lines) + "\n").encode("latin-1"))
    full = [r for b in iter_drop_batches(str(path), dataset) for r in b.to_pylist()]
    assert len(full) == 60_000 and full[97] == {"id": "97", "city": "Malm\xf6 97\nsecond line"}
    for rows in (1, 1_000, 50_000, 60_000, 100_000):
        sample = sample_drop(str(path), dataset, rows)
        assert sample is not None and sample.to_pylist() == full[:rows]
    header_only = tmp_path / "empty.csv"
    header_only.write_bytes(b"id;city\n")
    assert sample_drop(str(header_only), dataset, 10) is None
