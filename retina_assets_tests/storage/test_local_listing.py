"""The local folder listing (one ``scandir``) reports exactly what fsspec's listing reports: the same URIs,
sizes, change tokens and modified times, hidden entries and sub-folders left out."""

from __future__ import annotations

from pathlib import Path

import fsspec

from retina_assets.storage.filesystem import FileInfo, _change_token, _modified, filesystem_for


def test_local_listing_matches_fsspec(tmp_path: Path) -> None:
    for name in ("orders_20101201.csv", "b.txt", "_staging", ".partial"):
        (tmp_path / name).write_bytes(name.encode())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.csv").write_bytes(b"x")
    listed = filesystem_for(str(tmp_path)).list_files(str(tmp_path))
    local = fsspec.filesystem("file")
    expected = sorted(
        (
            FileInfo(e["name"], int(e["size"]), _change_token(e), _modified(e))
            for e in local.ls(str(tmp_path), detail=True)
            if e["type"] == "file" and not Path(e["name"]).name.startswith((".", "_"))
        ),
        key=lambda f: f.uri,
    )
    assert listed == expected and [Path(f.uri).name for f in listed] == ["b.txt", "orders_20101201.csv"]
    assert filesystem_for(str(tmp_path)).list_files(str(tmp_path / "missing")) == []
