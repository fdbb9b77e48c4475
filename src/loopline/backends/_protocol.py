"""The Backend protocol: what the SDK needs from a store, wherever the store is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime
    from pathlib import Path

    from loopline.agents import AgentRecord, Decision, QueueRecord, TaskKind, TaskRecord
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
    from loopline.blobs import BlobRef
    from loopline.datasets import DatasetInfo, Direction, Lineage, VersionInfo
    from loopline.features import ApplyResult, FeatureViewInfo, MaterializeResult, OnlineFeatures
    from loopline.monitoring import (  # monitors (helper M)
        AlertRecord,
        AlertRule,
        MonitorRecord,
        MonitorResult,
        MonitorRunRecord,
    )
    from loopline.monitoring._hard_examples import HardExamples  # hard examples
    from loopline.monitoring._labelling_types import (  # hard examples
        LabellingCommit,
        LabellingPage,
        LabellingState,
    )
    from loopline.pipelines import (
        CacheHit,
        FiringRecord,
        NotificationRecord,
        Notify,
        PipelineRunRecord,
        PipelineStatus,
        ScheduleRecord,
        StepRecord,
        StepUpdate,
        TemplateRecord,
    )
    from loopline.projects import Project
    from loopline.registry import ModelEvent, ModelStatus, ModelVersion, RegisteredModel
    from loopline.serving import Endpoint, EndpointSpec, Revision, RevisionStatus, StatsWindow
    from loopline.tracking import (
        Artifact,
        ConsoleText,
        MetricPoint,
        MetricSeries,
        MetricSummary,
        Run,
        RunStatus,
        RunTable,
    )

__all__ = ["Backend"]


class Backend(Protocol):
    """Everything the SDK asks of a store. Two implementations, one behaviour.

    :class:`~loopline.backends.LocalBackend` calls the domain services in this process;
    :class:`~loopline.backends.RemoteBackend` calls a Loopline server over HTTP, which calls the
    same services. One test suite runs through both, so the two cannot drift apart. Domains add
    their methods here as they arrive.

    Example:
        >>> backend = open_backend(Settings.from_env())
        >>> backend.create_project("demo").name
        'demo'
    """

    @property
    def location(self) -> str:
        """Where the data lives, for people: a database URL or a server URL."""
        ...

    def create_project(self, name: str, description: str = "") -> Project: ...

    def get_project(self, name: str) -> Project: ...

    def list_projects(self) -> list[Project]: ...

    def put_blob(self, source: Path | bytes) -> BlobRef:
        """Store a file's or a byte string's content; return its digest and size."""
        ...

    def blob_exists(self, digest: str) -> bool: ...

    def get_blob(self, digest: str) -> bytes:
        """A blob's bytes, verified against its digest."""
        ...

    def open_blob(self, digest: str) -> BinaryIO:
        """A blob to read as a stream (a large artifact need not fit in memory); reading it to
        the end verifies it. Use it as a context manager."""
        ...

    def download_blob(self, digest: str, dest: Path) -> Path:
        """Copy a blob to the file ``dest`` (verified first, then renamed into place)."""
        ...

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
    ) -> Run: ...

    def end_run(self, run_id: str, status: RunStatus = "finished") -> Run: ...

    def get_run(self, run_id: str) -> Run: ...

    def delete_run(self, run_id: str) -> None: ...

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None: ...

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None: ...

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None: ...

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]: ...

    def metric_series(self, run_id: str, key: str) -> MetricSeries:
        """One metric's history as arrays (the fast path for charts and DataFrames)."""
        ...

    def metric_summaries(self, run_id: str) -> list[MetricSummary]: ...

    def search_runs(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Run]: ...

    def search_table(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> RunTable:
        """Like :meth:`search_runs`, as columns: the fast path to a DataFrame or a table."""
        ...

    def count_runs(self, project: str, filter: str = "") -> int:
        """How many runs of ``project`` match ``filter``."""
        ...

    def log_artifact(self, run_id: str, path: str, source: Path | bytes) -> Artifact: ...

    def list_artifacts(self, run_id: str) -> list[Artifact]: ...

    def append_console(self, run_id: str, offset: int, data: bytes) -> None:
        """Ship a running run's console output, from byte ``offset`` of its log."""
        ...

    def read_console(self, run_id: str, offset: int = 0, limit: int = 1_000_000) -> ConsoleText:
        """A slice of a run's console log, live while it runs (see ConsoleText)."""
        ...

    # -- datasets --

    def missing_blobs(self, digests: Sequence[str]) -> list[str]:
        """The digests among ``digests`` that the store does not hold (one round trip)."""
        ...

    def upload_blob(self, path: Path, expected: BlobRef) -> BlobRef:
        """Store the file at ``path``, already hashed as ``expected``.

        Raises:
            InvalidInput: the file's bytes no longer hash to ``expected`` (it changed).
        """
        ...

    def local_blob_path(self, digest: str) -> Path | None:
        """The blob's own file when the blob store is a folder on this machine, else None."""
        ...

    def create_dataset(self, project: str, name: str, description: str = "") -> DatasetInfo:
        """The dataset, created (with its project) when it does not exist yet."""
        ...

    def get_dataset(self, project: str, name: str) -> DatasetInfo: ...

    def list_datasets(self, project: str) -> list[DatasetInfo]: ...

    def list_versions(self, project: str, name: str) -> list[VersionInfo]: ...

    def get_version(self, project: str, name: str, ref: int | str = "latest") -> VersionInfo: ...

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
        """Make a stored manifest the dataset's next version (see DatasetService.commit)."""
        ...

    def set_alias(self, project: str, name: str, alias: str, ref: int | str) -> VersionInfo: ...

    def record_lineage(self, run_id: str, version_id: str, direction: Direction) -> None: ...

    def lineage(
        self, *, run_id: str | None = None, version_id: str | None = None, depth: int = 10
    ) -> Lineage: ...

    # -- features --

    def apply_features(self, project: str, specs: Sequence[Mapping[str, Any]]) -> list[ApplyResult]:
        """Register feature definitions (their specs), versioned; unchanged ones stay."""
        ...

    def feature_specs(self, project: str) -> list[dict[str, Any]]:
        """The spec in force of every feature definition (the offline join runs client-side)."""
        ...

    def list_feature_views(self, project: str) -> list[FeatureViewInfo]: ...

    def materialize_features(
        self,
        project: str,
        *,
        views: Sequence[str] | None = None,
        until: datetime | None = None,
        full: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> list[MaterializeResult]:
        """Copy the latest values into the online store (done where the store is: here, or on
        the server in remote mode)."""
        ...

    def get_online_features(
        self,
        project: str,
        features: Sequence[str],
        entities: Mapping[str, Sequence[Any]],
        *,
        request_data: Mapping[str, Sequence[Any]] | None = None,
        full_feature_names: bool = False,
    ) -> OnlineFeatures: ...

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
        """Register the model logged at ``path`` in a run as the next version of ``name``
        (in ``project``, or the run's project when ``None``)."""
        ...

    def get_registered_model(self, project: str, name: str) -> RegisteredModel: ...

    def list_registered_models(self, project: str) -> list[RegisteredModel]: ...

    def list_model_versions(self, project: str, name: str) -> list[ModelVersion]: ...

    def get_model_version(
        self, project: str, name: str, ref: int | str = "latest"
    ) -> ModelVersion: ...

    def set_model_alias(
        self, project: str, name: str, alias: str, ref: int | str, *, actor: str, reason: str = ""
    ) -> ModelVersion: ...

    def remove_model_alias(
        self, project: str, name: str, alias: str, *, actor: str, reason: str = ""
    ) -> None: ...

    def set_model_status(
        self,
        project: str,
        name: str,
        ref: int | str,
        status: ModelStatus,
        *,
        actor: str,
        reason: str = "",
    ) -> ModelVersion: ...

    def model_events(self, project: str, name: str, *, limit: int = 200) -> list[ModelEvent]:
        """The model's alias, status and registration events, newest first."""
        ...

    def model_card(self, project: str, name: str, ref: int | str = "latest") -> str:
        """The version's model card (Markdown)."""
        ...

    # -- pipelines --

    def create_pipeline_run(
        self,
        project: str,
        pipeline: str,
        params: dict[str, Any],
        dag: dict[str, Any],
        tags: dict[str, str] | None = None,
    ) -> PipelineRunRecord:
        """Start a pipeline run: its tracked run and a pending record per step of ``dag``."""
        ...

    def update_pipeline_steps(self, run_id: str, updates: Sequence[StepUpdate]) -> list[StepRecord]:
        """Record a batch of step changes (one call per scheduler tick)."""
        ...

    def finish_pipeline_run(self, run_id: str, status: PipelineStatus) -> PipelineRunRecord: ...

    def get_pipeline_run(self, run_id: str) -> PipelineRunRecord: ...

    def list_pipeline_runs(
        self,
        project: str,
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = 100,
        params: dict[str, Any] | None = None,
    ) -> list[PipelineRunRecord]:
        """Pipeline runs of ``project``, newest first (``params``: these values only)."""
        ...

    def stop_pipeline_run(self, run_id: str) -> PipelineRunRecord:
        """Mark a running pipeline run stopped; its runner stops its steps (SIGTERM, SIGKILL)."""
        ...

    def delete_pipeline_run(self, run_id: str) -> None:
        """Delete an ended pipeline run's records (blobs stay for ``loopline gc``)."""
        ...

    def pipeline_run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest metrics its steps logged, as ``{"step.metric": value}``."""
        ...

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
        """Store a new version of a pipeline template (its code snapshot is blob ``code``)."""
        ...

    def get_pipeline_template(
        self, project: str, name: str, version: int | str = "latest"
    ) -> TemplateRecord: ...

    def list_pipeline_templates(self, project: str) -> list[TemplateRecord]:
        """The newest version of each template."""
        ...

    def pipeline_template_versions(self, project: str, name: str) -> list[TemplateRecord]:
        """Every version of a template, newest first."""
        ...

    def launch_pipeline_template(
        self,
        project: str,
        name: str,
        params: dict[str, Any],
        version: int | str = "latest",
        retry_of: str | None = None,
        notify: list[Notify] | None = None,
        *,
        executor: str = "local",  # agents (helper Q2): "queue" puts the run on a queue
        queue: str | None = None,
        steps: str = "queue",
        priority: int = 0,
        env: dict[str, str] | None = None,
    ) -> PipelineRunRecord:
        """Check ``params`` against the template's schema, create the run, start it where the
        store is (a driver process); answer the run, running. ``retry_of``: a run of the
        template whose unfinished steps to run again, reusing the others. ``notify``: told
        when this run ends. ``executor="queue"``: instead, put the run on ``queue``
        (``priority``, ``env``) for an agent to drive, its steps run in the agent's workers
        or back on the queues (``steps``); the run's ``loopline.task`` tag names the task."""
        ...

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
        """Launch template ``template`` on ``cron`` read in ``timezone`` (the server's
        scheduler does). A bad cron, time zone or parameter raises InvalidInput naming it."""
        ...

    def list_pipeline_schedules(
        self, project: str, template: str | None = None
    ) -> list[ScheduleRecord]: ...

    def get_pipeline_schedule(self, schedule_id: str) -> ScheduleRecord: ...

    def set_pipeline_schedule_enabled(self, schedule_id: str, enabled: bool) -> ScheduleRecord:
        """Pause or resume a schedule (resuming does not make up for paused time)."""
        ...

    def delete_pipeline_schedule(self, schedule_id: str) -> None: ...

    def pipeline_schedule_firings(self, schedule_id: str, limit: int = 50) -> list[FiringRecord]:
        """The schedule's firings (due time, run launched or error), newest first."""
        ...

    def attach_pipeline_notification(
        self,
        project: str,
        notify: Notify,
        *,
        pipeline: str | None = None,
        run: str | None = None,
    ) -> NotificationRecord:
        """Tell ``notify`` when runs of ``pipeline`` (or run ``run``) end."""
        ...

    def list_pipeline_notifications(
        self,
        project: str,
        *,
        pipeline: str | None = None,
        schedule: str | None = None,
        run: str | None = None,
    ) -> list[NotificationRecord]: ...

    def detach_pipeline_notification(self, notification_id: int) -> None: ...

    def lookup_step_cache(self, project: str, keys: Sequence[str]) -> dict[str, CacheHit]:
        """The cached outputs of those cache ``keys`` that have some (one round trip)."""
        ...

    def models_trained_on(self, project: str, view: str) -> list[ModelVersion]:
        """Model versions whose training run read feature view ``view``, newest first."""
        ...

    # -- serving: endpoints and their revisions --

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
        """A new endpoint serving ``spec`` (revision 1); Conflict if the name is taken."""
        ...

    def update_endpoint(
        self, project: str, name: str, spec: EndpointSpec, *, actor: str, message: str = ""
    ) -> Endpoint:
        """The endpoint's next revision; inference servers move to it with no restart."""
        ...

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
        """Create, or move to ``spec``; no new revision when nothing changed."""
        ...

    def rollback_endpoint(
        self, project: str, name: str, *, to: int | None = None, actor: str, message: str = ""
    ) -> Endpoint:
        """Serve an earlier revision again (the last that served, by default)."""
        ...

    def delete_endpoint(self, project: str, name: str) -> None: ...

    def get_endpoint(self, project: str, name: str) -> Endpoint: ...

    def list_endpoints(self, project: str) -> list[Endpoint]: ...

    def endpoint_revisions(self, project: str, name: str) -> list[Revision]:
        """Every revision, newest first."""
        ...

    def mark_endpoint_revision(
        self, project: str, name: str, number: int, status: RevisionStatus, error: str = ""
    ) -> Revision:
        """An inference server reports a revision ``live`` or ``failed``."""
        ...

    def record_endpoint_stats(
        self, project: str, name: str, worker: str, windows: Sequence[StatsWindow]
    ) -> int: ...

    def endpoint_stats(
        self, project: str, name: str, *, since: datetime | None = None
    ) -> list[StatsWindow]: ...

    # -- end of serving --

    # -- monitoring: the evaluation store (prediction and label logs) --

    def append_predictions(
        self, project: str, endpoint: str, parquet_bytes: bytes, *, batch_id: str | None = None
    ) -> str:
        """Store a batch of prediction logs (a Parquet file's bytes, in the serving contract
        of :meth:`loopline.monitoring.EvaluationStore.append_predictions`); return where it
        went. The same ``batch_id`` again replaces the same files (safe retries)."""
        ...

    def append_labels(
        self, project: str, endpoint: str, parquet_bytes: bytes, *, batch_id: str | None = None
    ) -> str:
        """Store a batch of labels (Parquet bytes: ``request_id``, ``ts``, ``label``)."""
        ...

    # -- end of monitoring --

    # -- monitoring: monitors and their alerts (helper M) --

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
        """Make monitor ``name`` of ``endpoint``, or change it (its results and alerts stay)."""
        ...

    def list_monitors(self, project: str) -> list[MonitorRecord]: ...

    def get_monitor(self, project: str, name: str) -> MonitorRecord: ...

    def set_monitor_enabled(self, project: str, name: str, enabled: bool) -> MonitorRecord:
        """Pause or resume a monitor."""
        ...

    def delete_monitor(self, project: str, name: str) -> None: ...

    def run_monitor(self, project: str, name: str) -> MonitorRunRecord:
        """Run the monitor once now, over the window since its previous run."""
        ...

    def monitor_runs(self, project: str, name: str, limit: int = 50) -> list[MonitorRunRecord]:
        """The monitor's runs, newest first, with their figures."""
        ...

    def monitor_results(
        self,
        project: str,
        name: str,
        *,
        metric: str | None = None,
        since: datetime | None = None,
        limit: int = 10_000,
    ) -> list[MonitorResult]:
        """The monitor's figures (time series), oldest window first."""
        ...

    def monitor_report(
        self,
        project: str,
        name: str,
        run_id: str,
        *,
        model: str | None = None,
        version: int | None = None,
    ) -> str:
        """The HTML drift report of one monitor run."""
        ...

    def list_alerts(
        self,
        project: str,
        since: datetime | None = None,
        state: str | None = None,
        monitor: str | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """Alerts of ``project``, oldest first (``since`` exclusive, on ``fired_at``)."""
        ...

    # -- end of monitors --

    # -- monitoring: hard examples and their labelling (helper H) --

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
        """Add the endpoint's low-confidence and misclassified predictions to ``dataset`` as
        its next version (see :func:`loopline.collect_hard_examples`)."""
        ...

    def labelling_page(
        self, project: str, dataset: str, ref: int | str = "latest", *, offset: int = 0,
        limit: int = 50,
    ) -> LabellingPage:  # fmt: skip
        """Examples of a hard-examples version with the labels saved for them."""
        ...

    def save_labels(
        self, project: str, dataset: str, labels: Mapping[str, Any], *, actor: str
    ) -> LabellingState:
        """Save reviewers' labels ``{request_id: label}`` (they wait for a commit)."""
        ...

    def commit_labels(self, project: str, dataset: str, *, actor: str) -> LabellingCommit:
        """Write the waiting labels as the next version and log them for live quality."""
        ...

    # -- end of hard examples --

    # -- agents: queues, tasks with leases, agents, autoscaler decisions --

    def put_queue(
        self, name: str, *, priority: int = 0, tags: Sequence[str] = (), description: str = ""
    ) -> QueueRecord:
        """Create queue ``name`` or change its priority, resource tags and description."""
        ...

    def list_queues(self) -> list[QueueRecord]:
        """Queues with their depth (tasks waiting) and running tasks, by priority."""
        ...

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
        """Put a task (``payload``: a blob digest) on ``queue``."""
        ...

    def get_task(self, task_id: str) -> TaskRecord: ...

    def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]: ...

    def cancel_task(self, task_id: str) -> TaskRecord:
        """Cancel a waiting task now, or ask its agent to stop a running one."""
        ...

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
    ) -> AgentRecord: ...

    def claim_task(self, agent_id: str, *, lease_seconds: float = 30.0) -> TaskRecord | None:
        """The next task for agent ``agent_id``, leased to it; ``None`` when none waits."""
        ...

    def heartbeat_agent(
        self, agent_id: str, task_ids: Sequence[str] = (), *, lease_seconds: float = 30.0
    ) -> list[str]:
        """Extend the leases of ``task_ids``; answer those the agent must stop."""
        ...

    def finish_task(
        self,
        task_id: str,
        agent_id: str,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> TaskRecord: ...

    def list_agents(self, *, include_stopped: bool = False) -> list[AgentRecord]: ...

    def stop_agent(self, agent_id: str) -> AgentRecord:
        """The agent leaves: its running tasks go back to their queues."""
        ...

    def record_decision(
        self,
        queue: str,
        action: str,
        reason: str,
        *,
        agent: str | None = None,
        depth: int = 0,
        agents: int = 0,
    ) -> Decision: ...

    def list_decisions(self, *, queue: str | None = None, limit: int = 100) -> list[Decision]: ...

    # -- end of agents --

    # -- automation: triggers, gates, delivery policies, the loop's timeline --

    def put_trigger(
        self, project: str, name: str, definition: Mapping[str, Any], *, actor: str
    ) -> Trigger:
        """Create trigger ``name`` or make its next version (kind, template, params, ...)."""
        ...

    def get_trigger(self, project: str, name: str) -> Trigger: ...

    def list_triggers(self, project: str) -> list[Trigger]: ...

    def set_trigger_enabled(self, project: str, name: str, enabled: bool) -> Trigger: ...

    def delete_trigger(self, project: str, name: str) -> None: ...

    def trigger_versions(self, project: str, name: str) -> list[TriggerVersion]: ...

    def trigger_firings(self, project: str, name: str, limit: int = 50) -> list[Firing]: ...

    def fire_trigger(
        self, project: str, name: str, payload: Mapping[str, Any], *, actor: str
    ) -> Firing: ...

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
    ) -> GateRecord: ...

    def list_gates(self, project: str, *, model: str | None = None) -> list[GateRecord]: ...

    def set_delivery_policy(
        self, project: str, endpoint: str, policy: Mapping[str, Any], *, actor: str
    ) -> DeliveryPolicy: ...

    def get_delivery_policy(self, project: str, endpoint: str) -> DeliveryPolicy: ...

    def list_delivery_policies(self, project: str) -> list[DeliveryPolicy]: ...

    def delete_delivery_policy(self, project: str, endpoint: str) -> None: ...

    def list_deliveries(self, project: str, *, active: bool = False) -> list[Delivery]: ...

    def automation_timeline(
        self, project: str, *, limit: int = 100, before: int | None = None
    ) -> list[LoopEvent]: ...

    def revert_automation_event(self, project: str, event_id: int, *, actor: str) -> LoopEvent: ...

    def automation_tick(self, now: datetime | None = None) -> TickReport:
        """Run one round of the loop now (triggers, deliveries, gates)."""
        ...

    # -- end of automation --

    def close(self) -> None: ...
