"""Serving from the SDK: ``ll.deploy``, ``ll.rollback_endpoint``, ``ll.serve`` and
:class:`Endpoints` beneath them.

An endpoint is defined in the store (local or remote, like everything else); ``ll.serve`` (or
``loopline serve``) starts an inference server that follows it. The server reaches the store
through :class:`ClientControlPlane`, so it works the same against a SQLite file on a laptop
and against a Loopline server on the other side of the network.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline._client import Client, default_client
from loopline.errors import InvalidInput, NotFound
from loopline.serving import (
    Batching,
    Endpoint,
    EndpointSpec,
    FeatureLookup,
    Revision,
    RevisionStatus,
    Route,
    StatsWindow,
    route_from_dict,
    spec_from_dict,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from loopline.registry import LoadedModel
    from loopline.serving._batch import BatchResult
    from loopline.serving._server import InferenceServer, ServeOptions

__all__ = [
    "Endpoints",
    "ClientControlPlane",
    "deploy",
    "rollback_endpoint",
    "serve",
    "inference_app",
    "load_spec_file",
    "batch_predict",
]

RouteLike = str | Route | Mapping[str, Any]


class Endpoints:
    """Endpoints of a Loopline store (the explicit object behind ``ll.deploy``).

    Example:
        >>> eps = ll.Endpoints()
        >>> eps.deploy("digits", "models:/digits@champion")
        >>> eps.deploy("digits", [("models:/digits/3", 90), ("models:/digits/4", 10)])
        >>> eps.revisions("digits")[0].number
        2
        >>> eps.rollback("digits")
    """

    def __init__(self, client: Client | None = None) -> None:
        self.client = client or default_client()

    def _project(self, project: str | None) -> str:
        return project or self.client.settings.project

    def deploy(
        self,
        name: str,
        routes: RouteLike | Sequence[RouteLike | tuple[str, int]],
        *,
        project: str | None = None,
        sticky: str | None = None,
        batching: Batching | Mapping[str, Any] | None = None,
        sample_rate: float = 1.0,
        features: Sequence[str] | None = None,
        description: str | None = None,
        message: str = "",
    ) -> Endpoint:
        """Create the endpoint or move it to these routes (a new revision, if anything changed).

        Args:
            routes: one model URI (all traffic), or several: URIs, :class:`Route` values,
                ``(uri, weight)`` pairs, or dicts ``{"model": ..., "weight": ..., "shadow": ...}``.
            sticky: ``header:<name>`` or ``field:<name>`` for sticky A/B routing.
            features: ``view:feature`` names looked up online by the request's entity keys.
        """
        spec = build_spec(
            routes, sticky=sticky, batching=batching, sample_rate=sample_rate, features=features
        )
        return self.apply(name, spec, project=project, description=description, message=message)

    def apply(
        self,
        name: str,
        spec: EndpointSpec | Mapping[str, Any],
        *,
        project: str | None = None,
        description: str | None = None,
        message: str = "",
    ) -> Endpoint:
        """Create or update from a spec (or its dict form, as in a YAML file)."""
        if not isinstance(spec, EndpointSpec):
            spec = spec_from_dict(spec, f"endpoint {name!r}")
        return self.client._backend.apply_endpoint(
            self._project(project),
            name,
            spec,
            description=description,
            actor=self.client.settings.actor,
            message=message,
        )

    def apply_file(self, path: str | Path, *, project: str | None = None) -> Endpoint:
        """Create or update an endpoint from a YAML (or JSON) file with ``name`` and ``routes``."""
        name, file_project, description, spec = load_spec_file(path)
        return self.apply(
            name,
            spec,
            project=project or file_project,
            description=description,
            message=f"applied {Path(path).name}",
        )

    def rollback(
        self, name: str, *, to: int | None = None, project: str | None = None, message: str = ""
    ) -> Endpoint:
        """Serve an earlier revision again (by default the last one that served)."""
        return self.client._backend.rollback_endpoint(
            self._project(project), name, to=to, actor=self.client.settings.actor, message=message
        )

    def get(self, name: str, *, project: str | None = None) -> Endpoint:
        return self.client._backend.get_endpoint(self._project(project), name)

    def list(self, project: str | None = None) -> builtins.list[Endpoint]:
        return self.client._backend.list_endpoints(self._project(project))

    def revisions(self, name: str, *, project: str | None = None) -> builtins.list[Revision]:
        return self.client._backend.endpoint_revisions(self._project(project), name)

    def stats(
        self, name: str, *, since: datetime | None = None, project: str | None = None
    ) -> builtins.list[StatsWindow]:
        return self.client._backend.endpoint_stats(self._project(project), name, since=since)

    def delete(self, name: str, *, project: str | None = None) -> None:
        self.client._backend.delete_endpoint(self._project(project), name)


def build_spec(
    routes: RouteLike | Sequence[RouteLike | tuple[str, int]],
    *,
    sticky: str | None = None,
    batching: Batching | Mapping[str, Any] | None = None,
    sample_rate: float = 1.0,
    features: Sequence[str] | None = None,
) -> EndpointSpec:
    """An :class:`EndpointSpec` from the friendly forms ``deploy`` accepts."""
    items: list[Any] = [routes] if isinstance(routes, str | Route | Mapping) else list(routes)
    parsed: list[Route] = []
    for item in items:
        if isinstance(item, Route):
            parsed.append(item)
        elif isinstance(item, str):
            parsed.append(Route(item))
        elif isinstance(item, tuple) and len(item) == 2:
            parsed.append(Route(str(item[0]), weight=item[1]))
        elif isinstance(item, Mapping):
            parsed.append(route_from_dict(item))
        else:
            raise InvalidInput(
                f"A route is a model URI, a Route, a (uri, weight) pair or a dict; got {item!r}."
            )
    if batching is None:
        batching = Batching()
    elif isinstance(batching, Mapping):
        batching = Batching(**dict(batching))
    return EndpointSpec(
        routes=tuple(parsed),
        sticky=sticky,
        batching=batching,
        sample_rate=sample_rate,
        features=None if not features else FeatureLookup(tuple(features)),
    )


def load_spec_file(path: str | Path) -> tuple[str, str | None, str | None, EndpointSpec]:
    """``(name, project, description, spec)`` from an endpoint file.

    Example file::

        name: digits
        routes:
          - {model: "models:/digits/3", weight: 90}
          - {model: "models:/digits/4", weight: 10}
          - {model: "models:/digits/5", shadow: true}
        sticky: header:x-user-id
        batching: {max_batch_size: 32, max_latency_ms: 2}
    """
    import yaml

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"No endpoint file at {str(file)!r}.") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file.name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise InvalidInput(f"{file.name} must be a mapping with a 'name' and 'routes'.")
    spec = spec_from_dict(data, file.name)
    project = data.get("project")
    description = data.get("description")
    return (
        data["name"],
        None if project is None else str(project),
        None if description is None else str(description),
        spec,
    )


def deploy(
    name: str,
    routes: RouteLike | Sequence[RouteLike | tuple[str, int]],
    *,
    project: str | None = None,
    sticky: str | None = None,
    batching: Batching | Mapping[str, Any] | None = None,
    sample_rate: float = 1.0,
    features: Sequence[str] | None = None,
    message: str = "",
) -> Endpoint:
    """Serve models at endpoint ``name``: create it, or move it to new routes.

    Example:
        >>> ll.deploy("digits", "models:/digits@champion")
        >>> ll.deploy("digits", [("models:/digits/3", 90), ("models:/digits/4", 10)])
    """
    return Endpoints().deploy(
        name,
        routes,
        project=project,
        sticky=sticky,
        batching=batching,
        sample_rate=sample_rate,
        features=features,
        message=message,
    )


def rollback_endpoint(name: str, *, to: int | None = None, project: str | None = None) -> Endpoint:
    """Serve the endpoint's previous revision again (or revision ``to``)."""
    return Endpoints().rollback(name, to=to, project=project)


