"""Artifact previews: what the artifacts browser shows for a file, chosen by its name.

Images are shown by the browser from the raw URL; text and JSON as (pretty-printed) text; CSV,
TSV and Parquet files as their first rows (read with pyarrow, which never loads more than it
needs for Parquet). Anything else, or anything too large, gets a download link.

Example:
    >>> preview_kind("plots/loss.png")
    'image'
    >>> build_preview("metrics.json", b'{"acc": 0.9}').text
    '{\\n  "acc": 0.9\\n}'
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

__all__ = [
    "Preview",
    "preview_kind",
    "build_preview",
    "inline_media_type",
    "MAX_PREVIEW_BYTES",
    "TABLE_ROWS",
]

PreviewKind = Literal["image", "text", "json", "table", "none"]

MAX_PREVIEW_BYTES = 32 * 1024 * 1024  # a file read into the server's memory to preview it
MAX_TEXT_CHARS = 200_000  # shown of a text file; the rest is one click away (download)
TABLE_ROWS = 100
MAX_CELL_CHARS = 200

_IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".bmp": "image/bmp",
}
_TEXT = {
    ".txt",
    ".log",
    ".md",
    ".rst",
    ".py",
    ".yaml",
    ".yml",
    ".toml",
    ".ini",
    ".cfg",
    ".sh",
    ".html",
    ".xml",
    ".sql",
    ".r",
    ".ipynb",
    ".jsonl",
    ".out",
    ".err",
}
_TABLES = {".csv", ".tsv", ".parquet", ".pq"}


@dataclass(frozen=True, slots=True)
class Preview:
    """What to show: ``text`` for text and JSON, ``columns``/``rows`` for tables, ``note`` to
    explain what is (not) shown."""

    kind: PreviewKind
    text: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    total_rows: int | None = None
    note: str = ""


def preview_kind(path: str) -> PreviewKind:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in _IMAGES:
        return "image"
    if suffix == ".json":
        return "json"
    if suffix in _TABLES:
        return "table"
    if suffix in _TEXT or not suffix:
        return "text"
    return "none"


def inline_media_type(path: str) -> str | None:
    """The media type a browser may show inline (images only); None means download it."""
    return _IMAGES.get(PurePosixPath(path).suffix.lower())


def build_preview(path: str, data: bytes) -> Preview:
    """The preview of a file named ``path`` holding ``data`` (never raises for bad content)."""
    kind = preview_kind(path)
    if kind == "json":
        try:
            shown = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            return _text(data, "Not valid JSON; shown as text.")
        return _text(shown.encode("utf-8"), "")
    if kind == "table":
        return _table(path, data)
    if kind == "text":
        if b"\x00" in data[:8192]:
            return Preview("none", note="This file looks binary; download it to open it.")
        return _text(data, "")
    return Preview(kind)


def _text(data: bytes, note: str) -> Preview:
    text = data.decode("utf-8", "replace")
    if len(text) > MAX_TEXT_CHARS:
        note = (note + " " if note else "") + (
            f"Showing the first {MAX_TEXT_CHARS:,} of {len(text):,} characters."
        )
        text = text[:MAX_TEXT_CHARS]
    return Preview("text", text=text, note=note)


def _table(path: str, data: bytes) -> Preview:
    import pyarrow as pa

    table: Any
    total: int | None
    try:
        if PurePosixPath(path).suffix.lower() in (".parquet", ".pq"):
            table, total = _parquet_head(data)
        else:
            table, total = _csv_head(data, "\t" if path.lower().endswith(".tsv") else ",")
    except (pa.ArrowException, ValueError, OSError) as exc:
        return Preview("none", note=f"This table could not be read: {str(exc)[:300]}")
    columns = tuple(str(name) for name in table.column_names)
    values = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = tuple(
        tuple(_cell(column[r]) for column in values) for r in range(min(table.num_rows, TABLE_ROWS))
    )
    if total is None:
        note = f"The first {len(rows):,} rows."
    else:
        note = f"{min(total, TABLE_ROWS):,} of {total:,} rows, {len(columns):,} columns."
    return Preview("table", columns=columns, rows=rows, total_rows=total, note=note)


def _parquet_head(data: bytes) -> tuple[Any, int | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(io.BytesIO(data))
    total = int(reader.metadata.num_rows)
    batches = []
    got = 0
    for batch in reader.iter_batches(batch_size=TABLE_ROWS):
        batches.append(batch)
        got += batch.num_rows
        if got >= TABLE_ROWS:
            break
    if not batches:
        return reader.schema_arrow.empty_table(), total
    return pa.Table.from_batches(batches).slice(0, TABLE_ROWS), total


def _csv_head(data: bytes, delimiter: str) -> tuple[Any, int | None]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        io.BytesIO(data),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        read_options=pacsv.ReadOptions(block_size=1 << 20),
    )
    batches = []
    got = 0
    for batch in reader:
        batches.append(batch)
        got += batch.num_rows
        if got >= TABLE_ROWS:
            break
    if not batches:
        return reader.schema.empty_table(), 0
    return pa.Table.from_batches(batches).slice(0, TABLE_ROWS), None


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"
