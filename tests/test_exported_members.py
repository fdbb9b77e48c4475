"""Nothing is exported from `loopline` by accident."""

from __future__ import annotations

import loopline


def test_the_facade_exports_exactly_these() -> None:
    assert loopline.__all__ == [
        "__version__",
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
        "log_model",
        "register_model",
        "load_model",
        "set_alias",
        "compare_models",
        "step",
        "pipeline",
        "when",
        "launch",
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
        "features",
        # serving
        "deploy",
        "rollback_endpoint",
        "serve",
        "batch_predict",
        "Endpoints",
        "Route",
        # monitoring
        "log_labels",
        "drift_report",
        "monitor",  # monitors
        "threshold",
        "run_monitor",
        "alerts",
        "collect_hard_examples",
        "label_hard_examples",
        # agents
        "sweep",
        # automation
        "automation",
        "gate",
        "delivery_policy",
    ]
    for name in loopline.__all__:
        assert hasattr(loopline, name), name


def test_the_lazy_one_liners_are_exactly_the_api_modules() -> None:
    """The facade lists the one-liners by name (importing them would make `import loopline`
    load SQLAlchemy); this keeps that list and the module that defines them in step."""
    import loopline._api

    assert set(loopline._ONE_LINERS) == set(loopline._api.__all__)
    for name in loopline._api.__all__:
        assert getattr(loopline, name) is getattr(loopline._api, name)
