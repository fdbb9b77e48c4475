"""Reading a feature view's source in DuckDB, checked against the view's definition.

Every read goes through :func:`scan`, which looks at the source's real columns first: a column
that disappeared, was renamed or changed type (a source that drifted from its definition) stops
the read with one message listing every problem, instead of joining wrong values.

The time rule: every timestamp is compared as an instant (``TIMESTAMP WITH TIME ZONE``, in UTC).
A source column stored without a zone is read in the zone its source declares
(``FileSource(..., timezone="UTC")``) and refused when it declares none.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.errors import InvalidInput, NotFound, did_you_mean
from loopline.features._definitions import DatasetSource, FeatureView, FileSource, SqlSource
from loopline.features._types import FeatureType

if TYPE_CHECKING:
    import duckdb

    from loopline.features._dataset_files import DatasetFiles

__all__ = ["connect", "quote", "literal", "scan", "Scan"]

_AWARE = "TIMESTAMP WITH TIME ZONE"
_NAIVE = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE", "VARCHAR")
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def connect(memory_limit: str | None = None, temp_directory: Path | None = None) -> Any:
    """A DuckDB connection in UTC that spills to ``temp_directory`` past ``memory_limit``."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        try:
            con.execute(f"SET memory_limit = {literal(memory_limit)}")
        except duckdb.Error as exc:
            raise InvalidInput(f"memory_limit={memory_limit!r} is not a size like '4GB'.") from exc
    if temp_directory is not None:
        temp_directory.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {literal(str(temp_directory))}")
    # Order is restored explicitly (row numbers) wherever it matters.
    con.execute("SET preserve_insertion_order = false")
    return con


@dataclass(frozen=True)
class Scan:
    """A checked read of a view's source: SQL of a relation with the join keys, ``__ll_ts``
    (the event time, as an instant), ``__ll_created`` (a BIGINT: higher is later) and the
    features, cast to their types."""

    sql: str
    has_created: bool


