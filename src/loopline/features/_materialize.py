"""Materialization: the latest value of each entity, from a view's source to an online store.

One window of event time at a time, ``(start, end]``: rows after the stored watermark and up to
``end``, and no older than the TTL at ``end`` (an older value would be expired by the time
anyone reads it). DuckDB keeps the latest row per entity (ties broken by the created column)
and writes each row's values as JSON itself, so Python only moves finished rows to the store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from loopline.features._dataset_files import DatasetFiles
from loopline.features._definitions import FeatureView
from loopline.features._online import OnlineStore
from loopline.features._sources import connect, literal, quote, scan

__all__ = ["materialize_view", "Progress"]

Progress = Callable[[str, int, int], None]
"""Called as rows are written: (view name, rows written so far, rows to write)."""

BATCH = 50_000


def materialize_view(
    view: FeatureView,
    store: OnlineStore,
    namespace: str,
    *,
    start: datetime | None,
    end: datetime,
    progress: Progress | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    datasets: DatasetFiles | None = None,
) -> int:
    """Write the latest row per entity in ``(start, end]`` to ``store``; return how many.

    ``datasets`` reads a view whose source is a dataset version (at the version it resolved).
    """
    features = [f.name for f in view.features]
    kinds = {f.name: f.dtype.name for f in view.features}
    with tempfile.TemporaryDirectory(prefix="ll-materialize-") as scratch:
        con = connect(memory_limit, temp_directory or Path(scratch) / "spill")
        try:
            source = scan(con, view, features, scratch=Path(scratch), datasets=datasets)
            conditions = [f"__ll_ts <= CAST({literal(end.isoformat())} AS TIMESTAMPTZ)"]
            if start is not None:
                conditions.append(f"__ll_ts > CAST({literal(start.isoformat())} AS TIMESTAMPTZ)")
            if view.ttl:
                oldest = end - view.ttl
                conditions.append(f"__ll_ts >= CAST({literal(oldest.isoformat())} AS TIMESTAMPTZ)")
            conditions.extend(f"{quote(k)} IS NOT NULL" for k in view.join_keys)
            keys = ", ".join(quote(k) for k in view.join_keys)
            packed = ", ".join(
                ["__ll_ts := __ll_ts", *(f"{quote(f)} := {quote(f)}" for f in features)]
            )
            order = (
                "struct_pack(t := __ll_ts, c := __ll_created)" if source.has_created else "__ll_ts"
            )
            key_sql = (
                f"CAST({keys} AS VARCHAR)"
                if len(view.join_keys) == 1
                else "concat_ws(chr(31), "
                + ", ".join(f"CAST({quote(k)} AS VARCHAR)" for k in view.join_keys)
                + ")"
            )
            values = ", ".join(
                f"{quote(f)} := "
                + (f"epoch_us(r.{quote(f)})" if kinds[f] == "timestamp" else f"r.{quote(f)}")
                for f in features
            )
            con.execute(
                f"CREATE TEMP TABLE __ll_latest AS SELECT {key_sql} AS k, "  # noqa: S608 - names validated, identifiers quote()d, values literal()d
                f"arg_max(struct_pack({packed}), {order}) AS r "
                f"FROM {source.sql} WHERE {' AND '.join(conditions)} GROUP BY {keys}"
            )
            total = con.execute("SELECT count(*) FROM __ll_latest").fetchall()[0][0]
            done = 0
            if progress is not None:
                progress(view.name, 0, total)
            reader = con.sql(
                f"SELECT k, epoch_us(r.__ll_ts) AS ts, to_json(struct_pack({values})) AS v "  # noqa: S608 - names validated, identifiers quote()d, values literal()d
                f"FROM __ll_latest"
            ).to_arrow_reader(BATCH)
            for batch in reader:
                rows = list(
                    zip(
                        batch.column(0).to_pylist(),
                        batch.column(1).to_pylist(),
                        batch.column(2).to_pylist(),
                        strict=True,
                    )
                )
                store.write(namespace, rows)
                done += len(rows)
                if progress is not None:
                    progress(view.name, done, total)
        finally:
            con.close()
    return int(done)
