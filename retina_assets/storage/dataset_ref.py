"""A handle on one exact dataset version, handed from stage to stage instead of the data itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for
from retina_assets.storage.integrity import check_download, hash_from_name, verified_local_file, verify

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl


@dataclass(frozen=True)
class DatasetRef:
    """The exact path (and identity) of a stored version; read it with the engine of your choice.

    Stages pass these so that a downstream step reads exactly the bytes its upstream recorded, and so a
    Spark step can read the path itself instead of pulling data through Python.

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

    def to_arrow(self, columns: list[str] | None = None) -> pa.Table:
        with verified_local_file(self._fs(), self.uri, self.expected_hash) as local:
            return pq.read_table(local, columns=columns)

    def to_arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the version (after verifying the bytes; then reads only the Parquet footer)."""
        self.verify()
        fs = self._fs()
        with fs.open_read(self.uri) as fh:
            return pq.read_schema(fh)

    def local_copy(self, tmp_dir: str) -> str:
        """A verified local path with the version's bytes: the file itself on local disk, else a download
        into ``tmp_dir`` (the caller removes ``tmp_dir``)."""
        fs = self._fs()
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
