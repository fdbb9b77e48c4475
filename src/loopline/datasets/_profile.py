"""Profiles of tabular files (Parquet, CSV), computed at commit with pyarrow.

A profile is plain JSON (stored as a blob next to the manifest). It is the reference that drift
monitoring compares live data with later, so it keeps what a comparison needs, not only
summaries: per numeric column a histogram with **fixed bin edges** (equal width between the
finite minimum and maximum) and exact counts, quantiles, and per categorical column exact counts
of its most frequent values plus the count of all others.

The form, schema 1::

    {"schema": 1,
     "files": {"train.parquet": {
        "format": "parquet", "rows": 1797, "error": null,
        "columns": [
          {"name": "age", "type": "double", "kind": "numeric", "count": 1790, "nulls": 7,
           "null_share": 0.0039, "nan": 0, "infinite": 0, "min": 18.0, "max": 90.0,
           "mean": 41.2, "std": 11.0, "quantiles": {"0.01": 19.0, ..., "0.99": 83.0},
           "histogram": {"edges": [18.0, 21.6, ..., 90.0], "counts": [40, ...]}},
          {"name": "plan", "type": "string", "kind": "categorical", "count": 1797, "nulls": 0,
           "null_share": 0.0, "distinct": 3, "top": [["basic", 900], ["pro", 700], ["team", 197]],
           "other": 0}]}}}

``std`` is the population standard deviation (ddof=0). Quantiles are exact (linear
interpolation). Statistics of floating columns leave NaN and infinities out and count them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "PROFILE_SCHEMA",
    "HISTOGRAM_BINS",
    "QUANTILES",
    "TOP_CATEGORIES",
    "is_tabular",
    "profile_file",
    "profile_table",
]

PROFILE_SCHEMA = 1
HISTOGRAM_BINS = 20
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
TOP_CATEGORIES = 50
_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_SUFFIXES = tuple(_FORMATS)


def is_tabular(path: str) -> bool:
    """Whether a dataset path is a file Loopline profiles (by its suffix: .parquet, .pq, .csv)."""
    # str methods, not Path: this runs for every file of every version committed.
    return path.lower().endswith(_SUFFIXES)


def profile_file(path: Path, name: str) -> dict[str, Any]:
    """Profile the Parquet or CSV file at ``path`` (named ``name`` in the dataset).

    A file that cannot be read as a table still gets a profile, with ``error`` saying why: a
    malformed CSV must not stop a commit, and the profile says it was not understood.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    fmt = _FORMATS.get(Path(name).suffix.lower(), "unknown")
    try:
        table = pq.read_table(path) if fmt == "parquet" else pacsv.read_csv(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        said = " ".join(str(exc).split())[:500]
        return {"format": fmt, "rows": None, "columns": [], "error": said}
    return {"format": fmt, **profile_table(table)}


def profile_table(table: pa.Table) -> dict[str, Any]:
    """Profile an Arrow table: its row count and one entry per column (see the module doc)."""
    columns = [
        _column(table.schema.field(i).name, table.column(i)) for i in range(table.num_columns)
    ]
    return {"rows": table.num_rows, "columns": columns, "error": None}


def _column(name: str, data: pa.ChunkedArray) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.types as pat

    kind_type = data.type
    if pat.is_dictionary(kind_type):
        data = data.cast(kind_type.value_type)
        kind_type = data.type
    rows = len(data)
    nulls = data.null_count
    out: dict[str, Any] = {
        "name": name,
        "type": str(data.type),
        "kind": "other",
        "count": rows - nulls,
        "nulls": nulls,
        "null_share": (nulls / rows) if rows else 0.0,
    }
    if pat.is_boolean(kind_type):
        out["kind"] = "boolean"
        out.update(_categories(data.cast(pa.string())))
    elif pat.is_integer(kind_type) or pat.is_floating(kind_type) or pat.is_decimal(kind_type):
        out["kind"] = "numeric"
        out.update(_numbers(data))
    elif pat.is_string(kind_type) or pat.is_large_string(kind_type):
        out["kind"] = "categorical"
        out.update(_categories(data))
    elif pat.is_temporal(kind_type):
        out["kind"] = "temporal"
        out.update(_temporal(data))
    return out


def _numbers(data: pa.ChunkedArray) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    values = data.drop_null().cast(pa.float64())
    array = values.to_numpy() if len(values) else np.empty(0)
    nan = int(np.isnan(array).sum())
    infinite = int(np.isinf(array).sum())
    finite = array[np.isfinite(array)]
    out: dict[str, Any] = {"nan": nan, "infinite": infinite}
    if not len(finite):
        out.update(min=None, max=None, mean=None, std=None, quantiles={}, histogram=None)
        return out
    low, high = float(finite.min()), float(finite.max())
    finite_arrow = pa.array(finite)
    quantiles = pc.quantile(finite_arrow, q=list(QUANTILES), interpolation="linear")
    if high > low:
        edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
        counts, _ = np.histogram(finite, bins=edges)
        histogram = {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
    else:
        histogram = {"edges": [low, high], "counts": [len(finite)]}
    out.update(
        min=low,
        max=high,
        mean=_finite(float(finite.mean())),
        std=_finite(float(finite.std())),
        quantiles={
            str(q): _finite(float(v)) for q, v in zip(QUANTILES, quantiles.to_pylist(), strict=True)
        },
        histogram=histogram,
    )
    return out


def _categories(data: pa.ChunkedArray) -> dict[str, Any]:
    import pyarrow.compute as pc

    counts = pc.value_counts(data.drop_null())
    pairs = sorted(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True),
        key=lambda vc: (-vc[1], str(vc[0])),
    )
    top = [[str(v), int(c)] for v, c in pairs[:TOP_CATEGORIES]]
    other = sum(int(c) for _, c in pairs[TOP_CATEGORIES:])
    return {"distinct": len(pairs), "top": top, "other": other}


def _temporal(data: pa.ChunkedArray) -> dict[str, Any]:
    import pyarrow.compute as pc

    present = data.drop_null()
    if not len(present):
        return {"min": None, "max": None}
    bounds = pc.min_max(present).as_py()
    return {"min": _iso(bounds["min"]), "max": _iso(bounds["max"])}


def _iso(value: object) -> str:
    iso = getattr(value, "isoformat", None)
    return str(iso()) if callable(iso) else str(value)


def _finite(value: float) -> float | None:
    # JSON has no NaN or infinity; a mean of huge finite values can still overflow.
    return value if math.isfinite(value) else None