class ClientControlPlane:
    """The :class:`~loopline.serving.ControlPlane` of an inference server, over a client."""

    def __init__(self, client: Client) -> None:
        from loopline._models import ModelRegistry

        self.client = client
        self._registry = ModelRegistry(client)
        self._keys: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._lock = threading.Lock()

    def endpoint(self, project: str, name: str) -> Endpoint:
        return self.client._backend.get_endpoint(project, name)

    def mark(
        self, project: str, name: str, number: int, status: RevisionStatus, error: str = ""
    ) -> None:
        self.client._backend.mark_endpoint_revision(project, name, number, status, error[:20_000])

    def load_model(self, uri: str) -> LoadedModel:
        return self._registry.load(uri)

    def log_predictions(self, project: str, name: str, table: pa.Table) -> None:
        from loopline.monitoring._evaluation import table_to_parquet

        self.client._backend.append_predictions(project, name, table_to_parquet(table))

    def log_labels(
        self, project: str, name: str, request_ids: Sequence[str], labels: Sequence[Any]
    ) -> None:
        from loopline._monitoring import log_labels

        log_labels(name, dict(zip(request_ids, labels, strict=True)), project, client=self.client)

    def report_stats(
        self, project: str, name: str, worker: str, windows: Sequence[StatsWindow]
    ) -> None:
        self.client._backend.record_endpoint_stats(project, name, worker, windows)

    def online_features(
        self, project: str, features: Sequence[str], columns: Mapping[str, Sequence[Any]]
    ) -> dict[str, list[Any]]:
        keys = self._join_keys(project, tuple(features))
        missing = [k for k in keys if k not in columns]
        if missing:
            raise InvalidInput(
                f"This endpoint looks up {', '.join(features)} by {', '.join(keys)}: the request "
                f"has no column {missing[0]!r}."
            )
        entities = {k: list(columns[k]) for k in keys}
        request_data = {k: list(v) for k, v in columns.items() if k not in entities}
        found = self.client._backend.get_online_features(
            project, features, entities, request_data=request_data or None
        )
        return {k: v for k, v in found.columns.items() if k not in entities}

    def _join_keys(self, project: str, features: tuple[str, ...]) -> list[str]:
        key = (project, features)
        with self._lock:
            known = self._keys.get(key)
        if known is not None:
            return known
        views = {v.name: v for v in self.client._backend.list_feature_views(project)}
        keys: list[str] = []
        for ref in features:
            view = views.get(ref.split(":", 1)[0])
            if view is None:
                continue  # the lookup itself reports it, with suggestions
            for k in view.join_keys:
                if k not in keys:
                    keys.append(k)
        with self._lock:
            self._keys[key] = keys
        return keys


