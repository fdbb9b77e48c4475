"""The seam between an inference server and the store it takes its orders from.

An inference server needs six things from Loopline: the endpoint's revision to serve, a way to
report whether it went live, its models, somewhere to log predictions, somewhere to report
its statistics, and online features. :class:`ControlPlane` is that seam; the SDK implements it
over a local or remote backend (``loopline.serve``), and :class:`FixedControlPlane` serves one
model with no endpoint stored at all (``loopline serve --model``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from loopline.serving._types import Endpoint, EndpointSpec, Revision, RevisionStatus, StatsWindow

if TYPE_CHECKING:
    import pyarrow as pa

    from loopline.registry import LoadedModel

__all__ = ["ControlPlane", "FixedControlPlane"]


class ControlPlane(Protocol):
    """What an inference server asks of Loopline.

    Example (a test double that serves one spec and keeps what it is told):
        >>> class Memory:
        ...     def endpoint(self, project, name): return stored_endpoint
        ...     def mark(self, project, name, number, status, error=""): marks.append(status)
        ...     def load_model(self, uri): return ll.load_model(uri)
        ...     def log_predictions(self, project, name, table): tables.append(table)
        ...     def report_stats(self, project, name, worker, windows): pass
        ...     def online_features(self, project, features, columns): return {}
    """

    def endpoint(self, project: str, name: str) -> Endpoint:
        """The endpoint, with the revision to serve (``Endpoint.target``)."""
        ...

    def mark(
        self, project: str, name: str, number: int, status: RevisionStatus, error: str = ""
    ) -> None:
        """Report that a revision is served (``live``) or would not load (``failed``)."""
        ...

    def load_model(self, uri: str) -> LoadedModel:
        """The model at a pinned ``models:/name/version`` URI."""
        ...

    def log_predictions(self, project: str, name: str, table: pa.Table) -> None:
        """Store a batch of prediction log rows in the evaluation store."""
        ...

    def report_stats(
        self, project: str, name: str, worker: str, windows: Sequence[StatsWindow]
    ) -> None:
        """Add this server's counts for some windows to the endpoint's statistics."""
        ...

    def online_features(
        self, project: str, features: Sequence[str], columns: Mapping[str, Sequence[Any]]
    ) -> dict[str, list[Any]]:
        """Feature values for the rows whose entity keys (and request data) are ``columns``."""
        ...


class FixedControlPlane:
    """Serves one spec that is not stored anywhere: ``loopline serve --model models:/digits/3``.

    Nothing is reported (there is no endpoint to report to); predictions are logged only if
    ``log`` is given.
    """

    def __init__(
        self,
        project: str,
        name: str,
        spec: EndpointSpec,
        load: Callable[[str], LoadedModel],
        *,
        log: Callable[[str, str, pa.Table], None] | None = None,
        features: Callable[[str, Sequence[str], Mapping[str, Sequence[Any]]], dict[str, list[Any]]]
        | None = None,
    ) -> None:
        now = datetime.now(UTC)
        revision = Revision(name, project, 1, spec, "pending", now, "loopline serve")
        self._endpoint = Endpoint("", project, name, "", now, revision, revision)
        self._load = load
        self._log = log
        self._features = features

    def endpoint(self, project: str, name: str) -> Endpoint:
        return self._endpoint

    def mark(
        self, project: str, name: str, number: int, status: RevisionStatus, error: str = ""
    ) -> None:
        return None

    def load_model(self, uri: str) -> LoadedModel:
        return self._load(uri)

    def log_predictions(self, project: str, name: str, table: pa.Table) -> None:
        if self._log is not None:
            self._log(project, name, table)

    def report_stats(
        self, project: str, name: str, worker: str, windows: Sequence[StatsWindow]
    ) -> None:
        return None

    def online_features(
        self, project: str, features: Sequence[str], columns: Mapping[str, Sequence[Any]]
    ) -> dict[str, list[Any]]:
        if self._features is None:
            return {}
        return self._features(project, features, columns)
