"""Monitoring one-liners: ``ll.log_labels`` (ground truth for logged predictions),
``ll.drift_report`` (compare a reference with current data), ``ll.monitor`` (a stored,
scheduled check of an endpoint, with alert rules made by ``ll.threshold``) and ``ll.alerts``,
over the default client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline._client import Client, default_client
from loopline._datasets import DatasetVersion
from loopline.errors import InvalidInput
from loopline.monitoring._drift import DriftReport, Method
from loopline.monitoring._drift import drift_report as _drift_report
from loopline.monitoring._evaluation import (
    table_to_parquet,
    validate_endpoint_name,
    validate_labels,
)
from loopline.monitoring._reference import ReferenceProfile
from loopline.monitoring._types import (
    AlertRecord,
    AlertRule,
    MonitorRecord,
    MonitorRunRecord,
    threshold,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["log_labels", "drift_report", "monitor", "threshold", "alerts", "run_monitor"]


def log_labels(
    endpoint: str,
    labels: Mapping[str, Any] | pd.DataFrame,
    project: str | None = None,
    *,
    client: Client | None = None,
) -> int:
    """Record the true outcome of logged predictions, by request id; return how many.

    Labels may arrive long after the predictions and in several batches: each prediction is
    joined with the latest label of its request id when live quality is computed.

    Args:
        endpoint: the serving endpoint the predictions were logged by.
        labels: ``{request_id: label}``, or a DataFrame with ``request_id`` and ``label``
            columns and optionally ``ts`` (when the label was known; naive times are UTC;
            default: now).
        project: the endpoint's project (default: the client's, ``LOOPLINE_PROJECT``).
        client: the client to work through (default: the one behind the one-liners).

    Example:
        >>> ll.log_labels("churn-api", {"req-1": 1, "req-2": 0})
        2
    """
    client = client or default_client()
    validate_endpoint_name(endpoint)
    table = validate_labels(_label_table(labels))
    if table.num_rows == 0:
        return 0
    client._backend.append_labels(
        project or client.settings.project, endpoint, table_to_parquet(table)
    )
    return int(table.num_rows)


def _label_table(labels: Any) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    now = datetime.now(UTC)
    if isinstance(labels, Mapping):
        ids = [str(k) for k in labels]
        return pa.table(
            {
                "request_id": pa.array(ids, pa.string()),
                "ts": pa.array([now] * len(ids), pa.timestamp("us", tz="UTC")),
                "label": pa.array(list(labels.values())),
            }
        )
    if not isinstance(labels, pd.DataFrame):
        raise InvalidInput(
            f"labels must be a mapping {{request_id: label}} or a DataFrame with request_id "
            f"and label columns, not {type(labels).__name__}."
        )
    frame = labels.reset_index(drop=True)
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"The labels DataFrame lacks column(s) {', '.join(map(repr, missing))}: it needs "
            f"request_id and label (and optionally ts). It has {list(map(str, frame.columns))}."
        )
    if "ts" in frame.columns:
        ts = pd.to_datetime(frame["ts"])
        ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    else:
        ts = pd.Series([now] * len(frame), dtype="datetime64[us, UTC]")
    return pa.table(
        {
            "request_id": pa.array(frame["request_id"].astype(str).tolist(), pa.string()),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "label": pa.Array.from_pandas(frame["label"]),
        }
    )


def drift_report(
    reference: ReferenceProfile
    | DatasetVersion
    | pd.DataFrame
    | pa.Table
    | Mapping[str, Any]
    | str
    | Path,
    current: pd.DataFrame | pa.Table,
    *,
    columns: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    methods: Mapping[str, Method] | None = None,
    read_data: bool = False,
    title: str = "Data drift",
    **thresholds: Any,
) -> DriftReport:
    """Compare ``current`` data with a reference: per-column verdicts and the dataset's.

    Numeric columns get a two-sample KS test, categorical ones a two-sample chi-square; the
    p-values are corrected for the number of columns (Benjamini-Hochberg) and a column drifts
    only when its change is also large enough (0.1 standard deviation of Wasserstein distance,
    or 5 % of rows changing category). See docs/monitoring.md for the methods and defaults.

    Args:
        reference: a DataFrame or Arrow table, a dataset version (``ll.Dataset.get(...)``), a
            :class:`~loopline.monitoring.ReferenceProfile`, or a saved profile (path or JSON).
        current: the data to judge: a DataFrame or an Arrow table.
        columns: compare only these columns.
        categorical: numeric columns to treat as categories (codes, small ids).
        methods: a method per column: ``ks``, ``wasserstein``, ``psi`` (numeric),
            ``chisquare``, ``jensenshannon``, ``psi`` (categorical).
        read_data: for a dataset version, read its tabular files to build a fine reference
            (default: use the profile stored at commit, which is coarser and never reads data).
        title: the HTML report's title.
        thresholds: any :class:`~loopline.monitoring.DriftOptions` field (``alpha=0.01``).

    Returns:
        A :class:`~loopline.monitoring.DriftReport`: ``.columns`` (a DataFrame), ``.drift``,
        ``.drift_share``, ``.drifted``, and ``.save_html(path)``.

    Example:
        >>> report = ll.drift_report(train_df, last_week_df)
        >>> report.columns[["column", "method", "drift"]]
        >>> report.save_html("drift.html")
    """
    if isinstance(reference, DatasetVersion):
        reference = _version_reference(reference, read_data, columns, categorical)
    return _drift_report(
        reference,
        current,
        columns=columns,
        categorical=categorical,
        methods=methods,
        title=title,
        **thresholds,
    )


def _version_reference(
    version: DatasetVersion,
    read_data: bool,
    columns: Sequence[str] | None,
    categorical: Iterable[str],
) -> ReferenceProfile:
    from loopline.datasets._profile import is_tabular

    source = f"dataset {version.dataset} version {version.number}"
    if not read_data:
        profile = version.profile()
        if profile is None:
            raise InvalidInput(
                f"The {source} has no stored profile (no Parquet or CSV files): pass "
                f"read_data=True, or a DataFrame."
            )
        reference = ReferenceProfile.from_dataset_profile(profile)
        return ReferenceProfile(reference.rows, reference.columns, reference.skipped, source)
    import pandas as pd

    frames = [version.to_pandas(f.path) for f in version.files() if is_tabular(f.path)]
    if not frames:
        raise InvalidInput(f"The {source} has no Parquet or CSV files to compare with.")
    data = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return ReferenceProfile.from_frame(
        data, columns=columns, categorical=categorical, source=source
    )


def monitor(
    endpoint: str,
    schedule: str = "*/15 * * * *",
    *,
    drift: bool | Mapping[str, Any] = True,
    quality: bool | Mapping[str, Any] = True,
    latency: bool | Mapping[str, Any] = True,
    rules: Sequence[AlertRule | str] = (),
    notify: Sequence[Any] = (),
    name: str | None = None,
    window: timedelta | None = None,
    timezone: str = "UTC",
    enabled: bool = True,
    project: str | None = None,
    client: Client | None = None,
) -> MonitorRecord:
    """Watch ``endpoint`` on a cron ``schedule``: make monitor ``name`` (default: the
    endpoint's name), or change it. The server's scheduler runs it; ``loopline monitor run``
    or :func:`run_monitor` runs it once now.

    Each run looks at the window since the previous run (or the last ``window``) and records,
    per model version: input drift against the version's training reference profile
    (``drift_share``, ``drifted_columns``, ``drift``), live quality from the labels that
    arrived (``accuracy``, ``f1``, ``auc``... or ``rmse``, ``mae``), and requests, errors and
    latency (``error_rate``, ``p50_ms``, ``p95_ms``, ``p99_ms``). Alert ``rules`` read them.

    Args:
        drift: ``True``, ``False``, or options: ``reference`` (a dataset ``"name"`` or
            ``"name:3"`` to compare with instead of each version's training profile),
            ``prediction_column`` (the reference column the prediction is compared with),
            ``columns``, and any :class:`~loopline.monitoring.DriftOptions` field.
        quality: ``True``, ``False``, or ``{"task": "classification", "positive": 1}``.
        latency: ``True`` or ``False``.
        rules: alert rules, ``ll.threshold("drift_share > 0.3", for_windows=2)`` or just the
            expression.
        notify: webhooks told when an alert fires or resolves: URLs, ``{"url": ...,
            "headers": ...}``, or ``ll.pipelines.webhook(url)``.

    Example:
        >>> ll.monitor("churn-api", "*/15 * * * *",
        ...            rules=[ll.threshold("drift_share > 0.3", for_windows=2),
        ...                   ll.threshold("accuracy < 0.9")],
        ...            notify=["https://chat.example/hooks/ml"])
    """
    from loopline.monitoring._monitors import _window_seconds, check_notify

    client = client or default_client()
    parsed = [threshold(r) if isinstance(r, str) else AlertRule.from_dict(r) for r in rules]
    record: MonitorRecord = client._backend.create_monitor(
        project or client.settings.project,
        name or endpoint,
        endpoint,
        schedule=schedule,
        timezone=timezone,
        window_seconds=_window_seconds(window),
        drift=drift,
        quality=quality,
        latency=latency,
        rules=parsed,
        notify=check_notify(notify),
        enabled=enabled,
    )
    return record


def run_monitor(
    name: str, *, project: str | None = None, client: Client | None = None
) -> MonitorRunRecord:
    """Run monitor ``name`` once now; answer what it found.

    Example:
        >>> run = ll.run_monitor("churn-api")
        >>> run.status, [(r.metric, r.value) for r in run.results][:2]
        ('ok', [('drift_share', 0.0), ('drifted_columns', 0.0)])
    """
    client = client or default_client()
    result: MonitorRunRecord = client._backend.run_monitor(project or client.settings.project, name)
    return result


def alerts(
    *,
    state: str | None = None,
    monitor: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    project: str | None = None,
    client: Client | None = None,
) -> list[AlertRecord]:
    """The project's alerts, oldest first: ``state="firing"`` for those firing now.

    Example:
        >>> [a.message for a in ll.alerts(state="firing")]
        ['churn-api on churn-api: drift_share = 0.5 (churn v3), > 0.3 for 2 windows']
    """
    client = client or default_client()
    found: list[AlertRecord] = client._backend.list_alerts(
        project or client.settings.project, since=since, state=state, monitor=monitor,
        limit=limit,
    )  # fmt: skip
    return found