def scan(
    con: duckdb.DuckDBPyConnection,
    view: FeatureView,
    features: Sequence[str],
    *,
    scratch: Path | None = None,
    datasets: DatasetFiles | None = None,
) -> Scan:
    """The SQL reading ``features`` of ``view``, after checking the source's columns.

    ``datasets`` resolves a :class:`DatasetSource` (and records the version it read).

    Raises:
        NotFound: the source's files do not exist.
        InvalidInput: the source drifted from the definition (every problem in one message), or
            holds timestamps without a zone while its definition declares none.
    """
    source = view.source
    base = _relation(view, source, scratch, datasets)
    import duckdb

    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {base}").fetchall()  # noqa: S608 - names validated, identifiers quote()d, values literal()d
    except duckdb.Error as exc:
        raise InvalidInput(
            f"Cannot read the source of feature view {view.name!r} ({_where(source)}): "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    columns = {str(row[0]): str(row[1]).upper() for row in described}
    problems: list[str] = []

    def need(name: str, what: str) -> str | None:
        if name in columns:
            return columns[name]
        problems.append(f"{what} {name!r} is missing{did_you_mean(name, columns)}")
        return None

    for key in view.join_keys:
        need(key, "join key")
    ts_type = need(source.timestamp_field, "timestamp field")
    ts_sql = _instant(view, source.timestamp_field, ts_type, problems)
    created_sql = "NULL"
    if source.created_timestamp_column:
        created_type = need(source.created_timestamp_column, "created timestamp column")
        # As a BIGINT (microseconds, or the integer itself); a row without one loses every tie.
        if created_type in _INTEGERS:
            value = f"CAST({quote(source.created_timestamp_column)} AS BIGINT)"
        else:
            instant = _instant(view, source.created_timestamp_column, created_type, problems)
            value = f"epoch_us({instant})"
        created_sql = f"coalesce({value}, -9223372036854775807)"
    types = {f.name: f.dtype for f in view.features}
    feature_sql = []
    for name in features:
        found = need(name, "feature")
        if found is not None:
            feature_sql.append(_cast(view, name, types[name], found, problems))
    if problems:
        raise InvalidInput(
            f"The source of feature view {view.name!r} ({_where(source)}) does not match its "
            f"definition: {'; '.join(problems)}. Its columns are: "
            f"{', '.join(f'{n} {t}' for n, t in columns.items())}. Fix the source, or update "
            f"the definition and apply it again.",
            details={"view": view.name, "problems": problems},
        )
    keys = ", ".join(quote(k) for k in view.join_keys)
    select = ", ".join(
        [keys, f"{ts_sql} AS __ll_ts", f"{created_sql} AS __ll_created", *feature_sql]
    )
    return Scan(f"(SELECT {select} FROM {base})", bool(source.created_timestamp_column))  # noqa: S608 - names validated, identifiers quote()d, values literal()d


def _where(source: FileSource | SqlSource | DatasetSource) -> str:
    if isinstance(source, FileSource):
        return str(source.path)
    if isinstance(source, DatasetSource):
        project = f"{source.project}/" if source.project else ""
        return f"{source.path} of dataset {project}{source.dataset}:{source.version}"
    return f"query on {_mask(source.url)}"


def _mask(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for a message
        return "<database>"


def _instant(view: FeatureView, column: str, found: str | None, problems: list[str]) -> str:
    """SQL giving ``column`` as an instant, or ``NULL`` after noting the problem."""
    if found is None:
        return "NULL"
    if found == _AWARE:
        return quote(column)
    if found not in _NAIVE:
        problems.append(f"{column!r} is {found}, not a timestamp")
        return "NULL"
    zone = view.source.timezone
    if zone is None:
        problems.append(
            f"{column!r} holds timestamps without a time zone ({found}); say which zone they "
            f"are in with timezone='UTC' (or another zone) on the source, or store them with "
            f"their zone"
        )
        return "NULL"
    return f"timezone({literal(zone)}, CAST({quote(column)} AS TIMESTAMP))"


def _cast(view: FeatureView, name: str, dtype: FeatureType, found: str, problems: list[str]) -> str:
    if not dtype.accepts_column(found):
        problems.append(f"feature {name!r} is {found}, declared {dtype.name}")
        return "NULL"
    column = quote(name)
    if dtype.name == "timestamp" and found != _AWARE:
        column = _instant(view, name, found, problems)
    return f"CAST({column} AS {dtype.duckdb}) AS {quote(name)}"


def _relation(
    view: FeatureView,
    source: FileSource | SqlSource | DatasetSource,
    scratch: Path | None,
    datasets: DatasetFiles | None,
) -> str:
    if isinstance(source, FileSource):
        return _file_relation(view, source)
    if isinstance(source, DatasetSource):
        return _dataset_relation(view, source, datasets)
    return _sql_relation(view, source, scratch)


def _dataset_relation(
    view: FeatureView, source: DatasetSource, datasets: DatasetFiles | None
) -> str:
    if datasets is None:
        raise InvalidInput(
            f"Feature view {view.name!r} reads a dataset version: read it through a Loopline "
            f"client (ll.features.get_training_frame, FeatureStore), which knows the store."
        )
    files = ", ".join(literal(str(p)) for p in datasets.paths(view.name, source))
    if source.file_format == "csv":
        compression = ", compression = 'gzip'" if source.path.endswith(".gz") else ""
        return f"read_csv([{files}], union_by_name = true{compression})"
    return f"read_parquet([{files}], union_by_name = true)"


def _file_relation(view: FeatureView, source: FileSource) -> str:
    path = Path(source.path)
    pattern = str(path)
    if "*" not in pattern:
        if path.is_dir():
            suffix = "csv" if source.file_format == "csv" else "parquet"
            pattern = str(path / "**" / f"*.{suffix}")
        elif not path.exists():
            raise NotFound(
                f"The source of feature view {view.name!r} does not exist: {path}. Write the "
                f"file, or fix FileSource(path=...) and apply again."
            )
    if source.file_format == "csv":
        return f"read_csv({literal(pattern)}, union_by_name = true)"
    return f"read_parquet({literal(pattern)}, union_by_name = true)"


def _sql_relation(view: FeatureView, source: SqlSource, scratch: Path | None) -> str:
    """Run the query (streamed, in chunks) into Parquet files DuckDB then reads like any file."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    url = source.url
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url.removeprefix(plain)
    folder = (scratch or Path(tempfile.gettempdir())) / f"ll-sql-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    query = source.query.strip().rstrip(";")
    written = 0
    try:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(text(query))
                names = list(result.keys())
                while rows := result.fetchmany(100_000):
                    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
                    pq.write_table(table, folder / f"part-{written:06d}.parquet")
                    written += 1
                if not written:
                    raise InvalidInput(f"The query of feature view {view.name!r} returned no rows.")
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        raise InvalidInput(
            f"The query of feature view {view.name!r} on {_mask(source.url)} failed: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    except ImportError as exc:
        raise InvalidInput(
            f"The source of feature view {view.name!r} needs a database driver: {exc}."
        ) from exc
    return f"read_parquet({literal(str(folder / '*.parquet'))}, union_by_name = true)"
