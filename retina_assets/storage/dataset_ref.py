"""A handle on one exact dataset version, handed from stage to stage instead of the data itself."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for
from retina_assets.storage.integrity import (
    check_download,
    hash_from_name,
    verified_local_files,
    verify,
    version_parts,
)
from retina_assets.storage.parts import is_multipart_uri

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl


@dataclass(frozen=True)
class DatasetRef:
    """The exact path (and identity) of a stored version; read it with the engine of your choice.

    Stages pass these so that a downstream step reads exactly the bytes its upstream recorded, and so a
    Spark step can read the path itself instead of pulling data through Python.

    A multi-part version (a folder of parts, :mod:`retina_assets.storage.parts`) reads as one dataset, its
    parts in order, each part checked against the hash its name carries and the folder against the
    version's hash.

    Every read checks the bytes against :attr:`expected_hash` first (streamed;
    :mod:`retina_assets.storage.integrity`) and raises
    :class:`~retina_assets.storage.integrity.ContentHashMismatchError` with the path and both hashes when they
    differ.
    """

    uri: str
    content_hash: str | None = None
    row_count: int | None = None
    partition: str | None = None
    # credentials for an object-store lake (from the StorageCredentials resource); never shown or compared
    storage_options: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def expected_hash(self) -> str | None:
        """The hash the bytes must have: the recorded ``content_hash``, else the one the version's file name
        carries (``<sha256>.parquet``); ``None`` for a file that is not a lake version."""
        return self.content_hash or hash_from_name(self.uri)

    def _fs(self) -> LakeFileSystem:
        return filesystem_for(self.uri, self.storage_options)

    def verify(self) -> None:
        """Check the stored bytes against :attr:`expected_hash` (a no-op without one)."""
        if self.expected_hash is not None:
            verify(self._fs(), self.uri, self.expected_hash)

    @property
    def is_multipart(self) -> bool:
        """True for a version written as several part files (its ``uri`` is their folder)."""
        return is_multipart_uri(self.uri)

    def to_arrow(self, columns: list[str] | None = None) -> pa.Table:
        with verified_local_files(self._fs(), self.uri, self.expected_hash) as local:
            if len(local) == 1:
                return pq.read_table(local[0], columns=columns)
            return pa.concat_tables(pq.read_table(part, columns=columns) for part in local)

    def to_arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the version (after verifying the bytes; then reads only the Parquet footer;
        every part of a multi-part version has the same schema)."""
        self.verify()
        fs = self._fs()
        first = version_parts(fs, self.uri, self.expected_hash)[0] if self.is_multipart else self.uri
        with fs.open_read(first) as fh:
            return pq.read_schema(fh)

    def footer_row_count(self) -> int:
        """The version's number of rows from its Parquet footers (every part's, for a multi-part version):
        :attr:`row_count` if the caller knew it, else read from the lake without reading the data."""
        if self.row_count is not None:
            return self.row_count
        fs = self._fs()
        files = version_parts(fs, self.uri, self.expected_hash) if self.is_multipart else [self.uri]
        total = 0
        for uri in files:
            with fs.open_read(uri) as fh:
                total += pq.ParquetFile(fh).metadata.num_rows
        return total

    def local_copy(self, tmp_dir: str) -> str:
        """A verified local path with the version's bytes: the file itself on local disk, else a download
        into ``tmp_dir`` (the caller removes ``tmp_dir``). For a multi-part version, a local folder of its
        parts (the version's own folder on local disk)."""
        fs = self._fs()
        if self.is_multipart:
            self.verify()
            if fs.is_local:
                return fs._strip(self.uri)
            folder = os.path.join(tmp_dir, uuid.uuid4().hex)
            os.makedirs(folder)
            for part in version_parts(fs, self.uri, self.expected_hash):
                local = fs.download(part, os.path.join(folder, part.rsplit("/", 1)[-1]))
                check_download(local, part, hash_from_name(part))
            return folder
        if fs.is_local:
            self.verify()
            return fs.local_copy(self.uri, tmp_dir)
        local = fs.local_copy(self.uri, tmp_dir)
        check_download(local, self.uri, self.expected_hash)
        return local

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.to_arrow(columns).to_pandas()

    def to_polars(self, columns: list[str] | None = None) -> pl.DataFrame:
        import polars as pl

        frame = pl.from_arrow(self.to_arrow(columns))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def to_spark(self, spark: Any) -> Any:
        """A Spark DataFrame over the version, read by Spark itself after the bytes were verified here."""
        self.verify()
        return spark.read.parquet(self.uri)
