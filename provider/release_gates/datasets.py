"""Dataset access shared by every check: a policy dataset reference → a pandas DataFrame.

Engines receive data, never URIs; operators and the CLI call :func:`load_frame` to get it. Supported
here: local Parquet and CSV files (format from ``Dataset.format`` or the file suffix).

pandas is imported inside the functions: operators import this module at DAG parse time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.policy import Dataset


class DatasetError(ValueError):
    """A dataset could not be read; the message names the dataset and the reason."""


def local_path(uri: str, *, base_dir: str | Path | None = None) -> Path:
    """The file path of a local URI (``file://…`` or a plain path, relative to ``base_dir``)."""
    path = Path(uri.removeprefix("file://"))
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def file_sha256(path: Path, *, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(name: str, dataset: Dataset, *, base_dir: str | Path | None = None) -> dict[str, Any]:
    """``{"uri", "sha256", "bytes"}`` of a local dataset file, for ``CheckResult.inputs``."""
    path = local_path(dataset.uri, base_dir=base_dir)
    try:
        return {"uri": dataset.uri, "sha256": file_sha256(path), "bytes": path.stat().st_size}
    except OSError as exc:
        raise DatasetError(f"dataset {name!r} ({dataset.uri}): cannot read: {exc.strerror}") from exc


def load_frame(
    name: str,
    dataset: Dataset,
    *,
    columns: list[str] | None = None,
    base_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Read a dataset into a DataFrame; missing columns and unreadable files raise :class:`DatasetError`."""
    import pandas as pd

    path = local_path(dataset.uri, base_dir=base_dir)
    fmt = dataset.format or path.suffix.lstrip(".").lower()
    if not path.is_file():
        raise DatasetError(f"dataset {name!r}: file not found: {path}")
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        elif fmt == "csv":
            frame = pd.read_csv(path)
        else:
            raise DatasetError(f"dataset {name!r}: unsupported format {fmt!r} (parquet or csv)")
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"dataset {name!r} ({path}): unreadable {fmt}: {exc}") from exc
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DatasetError(
                f"dataset {name!r}: missing column(s) {', '.join(map(repr, missing))} "
                f"(has: {', '.join(map(str, frame.columns[:20]))})"
            )
        frame = frame[columns]
    return frame
