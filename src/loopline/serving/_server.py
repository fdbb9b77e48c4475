"""The inference server: a small ASGI application that answers predictions fast.

It is plain ASGI rather than a web framework on purpose: a prediction is a handful of
microseconds of routing and parsing around the model, and every layer in between shows in the
p99. Paths:

- ``POST /invocations`` (MLflow scoring JSON, CSV), ``POST /v2/models/{name}[/versions/{v}]/infer``
  (Open Inference Protocol v2), ``GET /v2``, ``/v2/health/{live,ready}``,
  ``/v2/models/{name}[/versions/{v}][/ready]``;
- ``POST /labels`` (ground truth for earlier predictions, by request id);
- ``GET /healthz``, ``/readyz``, ``/metrics`` (Prometheus), ``/info`` (the revision served).

Every answer carries ``x-request-id`` and, for predictions, ``x-loopline-model`` (the model
version that answered) and ``x-loopline-revision``. A model that raises gives a 500 with a JSON
error for that request only; a wrong request a 4xx naming the field; a body over the limit 413.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopline.serving._control import ControlPlane
from loopline.serving._inputs import (
    Batch,
    InputError,
    encode_v2,
    parse_invocation,
    parse_v2,
    to_jsonable,
)
from loopline.serving._routes import Handle, RouteTable
from loopline.serving._runner import Prepared
from loopline.serving._telemetry import LoggedPrediction, Telemetry
from loopline.serving._watcher import Watcher

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

__all__ = ["InferenceServer", "ServeOptions"]

log = logging.getLogger("loopline.serving")


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_V2_MODEL = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/infer|/ready)?$")
_JSON = (b"content-type", b"application/json")
MAX_LABELS = 100_000


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """How an inference server runs.

    Attributes:
        max_body_bytes: larger request bodies are refused with 413.
        poll_seconds: how often the server checks for a new revision of its endpoint.
        log_seconds: how often logged predictions are written to the evaluation store.
        stats_seconds: how often request statistics are reported for the UI.
        worker: this process's name in statistics (host:pid by default).
        freeze_heap: after each revision's models load, move every object alive into the
            garbage collector's permanent generation (``gc.freeze``), so that full collections
            stop walking the models and libraries (100 to 200 ms each for a scikit-learn
            process, paid by whichever request is in flight). For a process that only serves:
            ``loopline serve`` turns it on.
    """

    max_body_bytes: int = 16 * 1024 * 1024
    poll_seconds: float = 1.0
    log_seconds: float = 2.0
    stats_seconds: float = 5.0
    worker: str = ""
    freeze_heap: bool = False


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class InferenceServer:
    """The ASGI application of ``loopline serve``.

    Args:
        control: where the endpoint, its models and the logs live.
        project: the endpoint's project; ``endpoint``: its name.

    Example:
        >>> app = InferenceServer(control, "vision", "digits")
        >>> uvicorn.run(app, host="127.0.0.1", port=8080)
    """

    def __init__(
        self,
        control: ControlPlane,
        project: str,
        endpoint: str,
        options: ServeOptions | None = None,
    ) -> None:
        self.control = control
        self.project = project
        self.endpoint = endpoint
        self.options = options or ServeOptions()
        self.telemetry = Telemetry(endpoint)
        self.table: RouteTable | None = None
        self.watcher = Watcher(self)
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the control thread (loads the endpoint's revision in the background)."""
        self.watcher.start()

    def stop(self) -> None:
        """Stop the control thread after a last flush of logs and statistics."""
        self.watcher.stop()

    def install(self, table: RouteTable) -> None:
        """Make ``table`` the one new requests use (called by the watcher, from its thread)."""
        self.table = table
        self.telemetry.set_revision(table.revision.number)

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = _headers(scope)
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        method, path = scope["method"], scope["path"]
        try:
            if method == "POST" and path == "/invocations":
                await self._invocations(scope, receive, send, headers, request_id, started)
            elif path.startswith("/v2"):
                await self._v2(scope, receive, send, headers, request_id, started)
            elif method == "POST" and path == "/labels":
                await self._labels(receive, send, headers, request_id)
            elif method == "GET" and path == "/healthz":
                await _json(send, 200, {"status": "ok"}, request_id)
            elif method == "GET" and path == "/readyz":
                await self._ready(send, request_id)
            elif method == "GET" and path == "/metrics":
                body = self.telemetry.exposition()
                await _send(send, 200, body, request_id, b"text/plain; version=0.0.4")
            elif method == "GET" and path == "/info":
                await _json(send, 200, self._info(), request_id)
            else:
                await _error(send, 404, "not_found", f"No route {method} {path}.", request_id)
        except _TooLarge:
            await _error(
                send,
                413,
                "too_large",
                f"The request body is over {self.options.max_body_bytes} bytes; send fewer rows "
                f"per request.",
                request_id,
            )
        except InputError as exc:
            if not exc.counted:
                self.telemetry.observe("", "", "", time.perf_counter() - started, "input")
            code = _CODES.get(exc.status, "invalid_input")
            await _error(send, exc.status, code, exc.message, request_id, exc.field)
        except _Disconnected:
            return

    async def _ready(self, send: Send, request_id: str) -> None:
        table = self.table
        if table is None:
            await _error(send, 503, "loading", "The endpoint's models are loading.", request_id)
        else:
            await _json(
                send, 200, {"status": "ready", "revision": table.revision.number}, request_id
            )

    def _info(self) -> dict[str, Any]:
        table = self.table
        return {
            "project": self.project,
            "endpoint": self.endpoint,
            "revision": None if table is None else table.revision.number,
            "routes": []
            if table is None
            else [
                {
                    "model": h.runner.label,
                    "weight": h.weight,
                    "shadow": h.shadow,
                    "batching": h.batcher is not None,
                    "fast_path": h.runner.fast,
                    "path": h.runner.path,
                }
                for h in table.handles
            ],
            "failed_revision": self.watcher.failed,
        }

    # -- predictions ---------------------------------------------------------------------------

    async def _invocations(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Mapping[str, str],
        request_id: str,
        started: float,
    ) -> None:
        table = self._table()
        body = await self._body(receive, headers)
        batch = parse_invocation(body, headers.get("content-type", "application/json"))
        handle = table.pick(self._sticky_key(table, headers, batch))
        answer = await self._predict(table, handle, batch, request_id, started)
        if isinstance(answer, str):
            return await self._model_failed(send, handle, request_id, answer)
        _, outputs = answer
        payload = {"predictions": to_jsonable(outputs)}
        body_out = json.dumps(payload, separators=(",", ":")).encode()
        await _send(send, 200, body_out, request_id, extra=_served(handle, table))
        self._shadow(table, batch, request_id)
        return None

    async def _v2(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Mapping[str, str],
        request_id: str,
        started: float,
    ) -> None:
        method, path = scope["method"], scope["path"]
        if method == "GET" and path in ("/v2", "/v2/"):
            from loopline._version import __version__

            meta = {
                "name": "loopline",
                "version": __version__,
                "extensions": ["binary_tensor_data"],
            }
            return await _json(send, 200, meta, request_id)
        if method == "GET" and path == "/v2/health/live":
            return await _json(send, 200, {"live": True}, request_id)
        if method == "GET" and path == "/v2/health/ready":
            if self.table is None:
                return await _error(send, 503, "loading", "Models are loading.", request_id)
            return await _json(send, 200, {"ready": True}, request_id)
        match = _V2_MODEL.match(path)
        if match is None:
            return await _error(send, 404, "not_found", f"No route {method} {path}.", request_id)
        name, version_text, action = match.group(1), match.group(2), match.group(3)
        table = self._table()
        handle = self._v2_handle(table, name, version_text)
        if action == "/ready" and method == "GET":
            return await _json(send, 200, {"name": name, "ready": True}, request_id)
        if action is None and method == "GET":
            return await _json(send, 200, self._v2_metadata(table, name, handle), request_id)
        if action != "/infer" or method != "POST":
            return await _error(send, 405, "method", f"{method} {path} is not allowed.", request_id)
        body = await self._body(receive, headers)
        length = headers.get("inference-header-content-length")
        try:
            header_length = None if length is None else int(length)
        except ValueError:
            raise InputError("Inference-Header-Content-Length must be a number.") from None
        batch, header = parse_v2(body, header_length)
        if handle is None:
            handle = table.pick(self._sticky_key(table, headers, batch))
        answer = await self._predict(table, handle, batch, request_id, started)
        if isinstance(answer, str):
            return await self._model_failed(send, handle, request_id, answer)
        _, outputs = answer
        body_out, json_length = encode_v2(
            name, str(handle.runner.version), request_id, outputs, header
        )
        extra = _served(handle, table)
        if json_length is not None:
            extra.append((b"inference-header-content-length", str(json_length).encode()))
            kind = b"application/octet-stream"
        else:
            kind = b"application/json"
        await _send(send, 200, body_out, request_id, kind, extra)
        if version_text is None:
            self._shadow(table, batch, request_id)
        return None

    def _v2_handle(self, table: RouteTable, name: str, version_text: str | None) -> Handle | None:
        if name != self.endpoint and all(h.runner.name != name for h in table.handles):
            raise InputError(
                f"This server answers for endpoint {self.endpoint!r} (models "
                f"{', '.join(sorted({h.runner.name for h in table.handles}))}), not {name!r}.",
                status=404,
            )
        if version_text is None:
            return None
        try:
            version = int(version_text)
        except ValueError:
            raise InputError(f"Version {version_text!r} is not a number.", status=404) from None
        model = name if name != self.endpoint else table.primaries[0].runner.name
        handle = table.find(model, version)
        if handle is None:
            served = ", ".join(h.runner.label for h in table.handles)
            raise InputError(
                f"Version {version} of {model!r} is not served here (serving {served}).",
                status=404,
            )
        return handle

    def _v2_metadata(self, table: RouteTable, name: str, handle: Handle | None) -> dict[str, Any]:
        chosen = handle or table.primaries[0]
        signature = chosen.runner.model.signature
        inputs: list[dict[str, Any]] = []
        outputs: list[dict[str, Any]] = [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
        if signature is not None and signature.outputs is not None:
            out = signature.outputs
            if out.tensor is not None:
                kind = _V2_OF.get(out.tensor.type, "FP64")
                outputs = [{"name": "predict", "datatype": kind, "shape": list(out.tensor.shape)}]
            elif len(out.columns) == 1:
                kind = _V2_OF.get(out.columns[0].type, "FP64")
                outputs = [{"name": "predict", "datatype": kind, "shape": [-1]}]
        if signature is not None:
            schema = signature.inputs
            if schema.tensor is not None:
                inputs.append(
                    {
                        "name": "input",
                        "datatype": _V2_OF.get(schema.tensor.type, "FP64"),
                        "shape": list(schema.tensor.shape),
                    }
                )
            else:
                inputs.extend(
                    {"name": c.name, "datatype": _V2_OF.get(c.type, "BYTES"), "shape": [-1]}
                    for c in schema.columns
                )
        return {
            "name": name,
            "versions": [str(h.runner.version) for h in table.handles if not h.shadow],
            "platform": f"loopline_{chosen.runner.model.flavor}",
            "inputs": inputs,
            "outputs": outputs,
        }

    async def _predict(
        self,
        table: RouteTable,
        handle: Handle,
        batch: Batch,
        request_id: str,
        started: float,
    ) -> tuple[Prepared, Any] | str:
        """The prepared rows and the model's answer, or why the model failed on them."""
        runner = handle.runner
        version = str(runner.version)
        if table.spec.features is not None:
            batch = self._with_features(table, runner, batch)
        try:
            prepared = runner.prepare(batch)
        except InputError as exc:
            elapsed = time.perf_counter() - started
            self.telemetry.observe(runner.label, runner.name, version, elapsed, "input")
            exc.counted = True
            raise
        try:
            outputs = await handle.predict(prepared)
        except Exception as exc:  # noqa: BLE001 - the model's failure is this request's 500
            elapsed = time.perf_counter() - started
            self.telemetry.observe(runner.label, runner.name, version, elapsed, "model")
            log.warning("%s raised on request %s: %r", runner.label, request_id, exc)
            self._log(table, handle, request_id, elapsed, prepared, None, _describe(exc))
            return _describe(exc)
        elapsed = time.perf_counter() - started
        self.telemetry.observe(runner.label, runner.name, version, elapsed)
        self._log(table, handle, request_id, elapsed, prepared, outputs, None)
        return prepared, outputs

    async def _model_failed(self, send: Send, handle: Handle, request_id: str, why: str) -> None:
        await _error(
            send,
            500,
            "model_error",
            f"{handle.runner.label} failed on this request: {why}",
            request_id,
            extra=[(b"x-loopline-model", handle.runner.label.encode())],
        )

    def _with_features(self, table: RouteTable, runner: Any, batch: Batch) -> Batch:
        lookup = table.spec.features
        assert lookup is not None
        if batch.columns is None:
            raise InputError(
                "This endpoint looks up features by entity key: send named columns "
                "(dataframe_split or dataframe_records) with the entity keys.",
                status=422,
            )
        try:
            found = self.control.online_features(self.project, lookup.features, batch.columns)
        except InputError:
            raise
        except Exception as exc:
            from loopline.errors import LooplineError

            if isinstance(exc, LooplineError):
                raise InputError(exc.message, status=422) from None
            raise
        columns = {**found, **batch.columns}
        takes = runner.model.signature
        if takes is not None and takes.inputs.kind == "columns":
            names = set(takes.inputs.names)
            columns = {k: v for k, v in columns.items() if k in names}
        return Batch(n=batch.n, columns=columns)

    def _sticky_key(
        self, table: RouteTable, headers: Mapping[str, str], batch: Batch | None
    ) -> str | None:
        source = table.sticky_source
        if not source:
            return None
        if source == "header":
            return headers.get(table.sticky_name)
        values = None if batch is None else batch.column(table.sticky_name)
        if values is None or len(values) == 0:
            return None
        return str(values[0])

    def _shadow(self, table: RouteTable, batch: Batch, request_id: str) -> None:
        if not table.shadows:
            return
        task = asyncio.get_running_loop().create_task(self._run_shadows(table, batch, request_id))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _run_shadows(self, table: RouteTable, batch: Batch, request_id: str) -> None:
        await asyncio.sleep(0)  # after the answer has gone
        for handle in table.shadows:
            runner, started = handle.runner, time.perf_counter()
            try:
                if table.spec.features is not None:
                    batch = self._with_features(table, runner, batch)
                prepared = runner.prepare(batch)
                outputs = await handle.predict(prepared)
            except Exception as exc:  # noqa: BLE001 - a shadow's failure never reaches the client
                elapsed = time.perf_counter() - started
                kind = "input" if isinstance(exc, InputError) else "model"
                self.telemetry.observe(
                    runner.label, runner.name, str(runner.version), elapsed, kind
                )
                self._log(table, handle, request_id, elapsed, None, None, _describe(exc))
                continue
            elapsed = time.perf_counter() - started
            self.telemetry.observe(runner.label, runner.name, str(runner.version), elapsed)
            self._log(table, handle, request_id, elapsed, prepared, outputs, None)

    def _log(
        self,
        table: RouteTable,
        handle: Handle,
        request_id: str,
        seconds: float,
        prepared: Prepared | None,
        outputs: Any,
        error: str | None,
    ) -> None:
        rate = table.spec.sample_rate
        if rate <= 0 or (rate < 1 and random.random() >= rate):
            return
        self.telemetry.log(
            LoggedPrediction(
                request_id=request_id,
                at=time.time(),
                model=handle.runner.name,
                version=handle.runner.version,
                route="shadow" if handle.shadow else "primary",
                latency_ms=seconds * 1000.0,
                error=error,
                inputs=prepared,
                outputs=outputs,
            )
        )

    # -- labels ---------------------------------------------------------------------------------

    async def _labels(
        self, receive: Receive, send: Send, headers: Mapping[str, str], request_id: str
    ) -> None:
        body = await self._body(receive, headers)
        try:
            data = json.loads(body)
        except ValueError:
            raise InputError("The body is not valid JSON.") from None
        items = data.get("labels") if isinstance(data, dict) and "labels" in data else data
        if isinstance(items, dict):
            items = [{"request_id": k, "label": v} for k, v in items.items()]
        if not isinstance(items, list) or not items:
            raise InputError(
                'Send labels as {"labels": [{"request_id": "...", "label": ...}]} or as '
                '{"<request id>": <label>}.',
                field="labels",
            )
        if len(items) > MAX_LABELS:
            raise InputError(f"At most {MAX_LABELS} labels per request.", field="labels")
        ids, labels = [], []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
                raise InputError(
                    f"Label {i} needs a 'request_id' (text) and a 'label'.", field=f"labels[{i}]"
                )
            if "label" not in item:
                raise InputError(f"Label {i} has no 'label'.", field=f"labels[{i}].label")
            ids.append(item["request_id"])
            labels.append(item["label"])
        log_labels = getattr(self.control, "log_labels", None)
        if log_labels is None:
            await _error(
                send, 501, "unsupported", "This server has no evaluation store.", request_id
            )
            return
        await asyncio.to_thread(log_labels, self.project, self.endpoint, ids, labels)
        await _json(send, 200, {"accepted": len(ids)}, request_id)

    # -- plumbing -------------------------------------------------------------------------------

    def _table(self) -> RouteTable:
        table = self.table
        if table is None:
            detail = self.watcher.failed or "its models are loading"
            raise InputError(
                f"Endpoint {self.endpoint!r} is not ready: {detail.rstrip('.')}.", status=503
            )
        return table

    async def _body(self, receive: Receive, headers: Mapping[str, str]) -> bytes:
        limit = self.options.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _TooLarge
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_CODES = {
    400: "bad_request",
    404: "not_found",
    415: "unsupported_media_type",
    422: "invalid_input",
    503: "unavailable",
}
_V2_OF = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "binary": "BYTES",
}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:500]}" if text else type(exc).__name__


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _served(handle: Handle, table: RouteTable) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-loopline-model", handle.runner.label.encode()),
        (b"x-loopline-revision", str(table.revision.number).encode()),
    ]


async def _send(
    send: Send,
    status: int,
    body: bytes,
    request_id: str,
    content_type: bytes = b"application/json",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, data: Any, request_id: str) -> None:
    await _send(send, status, json.dumps(data, separators=(",", ":")).encode(), request_id)


async def _error(
    send: Send,
    status: int,
    code: str,
    message: str,
    request_id: str,
    field: str | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    body = json.dumps({"error": error, "request_id": request_id}).encode()
    await _send(send, status, body, request_id, extra=extra)
