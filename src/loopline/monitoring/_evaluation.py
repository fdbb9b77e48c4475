"""The evaluation store: prediction logs and labels as Parquet partitions, queried with DuckDB.

Layout under the root (a local folder or an fsspec URL such as ``s3://bucket/prefix``)::

    <root>/<project>/<endpoint>/predictions/date=YYYY-MM-DD/<batch>.parquet
    <root>/<project>/<endpoint>/labels/date=YYYY-MM-DD/<batch>.parquet

Every append writes whole files: a temporary file renamed into place on a folder, one PUT on
an object store, so a reader never sees half a batch. A batch name is a time-ordered UUID (its
first 48 bits are the write time in milliseconds), so file names sort by arrival; appending
again with the same ``batch_id`` rewrites the same files (a retried upload does not duplicate).

Nothing here touches the metadata database: the logs are high-volume append data.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from loopline.errors import InvalidInput, StorageError, did_you_mean
from loopline.projects import validate_project_name
from loopline.projects._types import validate_endpoint_name

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from loopline.config import Settings

__all__ = [
    "EvaluationStore",
    "PREDICTION_COLUMNS",
    "LABEL_COLUMNS",
    "Kind",
    "new_batch_id",
    "table_from_parquet",
    "table_to_parquet",
    "validate_endpoint_name",
    "validate_labels",
    "validate_predictions",
]

Kind = Literal["predictions", "labels"]

PREDICTION_COLUMNS = (
    "request_id",
    "ts",
    "model",
    "version",
    "route",
    "latency_ms",
    "error",
    "output",
)
"""The fixed columns of a prediction log, besides ``input``/``input.<name>`` and ``proba``."""

LABEL_COLUMNS = ("request_id", "ts", "label")
ROUTES = ("primary", "shadow")
_INPUT_PREFIX = "input."
_BATCH = re.compile(r"^[0-9a-f]{32}$")
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def new_batch_id() -> str:
    """A time-ordered UUID as 32 hex digits: 48 bits of milliseconds, then 80 random bits."""
    millis = time.time_ns() // 1_000_000
    return f"{millis:012x}{secrets.token_hex(10)}"


class EvaluationStore:
    """Prediction logs and labels of every endpoint, as Parquet files read with DuckDB.

    Args:
        root: a local folder, or an fsspec URL like ``s3://bucket/prefix``.
        settings: where S3 options (endpoint, credentials, timeouts) come from for an ``s3://``
            root; without them the usual AWS credential chain applies.

    Example:
        >>> store = EvaluationStore("/tmp/evaluations")
        >>> store.append_predictions("demo", "churn-api", table)  # doctest: +SKIP
        '/tmp/evaluations/demo/churn-api/predictions/date=2026-11-23/0190....parquet'
        >>> store.predictions("demo", "churn-api", version=3)  # doctest: +SKIP
    """

    def __init__(self, root: str, *, settings: Settings | None = None) -> None:
        self._location = _Location.open(root, settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> EvaluationStore:
        """The store named by ``LOOPLINE_EVALUATION_URI`` (default ``<home>/evaluations``)."""
        return cls(settings.evaluation_root, settings=settings)

    @property
    def root(self) -> str:
        """The root, as given (a folder path or a URL)."""
        return self._location.url

    def __repr__(self) -> str:
        return f"EvaluationStore({self.root!r})"

    # -- writing --

    def append_predictions(
        self, project: str, endpoint: str, table: pa.Table, *, batch_id: str | None = None
    ) -> str:
        """Write a batch of prediction logs; return the path of the file written.

        The table follows the serving contract: ``request_id`` (string), ``ts``
        (``timestamp[us, tz=UTC]``; any unit or time zone is converted), ``model`` (string),
        ``version`` (int32), ``route`` (``"primary"`` or ``"shadow"``), ``latency_ms``
        (float64), ``error`` (string, null when the prediction succeeded), the inputs as
        ``input.<name>`` columns (or one ``input`` list column for tensor models), ``output``
        and optionally ``proba`` (list of float64).

        A batch whose rows span several days is split into one file per day; the files share
        the batch's name and the first one's path is returned. An empty table writes nothing
        and returns ``""``.

        Args:
            batch_id: 32 hex digits naming the batch (default: a new time-ordered one).
                Appending again with the same id replaces the same files.

        Raises:
            InvalidInput: the table does not follow the contract; the message says which
                column is wrong and how.
        """
        table = validate_predictions(table)
        return self._append("predictions", project, endpoint, table, batch_id)

    def append_labels(
        self, project: str, endpoint: str, table: pa.Table, *, batch_id: str | None = None
    ) -> str:
        """Write a batch of labels: ``request_id`` (string), ``ts`` (timestamp with a time
        zone) and ``label`` (a scalar). Labels may arrive late and in several batches; for a
        request with several labels, the one with the latest ``ts`` wins (a tie goes to the
        later batch). Returns the path of the (first) file written; see
        :meth:`append_predictions`."""
        table = validate_labels(table)
        return self._append("labels", project, endpoint, table, batch_id)

    def _append(
        self, kind: Kind, project: str, endpoint: str, table: pa.Table, batch_id: str | None
    ) -> str:
        import pyarrow.compute as pc

        folder = self._folder(project, endpoint, kind)
        if batch_id is None:
            batch_id = new_batch_id()
        elif not isinstance(batch_id, str) or not _BATCH.match(batch_id):
            raise InvalidInput(
                f"Batch id {batch_id!r} is not 32 lower-case hex digits (like "
                f"{new_batch_id()!r}); leave it out to get a new one."
            )
        if table.num_rows == 0:
            return ""
        days = pc.cast(table.column("ts"), "date32")  # ts is in UTC: its UTC day
        unique_days = sorted(pc.unique(days).to_pylist())
        written: list[str] = []
        for day in unique_days:
            part = table if len(unique_days) == 1 else table.filter(pc.equal(days, day))
            path = f"{folder}/date={day.isoformat()}/{batch_id}.parquet"
            self._location.write_atomic(path, table_to_parquet(part))
            written.append(path)
        return self._location.display(written[0])

    # -- reading --

    def files(
        self,
        project: str,
        endpoint: str,
        kind: Kind = "predictions",
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """The Parquet files of one log (full paths or URLs), oldest day first, pruned to the
        days that may hold rows with ``start <= ts < end``."""
        found = self._relative_files(project, endpoint, kind, start, end)
        return [self._location.display(f) for f in found]

    def _relative_files(
        self,
        project: str,
        endpoint: str,
        kind: Kind,
        start: datetime | None,
        end: datetime | None,
    ) -> list[str]:
        first = None if start is None else _utc(start, "start").date()
        last = None if end is None else (_utc(end, "end") - timedelta(microseconds=1)).date()
        folder = self._folder(project, endpoint, kind)
        found: list[str] = []
        for name in sorted(self._location.list_dirs(folder)):
            match = _DATE_DIR.match(name)
            if match is None:
                continue
            day = date.fromisoformat(match.group(1))
            if (first is not None and day < first) or (last is not None and day > last):
                continue
            found += sorted(self._location.list_parquet(f"{folder}/{name}"))
        return found

    def predictions(
        self,
        project: str,
        endpoint: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        model: str | None = None,
        version: int | None = None,
        route: str | None = None,
        with_labels: bool = True,
    ) -> pd.DataFrame:
        """The logged predictions with ``start <= ts < end``, oldest first, as a DataFrame.

        Files with different input columns are read together (missing columns are null).
        With ``with_labels``, each row gets ``label`` and ``label_ts`` from the latest label of
        its ``request_id`` (null while none has arrived).

        Args:
            start: first instant (inclusive); a naive datetime is taken as UTC.
            end: last instant (exclusive).
            model, version, route: keep only these rows.
        """
        if route is not None and route not in ROUTES:
            raise InvalidInput(f"Route {route!r} is not one of {', '.join(ROUTES)}.")
        where, params = _filters(start, end, model, version, route)
        with self._connect() as con:
            predictions = self._scan(con, project, endpoint, "predictions", start, end)
            if predictions is None:
                return _empty_predictions(with_labels)
            query = f"SELECT * EXCLUDE (date) FROM {predictions} p{where}"  # noqa: S608 - file paths quoted, values bound as parameters
            if with_labels:
                labels = self._latest_labels(con, project, endpoint)
                query = (
                    f"SELECT p.*, l.label, l.label_ts FROM ({query}) p "  # noqa: S608 - file paths quoted, values bound as parameters
                    f"LEFT JOIN {labels} l USING (request_id)"
                )
            return _frame(con, f"{query} ORDER BY p.ts, p.request_id", params)

    def inputs(
        self,
        project: str,
        endpoint: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        model: str | None = None,
        version: int | None = None,
        route: str | None = None,
        with_output: bool = False,
    ) -> pd.DataFrame:
        """The logged inputs of successful predictions, named as the model's columns
        (``input.age`` becomes ``age``): what drift detection compares with the training
        data. With ``with_output``, the ``output`` column too."""
        frame = self.predictions(
            project, endpoint, start=start, end=end, model=model, version=version, route=route,
            with_labels=False,
        )  # fmt: skip
        frame = frame[frame["error"].isna()]
        names = [c for c in frame.columns if c.startswith(_INPUT_PREFIX) or c == "input"]
        if with_output:
            names.append("output")
        renamed = {c: c.removeprefix(_INPUT_PREFIX) for c in names}
        return frame[names].rename(columns=renamed).reset_index(drop=True)

    def labels(self, project: str, endpoint: str) -> pd.DataFrame:
        """The latest label of every request: ``request_id``, ``label``, ``label_ts``."""
        with self._connect() as con:
            labels = self._latest_labels(con, project, endpoint)
            query = f"SELECT * FROM {labels} ORDER BY label_ts, request_id"  # noqa: S608 - file paths quoted, values bound as parameters
            return _frame(con, query, [])

    def windows(
        self,
        project: str,
        endpoint: str,
        *,
        every: timedelta = timedelta(hours=1),
        start: datetime | None = None,
        end: datetime | None = None,
        model: str | None = None,
        version: int | None = None,
        route: str | None = None,
    ) -> pd.DataFrame:
        """Operational figures per time window and model version: ``window_start``,
        ``model``, ``version``, ``route``, ``predictions``, ``errors``, ``error_rate``,
        ``labelled`` (predictions with a label), and the latency in milliseconds of every
        logged request: ``latency_p50``, ``latency_p95``, ``latency_p99``, ``latency_mean``.

        Windows are aligned on multiples of ``every`` since the Unix epoch (UTC), so the same
        instant falls in the same window whatever ``start`` is.
        """
        seconds = every.total_seconds()
        if seconds <= 0 or seconds != int(seconds):
            raise InvalidInput(f"Window length {every} must be a positive whole number of seconds.")
        where, params = _filters(start, end, model, version, route)
        with self._connect() as con:
            predictions = self._scan(con, project, endpoint, "predictions", start, end)
            if predictions is None:
                return _empty_windows()
            labels = self._latest_labels(con, project, endpoint)
            bucket = f"to_timestamp(floor(epoch(p.ts) / {int(seconds)}) * {int(seconds)})"
            query = (
                f"SELECT {bucket} AS window_start, p.model, p.version, p.route, "  # noqa: S608 - file paths quoted, values bound as parameters
                f"count(*) AS predictions, count(p.error) AS errors, "
                f"count(p.error) / count(*) AS error_rate, count(l.label_ts) AS labelled, "
                f"quantile_cont(p.latency_ms, 0.5) AS latency_p50, "
                f"quantile_cont(p.latency_ms, 0.95) AS latency_p95, "
                f"quantile_cont(p.latency_ms, 0.99) AS latency_p99, "
                f"avg(p.latency_ms) AS latency_mean "
                f"FROM (SELECT * FROM {predictions} p{where}) p "
                f"LEFT JOIN {labels} l USING (request_id) "
                f"GROUP BY ALL ORDER BY window_start, p.model, p.version, p.route"
            )
            return _frame(con, query, params)

    # -- internals --

    def _folder(self, project: str, endpoint: str, kind: Kind) -> str:
        validate_project_name(project)
        validate_endpoint_name(endpoint)
        return f"{project}/{endpoint}/{kind}"

    def _connect(self) -> _Connection:
        return _Connection(self._location)

    def _scan(
        self,
        con: duckdb.DuckDBPyConnection,
        project: str,
        endpoint: str,
        kind: Kind,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> str | None:
        """A ``read_parquet(...)`` expression over the files of one log, or None when none."""
        files = self._relative_files(project, endpoint, kind, start, end)
        if not files:
            return None
        listed = ", ".join(_sql_string(self._location.duckdb_path(f)) for f in files)
        extra = ", filename = true, file_row_number = true" if kind == "labels" else ""
        return (
            f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true, "
            f"hive_types = {{'date': 'DATE'}}{extra})"
        )

    def _latest_labels(self, con: duckdb.DuckDBPyConnection, project: str, endpoint: str) -> str:
        # Labels arrive late, so every label file may hold a label for any prediction: the
        # label log is not pruned by the predictions' dates.
        labels = self._scan(con, project, endpoint, "labels")
        if labels is None:
            return (
                "(SELECT NULL::VARCHAR AS request_id, NULL AS label, "
                "NULL::TIMESTAMPTZ AS label_ts WHERE false)"
            )
        return (
            f"(SELECT request_id, label, ts AS label_ts FROM {labels} "  # noqa: S608 - file paths quoted, values bound as parameters
            f"QUALIFY row_number() OVER (PARTITION BY request_id "
            f"ORDER BY ts DESC, filename DESC, file_row_number DESC) = 1)"
        )


# -- validation of the serving contract --


def validate_predictions(table: Any) -> pa.Table:
    """Check a prediction batch against the contract and return it in the stored types."""
    import pyarrow as pa

    table = _as_table(table, "prediction log")
    names = table.column_names
    _refuse_duplicates(names, "prediction log")
    inputs = [n for n in names if n.startswith(_INPUT_PREFIX) and len(n) > len(_INPUT_PREFIX)]
    known = {*PREDICTION_COLUMNS, "proba", "input", *inputs}
    unknown = [n for n in names if n not in known]
    if unknown:
        allowed = [*PREDICTION_COLUMNS, "proba", "input", "input.<name>"]
        raise InvalidInput(
            f"The prediction log has unknown column(s) {', '.join(map(repr, unknown))}."
            f"{did_you_mean(unknown[0], allowed)} Allowed: {', '.join(allowed)}."
        )
    missing = [n for n in PREDICTION_COLUMNS if n not in names]
    if missing:
        raise InvalidInput(
            f"The prediction log lacks column(s) {', '.join(map(repr, missing))}; it needs "
            f"{', '.join(PREDICTION_COLUMNS)}, inputs, and optionally proba."
        )
    if "input" in names and inputs:
        raise InvalidInput(
            "The prediction log has both an 'input' column and 'input.<name>' columns: use "
            "'input.<name>' per input column, or one 'input' list column for a tensor model."
        )
    if "input" not in names and not inputs:
        raise InvalidInput(
            "The prediction log has no inputs: add one 'input.<name>' column per model input "
            "(or one 'input' list column for a tensor model)."
        )
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "request_id": _string(table, "request_id", nullable=False),
        "ts": _timestamp(table, "ts"),
        "model": _string(table, "model", nullable=True),
        "version": _integer(table, "version"),
        "route": _route(table),
        "latency_ms": _float(table, "latency_ms"),
        "error": _string(table, "error", nullable=True),
    }
    if "input" in names:
        columns["input"] = _list_column(table, "input")
    for name in inputs:
        columns[name] = _plain_value(table, name)
    columns["output"] = _plain_value(table, "output", allow_list=True)
    if "proba" in names:
        columns["proba"] = _proba(table)
    return pa.table(columns)


def validate_labels(table: Any) -> pa.Table:
    """Check a label batch (``request_id``, ``ts``, ``label``) and return it in stored types."""
    import pyarrow as pa

    table = _as_table(table, "label batch")
    names = table.column_names
    _refuse_duplicates(names, "label batch")
    unknown = [n for n in names if n not in LABEL_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"The label batch has unknown column(s) {', '.join(map(repr, unknown))}."
            f"{did_you_mean(unknown[0], LABEL_COLUMNS)} It takes exactly "
            f"{', '.join(LABEL_COLUMNS)}."
        )
    missing = [n for n in LABEL_COLUMNS if n not in names]
    if missing:
        raise InvalidInput(
            f"The label batch lacks column(s) {', '.join(map(repr, missing))}; it needs "
            f"request_id (string), ts (timestamp with a time zone) and label."
        )
    label = _plain_value(table, "label")
    if label.null_count:
        raise InvalidInput(
            f"The label batch has {label.null_count} null label(s): every row needs a label."
        )
    return pa.table(
        {
            "request_id": _string(table, "request_id", nullable=False),
            "ts": _timestamp(table, "ts"),
            "label": label,
        }
    )


def _as_table(table: Any, what: str) -> pa.Table:
    import pyarrow as pa

    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise InvalidInput(
            f"The {what} must be a pyarrow.Table, not {type(table).__name__} "
            f"(convert a DataFrame with pyarrow.Table.from_pandas(df, preserve_index=False))."
        )
    return table


def _refuse_duplicates(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"The {what} has the column {name!r} twice.")
        seen.add(name)


def _column_type_error(name: str, got: pa.DataType, wanted: str) -> InvalidInput:
    return InvalidInput(f"Column {name!r} must be {wanted}, not {got}.")


def _string(table: pa.Table, name: str, *, nullable: bool) -> pa.ChunkedArray:
    import pyarrow as pa

    column = table.column(name)
    if pa.types.is_null(column.type):
        column = column.cast(pa.string())
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise _column_type_error(name, column.type, "a string column")
    if not nullable and column.null_count:
        raise InvalidInput(f"Column {name!r} has {column.null_count} null value(s); fill it in.")
    return column.cast(pa.string())


def _timestamp(table: pa.Table, name: str) -> pa.ChunkedArray:
    import pyarrow as pa

    column = table.column(name)
    if not pa.types.is_timestamp(column.type):
        raise _column_type_error(name, column.type, "a timestamp column (timestamp[us, tz=UTC])")
    if column.type.tz is None:
        raise InvalidInput(
            f"Column {name!r} has no time zone ({column.type}): make it timezone-aware, "
            f"in UTC (timestamp[us, tz=UTC]), so instants are not misread."
        )
    if column.null_count:
        raise InvalidInput(f"Column {name!r} has {column.null_count} null value(s); fill it in.")
    return column.cast(pa.timestamp("us", tz="UTC"))


def _integer(table: pa.Table, name: str) -> pa.ChunkedArray:
    import pyarrow as pa

    column = table.column(name)
    if pa.types.is_null(column.type):
        return column.cast(pa.int32())
    if not pa.types.is_integer(column.type):
        raise _column_type_error(name, column.type, "an integer column (int32)")
    try:
        return column.cast(pa.int32())
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"Column {name!r} has values that do not fit in int32.") from exc


def _float(table: pa.Table, name: str) -> pa.ChunkedArray:
    import pyarrow as pa

    column = table.column(name)
    if not (
        pa.types.is_floating(column.type)
        or pa.types.is_integer(column.type)
        or pa.types.is_null(column.type)
    ):
        raise _column_type_error(name, column.type, "a number column (float64)")
    return column.cast(pa.float64())


def _route(table: pa.Table) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    column = _string(table, "route", nullable=False)
    bad = pc.unique(column.filter(pc.invert(pc.is_in(column, value_set=_route_set()))))
    if len(bad):
        first = bad[0].as_py()
        raise InvalidInput(
            f"Column 'route' has the value {first!r}: routes are {' or '.join(ROUTES)}."
            f"{did_you_mean(first, ROUTES)}"
        )
    return column


def _route_set() -> pa.Array:
    import pyarrow as pa

    return pa.array(ROUTES, pa.string())


def _is_scalar_type(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_boolean(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_date(kind)
        or pa.types.is_null(kind)
        or pa.types.is_dictionary(kind)
    )


def _plain_value(table: pa.Table, name: str, *, allow_list: bool = False) -> pa.ChunkedArray:
    import pyarrow as pa

    column = table.column(name)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_large_string(kind):
        column = column.cast(pa.string())
    elif allow_list and (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
        return _list_column(table, name)
    elif not _is_scalar_type(kind):
        wanted = "a scalar or a list" if allow_list else "a scalar (number, string, bool, time)"
        raise _column_type_error(name, kind, wanted)
    return column


def _list_column(table: pa.Table, name: str) -> pa.ChunkedArray:
    import pyarrow as pa

    column = table.column(name)
    kind = column.type
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        raise _column_type_error(name, kind, "a list column")
    inner = kind.value_type
    if not (_is_scalar_type(inner) or pa.types.is_list(inner)):
        raise _column_type_error(name, kind, "a list of numbers (or of lists of numbers)")
    return column.cast(pa.list_(inner))


def _proba(table: pa.Table) -> pa.ChunkedArray:
    import pyarrow as pa

    column = table.column("proba")
    kind = column.type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind)
    if pa.types.is_fixed_size_list(kind):
        is_list = True
    if not is_list or not (
        pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)
    ):
        raise _column_type_error("proba", kind, "a list<float64> column")
    return column.cast(pa.list_(pa.float64()))


# -- queries --


def _utc(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime):
        raise InvalidInput(f"{what} must be a datetime, not {type(moment).__name__}.")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _filters(
    start: datetime | None,
    end: datetime | None,
    model: str | None,
    version: int | None,
    route: str | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if start is not None:
        clauses.append("p.ts >= ?")
        params.append(_utc(start, "start"))
    if end is not None:
        clauses.append("p.ts < ?")
        params.append(_utc(end, "end"))
    if model is not None:
        clauses.append("p.model = ?")
        params.append(model)
    if version is not None:
        clauses.append("p.version = ?")
        params.append(int(version))
    if route is not None:
        clauses.append("p.route = ?")
        params.append(route)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _frame(con: duckdb.DuckDBPyConnection, query: str, params: list[Any]) -> pd.DataFrame:
    # Through Arrow: one copy, and time zones and lists arrive intact.
    frame: pd.DataFrame = con.sql(query, params=params).to_arrow_table().to_pandas()
    return frame


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _empty_predictions(with_labels: bool) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "request_id": pd.Series(dtype="object"),
            "ts": pd.Series(dtype="datetime64[us, UTC]"),
            "model": pd.Series(dtype="object"),
            "version": pd.Series(dtype="int32"),
            "route": pd.Series(dtype="object"),
            "latency_ms": pd.Series(dtype="float64"),
            "error": pd.Series(dtype="object"),
            "output": pd.Series(dtype="object"),
        }
    )
    if with_labels:
        frame["label"] = pd.Series(dtype="object")
        frame["label_ts"] = pd.Series(dtype="datetime64[us, UTC]")
    return frame


def _empty_windows() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "window_start": pd.Series(dtype="datetime64[us, UTC]"),
            "model": pd.Series(dtype="object"),
            "version": pd.Series(dtype="int32"),
            "route": pd.Series(dtype="object"),
            "predictions": pd.Series(dtype="int64"),
            "errors": pd.Series(dtype="int64"),
            "error_rate": pd.Series(dtype="float64"),
            "labelled": pd.Series(dtype="int64"),
            "latency_p50": pd.Series(dtype="float64"),
            "latency_p95": pd.Series(dtype="float64"),
            "latency_p99": pd.Series(dtype="float64"),
            "latency_mean": pd.Series(dtype="float64"),
        }
    )


# -- where the files live --


@dataclass(frozen=True, slots=True)
class _Location:
    """A root folder on the local disk, or on an fsspec file system (S3, memory, ...)."""

    url: str
    path: str  # the root inside the file system (a local path, or "bucket/prefix")
    fs: Any  # None for the local disk

    @classmethod
    def open(cls, root: str, settings: Settings | None) -> _Location:
        if not isinstance(root, str) or not root.strip():
            raise InvalidInput("An evaluation store needs a root: a folder or s3://bucket/prefix.")
        root = root.strip()
        if "://" not in root or root.startswith("file://"):
            folder = Path(root.removeprefix("file://")).expanduser().absolute()
            return cls(str(folder), str(folder), None)
        scheme = root.partition("://")[0].lower()
        if scheme in ("s3", "s3a"):
            from loopline.blobs._fsspec import s3_filesystem
            from loopline.config import Settings

            parts = urlsplit(root)
            if not parts.netloc:
                raise InvalidInput(
                    f"Evaluation store {root!r}: an S3 location needs a bucket, like "
                    f"s3://bucket/prefix."
                )
            fs = s3_filesystem(settings or Settings.from_env({}), url=root)
            path = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
            return cls(root.rstrip("/"), path, fs)
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(root)
        except (ImportError, ValueError) as exc:
            raise InvalidInput(f"Evaluation store {root!r}: {' '.join(str(exc).split())}") from exc
        return cls(root.rstrip("/"), str(path).rstrip("/"), fs)

    @property
    def protocol(self) -> str:
        if self.fs is None:
            return "file"
        protocol = self.fs.protocol
        return str(protocol if isinstance(protocol, str) else protocol[0])

    def full(self, relative: str) -> str:
        return f"{self.path}/{relative}"

    def display(self, relative: str) -> str:
        return f"{self.url}/{relative}"

    def duckdb_path(self, relative: str) -> str:
        if self.fs is None:
            return self.full(relative)
        return f"{self.protocol}://{self.full(relative)}"

    def write_atomic(self, relative: str, data: bytes) -> None:
        target = self.full(relative)
        try:
            if self.fs is None:
                folder = Path(target).parent
                folder.mkdir(parents=True, exist_ok=True)
                # A dot-name without the .parquet suffix: readers never list a half file.
                temp = folder / f".{uuid.uuid4().hex}.tmp"
                try:
                    temp.write_bytes(data)
                    temp.replace(target)
                except BaseException:
                    temp.unlink(missing_ok=True)
                    raise
            else:
                # One PUT: an object store makes the object visible all at once.
                self.fs.pipe_file(target, data)
        except OSError as exc:
            raise self._storage_error("write", relative, exc) from exc
        except Exception as exc:
            raise self._storage_error("write", relative, exc) from exc

    def list_dirs(self, relative: str) -> list[str]:
        return [name for name, is_dir in self._list(relative) if is_dir]

    def list_parquet(self, relative: str) -> list[str]:
        return [
            f"{relative}/{name}"
            for name, is_dir in self._list(relative)
            if not is_dir and name.endswith(".parquet") and not name.startswith(".")
        ]

    def _list(self, relative: str) -> Iterator[tuple[str, bool]]:
        target = self.full(relative)
        try:
            if self.fs is None:
                if not Path(target).is_dir():
                    return iter(())
                with os.scandir(target) as entries:
                    return iter([(e.name, e.is_dir()) for e in entries])
            try:
                entries = self.fs.ls(target, detail=True)
            except FileNotFoundError:
                return iter(())
            return iter(
                [
                    (str(e["name"]).rstrip("/").rpartition("/")[2], e.get("type") == "directory")
                    for e in entries
                ]
            )
        except Exception as exc:
            raise self._storage_error("list", relative, exc) from exc

    def _storage_error(self, action: str, relative: str, exc: BaseException) -> StorageError:
        said = " ".join(str(exc).split()) or type(exc).__name__
        return StorageError(
            f"Could not {action} {relative!r} in the evaluation store {self.url}: "
            f"{type(exc).__name__}: {said}. Check LOOPLINE_EVALUATION_URI and the S3 settings.",
            details={"store": self.url},
        )


class _Connection:
    """A DuckDB connection in UTC that can read the location's files (closed on exit)."""

    def __init__(self, location: _Location) -> None:
        import duckdb

        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        if location.fs is not None:
            self.con.register_filesystem(location.fs)

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        return self.con

    def __exit__(self, *exc_info: object) -> None:
        self.con.close()


def table_from_parquet(data: bytes, what: str = "batch") -> pa.Table:
    """Read a Parquet file's bytes (a batch shipped over HTTP); InvalidInput if they are not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput(f"The {what} must be a Parquet file's bytes, not {type(data).__name__}.")
    try:
        return pq.read_table(pa.BufferReader(bytes(data)))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(
            f"The {what} is not a readable Parquet file ({' '.join(str(exc).split())}). Send "
            f"the bytes pyarrow.parquet.write_table wrote."
        ) from exc


def table_to_parquet(table: pa.Table) -> bytes:
    """A table as a Parquet file's bytes (zstd), for shipping a batch to a server."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()
