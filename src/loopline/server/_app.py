"""The FastAPI application: an HTTP face over a LocalBackend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from loopline._version import __version__
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.server._errors import install_error_handlers
from loopline.server._idempotency import IdempotencyMiddleware, IdempotencyStore
from loopline.server._metrics import HttpMetrics, MetricsMiddleware
from loopline.server._security import install_security  # mlflow + security
from loopline.server.routers import accounts as accounts_router  # mlflow + security
from loopline.server.routers import agents as agents_router  # agents
from loopline.server.routers import automation as automation_router  # automation
from loopline.server.routers import (
    blobs,
    datasets,
    features,
    health,
    models,
    pipelines,
    projects,
    runs,
)
from loopline.server.routers import endpoints as endpoints_router  # serving
from loopline.server.routers import labelling as labelling_router  # hard examples
from loopline.server.routers import mlflow as mlflow_router  # mlflow + security
from loopline.server.routers import monitoring as monitoring_router  # monitoring
from loopline.server.routers import monitors as monitors_router  # monitors (helper M)
from loopline.ui import install as install_ui

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, backend: LocalBackend | None = None) -> FastAPI:
    """Build the server app over ``backend`` (or a LocalBackend opened from ``settings``).

    The app owns a backend it opened and closes it at shutdown; a backend passed in stays the
    caller's to close.

    Example:
        >>> app = create_app(Settings.from_env())
        >>> uvicorn.run(app, host="127.0.0.1", port=8765)
    """
    owned: LocalBackend | None = None
    if backend is None:
        if settings is None:
            settings = Settings.from_env()
        if settings.mode != "local":
            raise ValueError("the server stores data itself: give it local-mode settings")
        backend = owned = LocalBackend.open(settings)

    from loopline.monitoring import MonitorScheduler  # monitors (helper M)
    from loopline.pipelines import Scheduler

    # Every server process runs one: schedulers on one database claim each firing once.
    scheduler = Scheduler(backend.pipelines, backend.settings)
    monitor_scheduler = MonitorScheduler(backend.monitors)  # monitors: claimed once, too
    automation = backend.automation_controller  # automation: each step claimed once, too

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        monitor_scheduler.start()  # monitors
        automation.start()  # automation
        try:
            yield
        finally:
            automation.stop()  # automation
            monitor_scheduler.stop()  # monitors
            scheduler.stop()
            if owned is not None:
                owned.close()

    app = FastAPI(
        title="Loopline",
        version=__version__,
        summary="Experiment tracking, datasets, pipelines, registry, serving and monitoring.",
        lifespan=lifespan,
    )
    metrics = HttpMetrics()
    app.state.backend = backend
    app.state.scheduler = scheduler
    app.state.monitor_scheduler = monitor_scheduler  # monitors
    app.state.automation = automation  # automation
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(projects.router)
    app.include_router(blobs.router)
    app.include_router(runs.router)
    app.include_router(datasets.router)
    app.include_router(pipelines.router)
    app.include_router(features.router)
    app.include_router(models.router)
    app.include_router(endpoints_router.router)  # serving
    app.include_router(monitoring_router.router)  # monitoring
    app.include_router(monitors_router.router)  # monitors (helper M)
    app.include_router(labelling_router.router)  # hard examples
    app.include_router(agents_router.router)  # agents
    app.include_router(automation_router.router)  # automation
    app.include_router(mlflow_router.router)  # mlflow + security
    app.include_router(mlflow_router.artifacts_router)  # mlflow + security
    app.include_router(accounts_router.router)  # mlflow + security
    install_ui(app, backend)  # the web UI under /ui, and / leading to it
    # Added last = outermost: metrics see every answer, replayed ones included.
    app.add_middleware(IdempotencyMiddleware, store=IdempotencyStore(backend.db))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    install_security(app, backend)  # mlflow + security: auth, limits, headers (outermost)
    return app
