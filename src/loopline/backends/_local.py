"""LocalBackend: the domain services, called in this process."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

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
from loopline.errors import InvalidInput, NotFound
from loopline.monitoring import (  # monitors (helper M)
    AlertRecord,
    AlertRule,
    EvaluationStore,
    MonitorRecord,
    MonitorResult,
    MonitorRunRecord,
    OperationalWindow,
)
from loopline.monitoring._evaluation import table_from_parquet
from loopline.monitoring._labelling_types import (  # hard examples
    LabellingCommit,
    LabellingPage,
    LabellingState,
)
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
    from loopline.agents import (
        AgentRecord,
        Decision,
        QueueRecord,
        QueueService,
        TaskKind,
        TaskRecord,
    )
    from loopline.automation import (  # automation
        Delivery,
        DeliveryPolicy,
        Firing,
        GateFigure,
        GateRecord,
        LoopEvent,
        TickReport,
        Trigger,
        TriggerVersion,
    )
    from loopline.automation._service import AutomationController, AutomationService  # automation
    from loopline.features import (
        ApplyResult,
        FeatureService,
        FeatureViewInfo,
        MaterializeResult,
        OnlineFeatures,
    )
    from loopline.monitoring._hard_examples import HardExamples  # hard examples
    from loopline.monitoring._labelling import LabellingService  # hard examples
    from loopline.monitoring._monitors import MonitorService  # monitors (helper M)
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


class LocalBackend:
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

    # -- monitoring: monitors and their alerts (helper M) --

    @cached_property
    def monitors(self) -> MonitorService:
        """Monitors, their time series and alerts. Latency and errors come from the serving
        side's statistics (serving sits above monitoring, so the backend hands them in)."""
        from loopline.monitoring._monitors import MonitorService

        return MonitorService(
            self.db,
            self.projects,
            self.evaluations,
            registry=self.registry,
            datasets=self.datasets,
            blobs=lambda: self.blobs,
            operations=self._serving_figures,
        )

    def _serving_figures(
        self, project: str, endpoint: str, start: datetime, end: datetime
    ) -> list[OperationalWindow]:
        from loopline.errors import NotFound
        from loopline.monitoring._checks import split_label
        from loopline.serving._types import bucket_quantile

        try:
            windows = self.serving.stats(project, endpoint, since=start)
        except NotFound:
            return []  # batch scoring, or an endpoint deleted since: the logs still tell
        summed: dict[str, list[Any]] = {}
        for w in windows:
            if not start <= w.start < end:
                continue
            total = summed.setdefault(w.model, [0, 0, 0.0, [0] * len(w.buckets)])
            total[0] += w.requests
            total[1] += w.errors
            total[2] += w.latency_sum_ms
            total[3] = [a + b for a, b in zip(total[3], w.buckets, strict=False)]
        found = []
        for label, (requests, errors, latency_sum, buckets) in sorted(summed.items()):
            model, version = split_label(label)
            timed = sum(buckets) > 0
            found.append(
                OperationalWindow(
                    model=model,
                    version=version,
                    requests=requests,
                    errors=errors,
                    p50_ms=bucket_quantile(buckets, 0.5) if timed else None,
                    p95_ms=bucket_quantile(buckets, 0.95) if timed else None,
                    p99_ms=bucket_quantile(buckets, 0.99) if timed else None,
                    mean_ms=latency_sum / requests if requests else None,
                )
            )
        return found

    def create_monitor(
        self,
        project: str,
        name: str,
        endpoint: str,
        *,
        schedule: str = "*/15 * * * *",
        timezone: str = "UTC",
        window_seconds: int | None = None,
        drift: bool | Mapping[str, Any] = True,
        quality: bool | Mapping[str, Any] = True,
        latency: bool | Mapping[str, Any] = True,
        rules: Sequence[AlertRule] = (),
        notify: Sequence[Mapping[str, Any]] = (),
        enabled: bool = True,
    ) -> MonitorRecord:
        return self.monitors.create(
            project,
            name,
            endpoint,
            schedule=schedule,
            timezone=timezone,
            window=window_seconds,
            drift=drift,
            quality=quality,
            latency=latency,
            rules=rules,
            notify=notify,
            enabled=enabled,
            created_by=self.settings.actor,
        )

    def list_monitors(self, project: str) -> list[MonitorRecord]:
        return self.monitors.of_project(project)

    def get_monitor(self, project: str, name: str) -> MonitorRecord:
        return self.monitors.get(project, name)

    def set_monitor_enabled(self, project: str, name: str, enabled: bool) -> MonitorRecord:
        return self.monitors.set_enabled(project, name, enabled)

    def delete_monitor(self, project: str, name: str) -> None:
        self.monitors.delete(project, name)

    def run_monitor(self, project: str, name: str) -> MonitorRunRecord:
        return self.monitors.run(project, name)

    def monitor_runs(self, project: str, name: str, limit: int = 50) -> list[MonitorRunRecord]:
        return self.monitors.runs(project, name, limit)

    def monitor_results(
        self,
        project: str,
        name: str,
        *,
        metric: str | None = None,
        since: datetime | None = None,
        limit: int = 10_000,
    ) -> list[MonitorResult]:
        return self.monitors.results(project, name, metric=metric, since=since, limit=limit)

    def monitor_report(
        self,
        project: str,
        name: str,
        run_id: str,
        *,
        model: str | None = None,
        version: int | None = None,
    ) -> str:
        return self.monitors.report(project, name, run_id, model=model, version=version)

    def list_alerts(
        self,
        project: str,
        since: datetime | None = None,
        state: str | None = None,
        monitor: str | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        return self.monitors.alerts(project, since=since, state=state, monitor=monitor, limit=limit)

    # -- end of monitors --

    # -- monitoring: hard examples and their labelling (helper H) --

    @cached_property
    def labelling(self) -> LabellingService:
        from loopline.monitoring._labelling import LabellingService

        return LabellingService(
            self.db,
            self.projects,
            self.datasets,
            lambda: self.blobs,
            lambda: self.evaluations,
            self.registry,
            self.settings.home / "models",
        )

    def collect_hard_examples(
        self,
        project: str,
        endpoint: str,
        dataset: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        confidence_below: float | None = 0.6,
        misclassified: bool = True,
        limit: int = 500,
        image_shape: Sequence[int] | None = None,
        use_model: bool = True,
        actor: str = "",
    ) -> HardExamples:
        return self.labelling.collect(
            project, endpoint, dataset, since=since, until=until,
            confidence_below=confidence_below, misclassified=misclassified, limit=limit,
            image_shape=None if image_shape is None else list(image_shape),
            use_model=use_model, actor=actor or self.settings.actor,
        )  # fmt: skip

    def labelling_page(
        self, project: str, dataset: str, ref: int | str = "latest", *, offset: int = 0,
        limit: int = 50,
    ) -> LabellingPage:  # fmt: skip
        return self.labelling.page(project, dataset, ref, offset=offset, limit=limit)

    def save_labels(
        self, project: str, dataset: str, labels: Mapping[str, Any], *, actor: str
    ) -> LabellingState:
        return self.labelling.save(project, dataset, labels, actor=actor)

    def commit_labels(self, project: str, dataset: str, *, actor: str) -> LabellingCommit:
        return self.labelling.commit(project, dataset, actor=actor)

    # -- end of hard examples --

    # -- agents: queues, tasks with leases, agents, autoscaler decisions --

    @cached_property
    def agents(self) -> QueueService:
        from loopline.agents import QueueService

        return QueueService(self.db)

    def put_queue(
        self, name: str, *, priority: int = 0, tags: Sequence[str] = (), description: str = ""
    ) -> QueueRecord:
        return self.agents.put_queue(name, priority=priority, tags=tags, description=description)

    def list_queues(self) -> list[QueueRecord]:
        return self.agents.list_queues()

    def enqueue_task(
        self,
        queue: str,
        kind: TaskKind,
        payload: str,
        *,
        name: str = "",
        project: str | None = None,
        priority: int = 0,
        resources: Mapping[str, float] | None = None,
        env: Mapping[str, str] | None = None,
        max_attempts: int = 3,
    ) -> TaskRecord:
        if not self.blobs.exists(payload):
            raise InvalidInput(f"The payload {payload} of a task is not in the blob store.")
        return self.agents.enqueue(
            queue,
            kind,
            payload,
            name=name,
            project=project,
            priority=priority,
            resources=resources,
            env=env,
            max_attempts=max_attempts,
        )

    def get_task(self, task_id: str) -> TaskRecord:
        return self.agents.get_task(task_id)

    def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]:
        return self.agents.list_tasks(queue=queue, status=status, ids=ids, limit=limit)

    def cancel_task(self, task_id: str) -> TaskRecord:
        return self.agents.cancel(task_id)

    def register_agent(
        self,
        name: str,
        host: str,
        queues: Sequence[str],
        *,
        resources: Mapping[str, float] | None = None,
        concurrency: int = 1,
        pid: int | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> AgentRecord:
        return self.agents.register_agent(
            name,
            host,
            queues,
            resources=resources,
            concurrency=concurrency,
            pid=pid,
            labels=labels,
        )

    def claim_task(self, agent_id: str, *, lease_seconds: float = 30.0) -> TaskRecord | None:
        return self.agents.claim(agent_id, lease_seconds=lease_seconds)

    def heartbeat_agent(
        self, agent_id: str, task_ids: Sequence[str] = (), *, lease_seconds: float = 30.0
    ) -> list[str]:
        return self.agents.heartbeat(agent_id, task_ids, lease_seconds=lease_seconds)

    def finish_task(
        self,
        task_id: str,
        agent_id: str,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> TaskRecord:
        return self.agents.finish(
            task_id,
            agent_id,
            status,  # type: ignore[arg-type]  # checked by the service
            result=result,
            error=error,
        )

    def list_agents(self, *, include_stopped: bool = False) -> list[AgentRecord]:
        return self.agents.list_agents(include_stopped=include_stopped)

    def stop_agent(self, agent_id: str) -> AgentRecord:
        return self.agents.stop_agent(agent_id)

    def record_decision(
        self,
        queue: str,
        action: str,
        reason: str,
        *,
        agent: str | None = None,
        depth: int = 0,
        agents: int = 0,
    ) -> Decision:
        return self.agents.record_decision(
            queue,
            action,  # type: ignore[arg-type]  # checked by the service
            reason,
            agent=agent,
            depth=depth,
            agents=agents,
        )

    def list_decisions(self, *, queue: str | None = None, limit: int = 100) -> list[Decision]:
        return self.agents.list_decisions(queue=queue, limit=limit)

    # -- end of agents --

    # -- automation: triggers, gates, delivery policies, the loop's timeline --

    @cached_property
    def automation(self) -> AutomationService:
        from loopline.automation._service import AutomationService

        return AutomationService(
            self.db,
            self.projects,
            pipelines=self.pipelines,
            datasets=self.datasets,
            serving=self.serving,
            registry=self.registry,
            evaluations=lambda: self.evaluations,
            # The triggers' cursor is inclusive (it keeps the ids seen at its instant); the
            # monitors' ``since`` is exclusive: step back one tick of the clock.
            alerts=lambda project, since: self.monitors.alerts(
                project,
                since=None if since is None else since - timedelta(microseconds=1),
                limit=1000,
            ),
        )

    @cached_property
    def automation_controller(self) -> AutomationController:
        """The controller ``tick`` runs (a server starts its own thread over the same)."""
        from loopline.automation._service import AutomationController

        return AutomationController(self.automation, self.settings)

    def put_trigger(
        self, project: str, name: str, definition: Mapping[str, Any], *, actor: str
    ) -> Trigger:
        fields = dict(definition)
        unknown = set(fields) - {
            "kind", "template", "params", "template_version", "config", "debounce",
            "description", "enabled",
        }  # fmt: skip
        if unknown or "kind" not in fields or "template" not in fields:
            raise InvalidInput(
                f"A trigger has kind, template, params, template_version, config, debounce, "
                f"description and enabled (unknown: {sorted(unknown)})."
            )
        return self.automation.triggers.put(project, name, actor=actor, **fields)

    def get_trigger(self, project: str, name: str) -> Trigger:
        return self.automation.triggers.get(project, name)

    def list_triggers(self, project: str) -> list[Trigger]:
        return self.automation.triggers.list(project)

    def set_trigger_enabled(self, project: str, name: str, enabled: bool) -> Trigger:
        return self.automation.triggers.set_enabled(project, name, enabled)

    def delete_trigger(self, project: str, name: str) -> None:
        self.automation.triggers.delete(project, name)

    def trigger_versions(self, project: str, name: str) -> list[TriggerVersion]:
        return self.automation.triggers.versions(project, name)

    def trigger_firings(self, project: str, name: str, limit: int = 50) -> list[Firing]:
        return self.automation.triggers.firings(project, name, limit)

    def fire_trigger(
        self, project: str, name: str, payload: Mapping[str, Any], *, actor: str
    ) -> Firing:
        controller = self.automation_controller
        return self.automation.triggers.fire(
            project, name, payload, actor=actor, launch=controller.launch,
            run_status=self.automation.run_status,
        )  # fmt: skip

    def record_gate(
        self,
        project: str,
        model: str,
        *,
        passed: bool,
        figures: Sequence[GateFigure],
        message: str = "",
        challenger_version: int | None = None,
        champion_version: int | None = None,
        run_id: str | None = None,
        pipeline_run_id: str | None = None,
    ) -> GateRecord:
        return self.automation.gates.record(
            project, model, passed=passed, figures=list(figures), message=message,
            challenger_version=challenger_version, champion_version=champion_version,
            run_id=run_id, pipeline_run_id=pipeline_run_id,
        )  # fmt: skip

    def list_gates(self, project: str, *, model: str | None = None) -> list[GateRecord]:
        return self.automation.gates.list(project, model=model)

    def set_delivery_policy(
        self, project: str, endpoint: str, policy: Mapping[str, Any], *, actor: str
    ) -> DeliveryPolicy:
        fields = {k: v for k, v in policy.items() if v is not None}
        unknown = set(fields) - {
            "canary_percent", "shadow_first", "observe_for", "min_requests", "min_labels",
            "margins", "alias", "enabled",
        }  # fmt: skip
        if unknown:
            raise InvalidInput(f"A delivery policy has no {sorted(unknown)}.")
        return self.automation.deliveries.set_policy(project, endpoint, actor=actor, **fields)

    def get_delivery_policy(self, project: str, endpoint: str) -> DeliveryPolicy:
        return self.automation.deliveries.policy(project, endpoint)

    def list_delivery_policies(self, project: str) -> list[DeliveryPolicy]:
        return self.automation.deliveries.policies(project)

    def delete_delivery_policy(self, project: str, endpoint: str) -> None:
        self.automation.deliveries.delete_policy(project, endpoint)

    def list_deliveries(self, project: str, *, active: bool = False) -> list[Delivery]:
        return self.automation.deliveries.list(project, active=active)

    def automation_timeline(
        self, project: str, *, limit: int = 100, before: int | None = None
    ) -> list[LoopEvent]:
        return self.automation.timeline.events(project, limit=limit, before=before)

    def revert_automation_event(self, project: str, event_id: int, *, actor: str) -> LoopEvent:
        event = self.automation.timeline.get(event_id)
        if event.project != project:
            raise NotFound(f"Project {project!r} has no automation event {event_id}.")
        return self.automation.revert(event_id, actor=actor)

    def automation_tick(self, now: datetime | None = None) -> TickReport:
        return self.automation_controller.tick(now)

    # -- end of automation --

    def close(self) -> None:
        if "features" in self.__dict__:
            self.features.close()
        self.db.close()
