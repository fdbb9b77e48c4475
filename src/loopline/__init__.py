"""Loopline: close the machine-learning loop, from a laptop to a cluster, with one API.

Example:
    >>> import loopline as ll
    >>> client = ll.Client()          # the embedded store, or whatever LOOPLINE_URI names
    >>> client.list_projects()
    []
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline._version import __version__
from loopline.config import Settings
from loopline.errors import (
    Conflict,
    CorruptBlob,
    InvalidInput,
    LooplineError,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    SchemaOutOfDate,
    ServerUnreachable,
    StorageError,
)

if TYPE_CHECKING:
    from loopline import automation, features  # automation
    from loopline._api import (
        active_run,
        end_run,
        flush,
        get_metric_history,
        get_run,
        log_artifact,
        log_dict,
        log_figure,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
    from loopline._autolog import autolog
    from loopline._automation import delivery_policy, gate  # automation
    from loopline._client import Client
    from loopline._datasets import Dataset, DatasetVersion
    from loopline._endpoints import (  # serving
        Endpoints,
        batch_predict,
        deploy,
        rollback_endpoint,
        serve,
    )
    from loopline._labelling import collect_hard_examples, label_hard_examples  # labelling
    from loopline._models import (
        ModelRegistry,
        compare_models,
        load_model,
        log_model,
        register_model,
        set_alias,
    )
    from loopline._monitoring import (  # monitoring; monitors (helper M)
        alerts,
        drift_report,
        log_labels,
        monitor,
        run_monitor,
        threshold,
    )
    from loopline._runs import ActiveRun
    from loopline.agents import sweep  # agents
    from loopline.pipelines import Pipeline, launch, pipeline, step, when
    from loopline.projects import Project
    from loopline.serving import Route  # serving
    from loopline.tracking import Run

__all__ = [
    "__version__",
    # tracking one-liners, over the default client and the current run
    "start_run",
    "active_run",
    "end_run",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
    "log_artifact",
    "log_text",
    "log_dict",
    "log_figure",
    "flush",
    "get_run",
    "get_metric_history",
    "search_runs",
    "autolog",
    # the model registry
    "log_model",
    "register_model",
    "load_model",
    "set_alias",
    "compare_models",
    # pipelines: @ll.step, @ll.pipeline, ll.when
    "step",
    "pipeline",
    "when",
    "launch",
    # explicit objects
    "Client",
    "ActiveRun",
    "Run",
    "Dataset",
    "DatasetVersion",
    "ModelRegistry",
    "Pipeline",
    "Settings",
    "Project",
    "LooplineError",
    "InvalidInput",
    "NotFound",
    "Conflict",
    "PermissionDenied",
    "QuotaExceeded",
    "StorageError",
    "SchemaOutOfDate",
    "CorruptBlob",
    "ServerUnreachable",
    # capability modules: ll.features.apply(...), ll.features.get_online(...)
    "features",
    # serving: endpoints (routes, canary, shadow), inference servers
    "deploy",
    "rollback_endpoint",
    "serve",
    "batch_predict",
    "Endpoints",
    "Route",
    # monitoring: labels for logged predictions, drift reports
    "log_labels",
    "drift_report",
    # monitors: scheduled checks of an endpoint, alert rules, alerts (helper M)
    "monitor",
    "threshold",
    "run_monitor",
    "alerts",
    # hard examples: collect for review, label (helper H)
    "collect_hard_examples",
    "label_hard_examples",
    # agents: parameter sweeps over any executor
    "sweep",
    # automation: the closed loop (ll.automation.trigger/tick/timeline/revert), gates, delivery
    "automation",
    "gate",
    "delivery_policy",
]

# `import loopline` stays cheap (settings and errors only): the database driver, SQLAlchemy and
# the HTTP client load when the first Client is made, and only the ones its mode needs.
_ONE_LINERS = (
    "start_run",
    "active_run",
    "end_run",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
    "log_artifact",
    "log_text",
    "log_dict",
    "log_figure",
    "flush",
    "get_run",
    "get_metric_history",
    "search_runs",
)
_LAZY = {
    "autolog": "loopline._autolog",
    "Client": "loopline._client",
    "Project": "loopline.projects",
    "ActiveRun": "loopline._runs",
    "Run": "loopline.tracking",
    "Dataset": "loopline._datasets",
    "DatasetVersion": "loopline._datasets",
    **dict.fromkeys(
        (
            "log_model",
            "register_model",
            "load_model",
            "set_alias",
            "compare_models",
            "ModelRegistry",
        ),
        "loopline._models",
    ),
    **dict.fromkeys(("step", "pipeline", "when", "launch", "Pipeline"), "loopline.pipelines"),
    **dict.fromkeys(_ONE_LINERS, "loopline._api"),
    **dict.fromkeys(
        ("deploy", "rollback_endpoint", "serve", "batch_predict", "Endpoints"),
        "loopline._endpoints",
    ),
    "Route": "loopline.serving",  # serving
    **dict.fromkeys(("log_labels", "drift_report"), "loopline._monitoring"),  # monitoring
    **dict.fromkeys(("monitor", "threshold", "run_monitor", "alerts"), "loopline._monitoring"),
    **dict.fromkeys(("collect_hard_examples", "label_hard_examples"), "loopline._labelling"),
    "sweep": "loopline.agents",  # agents
    **dict.fromkeys(("gate", "delivery_policy"), "loopline._automation"),  # automation
}


def __getattr__(name: str) -> Any:
    # ll.pipelines.schedule(...) in a fresh process; ll.agents.launch(...) (agents)
    if name in ("features", "pipelines", "agents", "automation"):  # automation
        from importlib import import_module

        return import_module(f"loopline.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopline' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
