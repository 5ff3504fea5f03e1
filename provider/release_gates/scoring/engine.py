"""Scoring a dataset with the candidate, in chunks: what the release's ``score`` step runs.

The dataset is read ``chunk_rows`` rows at a time (Parquet row batches; CSV chunks), each chunk is
scored, and the chunk is written on to a Parquet artifact at once — the dataset's rows with the
prediction (and score) columns replaced by the candidate's outputs. Memory therefore grows with the
chunk, not with the dataset. Columns other than the outputs are copied as read (Arrow to Arrow); only
the model's input columns are converted for the model.

The artifact is written under a temporary name and renamed when complete, so a killed worker leaves
no half-written file under the final name; its sha256 is what the evidence records and what every
check verifies before reading it. No Airflow here: the CLI scores through the same function.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.artifacts import file_artifact
from release_gates.exceptions import ReleaseGatesError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from release_gates.results import Artifact
    from release_gates.scoring.loaders import ScoringModel

DEFAULT_CHUNK_ROWS = 100_000
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


class ScoringError(ReleaseGatesError, ValueError):
    """A dataset could not be scored (missing input columns, no rows, the model failed on a chunk)."""


@dataclass(frozen=True)
class OutputColumns:
    """Where the candidate's outputs go, and which columns are never model inputs."""

    prediction: str
    score: str | None = None
    #: The label and any declared output column: not given to the model by default.
    excluded: tuple[str, ...] = ()
    #: Input columns the policy names; default: every other column (or what the model declares).
    features: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ScoredFile:
    rows: int
    artifact: Artifact


def input_columns(available: Sequence[str], model: ScoringModel, columns: OutputColumns) -> list[str]:
    """The columns given to the model: the policy's, else the model's own, else all but the outputs."""
    wanted = columns.features or model.features
    if wanted is None:
        skip = {columns.prediction, columns.score, *columns.excluded}
        return [c for c in available if c not in skip]
    missing = [c for c in wanted if c not in available]
    if missing:
        raise ScoringError(f"missing model input column(s): {', '.join(map(repr, missing))}")
    return list(wanted)


def score_frame(frame: pd.DataFrame, model: ScoringModel, columns: OutputColumns) -> tuple[Any, Any | None]:
    """The model's predictions (and scores, when the model and the dataset have them) for ``frame``."""
    import numpy as np

    inputs = frame[input_columns(list(frame.columns), model, columns)]
    predictions = np.asarray(model.predict(inputs)).ravel()
    scores = None
    if columns.score is not None:
        if model.predict_score is None:
            raise ScoringError(
                f"the dataset declares a score column ({columns.score!r}); the model gives no probabilities"
            )
        scores = np.asarray(model.predict_score(inputs), dtype="float64").ravel()
    if len(predictions) != len(frame) or (scores is not None and len(scores) != len(frame)):
        raise ScoringError(f"the model returned {len(predictions)} outputs for {len(frame)} rows")
    return predictions, scores


def iter_chunks(path: Path, fmt: str, chunk_rows: int) -> Iterator[pa.Table]:
    """The file's rows, ``chunk_rows`` at a time, as Arrow tables."""
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yield pa.Table.from_batches([batch])
        return
    if fmt == "csv":
        import pandas as pd

        with pd.read_csv(path, chunksize=chunk_rows) as reader:
            for chunk in reader:
                yield pa.Table.from_pandas(chunk, preserve_index=False)
        return
    raise ScoringError(f"cannot score a {fmt!r} file (Parquet or CSV)")


def with_outputs(table: pa.Table, model: ScoringModel, columns: OutputColumns) -> pa.Table:
    """``table`` with its prediction/score columns replaced by the model's outputs for its rows."""
    import pyarrow as pa

    names = input_columns(table.column_names, model, columns)
    try:
        predictions, scores = score_frame(table.select(names).to_pandas(), model, columns)
    except ScoringError:
        raise
    except Exception as exc:
        raise ScoringError(f"the model failed to score a chunk: {type(exc).__name__}: {exc}") from exc
    outputs = [(columns.prediction, pa.array(predictions))]
    if columns.score is not None:
        outputs.append((columns.score, pa.array(scores, type=pa.float64())))
    for name, values in outputs:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, values) if index >= 0 else table.append_column(name, values)
    return table


def score_file(
    source: Path,
    fmt: str,
    model: ScoringModel,
    columns: OutputColumns,
    out_path: Path,
    *,
    name: str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ScoredFile:
    """Score every row of ``source`` into the Parquet artifact ``out_path`` (see the module docstring)."""
    import pyarrow.parquet as pq

    if not source.is_file():
        raise ScoringError(f"file not found: {source}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in iter_chunks(source, fmt, chunk_rows):
            scored = with_outputs(chunk, model, columns)
            if writer is None:
                writer = pq.ParquetWriter(tmp, scored.schema)
            elif scored.schema != writer.schema:
                # CSV chunks infer types one by one; the first chunk's types hold for the file.
                scored = scored.cast(writer.schema)
            writer.write_table(scored, row_group_size=chunk_rows)
            rows += scored.num_rows
        if writer is None:
            raise ScoringError("no rows to score")
        writer.close()
        writer = None
        os.replace(tmp, out_path)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return ScoredFile(rows=rows, artifact=file_artifact(out_path, f"scored_{name}", PARQUET_MEDIA_TYPE))