def inference_app(
    endpoint: str | None = None,
    *,
    model: str | None = None,
    project: str | None = None,
    client: Client | None = None,
    options: ServeOptions | None = None,
) -> InferenceServer:
    """The ASGI app of an inference server for ``endpoint`` (or one ``model`` URI)."""
    from loopline.serving._control import FixedControlPlane
    from loopline.serving._server import InferenceServer

    client = client or default_client()
    project = project or client.settings.project
    control = ClientControlPlane(client)
    if (endpoint is None) == (model is None):
        raise InvalidInput(
            "Serve an endpoint (loopline serve digits) or one model (--model models:/digits/3), "
            "not both or neither."
        )
    if model is not None:
        from loopline.registry import parse_model_uri

        parsed = parse_model_uri(model)
        if parsed.kind != "models":
            raise InvalidInput(f"Serve a registered model (models:/...), not {model!r}.")
        where = parsed.project or project
        version = client._backend.get_model_version(where, parsed.name, parsed.ref)
        spec = EndpointSpec(routes=(Route(model, version=version.number),))
        fixed = FixedControlPlane(
            where,
            parsed.name,
            spec,
            control.load_model,
            features=control.online_features,
        )
        return InferenceServer(fixed, where, parsed.name, options)
    assert endpoint is not None
    return InferenceServer(control, project, endpoint, options)


