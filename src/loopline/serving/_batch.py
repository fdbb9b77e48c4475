"""Batch scoring: a model over a Parquet or CSV file, in chunks, resumable.

Each chunk's predictions are written as a part file next to the output
(``out.parquet.parts/part-000042.parquet``) before the next chunk is read, so memory stays
bounded and an interrupted job picks up where it stopped: the parts already written are kept
if the model and the input are the ones they were made from (a manifest records both), and
refused with a clear message otherwise. At the end the parts are joined into the output and
removed.

The output has the input's columns and a ``prediction`` column (``prediction_<i>`` for
models that answer several values per row). Columns the model does not take are carried
through untouched (ids, timestamps), so the output can be joined back.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.serving._inputs import Batch, InputError
from loopline.serving._runner import ModelRunner
from loopline.serving._types import Batching

if TYPE_CHECKING:
    import pyarrow as pa

    from loopline.registry import LoadedModel

__all__ = ["BatchResult", "score_file", "DEFAULT_CHUNK_ROWS"]

DEFAULT_CHUNK_ROWS = 50_000
_MANIFEST = "_manifest.json"

Progress = Callable[[int, int | None], None]
"""Called with (rows done, total rows or None) after each chunk."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch scoring job did."""

    output: Path
    rows: int
    chunks: int
    resumed_chunks: int
    model: str


def score_file(
    model: LoadedModel,
    model_id: str,
    source: str | Path,
    output: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    restart: bool = False,
) -> BatchResult:
    """Score every row of ``source`` with ``model`` into ``output`` (Parquet or CSV).

    Args:
        model_id: what identifies the model for resuming (its URI and package digest).
        chunk_rows: rows read, predicted and written at a time.
        restart: discard parts left by an earlier, different job instead of refusing.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidInput(f"chunk_rows is {chunk_rows!r}; use a whole number of 1 or more.")
    src, out = Path(source), Path(output)
    if not src.exists():
        raise NotFound(f"No input at {str(src)!r}: give a Parquet file or folder, or a CSV file.")
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise InvalidInput(f"Write the output as .parquet or .csv, not {out.name!r}.")
    parts = out.with_name(out.name + ".parts")
    identity = {
        "model": model_id,
        "input": str(src.resolve()),
        "input_size": _size(src),
        "input_mtime": _mtime(src),
        "chunk_rows": chunk_rows,
    }
    _prepare_parts(parts, identity, restart)
    runner = ModelRunner(model, model_id, 0, Batching(enabled=False))
    total = _row_count(src)
    done = chunks = resumed = 0
    for index, chunk in enumerate(_chunks(src, chunk_rows)):
        part = parts / f"part-{index:06d}.parquet"
        chunks += 1
        if part.is_file():
            resumed += 1
        else:
            _write_atomically(part, _score(runner, chunk, index * chunk_rows))
        done += chunk.num_rows
        if progress is not None:
            progress(done, total)
    _join(parts, out, chunks)
    shutil.rmtree(parts, ignore_errors=True)
    return BatchResult(output=out, rows=done, chunks=chunks, resumed_chunks=resumed, model=model_id)


def _prepare_parts(parts: Path, identity: dict[str, Any], restart: bool) -> None:
    manifest = parts / _MANIFEST
    if parts.is_dir() and manifest.is_file():
        try:
            earlier = json.loads(manifest.read_text(encoding="utf-8"))
        except ValueError:
            earlier = None
        if earlier != identity:
            if not restart:
                raise Conflict(
                    f"{parts} holds parts of another job (a different model, input or chunk "
                    f"size). Remove the folder, or pass restart=True (--restart) to start over."
                )
            shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    if not manifest.is_file():
        manifest.write_text(json.dumps(identity, indent=2), encoding="utf-8")


def _score(runner: ModelRunner, chunk: pa.Table, first_row: int) -> pa.Table:
    import pyarrow as pa

    columns = {
        name: chunk.column(name).to_numpy(zero_copy_only=False) for name in chunk.column_names
    }
    takes = runner.model.signature
    if takes is not None and takes.inputs.kind == "columns":
        wanted = set(takes.inputs.names)
        inputs = {k: v for k, v in columns.items() if k in wanted}
    else:
        inputs = columns
    batch = Batch(n=chunk.num_rows, columns=inputs)
    try:
        prepared = runner.prepare(batch)
    except InputError as exc:
        raise InvalidInput(
            f"Rows {first_row}-{first_row + chunk.num_rows - 1} do not fit the model: {exc.message}"
        ) from None
    outputs = runner.predict([prepared])
    if hasattr(outputs, "to_numpy"):
        outputs = outputs.to_numpy()
    array = np.asarray(outputs)
    if array.ndim == 1:
        return chunk.append_column("prediction", pa.array(array))
    if array.ndim == 2:
        for i in range(array.shape[1]):
            chunk = chunk.append_column(f"prediction_{i}", pa.array(array[:, i]))
        return chunk
    return chunk.append_column("prediction", pa.array(array.reshape(len(array), -1).tolist()))


def _chunks(src: Path, rows: int) -> Iterator[pa.Table]:
    import pyarrow as pa

    if src.suffix.lower() == ".csv":
        from pyarrow import csv

        reader = csv.open_csv(src, read_options=csv.ReadOptions(block_size=1 << 22))
        pending: list[pa.RecordBatch] = []
        count = 0
        for record_batch in reader:
            pending.append(record_batch)
            count += record_batch.num_rows
            while count >= rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, rows)
                rest = table.slice(rows)
                pending, count = rest.to_batches(), rest.num_rows
        if count:
            yield pa.Table.from_batches(pending)
        return
    import pyarrow.dataset as ds

    dataset = ds.dataset(src, format="parquet")
    for record_batch in dataset.to_batches(batch_size=rows):
        if record_batch.num_rows:
            yield pa.Table.from_batches([record_batch])


def _row_count(src: Path) -> int | None:
    if src.suffix.lower() == ".csv":
        return None
    import pyarrow.dataset as ds

    return int(ds.dataset(src, format="parquet").count_rows())


def _write_atomically(path: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    pq.write_table(table, temp)
    temp.replace(path)


def _join(parts: Path, out: Path, count: int) -> None:
    import pyarrow.parquet as pq

    files = [parts / f"part-{i:06d}.parquet" for i in range(count)]
    temp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        from pyarrow import csv

        writer_csv = None
        try:
            for f in files:
                table = pq.read_table(f)
                if writer_csv is None:
                    writer_csv = csv.CSVWriter(temp, table.schema)
                writer_csv.write_table(table)
        finally:
            if writer_csv is not None:
                writer_csv.close()
    else:
        writer = None
        try:
            for f in files:
                table = pq.read_table(f)
                if writer is None:
                    writer = pq.ParquetWriter(temp, table.schema)
                writer.write_table(table.cast(writer.schema))
        finally:
            if writer is not None:
                writer.close()
    if not temp.exists():  # an empty input: an empty output with no columns
        pq.write_table(_empty(), temp)
    temp.replace(out)


def _empty() -> pa.Table:
    import pyarrow as pa

    return pa.table({"prediction": pa.array([], pa.float64())})


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _mtime(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    return max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0.0)
