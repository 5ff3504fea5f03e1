"""Reading a Parquet file into a DataFrame with Arrow's own file reader.

This module imports nothing heavy at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def read_parquet_frame(source: str | Path | bytes, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet file (a path, or its bytes) as a DataFrame; with ``columns``, only those present.

    Arrow reads it with its own file reader, never through a Python file object: ``pd.read_parquet``
    hands Arrow an open Python handle, and Arrow's scan threads release that handle after the read,
    taking the GIL — if the interpreter is finalizing by then, the process aborts ("terminate called
    without an active exception") after the command has already printed its result.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    def native() -> pa.BufferReader | str:
        return pa.BufferReader(source) if isinstance(source, bytes) else str(source)

    wanted = None
    if columns:
        present = set(pq.read_schema(native()).names)
        wanted = [c for c in columns if c in present]
    # use_pandas_metadata: the index columns a pandas-written file declares, as pd.read_parquet reads.
    return pq.read_table(native(), columns=wanted, use_pandas_metadata=True).to_pandas()
