"""Who may call which route: ONE table, from (method, path template) to the role it needs.

The auth middleware (``_auth.py``) looks every request up here; no router checks roles itself.
A route missing from the table gets a default by its shape (see :func:`rule_for`), and
``tests/server/test_access.py`` fails for it, so a new route cannot ship without a rule.

Roles: ``viewer`` reads a project, ``editor`` also writes runs and datasets and launches
pipelines, ``admin`` also promotes models, manages endpoints and members. A global admin may
do everything. Where a rule needs a project role, ``project`` says where the project is read
from (see ``_auth.py`` for each source):

- ``path:project`` / ``path:name`` / ``query:project`` / ``body:project``: named in the request;
- ``run`` / ``pipeline_run`` / ``schedule``: the project of the run or schedule in the path;
- ``mlflow:experiment`` / ``mlflow:experiments`` / ``mlflow:experiment_name`` / ``mlflow:run``
  / ``mlflow:model`` / ``mlflow:artifact``: the MLflow request's experiment, run or model;
- ``any``: the role in at least one project (content-addressed blobs, agents' queues).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Need", "Rule", "RULES", "QUOTAS", "QUOTA_PROJECTS", "rule_for", "SAFE_METHODS"]

Need = Literal["public", "user", "viewer", "editor", "admin", "global_admin"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Rule:
    """What a route needs: ``need``, in the project found at ``project`` (None: no project)."""

    need: Need
    project: str | None = None

    def __str__(self) -> str:
        return self.need if self.project is None else f"{self.need}@{self.project}"


PUBLIC = Rule("public")
USER = Rule("user")
GLOBAL_ADMIN = Rule("global_admin")


def _v(project: str) -> Rule:
    return Rule("viewer", project)


def _e(project: str) -> Rule:
    return Rule("editor", project)


def _a(project: str) -> Rule:
    return Rule("admin", project)


# fmt: off
RULES: dict[str, Rule] = {
    # -- the server itself, and the login that leads to everything else --
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,  # Prometheus scrapes it; it holds counts, no names
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/oauth2-redirect": PUBLIC,
    "GET /redoc": PUBLIC,
    "GET /": PUBLIC,  # a redirect to /ui
    "GET /ui/static": PUBLIC,
    "GET /ui/login": PUBLIC,
    "POST /ui/login": PUBLIC,
    "POST /ui/logout": USER,
    "POST /api/v1/auth/login": PUBLIC,
    "POST /api/v1/auth/logout": USER,
    # -- accounts --
    "GET /api/v1/me": USER,
    "GET /api/v1/me/tokens": USER,
    "POST /api/v1/me/tokens": USER,
    "DELETE /api/v1/me/tokens/{token_id}": USER,
    "GET /api/v1/users": GLOBAL_ADMIN,
    "POST /api/v1/users": GLOBAL_ADMIN,
    "PATCH /api/v1/users/{name}": GLOBAL_ADMIN,
    "GET /api/v1/users/{name}/tokens": GLOBAL_ADMIN,
    "POST /api/v1/users/{name}/tokens": GLOBAL_ADMIN,
    "DELETE /api/v1/users/{name}/tokens/{token_id}": GLOBAL_ADMIN,
    "GET /api/v1/projects/{project}/members": _v("path:project"),
    "PUT /api/v1/projects/{project}/members/{user}": _a("path:project"),
    "DELETE /api/v1/projects/{project}/members/{user}": _a("path:project"),
    "GET /api/v1/projects/{project}/quotas": _v("path:project"),
    # Global admins set quotas: any user may create a project and be its admin, so a limit a
    # project admin could raise would limit nothing.
    "PUT /api/v1/projects/{project}/quotas": GLOBAL_ADMIN,
    "GET /api/v1/audit": GLOBAL_ADMIN,
    "GET /ui/account": USER,
    "POST /ui/account/tokens": USER,
    "POST /ui/account/tokens/{token_id}/revoke": USER,
    "GET /ui/admin/users": GLOBAL_ADMIN,
    "GET /ui/admin/audit": GLOBAL_ADMIN,
    "GET /ui/projects/{project}/members": _v("path:project"),
    "POST /ui/admin/users": GLOBAL_ADMIN,
    "POST /ui/admin/users/{name}/state": GLOBAL_ADMIN,
    "POST /ui/projects/{project}/members": _a("path:project"),
    "POST /ui/projects/{project}/members/{user}/remove": _a("path:project"),
    "POST /ui/projects/{project}/quotas": GLOBAL_ADMIN,
    # -- projects --
    "GET /api/v1/projects": USER,
    "POST /api/v1/projects": USER,  # the creator becomes its admin (LOOPLINE_OPEN_PROJECTS)
    "GET /api/v1/projects/{name}": _v("path:name"),
    # -- blobs: content-addressed, shared by every project --
    "POST /api/v1/blobs/missing": Rule("editor", "any"),
    "HEAD /api/v1/blobs/{digest}": Rule("viewer", "any"),
    "GET /api/v1/blobs/{digest}": Rule("viewer", "any"),
    "PUT /api/v1/blobs/{digest}": Rule("editor", "any"),
    # -- tracking --
    "POST /api/v1/runs": _e("body:project"),
    "POST /api/v1/runs/search": _v("body:project"),
    "POST /api/v1/runs/table": _v("body:project"),
    "POST /api/v1/runs/count": _v("body:project"),
    "GET /api/v1/runs/{run_id}": _v("run"),
    "DELETE /api/v1/runs/{run_id}": _e("run"),
    "POST /api/v1/runs/{run_id}/end": _e("run"),
    "POST /api/v1/runs/{run_id}/params": _e("run"),
    "POST /api/v1/runs/{run_id}/tags": _e("run"),
    "POST /api/v1/runs/{run_id}/metrics": _e("run"),
    "GET /api/v1/runs/{run_id}/metrics": _v("run"),
    "GET /api/v1/runs/{run_id}/metrics/history": _v("run"),
    "POST /api/v1/runs/{run_id}/artifacts": _e("run"),
    "GET /api/v1/runs/{run_id}/artifacts": _v("run"),
    "POST /api/v1/runs/{run_id}/console": _e("run"),
    "GET /api/v1/runs/{run_id}/console": _v("run"),
    # -- datasets and lineage --
    "GET /api/v1/projects/{project}/datasets": _v("path:project"),
    "POST /api/v1/projects/{project}/datasets": _e("path:project"),
    "GET /api/v1/projects/{project}/datasets/{name}": _v("path:project"),
    "GET /api/v1/projects/{project}/datasets/{name}/versions": _v("path:project"),
    "POST /api/v1/projects/{project}/datasets/{name}/versions": _e("path:project"),
    "GET /api/v1/projects/{project}/datasets/{name}/versions/{ref}": _v("path:project"),
    "GET /api/v1/projects/{project}/datasets/{name}/versions/{ref}/files": _v("path:project"),
    "GET /api/v1/projects/{project}/datasets/{name}/versions/{ref}/profile": _v("path:project"),
    "GET /api/v1/projects/{project}/datasets/{name}/diff": _v("path:project"),
    "PUT /api/v1/projects/{project}/datasets/{name}/aliases/{alias}": _e("path:project"),
    "DELETE /api/v1/projects/{project}/datasets/{name}/aliases/{alias}": _e("path:project"),
    "POST /api/v1/lineage": Rule("editor", "any"),
    "GET /api/v1/lineage": Rule("viewer", "any"),
    # -- pipelines --
    "POST /api/v1/projects/{project}/pipeline-runs": _e("path:project"),
    "GET /api/v1/projects/{project}/pipeline-runs": _v("path:project"),
    "POST /api/v1/projects/{project}/step-cache/lookup": _v("path:project"),
    "GET /api/v1/pipeline-runs/{run_id}": _v("pipeline_run"),
    "POST /api/v1/pipeline-runs/{run_id}/steps": _e("pipeline_run"),
    "POST /api/v1/pipeline-runs/{run_id}/finish": _e("pipeline_run"),
    "POST /api/v1/pipeline-runs/{run_id}/stop": _e("pipeline_run"),
    "DELETE /api/v1/pipeline-runs/{run_id}": _e("pipeline_run"),
    "GET /api/v1/pipeline-runs/{run_id}/metrics": _v("pipeline_run"),
    "POST /api/v1/projects/{project}/pipeline-templates": _e("path:project"),
    "GET /api/v1/projects/{project}/pipeline-templates": _v("path:project"),
    "GET /api/v1/projects/{project}/pipeline-templates/{name}/versions": _v("path:project"),
    "GET /api/v1/projects/{project}/pipeline-templates/{name}/versions/{version}": (
        _v("path:project")
    ),
    "POST /api/v1/projects/{project}/pipeline-templates/{name}/launch": _e("path:project"),
    "POST /api/v1/projects/{project}/pipeline-schedules": _e("path:project"),
    "GET /api/v1/projects/{project}/pipeline-schedules": _v("path:project"),
    "GET /api/v1/pipeline-schedules/{schedule_id}": _v("schedule"),
    "POST /api/v1/pipeline-schedules/{schedule_id}/pause": _e("schedule"),
    "POST /api/v1/pipeline-schedules/{schedule_id}/resume": _e("schedule"),
    "DELETE /api/v1/pipeline-schedules/{schedule_id}": _e("schedule"),
    "GET /api/v1/pipeline-schedules/{schedule_id}/firings": _v("schedule"),
    "POST /api/v1/projects/{project}/pipeline-notifications": _e("path:project"),
    "GET /api/v1/projects/{project}/pipeline-notifications": _v("path:project"),
    # A notification id does not say its project: a global admin detaches them.
    "DELETE /api/v1/pipeline-notifications/{notification_id}": GLOBAL_ADMIN,
    # -- features --
    "POST /api/v1/projects/{project}/features/apply": _e("path:project"),
    "GET /api/v1/projects/{project}/features/definitions": _v("path:project"),
    "GET /api/v1/projects/{project}/features/views": _v("path:project"),
    "GET /api/v1/projects/{project}/features/views/{name}": _v("path:project"),
    "POST /api/v1/projects/{project}/features/materialize": _e("path:project"),
    "POST /api/v1/projects/{project}/features/online": _v("path:project"),
    # -- registry: registering is an editor's; promotion (status, aliases) an admin's --
    "GET /api/v1/projects/{project}/models": _v("path:project"),
    "GET /api/v1/projects/{project}/models/{name}": _v("path:project"),
    "GET /api/v1/projects/{project}/models/{name}/versions": _v("path:project"),
    "POST /api/v1/projects/{project}/models/{name}/versions": _e("path:project"),
    "GET /api/v1/projects/{project}/models/{name}/versions/{ref}": _v("path:project"),
    "PUT /api/v1/projects/{project}/models/{name}/versions/{ref}/status": _a("path:project"),
    "GET /api/v1/projects/{project}/models/{name}/versions/{ref}/card": _v("path:project"),
    "PUT /api/v1/projects/{project}/models/{name}/aliases/{alias}": _a("path:project"),
    "POST /api/v1/projects/{project}/models/{name}/aliases/{alias}/remove": _a("path:project"),
    "GET /api/v1/projects/{project}/models/{name}/events": _v("path:project"),
    "GET /api/v1/projects/{project}/model-versions": _v("path:project"),
    # -- serving: endpoints are an admin's; inference servers report stats as editors --
    "GET /api/v1/projects/{project}/endpoints": _v("path:project"),
    "POST /api/v1/projects/{project}/endpoints": _a("path:project"),
    "GET /api/v1/projects/{project}/endpoints/{name}": _v("path:project"),
    "PUT /api/v1/projects/{project}/endpoints/{name}": _a("path:project"),
    "DELETE /api/v1/projects/{project}/endpoints/{name}": _a("path:project"),
    "GET /api/v1/projects/{project}/endpoints/{name}/revisions": _v("path:project"),
    "POST /api/v1/projects/{project}/endpoints/{name}/revisions": _a("path:project"),
    "POST /api/v1/projects/{project}/endpoints/{name}/rollback": _a("path:project"),
    "PUT /api/v1/projects/{project}/endpoints/{name}/revisions/{number}/status": (
        _a("path:project")
    ),
    "POST /api/v1/projects/{project}/endpoints/{name}/stats": _e("path:project"),
    "GET /api/v1/projects/{project}/endpoints/{name}/stats": _v("path:project"),
    # -- monitoring --
    "POST /api/v1/projects/{project}/monitoring/endpoints/{endpoint}/predictions": (
        _e("path:project")
    ),
    "POST /api/v1/projects/{project}/monitoring/endpoints/{endpoint}/labels": _e("path:project"),
    # monitors and alerts (helper M): viewers read, editors make and run monitors
    "POST /api/v1/projects/{project}/monitors": _e("path:project"),
    "GET /api/v1/projects/{project}/monitors": _v("path:project"),
    "GET /api/v1/projects/{project}/monitors/{name}": _v("path:project"),
    "DELETE /api/v1/projects/{project}/monitors/{name}": _e("path:project"),
    "POST /api/v1/projects/{project}/monitors/{name}/pause": _e("path:project"),
    "POST /api/v1/projects/{project}/monitors/{name}/resume": _e("path:project"),
    "POST /api/v1/projects/{project}/monitors/{name}/run": _e("path:project"),
    "GET /api/v1/projects/{project}/monitors/{name}/runs": _v("path:project"),
    "GET /api/v1/projects/{project}/monitors/{name}/results": _v("path:project"),
    "GET /api/v1/projects/{project}/monitors/{name}/runs/{run_id}/report": _v("path:project"),
    "GET /api/v1/projects/{project}/alerts": _v("path:project"),
    # hard examples and their labelling
    "POST /api/v1/projects/{project}/monitoring/endpoints/{endpoint}/hard-examples": (
        _e("path:project")
    ),
    "GET /api/v1/projects/{project}/labelling/{dataset}": _v("path:project"),
    "PUT /api/v1/projects/{project}/labelling/{dataset}/labels": _e("path:project"),
    "POST /api/v1/projects/{project}/labelling/{dataset}/commit": _e("path:project"),
    # -- automation: triggers launch pipelines (editor); delivery changes endpoints (admin) --
    "GET /api/v1/projects/{project}/automation/triggers": _v("path:project"),
    "GET /api/v1/projects/{project}/automation/triggers/{name}": _v("path:project"),
    "PUT /api/v1/projects/{project}/automation/triggers/{name}": _e("path:project"),
    "DELETE /api/v1/projects/{project}/automation/triggers/{name}": _e("path:project"),
    "PUT /api/v1/projects/{project}/automation/triggers/{name}/enabled": _e("path:project"),
    "GET /api/v1/projects/{project}/automation/triggers/{name}/versions": _v("path:project"),
    "GET /api/v1/projects/{project}/automation/triggers/{name}/firings": _v("path:project"),
    "POST /api/v1/projects/{project}/automation/triggers/{name}/fire": _e("path:project"),
    "GET /api/v1/projects/{project}/automation/gates": _v("path:project"),
    "POST /api/v1/projects/{project}/automation/gates": _e("path:project"),
    "GET /api/v1/projects/{project}/automation/policies": _v("path:project"),
    "GET /api/v1/projects/{project}/automation/policies/{endpoint}": _v("path:project"),
    "PUT /api/v1/projects/{project}/automation/policies/{endpoint}": _a("path:project"),
    "DELETE /api/v1/projects/{project}/automation/policies/{endpoint}": _a("path:project"),
    "GET /api/v1/projects/{project}/automation/deliveries": _v("path:project"),
    "GET /api/v1/projects/{project}/automation/timeline": _v("path:project"),
    "POST /api/v1/projects/{project}/automation/events/{event_id}/revert": _a("path:project"),
    "POST /api/v1/automation/tick": GLOBAL_ADMIN,
    # -- agents: queues and tasks span projects; agents run with a global admin's token --
    "GET /api/v1/queues": Rule("viewer", "any"),
    "PUT /api/v1/queues/{name}": GLOBAL_ADMIN,
    "POST /api/v1/queues/{queue}/tasks": Rule("editor", "any"),
    "GET /api/v1/tasks": Rule("viewer", "any"),
    "GET /api/v1/tasks/{task_id}": Rule("viewer", "any"),
    "POST /api/v1/tasks/{task_id}/cancel": GLOBAL_ADMIN,
    "POST /api/v1/tasks/{task_id}/finish": GLOBAL_ADMIN,
    "GET /api/v1/agents": Rule("viewer", "any"),
    "POST /api/v1/agents": GLOBAL_ADMIN,
    "POST /api/v1/agents/{agent_id}/claim": GLOBAL_ADMIN,
    "POST /api/v1/agents/{agent_id}/heartbeat": GLOBAL_ADMIN,
    "POST /api/v1/agents/{agent_id}/stop": GLOBAL_ADMIN,
    "GET /api/v1/autoscaler/decisions": Rule("viewer", "any"),
    "POST /api/v1/autoscaler/decisions": GLOBAL_ADMIN,
    # -- the MLflow tracking API: an experiment is a project --
    "POST /api/2.0/mlflow/experiments/create": USER,  # a project: its creator becomes admin
    "GET /api/2.0/mlflow/experiments/get": _v("mlflow:experiment"),
    "GET /api/2.0/mlflow/experiments/get-by-name": _v("mlflow:experiment_name"),
    "POST /api/2.0/mlflow/experiments/search": USER,
    "POST /api/2.0/mlflow/experiments/set-experiment-tag": _a("mlflow:experiment"),
    "POST /api/2.0/mlflow/runs/create": _e("mlflow:experiment"),
    "GET /api/2.0/mlflow/runs/get": _v("mlflow:run"),
    "POST /api/2.0/mlflow/runs/update": _e("mlflow:run"),
    "POST /api/2.0/mlflow/runs/delete": _e("mlflow:run"),
    "POST /api/2.0/mlflow/runs/log-metric": _e("mlflow:run"),
    "POST /api/2.0/mlflow/runs/log-parameter": _e("mlflow:run"),
    "POST /api/2.0/mlflow/runs/set-tag": _e("mlflow:run"),
    "POST /api/2.0/mlflow/runs/log-batch": _e("mlflow:run"),
    "POST /api/2.0/mlflow/runs/log-model": _e("mlflow:run"),
    "POST /api/2.0/mlflow/runs/log-inputs": _e("mlflow:run"),
    "POST /api/2.0/mlflow/runs/outputs": _e("mlflow:run"),
    "POST /api/2.0/mlflow/runs/search": _v("mlflow:experiments"),
    "GET /api/2.0/mlflow/metrics/get-history": _v("mlflow:run"),
    "POST /api/2.0/mlflow/logged-models": _e("mlflow:experiment"),
    "POST /api/2.0/mlflow/logged-models/search": _v("mlflow:experiments"),
    "GET /api/2.0/mlflow/logged-models/{model_id}": _v("mlflow:model"),
    "PATCH /api/2.0/mlflow/logged-models/{model_id}": _e("mlflow:model"),
    "PATCH /api/2.0/mlflow/logged-models/{model_id}/tags": _e("mlflow:model"),
    "DELETE /api/2.0/mlflow/logged-models/{model_id}/tags/{key}": _e("mlflow:model"),
    "POST /api/2.0/mlflow/logged-models/{model_id}/params": _e("mlflow:model"),
    "GET /api/2.0/mlflow-artifacts/artifacts": _v("mlflow:artifact"),
    "PUT /api/2.0/mlflow-artifacts/artifacts/{path:path}": _e("mlflow:artifact"),
    "GET /api/2.0/mlflow-artifacts/artifacts/{path:path}": _v("mlflow:artifact"),
    # -- the web UI --
    "GET /ui": USER,
    "GET /ui/projects/{project}": _v("path:project"),
    "GET /ui/projects/{project}/runs": _v("path:project"),
    "GET /ui/compare": Rule("viewer", "any"),  # each run is checked against the project
    "GET /ui/series": Rule("viewer", "any"),
    "GET /ui/runs/{run_id}": _v("run"),
    "GET /ui/runs/{run_id}/artifacts": _v("run"),
    "GET /ui/runs/{run_id}/artifacts/raw": _v("run"),
    "GET /ui/runs/{run_id}/console": _v("run"),
    "GET /ui/runs/{run_id}/console/more": _v("run"),
    "GET /ui/runs/{run_id}/environment": _v("run"),
    "GET /ui/runs/{run_id}/status": _v("run"),
    "GET /ui/projects/{project}/models": _v("path:project"),
    "GET /ui/projects/{project}/models/{name}": _v("path:project"),
    "GET /ui/projects/{project}/models/{name}/history": _v("path:project"),
    "GET /ui/projects/{project}/models/{name}/versions/{ref}": _v("path:project"),
    "GET /ui/projects/{project}/models/{name}/versions/{ref}/card": _v("path:project"),
    "GET /ui/projects/{project}/models/{name}/versions/{ref}/card.md": _v("path:project"),
    "GET /ui/projects/{project}/models/{name}/versions/{ref}/lineage": _v("path:project"),
    "GET /ui/projects/{project}/datasets": _v("path:project"),
    "GET /ui/projects/{project}/datasets/{name}": _v("path:project"),
    "GET /ui/projects/{project}/datasets/{name}/version": _v("path:project"),
    "GET /ui/projects/{project}/datasets/{name}/diff": _v("path:project"),
    "GET /ui/projects/{project}/datasets/{name}/profile": _v("path:project"),
    "GET /ui/projects/{project}/datasets/{name}/labelling": _v("path:project"),  # labelling
    "POST /ui/projects/{project}/datasets/{name}/labelling/labels": _e("path:project"),
    "POST /ui/projects/{project}/datasets/{name}/labelling/commit": _e("path:project"),
    "GET /ui/projects/{project}/pipelines": _v("path:project"),
    "GET /ui/projects/{project}/pipelines/{name}": _v("path:project"),
    "POST /ui/projects/{project}/pipelines/{name}/launch": _e("path:project"),
    "GET /ui/projects/{project}/pipelines/{name}/runs": _v("path:project"),
    "GET /ui/projects/{project}/pipelines/{name}/series": _v("path:project"),
    "GET /ui/pipeline-runs/{run_id}": _v("pipeline_run"),
    "GET /ui/pipeline-runs/{run_id}/live": _v("pipeline_run"),
    "POST /ui/pipeline-runs/{run_id}/stop": _e("pipeline_run"),
    "POST /ui/pipeline-runs/{run_id}/retry": _e("pipeline_run"),
    "POST /ui/pipeline-runs/{run_id}/delete": _e("pipeline_run"),
    "GET /ui/projects/{project}/features": _v("path:project"),
    "GET /ui/projects/{project}/features/{name}": _v("path:project"),
    "GET /ui/projects/{project}/endpoints": _v("path:project"),
    "GET /ui/projects/{project}/endpoints/{name}": _v("path:project"),
    "GET /ui/projects/{project}/endpoints/{name}/live": _v("path:project"),
    "GET /ui/projects/{project}/endpoints/{name}/series": _v("path:project"),
    "GET /ui/projects/{project}/monitors": _v("path:project"),  # monitors (helper M)
    "GET /ui/projects/{project}/monitors/{name}": _v("path:project"),
    "GET /ui/projects/{project}/monitors/{name}/series": _v("path:project"),
    "GET /ui/projects/{project}/monitors/{name}/runs/{run_id}/report": _v("path:project"),
    "GET /ui/projects/{project}/monitors/{name}/runs/{run_id}/report.html": _v("path:project"),
    "POST /ui/projects/{project}/monitors/{name}/run": _e("path:project"),
    "GET /ui/projects/{project}/alerts": _v("path:project"),
    "GET /ui/projects/{project}/automation": _v("path:project"),  # automation (helper A2)
    "GET /ui/projects/{project}/automation/triggers": _v("path:project"),
    "GET /ui/projects/{project}/automation/triggers/{name}": _v("path:project"),
    "GET /ui/projects/{project}/automation/deliveries": _v("path:project"),
    "POST /ui/projects/{project}/automation/events/{event_id}/revert": _a("path:project"),
    "POST /ui/projects/{project}/endpoints/{name}/edit": _a("path:project"),
    "POST /ui/projects/{project}/endpoints/{name}/review": _a("path:project"),
    "POST /ui/projects/{project}/endpoints/{name}/rollback": _a("path:project"),
    "POST /ui/projects/{project}/endpoints/{name}/update": _a("path:project"),
    "GET /ui/agents": Rule("viewer", "any"),
    "GET /ui/agents/live": Rule("viewer", "any"),
    "GET /ui/{rest:path}": USER,  # the UI's own "no such page"
}
# fmt: on


# Routes that start something a project's quota counts, and the quota (see accounts.Quota).
QUOTAS: dict[str, str] = {
    "POST /api/v1/projects/{project}/pipeline-runs": "concurrent_pipeline_runs",
    "POST /api/v1/projects/{project}/pipeline-templates/{name}/launch": "concurrent_pipeline_runs",
    "POST /ui/projects/{project}/pipelines/{name}/launch": "concurrent_pipeline_runs",
    # quotas: waiting tasks and stored bytes (writes that store bytes; reads, deletes never)
    "POST /api/v1/queues/{queue}/tasks": "queued_tasks",
    "POST /api/v1/runs/{run_id}/artifacts": "storage_bytes",
    "POST /api/v1/projects/{project}/datasets/{name}/versions": "storage_bytes",
    "POST /api/v1/projects/{project}/models/{name}/versions": "storage_bytes",
    "PUT /api/2.0/mlflow-artifacts/artifacts/{path:path}": "storage_bytes",
    # a manual firing launches a run; hard examples and a labelling commit write a version
    "POST /api/v1/projects/{project}/automation/triggers/{name}/fire": "concurrent_pipeline_runs",
    "POST /api/v1/projects/{project}/monitoring/endpoints/{endpoint}/hard-examples": (
        "storage_bytes"
    ),
    "POST /api/v1/projects/{project}/labelling/{dataset}/commit": "storage_bytes",
    "POST /ui/projects/{project}/datasets/{name}/labelling/commit": "storage_bytes",
}
# Where a quota route names its project when its rule does not (a queue spans projects).
QUOTA_PROJECTS: dict[str, str] = {
    "POST /api/v1/queues/{queue}/tasks": "body:project",
}


def rule_for(method: str, template: str) -> tuple[Rule, bool]:
    """The rule of a route, and whether it is in the table (False: a default by its shape).

    Defaults are cautious: a route under ``/projects/{project}`` is the project's viewers' to
    read and editors' to write; any other route is readable by a viewer of some project and
    writable by a global admin only, until the table says otherwise.
    """
    method = "GET" if method == "HEAD" and f"HEAD {template}" not in RULES else method
    found = RULES.get(f"{method} {template}")
    if found is not None:
        return found, True
    if "{project}" in template:
        return (_v("path:project") if method in SAFE_METHODS else _e("path:project")), False
    return (Rule("viewer", "any") if method in SAFE_METHODS else GLOBAL_ADMIN), False
