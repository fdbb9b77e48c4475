"""Client: the explicit entry point under the one-liners of the facade."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from loopline.backends import Backend, open_backend
from loopline.config import Settings
from loopline.projects import Project
from loopline.tracking import Artifact, ConsoleText, MetricSummary, Run, RunComparison, RunTable

if TYPE_CHECKING:
    import pandas as pd

    from loopline._runs import ActiveRun, RunSession
    from loopline.pipelines import PipelineRunRecord

__all__ = ["Client", "default_client", "reset_default_client"]


class Client:
    """A connection to a Loopline store: the embedded default, a database, or a server.

    Args:
        uri: overrides ``LOOPLINE_URI`` (``sqlite:///...``, ``postgresql://...``,
            ``http(s)://...``); other settings still come from the environment.
        settings: fully resolved settings (wins over ``uri``).

    Example:
        >>> import loopline as ll
        >>> with ll.Client() as client:
        ...     client.create_project("churn", description="who leaves, and why")
        Project(id='...', name='churn', ...)
    """

    def __init__(self, uri: str | None = None, *, settings: Settings | None = None) -> None:
        if settings is None:
            settings = Settings.from_env(overrides={"LOOPLINE_URI": uri})
        self.settings = settings
        self._backend: Backend = open_backend(settings)
        self._session: RunSession | None = None
        self._session_lock = threading.Lock()
        self._rerun_pending = settings.rerun_of is not None
        self._environment_cache: tuple[float, str] | None = None

    @property
    def location(self) -> str:
        """Where this client's data lives (a database or server URL, password hidden)."""
        return self._backend.location

    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project. Raises :class:`~loopline.errors.Conflict` if the name is taken."""
        return self._backend.create_project(name, description)

    def get_project(self, name: str) -> Project:
        """A project by name. Raises :class:`~loopline.errors.NotFound` (with a suggestion)."""
        return self._backend.get_project(name)

    def list_projects(self) -> list[Project]:
        """Every project, by name."""
        return self._backend.list_projects()

    # -- tracking --

    def start_run(
        self,
        project: str | None = None,
        *,
        name: str | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        parent: ActiveRun | str | None = None,
        capture: bool = True,
    ) -> ActiveRun:
        """Start a run and make it the current one; see :func:`loopline.start_run`."""
        from loopline._runs import start_run

        return start_run(
            self,
            project=project,
            name=name,
            params=params,
            tags=tags,
            parent=parent,
            capture=capture,
        )

    def get_run(self, run_id: str) -> Run:
        """A run with its params, tags and the latest value of each metric."""
        self._flush_if_logging()
        return self._backend.get_run(run_id)

    def get_metric_history(self, run_id: str, key: str) -> pd.DataFrame:
        """Every value of one metric: a DataFrame of step, value, timestamp (UTC)."""
        from loopline._runs import history_frame

        self._flush_if_logging()
        return history_frame(self._backend.metric_series(run_id, key))

    def search_runs(
        self,
        project: str | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
    ) -> pd.DataFrame:
        """Runs matching ``filter``, as a DataFrame; see :func:`loopline.search_runs`."""
        from loopline._runs import runs_frame

        self._flush_if_logging()
        table = self._backend.search_table(
            project or self.settings.project, filter, order_by, limit
        )
        return runs_frame(table)

    def list_runs(
        self,
        project: str | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[Run]:
        """Like :meth:`search_runs`, as :class:`~loopline.tracking.Run` objects."""
        self._flush_if_logging()
        return self._backend.search_runs(project or self.settings.project, filter, order_by, limit)

    def search_table(
        self,
        project: str | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> RunTable:
        """Like :meth:`search_runs`, as columns (:class:`~loopline.tracking.RunTable`)."""
        self._flush_if_logging()
        return self._backend.search_table(
            project or self.settings.project, filter, order_by, limit, offset
        )

    def count_runs(self, project: str | None = None, filter: str = "") -> int:
        """How many runs match ``filter`` (the search grammar)."""
        self._flush_if_logging()
        return self._backend.count_runs(project or self.settings.project, filter)

    def read_console(self, run_id: str, offset: int = 0, limit: int = 1_000_000) -> ConsoleText:
        """A slice of a run's console output: live while it runs, its ``console.log`` after.

        Example:
            >>> piece = client.read_console(run_id)
            >>> more = client.read_console(run_id, piece.next_offset)
        """
        return self._backend.read_console(run_id, offset, limit)

    def metric_summaries(self, run_id: str) -> list[MetricSummary]:
        """Latest value, min, max and count of every metric of a run."""
        self._flush_if_logging()
        return self._backend.metric_summaries(run_id)

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        return self._backend.list_artifacts(run_id)

    def compare_runs(self, run_ids: Sequence[str]) -> RunComparison:
        """Params (and which differ) and metric summaries of several runs, side by side."""
        from loopline.tracking import compare_runs

        self._flush_if_logging()
        runs = [self._backend.get_run(r) for r in run_ids]
        return compare_runs(runs, [self._backend.metric_summaries(r) for r in run_ids])

    def delete_run(self, run_id: str) -> None:
        self._backend.delete_run(run_id)

    def get_pipeline_run(self, run_id: str) -> PipelineRunRecord:
        """A pipeline run as it is now: status, params and each step's state (for a run a
        trigger or a schedule launched, whose id comes from its firing)."""
        return self._backend.get_pipeline_run(run_id)

    def flush(self) -> None:
        """Block until every metric logged through this client is stored."""
        self._flush_if_logging()

    def _run_session(self) -> RunSession:
        with self._session_lock:
            if self._session is None:
                from loopline._runs import RunSession

                self._session = RunSession(self)
            return self._session

    def _take_rerun(self) -> bool:
        """True once, for the first run this client starts, when it is a rerun's clone."""
        with self._session_lock:
            pending, self._rerun_pending = self._rerun_pending, False
            return pending

    def rerun(
        self, run_id: str, params: Mapping[str, str] | None = None, *, quiet: bool = False
    ) -> Run:
        """Re-execute a run's recorded entry point in its recorded code state, with ``params``
        overriding its params; return the new run (linked to the old one by ``cloned_from``)."""
        from loopline._rerun import rerun

        return rerun(self, run_id, dict(params or {}), quiet=quiet)

    def _flush_if_logging(self) -> None:
        if self._session is not None:
            self._session.writer.flush()

    def close(self) -> None:
        """End this client's open runs (finished), store buffered metrics, release connections."""
        try:
            if self._session is not None:
                self._session.close()
        finally:
            self._backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.location!r})"


_default: Client | None = None
_default_lock = threading.Lock()


def reset_default_client() -> None:
    """Close the default client (ending its open runs); the next one-liner makes a new one,
    from the settings in force then."""
    global _default
    with _default_lock:
        client, _default = _default, None
    if client is not None:
        client.close()


def default_client() -> Client:
    """The client behind the one-liners (``ll.start_run``, ``ll.log_metric``...): made on first
    use from the LOOPLINE_* settings, then kept for the process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default
