"""A handle on one exact dataset version, handed from stage to stage instead of the data itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from retina_assets.storage.filesystem import filesystem_for

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl


@dataclass(frozen=True)
class DatasetRef:
    """The exact path (and identity) of a stored version; read it with the engine of your choice.

    Stages pass these so that a downstream step reads exactly the bytes its upstream recorded, and so a
    Spark step can read the path itself instead of pulling data through Python.
    """

    uri: str
    content_hash: str | None = None
    row_count: int | None = None
    partition: str | None = None
    # credentials for an object-store lake (from the StorageCredentials resource); never shown or compared
    storage_options: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_arrow(self, columns: list[str] | None = None) -> pa.Table:
        fs = filesystem_for(self.uri, self.storage_options)
        with fs.open_read(self.uri) as fh:
            return pq.read_table(fh, columns=columns)

    def to_arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the version (reads only the Parquet footer)."""
        fs = filesystem_for(self.uri, self.storage_options)
        with fs.open_read(self.uri) as fh:
            return pq.read_schema(fh)

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.to_arrow(columns).to_pandas()

    def to_polars(self, columns: list[str] | None = None) -> pl.DataFrame:
        import polars as pl

        frame = pl.from_arrow(self.to_arrow(columns))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def to_spark(self, spark: Any) -> Any:
        return spark.read.parquet(self.uri)
