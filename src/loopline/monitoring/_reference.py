"""Reference profiles: what drift detection needs to know of the training data, without it.

A :class:`ReferenceProfile` keeps, per column:

- **numeric** columns: a distribution sketch. Up to ``bins`` (default 1,000) *edges* are
  taken at equally spaced quantiles of the finite values, with the ``bins/20`` smallest and
  largest values themselves (in a long tail, "evenly spread" is least true); for each edge the
  profile stores the exact number of values ``<= edge`` and ``< edge``, and between two edges
  the values are taken as evenly spread. When the column has no more distinct values than
  ``bins``, the edges are *all* its distinct values and the sketch is exact (an empirical
  CDF). Otherwise each gap between edges holds at most ``1/bins`` of the values, so a CDF
  read from the sketch is off by at most that much (0.1 % at the default): the KS statistic
  computed from it is within 0.001 of the one on raw data, and a column with atoms (many
  zeros, say) keeps them exactly. Plus count, nulls (null, NaN or infinite), mean,
  population std, min and max.
- **categorical** columns (strings, booleans, pandas categories): the exact counts of its
  ``max_categories`` (default 1,000) most frequent values, and the count of all others.

Columns of other types (times, lists) are listed as skipped. A profile is plain JSON
(:meth:`ReferenceProfile.to_dict`, :meth:`save`, :meth:`load`): about 40 KB per numeric
column at the default size, so a model version can carry it and raw training data need not
be read again.

The dataset profiles that Loopline computes at commit (20-bin histograms) also convert
(:meth:`ReferenceProfile.from_dataset_profile`). They are coarser, so the KS statistic is
read at their 21 histogram edges only, and only where their counts are exact (the values
*below* each edge, and all of them at the maximum): it can only be *smaller* than the true
one, and a verdict from them errs towards "no drift", never towards a false alarm. Atoms (a
pixel that is 0 in 99 % of images) are placed from the profile's quantiles, so that the
Wasserstein distance and PSI, approximations there, do not smear them over a whole bin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopline.errors import InvalidInput, did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "ReferenceProfile",
    "NumericSketch",
    "CategoryCounts",
    "ColumnKind",
    "DEFAULT_BINS",
    "DEFAULT_MAX_CATEGORIES",
    "column_kind",
    "numeric_values",
    "category_counts",
    "workers",
]

PROFILE_FORMAT = "loopline.reference/1"
DEFAULT_BINS = 1000
DEFAULT_MAX_CATEGORIES = 1000
ColumnKind = Literal["numeric", "categorical", "skipped"]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True, eq=False)
class NumericSketch:
    """The distribution of a numeric column: edges with exact counts at and below each.

    ``le[i]`` values are ``<= edges[i]`` and ``lt[i]`` are ``< edges[i]``; between two edges
    the values are taken as evenly spread. ``le[-1] == count``.
    """

    count: int
    nulls: int
    mean: float
    std: float
    edges: FloatArray
    le: IntArray
    lt: IntArray
    exact: bool
    coarse: bool = False  # from a dataset profile: compare at the edges only

    kind: Literal["numeric"] = field(default="numeric", init=False)

    @classmethod
    def from_values(cls, values: FloatArray, nulls: int, bins: int) -> NumericSketch:
        """Sketch the finite values of ``values`` (``nulls`` others were missing)."""
        finite = values[np.isfinite(values)]
        nulls += int(values.size - finite.size)
        if finite.size == 0:
            empty = np.empty(0, np.float64)
            return cls(0, nulls, math.nan, math.nan, empty, empty.astype(np.int64),
                       empty.astype(np.int64), True)  # fmt: skip
        ordered = np.sort(finite)
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        exact = starts.size <= bins
        if exact:
            edges = ordered[starts]
        else:
            # Equally spaced quantiles, and the most extreme values themselves: in a long tail
            # one quantile step can span a wide range, where "evenly spread" is least true.
            size = ordered.size
            tail = min(bins // 20, size // 2)
            positions = np.r_[
                np.round(np.linspace(0, size - 1, bins + 1 - 2 * tail)).astype(np.int64),
                np.arange(tail),
                np.arange(size - tail, size),
            ]
            edges = np.unique(ordered[positions])
        le = np.searchsorted(ordered, edges, side="right").astype(np.int64)
        lt = np.searchsorted(ordered, edges, side="left").astype(np.int64)
        return cls(
            count=int(ordered.size),
            nulls=nulls,
            mean=float(ordered.mean()),
            std=float(ordered.std()),
            edges=edges.astype(np.float64),
            le=le,
            lt=lt,
            exact=bool(exact),
        )

    @property
    def min(self) -> float:
        return float(self.edges[0]) if self.count else math.nan

    @property
    def max(self) -> float:
        return float(self.edges[-1]) if self.count else math.nan

    def cdf(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The sketch's CDF at ``x``: ``(F(x), F(x-))``, the value and the left limit."""
        n = float(self.count)
        edges, le, lt = self.edges, self.le, self.lt
        i = np.searchsorted(edges, x, side="left")
        inside = (i > 0) & (i < edges.size)
        j = np.minimum(i, edges.size - 1)
        on_edge = edges[j] == x
        right = np.where(i >= edges.size, 1.0, 0.0)
        left = right.copy()
        # On an edge: the exact counts.
        right = np.where(on_edge, le[j] / n, right)
        left = np.where(on_edge, lt[j] / n, left)
        # Strictly between two edges: linear from le[i-1] at edges[i-1] to lt[i] at edges[i].
        between = inside & ~on_edge
        if between.any():
            k = j[between]
            lo, hi = edges[k - 1], edges[k]
            share = (x[between] - lo) / (hi - lo)
            value = (le[k - 1] + share * (lt[k] - le[k - 1])) / n
            right[between] = value
            left[between] = value
        return right, left

    def cdf_sorted(self, points: FloatArray) -> tuple[FloatArray, FloatArray]:
        """:meth:`cdf` for increasing, distinct ``points`` (faster: one interpolation)."""
        n = float(self.count)
        knots = np.repeat(self.edges, 2)
        values = np.empty(knots.size)
        values[0::2] = self.lt / n
        values[1::2] = self.le / n
        # Off the edges this is the linear piece from le[i-1] to lt[i]; on an edge np.interp
        # may pick either of its two knots, so those points are set from the counts below.
        right = np.interp(points, knots, values)
        left = right.copy()
        at = np.searchsorted(points, self.edges)
        inside = at < points.size
        hit = np.zeros(self.edges.size, dtype=bool)
        hit[inside] = points[at[inside]] == self.edges[inside]
        right[at[hit]] = self.le[hit] / n
        left[at[hit]] = self.lt[hit] / n
        return right, left

    def quantile(self, p: FloatArray) -> FloatArray:
        """The sketch's quantiles at probabilities ``p`` (the inverse of :meth:`cdf`)."""
        n = float(self.count)
        # The CDF as a polyline through (edge, lt/n) and (edge, le/n): invert by interpolation.
        xs = np.repeat(self.edges, 2)
        ys = np.empty(xs.size)
        ys[0::2] = self.lt / n
        ys[1::2] = self.le / n
        return np.interp(p, ys, xs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "count": self.count,
            "nulls": self.nulls,
            "mean": _json_float(self.mean),
            "std": _json_float(self.std),
            "exact": self.exact,
            "coarse": self.coarse,
            "edges": self.edges.tolist(),
            "le": self.le.tolist(),
            "lt": self.lt.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericSketch:
        edges = np.asarray(data["edges"], np.float64)
        le = np.asarray(data["le"], np.int64)
        lt = np.asarray(data["lt"], np.int64)
        if not (edges.size == le.size == lt.size) or (edges.size and le[-1] != data["count"]):
            raise ValueError("edges, le and lt differ in length, or le does not end at count")
        if edges.size > 1 and not (np.all(np.diff(edges) > 0) and np.all(lt <= le)):
            raise ValueError("edges must increase and lt <= le")
        return cls(
            count=int(data["count"]),
            nulls=int(data.get("nulls", 0)),
            mean=_float(data.get("mean")),
            std=_float(data.get("std")),
            edges=edges,
            le=le,
            lt=lt,
            exact=bool(data.get("exact", False)),
            coarse=bool(data.get("coarse", False)),
        )


@dataclass(frozen=True, slots=True, eq=False)
class CategoryCounts:
    """A categorical column: exact counts of its most frequent values, and of all the rest."""

    count: int
    nulls: int
    categories: tuple[str, ...]
    counts: IntArray
    other: int

    kind: Literal["categorical"] = field(default="categorical", init=False)

    @classmethod
    def from_counts(
        cls, counts: Mapping[str, int], nulls: int, max_categories: int
    ) -> CategoryCounts:
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = ordered[:max_categories]
        other = sum(c for _, c in ordered[max_categories:])
        return cls(
            count=sum(counts.values()),
            nulls=nulls,
            categories=tuple(k for k, _ in kept),
            counts=np.asarray([c for _, c in kept], np.int64),
            other=int(other),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "count": self.count,
            "nulls": self.nulls,
            "categories": list(self.categories),
            "counts": self.counts.tolist(),
            "other": self.other,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryCounts:
        categories = tuple(str(c) for c in data["categories"])
        counts = np.asarray(data["counts"], np.int64)
        if len(categories) != counts.size:
            raise ValueError("categories and counts differ in length")
        return cls(
            count=int(data["count"]),
            nulls=int(data.get("nulls", 0)),
            categories=categories,
            counts=counts,
            other=int(data.get("other", 0)),
        )


Sketch = NumericSketch | CategoryCounts


@dataclass(frozen=True, slots=True, eq=False)
class ReferenceProfile:
    """The training-data reference of drift detection, per column (see the module doc).

    Example:
        >>> profile = ReferenceProfile.from_frame(train_df)
        >>> profile.save("reference.json")
        >>> ReferenceProfile.load("reference.json").columns["age"].mean  # doctest: +SKIP
        41.2
    """

    rows: int
    columns: dict[str, Sketch]
    skipped: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_frame(
        cls,
        data: pd.DataFrame | pa.Table,
        *,
        columns: Sequence[str] | None = None,
        categorical: Iterable[str] = (),
        bins: int = DEFAULT_BINS,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        source: str = "",
    ) -> ReferenceProfile:
        """Profile a DataFrame or Arrow table (its columns, or only ``columns``).

        Args:
            categorical: numeric columns to treat as categories (codes, ids of few values).
            bins: edges kept per numeric column (more: finer, larger profile).
            max_categories: categories counted exactly per categorical column.
        """
        if bins < 10:
            raise InvalidInput(f"bins={bins}: keep at least 10 edges per numeric column.")
        if max_categories < 1:
            raise InvalidInput(f"max_categories={max_categories}: keep at least 1 category.")
        names = select_columns(data, columns)
        forced = set(categorical)
        unknown = sorted(forced - set(names))
        if unknown:
            raise InvalidInput(
                f"categorical names column(s) {unknown} that are not compared."
                f"{did_you_mean(unknown[0], names)}"
            )

        def one(name: str) -> tuple[str, Sketch | str]:
            series = column_of(data, name)
            kind = "categorical" if name in forced else column_kind(series)
            if kind == "numeric":
                values, nulls = numeric_values(series)
                return name, NumericSketch.from_values(values, nulls, bins)
            if kind == "categorical":
                counts, nulls = category_counts(series)
                return name, CategoryCounts.from_counts(counts, nulls, max_categories)
            return name, f"type {series_type(series)} is not compared"

        with ThreadPoolExecutor(workers()) as pool:
            results = list(pool.map(one, names))
        return cls(
            rows=num_rows(data),
            columns={n: s for n, s in results if not isinstance(s, str)},
            skipped={n: s for n, s in results if isinstance(s, str)},
            source=source,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        """Read the JSON form (:meth:`to_dict`); a dataset profile is converted too."""
        if not isinstance(data, Mapping):
            raise InvalidInput(f"A reference profile is a JSON object, not {type(data).__name__}.")
        if data.get("format") != PROFILE_FORMAT:
            if "files" in data and "schema" in data:
                return cls.from_dataset_profile(data)
            raise InvalidInput(
                f"Not a reference profile (format {data.get('format')!r}, expected "
                f"{PROFILE_FORMAT!r}): build one with ReferenceProfile.from_frame."
            )
        columns: dict[str, Sketch] = {}
        for name, column in dict(data.get("columns", {})).items():
            try:
                if column.get("kind") == "numeric":
                    columns[name] = NumericSketch.from_dict(column)
                elif column.get("kind") == "categorical":
                    columns[name] = CategoryCounts.from_dict(column)
                else:
                    raise ValueError(f"unknown kind {column.get('kind')!r}")
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise InvalidInput(
                    f"The reference profile's column {name!r} is malformed ({exc})."
                ) from exc
        return cls(
            rows=int(data.get("rows", 0)),
            columns=columns,
            skipped={str(k): str(v) for k, v in dict(data.get("skipped", {})).items()},
            source=str(data.get("source", "")),
        )

    @classmethod
    def from_dataset_profile(cls, profile: Mapping[str, Any]) -> ReferenceProfile:
        """Convert a dataset version's stored profile (20-bin histograms, top 50 categories):
        no data is read. Coarser than :meth:`from_frame` (see the module doc); several
        tabular files are merged column by column."""
        files = profile.get("files")
        if not isinstance(files, Mapping) or not files:
            raise InvalidInput("The dataset profile has no tabular files to take a reference from.")
        merged: dict[str, list[Sketch]] = {}
        skipped: dict[str, str] = {}
        rows = 0
        for name, entry in sorted(files.items()):
            if entry.get("error"):
                skipped[name] = f"file not profiled: {entry['error']}"
                continue
            rows += int(entry.get("rows") or 0)
            for column in entry.get("columns", []):
                sketch = _from_dataset_column(column)
                if isinstance(sketch, str):
                    skipped[column["name"]] = sketch
                else:
                    merged.setdefault(column["name"], []).append(sketch)
        columns: dict[str, Sketch] = {}
        for name, parts in merged.items():
            kinds = {p.kind for p in parts}
            if len(kinds) > 1:
                skipped[name] = "numeric in some files, categorical in others"
                continue
            columns[name] = _merge(parts)
        return cls(rows=rows, columns=columns, skipped=skipped, source="dataset profile")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (read back with :meth:`from_dict`)."""
        return {
            "format": PROFILE_FORMAT,
            "rows": self.rows,
            "source": self.source,
            "columns": {name: sketch.to_dict() for name, sketch in self.columns.items()},
            "skipped": dict(self.skipped),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    def save(self, path: str | Path) -> Path:
        """Write the profile as JSON to ``path``."""
        target = Path(path)
        target.write_text(self.to_json(), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | Path) -> ReferenceProfile:
        """Read a profile written by :meth:`save` (or a dataset profile's JSON)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InvalidInput(f"No reference profile at {str(path)!r}: check the path.") from exc
        except ValueError as exc:
            raise InvalidInput(f"{str(path)!r} is not JSON ({exc}).") from exc
        return cls.from_dict(data)

    def __repr__(self) -> str:
        kinds = [s.kind for s in self.columns.values()]
        return (
            f"ReferenceProfile(rows={self.rows}, numeric={kinds.count('numeric')}, "
            f"categorical={kinds.count('categorical')}, skipped={len(self.skipped)})"
        )


# -- reading columns of DataFrames and Arrow tables --


def workers() -> int:
    """Threads used across columns (numpy's sorts and searches release the GIL)."""
    import os

    return max(1, min(4, os.cpu_count() or 1))


def select_columns(data: Any, columns: Sequence[str] | None) -> list[str]:
    """The column names to compare: all of ``data``'s, or ``columns`` (checked)."""
    names = column_names(data)
    if columns is None:
        return names
    if isinstance(columns, str):
        columns = [columns]
    missing = [c for c in columns if c not in names]
    if missing:
        raise InvalidInput(
            f"Column {missing[0]!r} is not in the data.{did_you_mean(missing[0], names)} "
            f"It has {names[:20]}."
        )
    return list(columns)


def column_names(data: Any) -> list[str]:
    import pandas as pd
    import pyarrow as pa

    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns]
    if isinstance(data, pa.Table):
        return list(data.column_names)
    raise InvalidInput(
        f"Expected a pandas DataFrame or a pyarrow Table, not {type(data).__name__}."
    )


def num_rows(data: Any) -> int:
    import pyarrow as pa

    return int(data.num_rows if isinstance(data, pa.Table) else len(data))


def column_of(data: Any, name: str) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data.column(name)
    column = data[name]
    if getattr(column, "ndim", 1) != 1:
        raise InvalidInput(f"Column name {name!r} appears more than once in the DataFrame.")
    return column


def series_type(column: Any) -> str:
    return str(getattr(column, "type", None) or getattr(column, "dtype", "unknown"))


def column_kind(column: Any) -> ColumnKind:
    """``numeric`` for integers, floats and decimals; ``categorical`` for strings, booleans and
    categories; ``skipped`` for the rest (times, lists, mixed objects)."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray | pa.Array):
        kind = column.type
        if pa.types.is_dictionary(kind):
            return "categorical"
        if pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return "categorical"
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            return "numeric"
        return "skipped"
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_string_dtype(dtype):
        return "categorical"
    if dtype == np.dtype(object):
        inferred = pd.api.types.infer_dtype(column, skipna=True)
        if inferred in ("string", "boolean", "categorical", "empty"):
            return "categorical"
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return "numeric"
    return "skipped"


def numeric_values(column: Any) -> tuple[FloatArray, int]:
    """The column as float64 (nulls dropped) and the number of nulls dropped."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray | pa.Array):
        nulls = int(column.null_count)
        present = column.drop_null().cast(pa.float64())
        values = np.asarray(present.to_numpy(), np.float64) if len(present) else np.empty(0)
        return values, nulls
    if column.dtype == np.dtype(object):
        import pandas as pd

        column = pd.to_numeric(column, errors="coerce")
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    present = values[~np.isnan(values)]
    return present, int(values.size - present.size)


def category_counts(column: Any) -> tuple[dict[str, int], int]:
    """Exact counts of each value (as text; booleans as ``true``/``false``), and nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(column, pa.ChunkedArray | pa.Array):
        column = _arrow_of(column)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_boolean(column.type):
        column = pc.if_else(column, "true", "false")
    elif not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    nulls = int(column.null_count)
    counts = pc.value_counts(column.drop_null())
    values = counts.field("values").to_pylist()
    numbers = counts.field("counts").to_pylist()
    return {str(v): int(c) for v, c in zip(values, numbers, strict=True)}, nulls


def _arrow_of(series: pd.Series) -> pa.ChunkedArray:
    import pandas as pd
    import pyarrow as pa

    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    try:
        # Arrow-backed strings (pandas 3's default) come back as they are, without a copy.
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        array = pa.array(series.map(lambda v: None if pd.isna(v) else str(v)), pa.string())
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


# -- dataset profiles --


def _from_dataset_column(column: Mapping[str, Any]) -> Sketch | str:
    kind = column.get("kind")
    nulls = int(column.get("nulls") or 0) + int(column.get("nan") or 0)
    if kind == "numeric":
        histogram = column.get("histogram")
        count = int(column.get("count") or 0) - int(column.get("nan") or 0)
        count -= int(column.get("infinite") or 0)
        if not histogram or count <= 0:
            return "no finite values in the dataset profile"
        edges = np.asarray(histogram["edges"], np.float64)
        counts = np.asarray(histogram["counts"], np.int64)
        if edges.size == 2 and edges[0] == edges[1]:  # a constant column
            edges = edges[:1]
            le = np.asarray([int(counts.sum())], np.int64)
            lt = np.asarray([0], np.int64)
            exact = True
        else:
            # np.histogram's bins are [a, b) and the last [a, b]: the running counts are the
            # values *below* each edge (exact, but at the last edge) and all of them at the
            # last. How many sit *on* an edge is not counted; the profile's quantiles tell
            # where atoms are (a column of mostly zeros has its 1 % ... 99 % quantiles at 0):
            # at least share p of the values are <= a quantile q_p that falls on an edge.
            lt = np.r_[0, np.cumsum(counts)].astype(np.int64)
            le = lt.copy()
            total = int(lt[-1])
            lt[-1] = int(lt[-2]) if lt.size > 1 else 0
            for share, value in (column.get("quantiles") or {}).items():
                at = int(np.searchsorted(edges, value)) if value is not None else edges.size
                if at < edges.size - 1 and edges[at] == value:
                    below_next = int(le[at + 1]) if at + 1 < edges.size - 1 else total
                    le[at] = max(int(le[at]), min(int(float(share) * total), below_next))
            le[-1] = total
            exact = False
        return NumericSketch(
            count=int(le[-1]),
            nulls=nulls,
            mean=_float(column.get("mean")),
            std=_float(column.get("std")),
            edges=edges,
            le=le,
            lt=lt,
            exact=exact,
            coarse=True,
        )
    if kind in ("categorical", "boolean"):
        top = column.get("top") or []
        return CategoryCounts(
            count=int(column.get("count") or 0),
            nulls=nulls,
            categories=tuple(str(v) for v, _ in top),
            counts=np.asarray([int(c) for _, c in top], np.int64),
            other=int(column.get("other") or 0),
        )
    return f"type {column.get('type')} is not compared"


def _merge(parts: list[Sketch]) -> Sketch:
    """One sketch for a column spread over several files."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, CategoryCounts) for p in parts):
        totals: dict[str, int] = {}
        other = 0
        for part in parts:
            assert isinstance(part, CategoryCounts)
            for name, count in zip(part.categories, part.counts.tolist(), strict=True):
                totals[name] = totals.get(name, 0) + int(count)
            other += part.other
        merged = CategoryCounts.from_counts(totals, sum(p.nulls for p in parts), len(totals))
        return CategoryCounts(merged.count + other, merged.nulls, merged.categories,
                              merged.counts, other)  # fmt: skip
    numeric = [p for p in parts if isinstance(p, NumericSketch) and p.count]
    edges = np.unique(np.concatenate([p.edges for p in numeric]))
    le = np.zeros(edges.size)
    lt = np.zeros(edges.size)
    for part in numeric:
        right, left = part.cdf(edges)
        le += right * part.count
        lt += left * part.count
    count = sum(p.count for p in numeric)
    mean = sum(p.mean * p.count for p in numeric) / count
    variance = sum(p.count * (p.std**2 + (p.mean - mean) ** 2) for p in numeric) / count
    return NumericSketch(
        count=count,
        nulls=sum(p.nulls for p in parts),
        mean=mean,
        std=math.sqrt(variance),
        edges=edges,
        le=np.round(le).astype(np.int64),
        lt=np.round(lt).astype(np.int64),
        exact=False,
        coarse=any(p.coarse for p in numeric),
    )


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None