def _latency_first() -> None:
    """The inference server's process favours its event loop: the control thread (which
    builds log batches and polls for revisions) gives the GIL back every 0.2 ms rather than
    every 5, so a request that arrives while it works waits at most that long. (Measured with
    one client and logging on: p99 1.2 ms at 0.2 ms, 1.35 to 1.6 ms at 0.5 ms, 1.5 to 1.8 ms at
    1 ms; no loss of throughput at 16 clients.)"""
    import sys

    sys.setswitchinterval(0.0002)


_HANDOFF = "_LOOPLINE_SERVE"
"""How ``serve`` hands its arguments to worker processes (JSON): uvicorn starts each worker
from an import string, so the arguments travel in the environment the workers inherit."""


def _app_from_environment() -> InferenceServer:
    """The app of one worker process of ``loopline serve --workers N`` (uvicorn's factory)."""
    import json

    from loopline.serving._server import ServeOptions

    _latency_first()
    args = json.loads(os.environ[_HANDOFF])
    options = ServeOptions(
        max_body_bytes=args["max_body_bytes"], poll_seconds=args["poll"], freeze_heap=True
    )
    return inference_app(
        args["endpoint"], model=args["model"], project=args["project"], options=options
    )


def serve(
    endpoint: str | None = None,
    *,
    model: str | None = None,
    project: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    max_body_bytes: int = 16 * 1024 * 1024,
    poll_seconds: float = 1.0,
    log_level: str = "warning",
    client: Client | None = None,
) -> None:
    """Run an inference server until interrupted (``loopline serve``).

    With ``workers > 1``, each worker process loads the models and follows the endpoint; their
    Prometheus counters are summed at ``/metrics``. One worker serves from ``client`` (default:
    the LOOPLINE_* settings); several take the LOOPLINE_* settings of the environment.
    """
    import json
    import tempfile

    import uvicorn

    from loopline.serving._server import ServeOptions

    if workers < 1:
        raise InvalidInput(f"workers is {workers}; serve with 1 or more.")
    if workers == 1:
        _latency_first()
        options = ServeOptions(
            max_body_bytes=max_body_bytes, poll_seconds=poll_seconds, freeze_heap=True
        )
        app = inference_app(endpoint, model=model, project=project, client=client, options=options)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            loop="auto",
            http="auto",
            timeout_graceful_shutdown=10,
        )
        return
    with tempfile.TemporaryDirectory(prefix="loopline-metrics-") as metrics_dir:
        handoff = {
            "endpoint": endpoint,
            "model": model,
            "project": project,
            "max_body_bytes": max_body_bytes,
            "poll": poll_seconds,
        }
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ[_HANDOFF] = json.dumps(handoff)
        uvicorn.run(
            "loopline._endpoints:_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=10,
        )


def batch_predict(
    model: str,
    input: str | Path,
    output: str | Path,
    *,
    chunk_rows: int | None = None,
    restart: bool = False,
    progress: bool = True,
    client: Client | None = None,
) -> BatchResult:
    """Score a Parquet or CSV file with a registered model, in chunks; resumable.

    Usable as is inside a pipeline step. An interrupted job run again skips the chunks it
    finished (same model version, same input).

    Example:
        >>> ll.batch_predict("models:/digits@champion", "images.parquet", "scored.parquet")
        BatchResult(output=PosixPath('scored.parquet'), rows=1797, chunks=1, ...)
    """
    from loopline._models import ModelRegistry
    from loopline.serving._batch import DEFAULT_CHUNK_ROWS, score_file

    client = client or default_client()
    registry = ModelRegistry(client)
    loaded = registry.load(model)
    digest = loaded.package.files[0].digest[:12] if loaded.package.files else ""
    model_id = f"{loaded.source} {digest}"
    rows = chunk_rows or DEFAULT_CHUNK_ROWS
    if not progress:
        return score_file(loaded, model_id, input, output, chunk_rows=rows, restart=restart)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"scoring with {loaded.source}", total=None)

        def report(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        return score_file(
            loaded, model_id, input, output, chunk_rows=rows, progress=report, restart=restart
        )
