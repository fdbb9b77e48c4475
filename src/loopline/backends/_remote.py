"""RemoteBackend: the same operations, sent to a Loopline server."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from loopline.backends._remote_loop import RemoteLoopMethods
from loopline.blobs import BlobRef, validate_digest
from loopline.client import ApiClient, Sink
from loopline.config import Settings
from loopline.datasets import (
    DatasetInfo,
    Direction,
    Lineage,
    VersionInfo,
    validate_alias,
    validate_dataset_name,
    validate_version_ref,
)
from loopline.errors import CorruptBlob, InvalidInput, NotFound
from loopline.features import ApplyResult, FeatureViewInfo, MaterializeResult, OnlineFeatures
from loopline.monitoring._evaluation import new_batch_id, validate_endpoint_name
from loopline.pipelines import (
    CacheHit,
    PipelineRunRecord,
    PipelineStatus,
    StepRecord,
    StepUpdate,
    TemplateRecord,
)
from loopline.pipelines._types import FiringRecord, NotificationRecord, Notify, ScheduleRecord
from loopline.projects import Project, validate_project_name
from loopline.registry import (
    ModelEvent,
    ModelStatus,
    ModelVersion,
    RegisteredModel,
    validate_model_alias,
    validate_model_name,
    validate_model_ref,
)
from loopline.serving import (
    Endpoint,
    EndpointSpec,
    Revision,
    RevisionStatus,
    StatsWindow,
)
from loopline.serving import validate_endpoint_name as _endpoint_name
from loopline.tracking import (
    Artifact,
    ConsoleText,
    MetricPoint,
    MetricSeries,
    MetricSummary,
    Run,
    RunStatus,
    RunTable,
    decode_float,
    encode_float,
    validate_run_id,
)

__all__ = ["RemoteBackend"]

MISSING_BATCH = 10_000
"""Digests asked about per request when looking for blobs the server lacks."""


class RemoteBackend(RemoteLoopMethods):
    """Calls a Loopline server over HTTP; errors come back as the same exception types."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    @classmethod
    def open(cls, settings: Settings) -> RemoteBackend:
        if settings.server_url is None:
            raise ValueError("RemoteBackend needs settings in remote mode (a server URL)")
        return cls(
            ApiClient(
                settings.server_url,
                token=settings.token,
                timeout=settings.http_timeout,
                retries=settings.http_retries,
            )
        )

    @property
    def location(self) -> str:
        return self.api.base_url

    def create_project(self, name: str, description: str = "") -> Project:
        data = self.api.post("/api/v1/projects", json={"name": name, "description": description})
        return self.api.decode(Project, data)

    def get_project(self, name: str) -> Project:
        # Validated here too: a name like ".." would otherwise be folded out of the URL.
        validate_project_name(name)
        return self.api.decode(Project, self.api.get(f"/api/v1/projects/{self.api.quote(name)}"))

    def list_projects(self) -> list[Project]:
        return self.api.decode(list[Project], self.api.get("/api/v1/projects"))

    def put_blob(self, source: Path | bytes) -> BlobRef:
        """Hash locally, skip the upload when the server has the blob, else stream it."""
        if isinstance(source, bytes):
            ref = BlobRef(hashlib.sha256(source).hexdigest(), len(source))
        else:
            ref = _hash_file(source)
        if self.blob_exists(ref.digest):
            return ref
        path = f"/api/v1/blobs/{ref.digest}"
        if isinstance(source, bytes):
            data = self.api.request("PUT", path, content=source, idempotent=True)
        else:
            data = self.api.upload(path, source)
        return self.api.decode(BlobRef, data)

    def blob_exists(self, digest: str) -> bool:
        return self.api.exists(f"/api/v1/blobs/{validate_digest(digest)}")

    def get_blob(self, digest: str) -> bytes:
        sink = io.BytesIO()
        self._download_verified(digest, sink)
        return sink.getvalue()

    def open_blob(self, digest: str) -> BinaryIO:
        # Downloaded and verified first, held in memory up to 8 MiB and on disk beyond.
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - returned open
        try:
            self._download_verified(digest, spool)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return cast(BinaryIO, spool)

    def download_blob(self, digest: str, dest: Path) -> Path:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.part"
        try:
            with temp.open("wb") as sink:
                self._download_verified(digest, sink)
            temp.replace(dest)
        finally:
            temp.unlink(missing_ok=True)
        return dest

    def _download_verified(self, digest: str, sink: Sink) -> None:
        validate_digest(digest)
        hasher = _HashingSink(sink)
        try:
            self.api.download(f"/api/v1/blobs/{digest}", hasher)
        except NotFound as exc:
            raise NotFound(f"No blob {digest} on {self.location}.") from exc
        if hasher.hexdigest() != digest:
            raise CorruptBlob(
                f"Blob {digest} arrived from {self.location} with bytes that hash to "
                f"{hasher.hexdigest()}: damaged in transit or on the server. Retry; if it "
                f"persists, the server's copy is corrupt.",
                details={"digest": digest, "actual": hasher.hexdigest()},
            )

    # -- tracking --

    def create_run(
        self,
        project: str,
        *,
        name: str | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        parent_id: str | None = None,
        environment_digest: str | None = None,
        cloned_from: str | None = None,
    ) -> Run:
        body = {
            "project": project,
            "name": name,
            "params": _texts(params),
            "tags": _texts(tags),
            "parent_id": parent_id,
            "environment_digest": environment_digest,
            "cloned_from": cloned_from,
        }
        return self._run(self.api.post("/api/v1/runs", json=body))

    def end_run(self, run_id: str, status: RunStatus = "finished") -> Run:
        return self._run(self.api.post(f"{self._at(run_id)}/end", json={"status": status}))

    def get_run(self, run_id: str) -> Run:
        return self._run(self.api.get(self._at(run_id)))

    def delete_run(self, run_id: str) -> None:
        self.api.delete(self._at(run_id))

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        self.api.post(f"{self._at(run_id)}/params", json={"params": _texts(params)})

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        self.api.post(f"{self._at(run_id)}/tags", json={"tags": _texts(tags)})

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        # Compact rows, not objects: a batch of 10,000 points is a third of the bytes.
        rows = [[p.key, encode_float(p.value), p.step, p.timestamp_ms] for p in points]
        self.api.post(f"{self._at(run_id)}/metrics", json={"points": rows})

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        data = self.api.get(f"{self._at(run_id)}/metrics/history", params={"key": key})
        return [MetricPoint(key, decode_float(v), int(s), int(t)) for v, s, t in data["points"]]

    def metric_series(self, run_id: str, key: str) -> MetricSeries:
        return MetricSeries.of(key, self.metric_history(run_id, key))

    def metric_summaries(self, run_id: str) -> list[MetricSummary]:
        data = self.api.get(f"{self._at(run_id)}/metrics")
        return [
            MetricSummary(
                key=m["key"],
                latest=decode_float(m["latest"]),
                latest_step=m["latest_step"],
                min=m["min"],
                max=m["max"],
                count=m["count"],
            )
            for m in data["metrics"]
        ]

    def search_runs(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        body = {
            "project": project,
            "filter": filter,
            "order_by": list(order_by),
            "limit": limit,
            "offset": offset,
        }
        data = self.api.request("POST", "/api/v1/runs/search", json=body, idempotent=True)
        return [self._run(r) for r in data["runs"]]

    def search_table(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> RunTable:
        body = {
            "project": project,
            "filter": filter,
            "order_by": list(order_by),
            "limit": limit,
            "offset": offset,
        }
        data = self.api.request("POST", "/api/v1/runs/table", json=body, idempotent=True)
        metrics = data.get("metrics") or {}
        data["metrics"] = {
            key: [None if v is None else decode_float(v) for v in column]
            for key, column in metrics.items()
        }
        return self.api.decode(RunTable, data)

    def count_runs(self, project: str, filter: str = "") -> int:
        body = {"project": project, "filter": filter}
        return int(self.api.request("POST", "/api/v1/runs/count", json=body, idempotent=True))

    def log_artifact(self, run_id: str, path: str, source: Path | bytes) -> Artifact:
        self.get_run(run_id)  # an unknown run fails before any upload
        ref = self.put_blob(source)
        body = {"path": path, "digest": ref.digest, "size": ref.size}
        return self.api.decode(Artifact, self.api.post(f"{self._at(run_id)}/artifacts", json=body))

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        return self.api.decode(list[Artifact], self.api.get(f"{self._at(run_id)}/artifacts"))

    def append_console(self, run_id: str, offset: int, data: bytes) -> None:
        # Idempotent by itself: the server ignores a piece it has at that offset already.
        self.api.request(
            "POST",
            f"{self._at(run_id)}/console",
            params={"offset": offset},
            content=data,
            idempotent=True,
        )

    def read_console(self, run_id: str, offset: int = 0, limit: int = 1_000_000) -> ConsoleText:
        data = self.api.get(
            f"{self._at(run_id)}/console", params={"offset": offset, "limit": limit}
        )
        return self.api.decode(ConsoleText, data)

    def _at(self, run_id: str) -> str:
        return f"/api/v1/runs/{validate_run_id(run_id)}"

    def _run(self, data: dict[str, object]) -> Run:
        metrics = data.get("metrics") or {}
        assert isinstance(metrics, dict)
        fixed = {**data, "metrics": {k: decode_float(v) for k, v in metrics.items()}}
        return self.api.decode(Run, fixed)

    # -- datasets --

    def missing_blobs(self, digests: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(validate_digest(d) for d in digests))
        missing: list[str] = []
        for start in range(0, len(wanted), MISSING_BATCH):
            data = self.api.request(
                "POST",
                "/api/v1/blobs/missing",
                json={"digests": wanted[start : start + MISSING_BATCH]},
                idempotent=True,
            )
            missing.extend(data["missing"])
        return missing

    def upload_blob(self, path: Path, expected: BlobRef) -> BlobRef:
        try:
            data = self.api.upload(f"/api/v1/blobs/{validate_digest(expected.digest)}", Path(path))
        except InvalidInput as exc:
            raise InvalidInput(
                f"{str(path)!r} changed while it was being uploaded ({exc.message}) Commit again."
            ) from exc
        return self.api.decode(BlobRef, data)

    def local_blob_path(self, digest: str) -> Path | None:
        return None  # the server's blobs are never files on this machine

    def create_dataset(self, project: str, name: str, description: str = "") -> DatasetInfo:
        body = {"name": validate_dataset_name(name), "description": description}
        data = self.api.request(
            "POST", f"{self._project_at(project)}/datasets", json=body, idempotent=True
        )
        return self.api.decode(DatasetInfo, data)

    def get_dataset(self, project: str, name: str) -> DatasetInfo:
        return self.api.decode(DatasetInfo, self.api.get(self._dataset_at(project, name)))

    def list_datasets(self, project: str) -> list[DatasetInfo]:
        data = self.api.get(f"{self._project_at(project)}/datasets")
        return self.api.decode(list[DatasetInfo], data)

    def list_versions(self, project: str, name: str) -> list[VersionInfo]:
        data = self.api.get(f"{self._dataset_at(project, name)}/versions")
        return self.api.decode(list[VersionInfo], data)

    def get_version(self, project: str, name: str, ref: int | str = "latest") -> VersionInfo:
        ref = validate_version_ref(ref)
        data = self.api.get(f"{self._dataset_at(project, name)}/versions/{ref}")
        return self.api.decode(VersionInfo, data)

    def commit_version(
        self,
        project: str,
        name: str,
        manifest_digest: str,
        *,
        parent: int | None = None,
        message: str = "",
        run_id: str | None = None,
        profile_digest: str | None = None,
    ) -> VersionInfo:
        body = {
            "manifest_digest": manifest_digest,
            "parent": parent,
            "message": message,
            "run_id": run_id,
            "profile_digest": profile_digest,
        }
        # A POST with an idempotency key: a retried commit never makes two versions.
        data = self.api.post(f"{self._dataset_at(project, name)}/versions", json=body)
        return self.api.decode(VersionInfo, data)

    def set_alias(self, project: str, name: str, alias: str, ref: int | str) -> VersionInfo:
        path = f"{self._dataset_at(project, name)}/aliases/{validate_alias(alias)}"
        body = {"version": validate_version_ref(ref)}
        data = self.api.request("PUT", path, json=body, idempotent=True)
        return self.api.decode(VersionInfo, data)

    def record_lineage(self, run_id: str, version_id: str, direction: Direction) -> None:
        body = {"run_id": run_id, "version_id": version_id, "direction": direction}
        self.api.request("POST", "/api/v1/lineage", json=body, idempotent=True)

    def lineage(
        self, *, run_id: str | None = None, version_id: str | None = None, depth: int = 10
    ) -> Lineage:
        params: dict[str, object] = {"depth": depth}
        if run_id is not None:
            params["run_id"] = run_id
        if version_id is not None:
            params["version_id"] = version_id
        return self.api.decode(Lineage, self.api.get("/api/v1/lineage", params=params))

    def _dataset_at(self, project: str, name: str) -> str:
        return f"{self._project_at(project)}/datasets/{validate_dataset_name(name)}"

    # -- features --

    def apply_features(self, project: str, specs: Sequence[Mapping[str, Any]]) -> list[ApplyResult]:
        # Idempotent by itself: applying the same definitions again changes nothing.
        data = self.api.request(
            "POST",
            f"{self._project_at(project)}/features/apply",
            json={"definitions": [dict(s) for s in specs]},
            idempotent=True,
        )
        return self.api.decode(list[ApplyResult], data)

    def feature_specs(self, project: str) -> list[dict[str, Any]]:
        data = self.api.get(f"{self._project_at(project)}/features/definitions")
        return list(data)

    def list_feature_views(self, project: str) -> list[FeatureViewInfo]:
        data = self.api.get(f"{self._project_at(project)}/features/views")
        return self.api.decode(list[FeatureViewInfo], data)

    def materialize_features(
        self,
        project: str,
        *,
        views: Sequence[str] | None = None,
        until: datetime | None = None,
        full: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> list[MaterializeResult]:
        if until is not None and until.tzinfo is None:
            raise InvalidInput(
                f"until={until.isoformat()} has no time zone: pass an aware datetime."
            )
        body = {
            "views": None if views is None else list(views),
            "until": None if until is None else until.isoformat(),
            "full": full,
        }
        # The server reads the sources and writes its online store; no progress comes back.
        data = self.api.post(f"{self._project_at(project)}/features/materialize", json=body)
        results = self.api.decode(list[MaterializeResult], data)
        if progress is not None:
            for r in results:
                progress(r.view, r.rows, r.rows)
        return results

    def get_online_features(
        self,
        project: str,
        features: Sequence[str],
        entities: Mapping[str, Sequence[Any]],
        *,
        request_data: Mapping[str, Sequence[Any]] | None = None,
        full_feature_names: bool = False,
    ) -> OnlineFeatures:
        body = {
            "features": [features] if isinstance(features, str) else list(features),
            "entities": _plain_columns(entities),
            "request_data": _plain_columns(request_data or {}),
            "full_feature_names": full_feature_names,
        }
        data = self.api.request(
            "POST", f"{self._project_at(project)}/features/online", json=body, idempotent=True
        )
        return OnlineFeatures.from_json(data)

    # -- registry --

    def register_model(
        self,
        project: str | None,
        name: str,
        run_id: str,
        path: str = "model",
        *,
        description: str = "",
        actor: str,
    ) -> ModelVersion:
        if project is None:
            project = self.get_run(run_id).project  # the run's project, as in local mode
        body = {"run_id": run_id, "path": path, "description": description, "actor": actor}
        # A POST with an idempotency key: a retried registration never makes two versions.
        data = self.api.post(f"{self._model_at(project, name)}/versions", json=body)
        return self.api.decode(ModelVersion, data)

    def get_registered_model(self, project: str, name: str) -> RegisteredModel:
        return self.api.decode(RegisteredModel, self.api.get(self._model_at(project, name)))

    def list_registered_models(self, project: str) -> list[RegisteredModel]:
        data = self.api.get(f"{self._project_at(project)}/models")
        return self.api.decode(list[RegisteredModel], data)

    def list_model_versions(self, project: str, name: str) -> list[ModelVersion]:
        data = self.api.get(f"{self._model_at(project, name)}/versions")
        return self.api.decode(list[ModelVersion], data)

    def get_model_version(self, project: str, name: str, ref: int | str = "latest") -> ModelVersion:
        ref = validate_model_ref(ref)
        data = self.api.get(f"{self._model_at(project, name)}/versions/{ref}")
        return self.api.decode(ModelVersion, data)

    def set_model_alias(
        self, project: str, name: str, alias: str, ref: int | str, *, actor: str, reason: str = ""
    ) -> ModelVersion:
        path = f"{self._model_at(project, name)}/aliases/{validate_model_alias(alias)}"
        body = {"version": validate_model_ref(ref), "actor": actor, "reason": reason}
        # Not idempotent by itself: each change is an event, so a retry must not add another.
        data = self.api.put(path, json=body)
        return self.api.decode(ModelVersion, data)

    def remove_model_alias(
        self, project: str, name: str, alias: str, *, actor: str, reason: str = ""
    ) -> None:
        path = f"{self._model_at(project, name)}/aliases/{validate_model_alias(alias)}/remove"
        self.api.post(path, json={"actor": actor, "reason": reason})

    def set_model_status(
        self,
        project: str,
        name: str,
        ref: int | str,
        status: ModelStatus,
        *,
        actor: str,
        reason: str = "",
    ) -> ModelVersion:
        ref = validate_model_ref(ref)
        path = f"{self._model_at(project, name)}/versions/{ref}/status"
        data = self.api.put(path, json={"status": status, "actor": actor, "reason": reason})
        return self.api.decode(ModelVersion, data)

    def model_events(self, project: str, name: str, *, limit: int = 200) -> list[ModelEvent]:
        data = self.api.get(f"{self._model_at(project, name)}/events", params={"limit": limit})
        return self.api.decode(list[ModelEvent], data)

    def model_card(self, project: str, name: str, ref: int | str = "latest") -> str:
        ref = validate_model_ref(ref)
        data = self.api.get(f"{self._model_at(project, name)}/versions/{ref}/card")
        return str(data["markdown"])

    def _model_at(self, project: str, name: str) -> str:
        return f"{self._project_at(project)}/models/{validate_model_name(name)}"

    # -- pipelines --

    def create_pipeline_run(
        self,
        project: str,
        pipeline: str,
        params: dict[str, Any],
        dag: dict[str, Any],
        tags: dict[str, str] | None = None,
    ) -> PipelineRunRecord:
        body = {"pipeline": pipeline, "params": params, "dag": dag, "tags": tags}
        data = self.api.post(f"{self._project_at(project)}/pipeline-runs", json=body)
        return self.api.decode(PipelineRunRecord, data)

    def update_pipeline_steps(self, run_id: str, updates: Sequence[StepUpdate]) -> list[StepRecord]:
        from dataclasses import asdict

        body = {"updates": [asdict(u) for u in updates]}
        data = self.api.post(f"{self._pipeline_run_at(run_id)}/steps", json=body)
        return self.api.decode(list[StepRecord], data)

    def finish_pipeline_run(self, run_id: str, status: PipelineStatus) -> PipelineRunRecord:
        data = self.api.post(f"{self._pipeline_run_at(run_id)}/finish", json={"status": status})
        return self.api.decode(PipelineRunRecord, data)

    def get_pipeline_run(self, run_id: str) -> PipelineRunRecord:
        return self.api.decode(PipelineRunRecord, self.api.get(self._pipeline_run_at(run_id)))

    def list_pipeline_runs(
        self,
        project: str,
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = 100,
        params: dict[str, Any] | None = None,
    ) -> list[PipelineRunRecord]:
        query: dict[str, Any] = {"limit": limit}
        if pipeline is not None:
            query["pipeline"] = pipeline
        if status is not None:
            query["status"] = status
        if params:
            query["params"] = json.dumps(params)
        data = self.api.get(f"{self._project_at(project)}/pipeline-runs", params=query)
        return self.api.decode(list[PipelineRunRecord], data)

    def stop_pipeline_run(self, run_id: str) -> PipelineRunRecord:
        data = self.api.post(f"{self._pipeline_run_at(run_id)}/stop", json={})
        return self.api.decode(PipelineRunRecord, data)

    def delete_pipeline_run(self, run_id: str) -> None:
        self.api.request("DELETE", self._pipeline_run_at(run_id), idempotent=True)

    def pipeline_run_metrics(self, run_id: str) -> dict[str, float]:
        data = self.api.get(f"{self._pipeline_run_at(run_id)}/metrics")
        return self.api.decode(dict[str, float], data)

    def publish_pipeline_template(
        self,
        project: str,
        name: str,
        *,
        dag: dict[str, Any],
        code: str,
        entry: str,
        description: str = "",
        requirements: list[str] | None = None,
    ) -> TemplateRecord:
        body = {
            "name": name,
            "dag": dag,
            "code": code,
            "entry": entry,
            "description": description,
            "requirements": requirements or [],
        }
        data = self.api.post(f"{self._project_at(project)}/pipeline-templates", json=body)
        return self.api.decode(TemplateRecord, data)

    def get_pipeline_template(
        self, project: str, name: str, version: int | str = "latest"
    ) -> TemplateRecord:
        data = self.api.get(f"{self._template_at(project, name)}/versions/{version}")
        return self.api.decode(TemplateRecord, data)

    def list_pipeline_templates(self, project: str) -> list[TemplateRecord]:
        data = self.api.get(f"{self._project_at(project)}/pipeline-templates")
        return self.api.decode(list[TemplateRecord], data)

    def pipeline_template_versions(self, project: str, name: str) -> list[TemplateRecord]:
        data = self.api.get(f"{self._template_at(project, name)}/versions")
        return self.api.decode(list[TemplateRecord], data)

    def launch_pipeline_template(
        self,
        project: str,
        name: str,
        params: dict[str, Any],
        version: int | str = "latest",
        retry_of: str | None = None,
        notify: list[Notify] | None = None,
        *,
        executor: str = "local",  # agents (helper Q2)
        queue: str | None = None,
        steps: str = "queue",
        priority: int = 0,
        env: dict[str, str] | None = None,
    ) -> PipelineRunRecord:
        from dataclasses import asdict

        body: dict[str, Any] = {
            "params": params,
            "version": str(version),
            "retry_of": retry_of,
            "notify": [asdict(n) for n in notify or ()],
        }
        if executor != "local" or queue is not None:  # agents (helper Q2)
            body.update(executor=executor, queue=queue, steps=steps, priority=priority)
            body["env"] = env or {}
        data = self.api.post(f"{self._template_at(project, name)}/launch", json=body)
        return self.api.decode(PipelineRunRecord, data)

    def create_pipeline_schedule(
        self,
        project: str,
        template: str,
        cron: str,
        *,
        params: dict[str, Any] | None = None,
        version: int | str = "latest",
        timezone: str = "UTC",
        enabled: bool = True,
        notify: list[Notify] | None = None,
    ) -> ScheduleRecord:
        from dataclasses import asdict

        body = {
            "template": template,
            "cron": cron,
            "params": params or {},
            "version": str(version),
            "timezone": timezone,
            "enabled": enabled,
            "notify": [asdict(n) for n in notify or ()],
        }
        data = self.api.post(f"{self._project_at(project)}/pipeline-schedules", json=body)
        return self.api.decode(ScheduleRecord, data)

    def list_pipeline_schedules(
        self, project: str, template: str | None = None
    ) -> list[ScheduleRecord]:
        query = {} if template is None else {"template": template}
        data = self.api.get(f"{self._project_at(project)}/pipeline-schedules", params=query)
        return self.api.decode(list[ScheduleRecord], data)

    def get_pipeline_schedule(self, schedule_id: str) -> ScheduleRecord:
        return self.api.decode(ScheduleRecord, self.api.get(self._schedule_at(schedule_id)))

    def set_pipeline_schedule_enabled(self, schedule_id: str, enabled: bool) -> ScheduleRecord:
        action = "resume" if enabled else "pause"
        data = self.api.request(
            "POST", f"{self._schedule_at(schedule_id)}/{action}", json={}, idempotent=True
        )
        return self.api.decode(ScheduleRecord, data)

    def delete_pipeline_schedule(self, schedule_id: str) -> None:
        self.api.request("DELETE", self._schedule_at(schedule_id), idempotent=True)

    def pipeline_schedule_firings(self, schedule_id: str, limit: int = 50) -> list[FiringRecord]:
        data = self.api.get(f"{self._schedule_at(schedule_id)}/firings", params={"limit": limit})
        return self.api.decode(list[FiringRecord], data)

    def attach_pipeline_notification(
        self,
        project: str,
        notify: Notify,
        *,
        pipeline: str | None = None,
        run: str | None = None,
    ) -> NotificationRecord:
        from dataclasses import asdict

        body = {"notify": asdict(notify), "pipeline": pipeline, "run": run}
        data = self.api.post(f"{self._project_at(project)}/pipeline-notifications", json=body)
        return self.api.decode(NotificationRecord, data)

    def list_pipeline_notifications(
        self,
        project: str,
        *,
        pipeline: str | None = None,
        schedule: str | None = None,
        run: str | None = None,
    ) -> list[NotificationRecord]:
        query = {
            k: v for k, v in (("pipeline", pipeline), ("schedule", schedule), ("run", run)) if v
        }
        data = self.api.get(f"{self._project_at(project)}/pipeline-notifications", params=query)
        return self.api.decode(list[NotificationRecord], data)

    def detach_pipeline_notification(self, notification_id: int) -> None:
        self.api.request(
            "DELETE", f"/api/v1/pipeline-notifications/{int(notification_id)}", idempotent=True
        )

    def _schedule_at(self, schedule_id: str) -> str:
        from urllib.parse import quote

        return f"/api/v1/pipeline-schedules/{quote(str(schedule_id), safe='')}"

    def _template_at(self, project: str, name: str) -> str:
        from urllib.parse import quote

        return f"{self._project_at(project)}/pipeline-templates/{quote(name, safe='')}"

    def lookup_step_cache(self, project: str, keys: Sequence[str]) -> dict[str, CacheHit]:
        data = self.api.request(
            "POST",
            f"{self._project_at(project)}/step-cache/lookup",
            json={"keys": list(keys)},
            idempotent=True,
        )
        return self.api.decode(dict[str, CacheHit], data)

    def _pipeline_run_at(self, run_id: str) -> str:
        return f"/api/v1/pipeline-runs/{validate_run_id(run_id)}"

    def models_trained_on(self, project: str, view: str) -> list[ModelVersion]:
        data = self.api.get(
            f"{self._project_at(project)}/model-versions", params={"trained_on_features": view}
        )
        return self.api.decode(list[ModelVersion], data)

    # -- serving: endpoints and their revisions --

    def _endpoint_at(self, project: str, name: str) -> str:
        return f"{self._project_at(project)}/endpoints/{_endpoint_name(name)}"

    def create_endpoint(
        self,
        project: str,
        name: str,
        spec: EndpointSpec,
        *,
        description: str = "",
        actor: str,
        message: str = "",
    ) -> Endpoint:
        _endpoint_name(name)
        body = {
            "name": name,
            "spec": spec.to_dict(),
            "description": description,
            "actor": actor,
            "message": message,
        }
        data = self.api.post(f"{self._project_at(project)}/endpoints", json=body)
        return self.api.decode(Endpoint, data)

    def update_endpoint(
        self, project: str, name: str, spec: EndpointSpec, *, actor: str, message: str = ""
    ) -> Endpoint:
        body = {"spec": spec.to_dict(), "actor": actor, "message": message}
        data = self.api.post(f"{self._endpoint_at(project, name)}/revisions", json=body)
        return self.api.decode(Endpoint, data)

    def apply_endpoint(
        self,
        project: str,
        name: str,
        spec: EndpointSpec,
        *,
        description: str | None = None,
        actor: str,
        message: str = "",
    ) -> Endpoint:
        body = {"spec": spec.to_dict(), "description": description, "actor": actor,
                "message": message}  # fmt: skip
        data = self.api.put(self._endpoint_at(project, name), json=body)
        return self.api.decode(Endpoint, data)

    def rollback_endpoint(
        self, project: str, name: str, *, to: int | None = None, actor: str, message: str = ""
    ) -> Endpoint:
        body = {"to": to, "actor": actor, "message": message}
        data = self.api.post(f"{self._endpoint_at(project, name)}/rollback", json=body)
        return self.api.decode(Endpoint, data)

    def delete_endpoint(self, project: str, name: str) -> None:
        self.api.delete(self._endpoint_at(project, name))

    def get_endpoint(self, project: str, name: str) -> Endpoint:
        return self.api.decode(Endpoint, self.api.get(self._endpoint_at(project, name)))

    def list_endpoints(self, project: str) -> list[Endpoint]:
        data = self.api.get(f"{self._project_at(project)}/endpoints")
        return self.api.decode(list[Endpoint], data)

    def endpoint_revisions(self, project: str, name: str) -> list[Revision]:
        data = self.api.get(f"{self._endpoint_at(project, name)}/revisions")
        return self.api.decode(list[Revision], data)

    def mark_endpoint_revision(
        self, project: str, name: str, number: int, status: RevisionStatus, error: str = ""
    ) -> Revision:
        path = f"{self._endpoint_at(project, name)}/revisions/{int(number)}/status"
        data = self.api.put(path, json={"status": status, "error": error})
        return self.api.decode(Revision, data)

    def record_endpoint_stats(
        self, project: str, name: str, worker: str, windows: Sequence[StatsWindow]
    ) -> int:
        from dataclasses import asdict

        windows_json = [{**asdict(w), "start": w.start.isoformat()} for w in windows]
        body = {"worker": worker, "windows": windows_json}
        data = self.api.post(f"{self._endpoint_at(project, name)}/stats", json=body)
        return int(data["recorded"])

    def endpoint_stats(
        self, project: str, name: str, *, since: datetime | None = None
    ) -> list[StatsWindow]:
        params = None if since is None else {"since": since.isoformat()}
        data = self.api.get(f"{self._endpoint_at(project, name)}/stats", params=params)
        return self.api.decode(list[StatsWindow], data)

    # -- end of serving --

    # -- monitoring: the evaluation store --

    def append_predictions(
        self, project: str, endpoint: str, parquet_bytes: bytes, *, batch_id: str | None = None
    ) -> str:
        return self._append_log("predictions", project, endpoint, parquet_bytes, batch_id)

    def append_labels(
        self, project: str, endpoint: str, parquet_bytes: bytes, *, batch_id: str | None = None
    ) -> str:
        return self._append_log("labels", project, endpoint, parquet_bytes, batch_id)

    def _append_log(
        self, kind: str, project: str, endpoint: str, body: bytes, batch_id: str | None
    ) -> str:
        # A batch named here makes the upload idempotent by itself: a retry rewrites the
        # same files, however large the body (the idempotency middleware covers small ones).
        endpoint_at = self.api.quote(validate_endpoint_name(endpoint))
        data = self.api.request(
            "POST",
            f"{self._project_at(project)}/monitoring/endpoints/{endpoint_at}/{kind}",
            content=bytes(body),
            params={"batch": batch_id or new_batch_id()},
            idempotent=True,
        )
        return str(data["path"])

    # -- end of monitoring --

    def close(self) -> None:
        self.api.close()


def _plain_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
    """Entity ids and request data as JSON carries them (numpy values become Python ones)."""
    if not isinstance(columns, Mapping):
        raise InvalidInput('entities must map each join key to a list: {"driver_id": [1, 2]}.')
    out: dict[str, Any] = {}
    for key, values in columns.items():
        if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
            values = [values]
        out[key] = [v.item() if hasattr(v, "item") else v for v in values]
    return out


def _texts(values: Mapping[str, object] | None) -> dict[str, object]:
    """Values as JSON can carry them; the server applies the same rules as local mode."""
    out: dict[str, object] = {}
    for key, value in (values or {}).items():
        out[key] = (
            value if value is None or isinstance(value, str | bool | int | float) else str(value)
        )
    return out


class _HashingSink:
    """Hashes what is written through it to another sink."""

    def __init__(self, target: Sink) -> None:
        self._target = target
        self._hasher = hashlib.sha256()

    def write(self, data: bytes, /) -> int:
        self._hasher.update(data)
        self._target.write(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


def _hash_file(path: Path) -> BlobRef:
    hasher = hashlib.sha256()
    size = 0
    try:
        with Path(path).open("rb") as f:
            while chunk := f.read(1 << 20):
                hasher.update(chunk)
                size += len(chunk)
    except FileNotFoundError as exc:
        raise NotFound(f"Cannot store {str(path)!r}: no such file. Check the path.") from exc
    return BlobRef(hasher.hexdigest(), size)
