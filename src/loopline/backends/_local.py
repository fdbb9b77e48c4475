"""LocalBackend: the domain services, called in this process."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from loopline.backends._local_loop import LocalLoopMethods
from loopline.blobs import (
    BlobRef,
    BlobStore,
    LocalFolderBackend,
    open_blob_store,
    validate_digest,
)
from loopline.blobs._store import blob_key
from loopline.config import Settings
from loopline.datasets import DatasetInfo, DatasetService, Direction, Lineage, VersionInfo
from loopline.db import Database
from loopline.errors import InvalidInput
from loopline.monitoring import (  # monitors (helper M)
    EvaluationStore,
)
from loopline.monitoring._evaluation import table_from_parquet
from loopline.projects import Project, ProjectService
from loopline.registry import (
    ModelEvent,
    ModelStatus,
    ModelVersion,
    RegisteredModel,
    RegistryService,
)
from loopline.serving import Endpoint, EndpointSpec, Revision, RevisionStatus, StatsWindow
from loopline.serving._service import ServingService
from loopline.tracking import (
    Artifact,
    ConsoleText,
    MetricPoint,
    MetricSeries,
    MetricSummary,
    Run,
    RunStatus,
    RunTable,
    TrackingService,
)

if TYPE_CHECKING:  # domains a serving process never calls: imported by their facets
    from loopline.features import (
        ApplyResult,
        FeatureService,
        FeatureViewInfo,
        MaterializeResult,
        OnlineFeatures,
    )
    from loopline.pipelines import (
        CacheHit,
        PipelineRunRecord,
        PipelineService,
        PipelineStatus,
        StepRecord,
        StepUpdate,
        TemplateRecord,
    )
    from loopline.pipelines._types import FiringRecord, NotificationRecord, Notify, ScheduleRecord

__all__ = ["LocalBackend"]


class LocalBackend(LocalLoopMethods):
    """Talks to the metadata database and the blob store directly.

    Used by the embedded default (SQLite + a local folder), by scripts pointed at a shared
    PostgreSQL, and by the server itself, which is an HTTP face over a LocalBackend.
    """

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.projects = ProjectService(db)
        self.tracking = TrackingService(db, self.projects)

    @classmethod
    def open(cls, settings: Settings) -> LocalBackend:
        """Open the database named by ``settings`` (migrating it when ``auto_upgrade`` is on)."""
        if settings.db_url is None:
            raise ValueError("LocalBackend needs settings in local mode (a database URL)")
        return cls(settings, Database.open(settings.db_url, auto_upgrade=settings.auto_upgrade))

    @cached_property
    def blobs(self) -> BlobStore:
        """The blob store, opened on first use (S3 clients are not free to create)."""
        return open_blob_store(self.settings)

    @property
    def location(self) -> str:
        return self.db.url

    def create_project(self, name: str, description: str = "") -> Project:
        return self.projects.create(name, description)

    def get_project(self, name: str) -> Project:
        return self.projects.get(name)

    def list_projects(self) -> list[Project]:
        return self.projects.list()

    def put_blob(self, source: Path | bytes) -> BlobRef:
        if isinstance(source, bytes):
            return self.blobs.put_bytes(source)
        return self.blobs.put_file(source)

    def blob_exists(self, digest: str) -> bool:
        return self.blobs.exists(digest)

    def get_blob(self, digest: str) -> bytes:
        return self.blobs.get_bytes(digest)

    def open_blob(self, digest: str) -> BinaryIO:
        return self.blobs.open(digest)

    def download_blob(self, digest: str, dest: Path) -> Path:
        return self.blobs.local_copy(digest, dest)

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
        return self.tracking.create_run(
            project,
            name=name,
            params=params,
            tags=tags,
            parent_id=parent_id,
            environment_digest=environment_digest,
            cloned_from=cloned_from,
        )

    def end_run(self, run_id: str, status: RunStatus = "finished") -> Run:
        return self.tracking.end_run(run_id, status)

    def get_run(self, run_id: str) -> Run:
        return self.tracking.get_run(run_id)

    def delete_run(self, run_id: str) -> None:
        self.tracking.delete_run(run_id)

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        self.tracking.log_params(run_id, params)

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        self.tracking.set_tags(run_id, tags)

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        self.tracking.log_metrics(run_id, points)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return self.tracking.metric_history(run_id, key)

    def metric_series(self, run_id: str, key: str) -> MetricSeries:
        return self.tracking.metric_series(run_id, key)

    def metric_summaries(self, run_id: str) -> list[MetricSummary]:
        return self.tracking.metric_summaries(run_id)

    def search_runs(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        return self.tracking.search(project, filter, order_by, limit, offset)

    def search_table(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> RunTable:
        return self.tracking.search_table(project, filter, order_by, limit, offset)

    def count_runs(self, project: str, filter: str = "") -> int:
        return self.tracking.count(project, filter)

    def log_artifact(self, run_id: str, path: str, source: Path | bytes) -> Artifact:
        self.tracking.get_run(run_id)  # an unknown run fails before any upload
        ref = self.put_blob(source)
        return self.tracking.add_artifact(run_id, path, ref.digest, ref.size)

    def attach_artifact(self, run_id: str, path: str, digest: str, size: int) -> Artifact:
        """Record an artifact whose blob was uploaded already (the server's half of
        :meth:`RemoteBackend.log_artifact`); refuses a blob that is missing or of another size."""
        actual = self.blobs.size(digest)  # NotFound when it was not uploaded
        if actual != size:
            raise InvalidInput(f"Blob {digest} holds {actual} bytes, not {size}: upload it first.")
        return self.tracking.add_artifact(run_id, path, digest, size)

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        return self.tracking.list_artifacts(run_id)

    def append_console(self, run_id: str, offset: int, data: bytes) -> None:
        self.tracking.append_console(run_id, offset, data)

    def read_console(self, run_id: str, offset: int = 0, limit: int = 1_000_000) -> ConsoleText:
        return self.tracking.read_console(run_id, offset, limit, read_blob=self.get_blob)

    # -- datasets --

    @cached_property
    def datasets(self) -> DatasetService:
        return DatasetService(self.db, self.projects, self.tracking, lambda: self.blobs)

    def missing_blobs(self, digests: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(validate_digest(d) for d in digests))
        if len(wanted) <= 32:
            present = [self.blobs.exists(d) for d in wanted]
        else:
            # Stat calls (or HEAD requests on S3) wait on the disk or network: overlap them.
            with ThreadPoolExecutor(max_workers=8) as pool:
                present = list(pool.map(self.blobs.exists, wanted))
        return [d for d, there in zip(wanted, present, strict=True) if not there]

    def upload_blob(self, path: Path, expected: BlobRef) -> BlobRef:
        ref = self.blobs.put_file(path)
        if ref != expected:
            raise InvalidInput(
                f"{str(path)!r} changed while it was being stored (it hashed to "
                f"{expected.digest[:12]}..., now {ref.digest[:12]}...). Commit again."
            )
        return ref

    def local_blob_path(self, digest: str) -> Path | None:
        backend = self.blobs.backend
        if not isinstance(backend, LocalFolderBackend):
            return None
        path = backend.root / blob_key(digest)
        return path if path.is_file() else None

    def create_dataset(self, project: str, name: str, description: str = "") -> DatasetInfo:
        return self.datasets.create(project, name, description)

    def get_dataset(self, project: str, name: str) -> DatasetInfo:
        return self.datasets.get(project, name)

    def list_datasets(self, project: str) -> list[DatasetInfo]:
        return self.datasets.list(project)

    def list_versions(self, project: str, name: str) -> list[VersionInfo]:
        return self.datasets.versions(project, name)

    def get_version(self, project: str, name: str, ref: int | str = "latest") -> VersionInfo:
        return self.datasets.version(project, name, ref)

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
        return self.datasets.commit(
            project,
            name,
            manifest_digest,
            parent=parent,
            message=message,
            run_id=run_id,
            profile_digest=profile_digest,
        )

    def set_alias(self, project: str, name: str, alias: str, ref: int | str) -> VersionInfo:
        return self.datasets.set_alias(project, name, alias, ref)

    def record_lineage(self, run_id: str, version_id: str, direction: Direction) -> None:
        self.datasets.record_lineage(run_id, version_id, direction)

    def lineage(
        self, *, run_id: str | None = None, version_id: str | None = None, depth: int = 10
    ) -> Lineage:
        return self.datasets.lineage(run_id=run_id, version_id=version_id, depth=depth)

    # -- features --

    @cached_property
    def features(self) -> FeatureService:
        from loopline.features import FeatureService

        return FeatureService(
            self.db,
            self.projects,
            online_store=self.settings.online_store,
            home=self.settings.home,
            datasets=self,
        )

    def apply_features(self, project: str, specs: Sequence[Mapping[str, Any]]) -> list[ApplyResult]:
        return self.features.apply(project, specs)

    def feature_specs(self, project: str) -> list[dict[str, Any]]:
        return self.features.specs(project)

    def list_feature_views(self, project: str) -> list[FeatureViewInfo]:
        return self.features.list_views(project)

    def materialize_features(
        self,
        project: str,
        *,
        views: Sequence[str] | None = None,
        until: datetime | None = None,
        full: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> list[MaterializeResult]:
        return self.features.materialize(
            project, views=views, until=until, full=full, progress=progress
        )

    def get_online_features(
        self,
        project: str,
        features: Sequence[str],
        entities: Mapping[str, Sequence[Any]],
        *,
        request_data: Mapping[str, Sequence[Any]] | None = None,
        full_feature_names: bool = False,
    ) -> OnlineFeatures:
        return self.features.get_online(
            project,
            features,
            entities,
            request_data=request_data,
            full_feature_names=full_feature_names,
        )

    # -- registry --

    @cached_property
    def registry(self) -> RegistryService:
        return RegistryService(
            self.db, self.projects, self.tracking, self.datasets, lambda: self.blobs
        )

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
        return self.registry.register(
            project, name, run_id, path, description=description, actor=actor
        )

    def get_registered_model(self, project: str, name: str) -> RegisteredModel:
        return self.registry.get(project, name)

    def list_registered_models(self, project: str) -> list[RegisteredModel]:
        return self.registry.list(project)

    def list_model_versions(self, project: str, name: str) -> list[ModelVersion]:
        return self.registry.versions(project, name)

    def get_model_version(self, project: str, name: str, ref: int | str = "latest") -> ModelVersion:
        return self.registry.version(project, name, ref)

    def set_model_alias(
        self, project: str, name: str, alias: str, ref: int | str, *, actor: str, reason: str = ""
    ) -> ModelVersion:
        return self.registry.set_alias(project, name, alias, ref, actor=actor, reason=reason)

    def remove_model_alias(
        self, project: str, name: str, alias: str, *, actor: str, reason: str = ""
    ) -> None:
        self.registry.remove_alias(project, name, alias, actor=actor, reason=reason)

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
        return self.registry.set_status(project, name, ref, status, actor=actor, reason=reason)

    def model_events(self, project: str, name: str, *, limit: int = 200) -> list[ModelEvent]:
        return self.registry.events(project, name, limit=limit)

    def model_card(self, project: str, name: str, ref: int | str = "latest") -> str:
        return self.registry.card(project, name, ref)

    # -- pipelines --

    @cached_property
    def pipelines(self) -> PipelineService:
        from loopline.pipelines import PipelineService

        return PipelineService(self.db, self.projects, self.tracking, lambda: self.blobs)

    def create_pipeline_run(
        self,
        project: str,
        pipeline: str,
        params: dict[str, Any],
        dag: dict[str, Any],
        tags: dict[str, str] | None = None,
    ) -> PipelineRunRecord:
        return self.pipelines.create_run(project, pipeline, params, dag, tags=tags)

    def update_pipeline_steps(self, run_id: str, updates: Sequence[StepUpdate]) -> list[StepRecord]:
        return self.pipelines.update_steps(run_id, updates)

    def finish_pipeline_run(self, run_id: str, status: PipelineStatus) -> PipelineRunRecord:
        return self.pipelines.finish_run(run_id, status)

    def get_pipeline_run(self, run_id: str) -> PipelineRunRecord:
        return self.pipelines.get_run(run_id)

    def list_pipeline_runs(
        self,
        project: str,
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = 100,
        params: dict[str, Any] | None = None,
    ) -> list[PipelineRunRecord]:
        return self.pipelines.list_runs(
            project, pipeline, status=status, limit=limit, params=params
        )

    def stop_pipeline_run(self, run_id: str) -> PipelineRunRecord:
        return self.pipelines.stop_run(run_id)

    def delete_pipeline_run(self, run_id: str) -> None:
        self.pipelines.delete_run(run_id)

    def pipeline_run_metrics(self, run_id: str) -> dict[str, float]:
        return self.pipelines.run_metrics(run_id)

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
        created_by: str | None = None,  # accounts: the server's signed-in caller
    ) -> TemplateRecord:
        if not self.blobs.exists(code):
            raise InvalidInput(
                f"The code snapshot {code} of template {name!r} is not in the store."
            )
        return self.pipelines.publish_template(
            project,
            name,
            dag=dag,
            code=code,
            entry=entry,
            description=description,
            requirements=requirements or (),
            created_by=created_by or self.settings.actor,
        )

    def get_pipeline_template(
        self, project: str, name: str, version: int | str = "latest"
    ) -> TemplateRecord:
        return self.pipelines.get_template(project, name, version)

    def list_pipeline_templates(self, project: str) -> list[TemplateRecord]:
        return self.pipelines.list_templates(project)

    def pipeline_template_versions(self, project: str, name: str) -> list[TemplateRecord]:
        return self.pipelines.template_versions(project, name)

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
        from loopline.pipelines._templates import launch_here

        if executor != "local" or queue is not None:  # agents (helper Q2): drive on an agent
            from loopline.agents._submit import launch_on_queue

            return launch_on_queue(
                self,
                project,
                name,
                params,
                version,
                retry_of,
                notify=notify or (),
                executor=executor,
                queue=queue,
                steps=steps,
                priority=priority,
                env=env,
            )
        return launch_here(
            self.pipelines,
            self.settings,
            project,
            name,
            params,
            version,
            retry_of,
            notify=notify or (),
        )

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
        created_by: str | None = None,  # accounts: the server's signed-in caller
    ) -> ScheduleRecord:
        return self.pipelines.schedules.create(
            project,
            template,
            cron,
            params=params,
            version=version,
            timezone=timezone,
            enabled=enabled,
            notify=notify or (),
            created_by=created_by or self.settings.actor,
        )

    def list_pipeline_schedules(
        self, project: str, template: str | None = None
    ) -> list[ScheduleRecord]:
        return self.pipelines.schedules.of_project(project, template)

    def get_pipeline_schedule(self, schedule_id: str) -> ScheduleRecord:
        return self.pipelines.schedules.get(schedule_id)

    def set_pipeline_schedule_enabled(self, schedule_id: str, enabled: bool) -> ScheduleRecord:
        return self.pipelines.schedules.set_enabled(schedule_id, enabled)

    def delete_pipeline_schedule(self, schedule_id: str) -> None:
        self.pipelines.schedules.delete(schedule_id)

    def pipeline_schedule_firings(self, schedule_id: str, limit: int = 50) -> list[FiringRecord]:
        return self.pipelines.schedules.firings(schedule_id, limit)

    def attach_pipeline_notification(
        self,
        project: str,
        notify: Notify,
        *,
        pipeline: str | None = None,
        run: str | None = None,
    ) -> NotificationRecord:
        return self.pipelines.notifications.attach(project, notify, pipeline=pipeline, run=run)

    def list_pipeline_notifications(
        self,
        project: str,
        *,
        pipeline: str | None = None,
        schedule: str | None = None,
        run: str | None = None,
    ) -> list[NotificationRecord]:
        return self.pipelines.notifications.attached(
            project, pipeline=pipeline, schedule=schedule, run=run
        )

    def detach_pipeline_notification(self, notification_id: int) -> None:
        self.pipelines.notifications.detach(notification_id)

    def lookup_step_cache(self, project: str, keys: Sequence[str]) -> dict[str, CacheHit]:
        return self.pipelines.lookup_cache(project, keys)

    def models_trained_on(self, project: str, view: str) -> list[ModelVersion]:
        return self.registry.trained_on_features(project, view)

    # -- serving: endpoints and their revisions --

    @cached_property
    def serving(self) -> ServingService:
        return ServingService(self.db, self.projects, self.registry)

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
        return self.serving.create(
            project, name, spec, description=description, actor=actor, message=message
        )

    def update_endpoint(
        self, project: str, name: str, spec: EndpointSpec, *, actor: str, message: str = ""
    ) -> Endpoint:
        return self.serving.update(project, name, spec, actor=actor, message=message)

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
        endpoint, _ = self.serving.apply(
            project, name, spec, description=description, actor=actor, message=message
        )
        return endpoint

    def rollback_endpoint(
        self, project: str, name: str, *, to: int | None = None, actor: str, message: str = ""
    ) -> Endpoint:
        return self.serving.rollback(project, name, to=to, actor=actor, message=message)

    def delete_endpoint(self, project: str, name: str) -> None:
        self.serving.delete(project, name)

    def get_endpoint(self, project: str, name: str) -> Endpoint:
        return self.serving.get(project, name)

    def list_endpoints(self, project: str) -> list[Endpoint]:
        return self.serving.list(project)

    def endpoint_revisions(self, project: str, name: str) -> list[Revision]:
        return self.serving.revisions(project, name)

    def mark_endpoint_revision(
        self, project: str, name: str, number: int, status: RevisionStatus, error: str = ""
    ) -> Revision:
        return self.serving.mark(project, name, number, status, error)

    def record_endpoint_stats(
        self, project: str, name: str, worker: str, windows: Sequence[StatsWindow]
    ) -> int:
        return self.serving.record_stats(project, name, worker, windows)

    def endpoint_stats(
        self, project: str, name: str, *, since: datetime | None = None
    ) -> list[StatsWindow]:
        return self.serving.stats(project, name, since=since)

    # -- end of serving --

    # -- monitoring: the evaluation store --

    @cached_property
    def evaluations(self) -> EvaluationStore:
        """Prediction and label logs (Parquet under ``LOOPLINE_EVALUATION_URI``)."""
        return EvaluationStore.from_settings(self.settings)

    def append_predictions(
        self, project: str, endpoint: str, parquet_bytes: bytes, *, batch_id: str | None = None
    ) -> str:
        table = table_from_parquet(parquet_bytes, "prediction log")
        return self.evaluations.append_predictions(project, endpoint, table, batch_id=batch_id)

    def append_labels(
        self, project: str, endpoint: str, parquet_bytes: bytes, *, batch_id: str | None = None
    ) -> str:
        table = table_from_parquet(parquet_bytes, "label batch")
        return self.evaluations.append_labels(project, endpoint, table, batch_id=batch_id)

    # -- end of monitoring --

    def close(self) -> None:
        if "features" in self.__dict__:
            self.features.close()
        self.db.close()
