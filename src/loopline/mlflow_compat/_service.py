"""MLflow's tracking REST API translated onto Loopline's projects and tracking services.

The mapping, and why:

- An MLflow **experiment** is a Loopline **project**. Loopline has no level between a project
  and its runs: every run of a project is searched and compared together, which is what an
  MLflow experiment is for. The experiment id is the project id; MLflow's default experiment
  ``"0"`` is the project ``Default``.
- An MLflow **run** is a Loopline run, with the same params, tags and metrics: a run logged with
  ``mlflow`` is listed, searched and compared like any other.
- A run's **artifacts** are its Loopline artifacts (blobs); their MLflow URI is
  ``mlflow-artifacts:/<experiment>/<run>/artifacts`` (served by the proxied artifact API).
- An MLflow 3 **logged model** has no Loopline equivalent: it is kept in this package's tables,
  and its files are also attached to its source run under ``<model name>/``.

Every method takes and returns the JSON of MLflow's protocol (``service.proto``), as dicts.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from loopline.blobs import BlobStore
from loopline.db import Database
from loopline.errors import InvalidInput, NotFound, did_you_mean
from loopline.mlflow_compat._tables import ExperimentTagRow, LoggedModelFileRow, LoggedModelRow
from loopline.projects import Project, ProjectService
from loopline.tracking import (
    Artifact,
    MetricPoint,
    Run,
    RunStatus,
    TrackingService,
    decode_float,
    validate_run_id,
)

__all__ = [
    "MlflowService",
    "ArtifactPlace",
    "DEFAULT_EXPERIMENT",
    "Json",
    "translate_filter",
    "translate_order",
]

Json = dict[str, Any]

DEFAULT_EXPERIMENT = "Default"
"""The project behind MLflow's default experiment (id ``"0"``)."""

_STATUS_TO_MLFLOW: dict[str, str] = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
}
_STATUS_FROM_MLFLOW: dict[str, RunStatus] = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "killed",
}
_MODEL_STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
_PROJECT_ID = re.compile(r"[0-9a-f]{32}")
MAX_RESULTS = 50_000
_RUN_NAME_TAG = "mlflow.runName"
_PARENT_TAG = "mlflow.parentRunId"


class MlflowService:
    """MLflow REST calls as Loopline service calls.

    Example:
        >>> svc = MlflowService(backend.db, backend.projects, backend.tracking, backend.blobs)
        >>> exp = svc.create_experiment({"name": "iris"})["experiment_id"]
        >>> run = svc.create_run({"experiment_id": exp, "run_name": "first"})["run"]
        >>> run["info"]["status"]
        'RUNNING'
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        tracking: TrackingService,
        blobs: BlobStore,
    ) -> None:
        self._db = db
        self._projects = projects
        self._tracking = tracking
        self._blobs = blobs

    # -- experiments ---------------------------------------------------------------------------

    def create_experiment(self, body: Json) -> Json:
        name = _text(body, "name", required=True)
        if body.get("artifact_location"):
            raise InvalidInput(
                "Loopline keeps artifacts in its own blob store: create the experiment without "
                "artifact_location."
            )
        project = self._projects.create(name)
        self._set_experiment_tags(project.id, _pairs(body.get("tags"), "tags"))
        return {"experiment_id": project.id}

    def get_experiment(self, experiment_id: str) -> Json:
        return {"experiment": self._experiment(self._project(experiment_id))}

    def get_experiment_by_name(self, name: str) -> Json:
        projects = self._projects.list()
        for project in projects:
            if project.name == name:
                return {"experiment": self._experiment(project)}
        raise NotFound(
            f"Experiment {name!r} not found.{did_you_mean(name, [p.name for p in projects])}"
        )

    def search_experiments(self, body: Json) -> Json:
        matches = _experiment_filter(_text(body, "filter"))
        projects = [p for p in self._projects.list() if matches(p.name)]
        order = body.get("order_by") or []
        if order:
            reverse = str(order[0]).strip().lower().endswith("desc")
            field = str(order[0]).split()[0].lower()
            if field in ("name", "attributes.name"):
                projects.sort(key=lambda p: p.name, reverse=reverse)
            else:
                projects.sort(key=lambda p: p.created_at, reverse=reverse)
        offset, limit = _page(body, default_limit=1000)
        page = projects[offset : offset + limit]
        answer: Json = {"experiments": [self._experiment(p) for p in page]}
        if offset + limit < len(projects):
            answer["next_page_token"] = _token(offset + limit)
        return answer

    def set_experiment_tag(self, body: Json) -> Json:
        project = self._project(_text(body, "experiment_id", required=True))
        key = _text(body, "key", required=True)
        self._set_experiment_tags(project.id, {key: _text(body, "value")})
        return {}

    def _set_experiment_tags(self, project_id: str, tags: Mapping[str, str]) -> None:
        if not tags:
            return
        with self._db.transaction() as session:
            session.execute(
                delete(ExperimentTagRow).where(
                    ExperimentTagRow.project_id == project_id, ExperimentTagRow.key.in_(tags)
                )
            )
            session.add_all(
                ExperimentTagRow(project_id=project_id, key=k, value=v) for k, v in tags.items()
            )

    def _experiment(self, project: Project) -> Json:
        with self._db.session() as session:
            tags = session.execute(
                select(ExperimentTagRow.key, ExperimentTagRow.value).where(
                    ExperimentTagRow.project_id == project.id
                )
            ).all()
        created = _ms(project.created_at)
        return {
            "experiment_id": project.id,
            "name": project.name,
            "artifact_location": f"mlflow-artifacts:/{project.id}",
            "lifecycle_stage": "active",
            "creation_time": created,
            "last_update_time": created,
            "tags": [{"key": k, "value": v} for k, v in sorted(tags)],
        }

    def _project(self, experiment_id: str) -> Project:
        if experiment_id == "0":
            return self._projects.ensure(DEFAULT_EXPERIMENT)
        if not isinstance(experiment_id, str) or not _PROJECT_ID.fullmatch(experiment_id):
            raise NotFound(
                f"No experiment has the id {experiment_id!r}: Loopline experiment ids are 32 "
                f"hexadecimal characters (or '0' for the default experiment)."
            )
        return self._projects.get_by_id(experiment_id)

    # -- runs ----------------------------------------------------------------------------------

    def create_run(self, body: Json) -> Json:
        project = self._project(_text(body, "experiment_id") or "0")
        tags = _pairs(body.get("tags"), "tags")
        user = _text(body, "user_id")
        if user and "mlflow.user" not in tags:
            tags["mlflow.user"] = user
        name = _text(body, "run_name") or tags.get(_RUN_NAME_TAG) or None
        parent = tags.get(_PARENT_TAG) or None
        if parent is not None:
            validate_run_id(parent)
        run = self._tracking.create_run(project.name, name=name, tags=tags, parent_id=parent)
        if tags.get(_RUN_NAME_TAG) != run.name:
            self._tracking.set_tags(run.id, {_RUN_NAME_TAG: run.name})
        return {"run": self._run(self._tracking.get_run(run.id), project.id)}

    def get_run(self, run_id: str) -> Json:
        run = self._tracking.get_run(validate_run_id(run_id))
        return {"run": self._run(run)}

    def update_run(self, body: Json) -> Json:
        run_id = validate_run_id(_run_id_of(body))
        run = self._tracking.get_run(run_id)
        name = _text(body, "run_name")
        if name and name != run.name:
            # Loopline run names are fixed; MLflow's UI reads the tag.
            self._tracking.set_tags(run_id, {_RUN_NAME_TAG: name})
        wanted = _text(body, "status")
        if wanted:
            status = _STATUS_FROM_MLFLOW.get(wanted)
            if status is None:
                raise InvalidInput(
                    f"Invalid run status {wanted!r}: one of {', '.join(_STATUS_FROM_MLFLOW)}."
                )
            if status != "running" and run.status == "running":
                run = self._tracking.end_run(run_id, status)
            # A Loopline run ends once: resuming an ended run (``start_run(run_id=...)``)
            # leaves it ended (tags and artifacts can still be added) and keeps its first end.
        return {"run_info": self._run(self._tracking.get_run(run_id))["info"]}

    def delete_run(self, body: Json) -> Json:
        self._tracking.delete_run(validate_run_id(_run_id_of(body)))
        return {}

    def log_metric(self, body: Json) -> Json:
        run_id = validate_run_id(_run_id_of(body))
        self._tracking.log_metrics(run_id, [_metric(body)])
        return {}

    def log_param(self, body: Json) -> Json:
        run_id = validate_run_id(_run_id_of(body))
        self._tracking.log_params(run_id, {_text(body, "key", required=True): _text(body, "value")})
        return {}

    def set_tag(self, body: Json) -> Json:
        run_id = validate_run_id(_run_id_of(body))
        self._tracking.set_tags(run_id, {_text(body, "key", required=True): _text(body, "value")})
        return {}

    def log_batch(self, body: Json) -> Json:
        run_id = validate_run_id(_run_id_of(body))
        metrics = body.get("metrics") or []
        if not isinstance(metrics, list) or len(metrics) > 1000:
            raise InvalidInput("metrics must be a list of at most 1,000 metrics (as MLflow's).")
        params = _pairs(body.get("params"), "params", limit=100)
        tags = _pairs(body.get("tags"), "tags", limit=100)
        if params:
            self._tracking.log_params(run_id, params)
        if tags:
            self._tracking.set_tags(run_id, tags)
        # A point naming a model_id is MLflow 3 copying the run's points to a logged model it
        # just logged: the run has them already, and logging them again would double them.
        points = [_metric(m) for m in metrics if not (isinstance(m, dict) and m.get("model_id"))]
        if points:
            self._tracking.log_metrics(run_id, points)
        return {}

    def accept_run_record(self, body: Json) -> Json:
        """log-model, log-inputs, outputs: checked to name a run, then answered (see docs)."""
        self._tracking.get_run(validate_run_id(_run_id_of(body)))
        return {}

    def search_runs(self, body: Json) -> Json:
        ids = body.get("experiment_ids") or []
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise InvalidInput("experiment_ids must be a list of one or more experiment ids.")
        view = _text(body, "run_view_type") or "ACTIVE_ONLY"
        if view not in ("ACTIVE_ONLY", "ALL", "DELETED_ONLY"):
            raise InvalidInput(f"run_view_type {view!r}: one of ACTIVE_ONLY, ALL, DELETED_ONLY.")
        if view == "DELETED_ONLY":
            return {"runs": []}  # deleted runs are hidden from searches until collected
        loopline_filter = translate_filter(_text(body, "filter"))
        order = [translate_order(o) for o in _texts(body.get("order_by"), "order_by")]
        offset, limit = _page(body, default_limit=1000)
        runs: list[Run] = []
        projects = [self._project(i) for i in ids]
        for project in projects:
            runs += self._tracking.search(
                project.name, loopline_filter, order, limit=offset + limit + 1, offset=0
            )
        if len(projects) > 1 and not order:
            runs.sort(key=lambda r: r.start_time, reverse=True)
        page = runs[offset : offset + limit]
        ids_of = {p.name: p.id for p in projects}
        answer: Json = {"runs": [self._run(r, ids_of[r.project]) for r in page]}
        if len(runs) > offset + limit:
            answer["next_page_token"] = _token(offset + limit)
        return answer

    def metric_history(self, run_id: str, key: str, max_results: int | None, token: str) -> Json:
        run_id = validate_run_id(run_id)
        points = self._tracking.metric_history(run_id, key)
        offset, limit = _page(
            {"max_results": max_results, "page_token": token}, default_limit=MAX_RESULTS
        )
        page = points[offset : offset + limit]
        answer: Json = {"metrics": [_metric_json(p, run_id) for p in page]}
        if offset + limit < len(points):
            answer["next_page_token"] = _token(offset + limit)
        return answer

    def _run(self, run: Run, experiment_id: str | None = None) -> Json:
        if experiment_id is None:
            experiment_id = self._projects.get(run.project).id
        stamp = _ms(run.start_time)
        summaries = {m.key: m for m in self._tracking.metric_summaries(run.id)}
        info = {
            "run_id": run.id,
            "run_uuid": run.id,
            "run_name": run.tags.get(_RUN_NAME_TAG, run.name),
            "experiment_id": experiment_id,
            "user_id": run.tags.get("mlflow.user", ""),
            "status": _STATUS_TO_MLFLOW[run.status],
            "start_time": stamp,
            "artifact_uri": f"mlflow-artifacts:/{experiment_id}/{run.id}/artifacts",
            "lifecycle_stage": "active",
        }
        if run.end_time is not None:
            info["end_time"] = _ms(run.end_time)
        metrics = [
            {
                "key": key,
                "value": _float_json(value),
                "timestamp": stamp,
                "step": summaries[key].latest_step if key in summaries else 0,
            }
            for key, value in sorted(run.metrics.items())
        ]
        return {
            "info": info,
            "data": {
                "metrics": metrics,
                "params": [{"key": k, "value": v} for k, v in sorted(run.params.items())],
                "tags": [{"key": k, "value": v} for k, v in sorted(run.tags.items())],
            },
            "inputs": {},
            "outputs": {},
        }

    # -- logged models -------------------------------------------------------------------------

    def create_logged_model(self, body: Json) -> Json:
        project = self._project(_text(body, "experiment_id") or "0")
        source = _text(body, "source_run_id") or None
        if source is not None:
            run = self._tracking.get_run(validate_run_id(source))
            if run.project != project.name:
                raise InvalidInput(
                    f"Run {source} is in experiment {run.project!r}, not {project.name!r}: log "
                    f"the model in its run's experiment."
                )
        name = _text(body, "name") or "model"
        _check_model_name(name)
        row = LoggedModelRow(
            id="m-" + uuid.uuid4().hex,
            project_id=project.id,
            name=name,
            model_type=_text(body, "model_type"),
            source_run_id=source,
            status="LOGGED_MODEL_PENDING",
            params=json.dumps(_pairs(body.get("params"), "params")),
            tags=json.dumps(_pairs(body.get("tags"), "tags")),
        )
        with self._db.transaction() as session:
            session.add(row)
        return {"model": self._model(self._model_row(row.id))}

    def get_logged_model(self, model_id: str) -> Json:
        return {"model": self._model(self._model_row(model_id))}

    def finalize_logged_model(self, model_id: str, body: Json) -> Json:
        status = _text(body, "status", required=True)
        if status not in _MODEL_STATUSES:
            raise InvalidInput(f"Invalid model status {status!r}: one of {_MODEL_STATUSES}.")
        with self._db.transaction() as session:
            row = self._model_row(model_id, session)
            row.status = status
        return self.get_logged_model(model_id)

    def set_logged_model_tags(self, model_id: str, body: Json) -> Json:
        tags = _pairs(body.get("tags"), "tags")
        with self._db.transaction() as session:
            row = self._model_row(model_id, session)
            row.tags = json.dumps({**json.loads(row.tags), **tags})
        return {}

    def delete_logged_model_tag(self, model_id: str, key: str) -> Json:
        with self._db.transaction() as session:
            row = self._model_row(model_id, session)
            tags = json.loads(row.tags)
            if key not in tags:
                raise NotFound(f"Logged model {model_id} has no tag {key!r}.")
            del tags[key]
            row.tags = json.dumps(tags)
        return {}

    def log_logged_model_params(self, model_id: str, body: Json) -> Json:
        params = _pairs(body.get("params"), "params")
        with self._db.transaction() as session:
            row = self._model_row(model_id, session)
            row.params = json.dumps({**json.loads(row.params), **params})
        return {}

    def search_logged_models(self, body: Json) -> Json:
        ids = _texts(body.get("experiment_ids"), "experiment_ids")
        project_ids = [self._project(i).id for i in ids]
        wanted = _model_filter(_text(body, "filter"))
        with self._db.session() as session:
            query = select(LoggedModelRow).order_by(
                LoggedModelRow.created_at.desc(), LoggedModelRow.id
            )
            if project_ids:
                query = query.where(LoggedModelRow.project_id.in_(project_ids))
            for column, value in wanted.items():
                query = query.where(getattr(LoggedModelRow, column) == value)
            rows = session.scalars(query).all()
        offset, limit = _page(body, default_limit=100)
        answer: Json = {"models": [self._model(r) for r in rows[offset : offset + limit]]}
        if offset + limit < len(rows):
            answer["next_page_token"] = _token(offset + limit)
        return answer

    def project_of_model(self, model_id: str) -> str:
        """The name of the project (experiment) a logged model is in."""
        return self._projects.get_by_id(self._model_row(model_id).project_id).name

    def project_of_experiment(self, experiment_id: str) -> str:
        """The name of the project behind an experiment id (``"0"``: the default one)."""
        return self._project(experiment_id).name

    def _model_row(self, model_id: str, session: Any = None) -> LoggedModelRow:
        if not isinstance(model_id, str) or not _MODEL_ID.fullmatch(model_id):
            raise NotFound(
                f"No logged model has the id {model_id!r} (ids look like 'm-' + 32 hex)."
            )
        if session is None:
            with self._db.session() as own:
                row = own.get(LoggedModelRow, model_id)
        else:
            row = session.get(LoggedModelRow, model_id)
        if row is None:
            raise NotFound(f"Logged model {model_id} not found.")
        return row

    def _model(self, row: LoggedModelRow) -> Json:
        info: Json = {
            "model_id": row.id,
            "experiment_id": row.project_id,
            "name": row.name,
            "creation_timestamp_ms": _ms(row.created_at),
            "last_updated_timestamp_ms": _ms(row.updated_at),
            "artifact_uri": f"mlflow-artifacts:/{row.project_id}/models/{row.id}/artifacts",
            "status": row.status,
            "model_type": row.model_type,
            "tags": [{"key": k, "value": v} for k, v in sorted(json.loads(row.tags).items())],
        }
        if row.source_run_id:
            info["source_run_id"] = row.source_run_id
        params = json.loads(row.params)
        return {
            "info": info,
            "data": {"params": [{"key": k, "value": v} for k, v in sorted(params.items())]},
        }

    # -- artifacts -----------------------------------------------------------------------------

    def put_artifact(self, where: ArtifactPlace, digest: str, size: int) -> None:
        """Record the uploaded blob ``digest`` at ``where`` (a run's or a logged model's file)."""
        if where.model_id is None:
            self._tracking.add_artifact(where.run_id, where.path, digest, size)
            return
        with self._db.transaction() as session:
            row = self._model_row(where.model_id, session)
            session.execute(
                delete(LoggedModelFileRow).where(
                    LoggedModelFileRow.model_id == row.id, LoggedModelFileRow.path == where.path
                )
            )
            session.add(
                LoggedModelFileRow(model_id=row.id, path=where.path, digest=digest, size=size)
            )
            source, name = row.source_run_id, row.name
        if source is not None:
            # The model's files show in its run too, as MLflow 2 laid them out ("model/...").
            self._tracking.add_artifact(source, f"{name}/{where.path}", digest, size)

    def find_artifact(self, where: ArtifactPlace) -> Artifact:
        """The stored file at ``where``; NotFound (with the closest paths) otherwise."""
        files = self._files(where)
        for f in files:
            if f.path == where.path:
                return f
        raise NotFound(
            f"No artifact {where.path!r} here.{did_you_mean(where.path, [f.path for f in files])}"
        )

    def list_artifacts(self, where: ArtifactPlace) -> Json:
        """The files and folders directly under ``where.path`` (relative names, as MLflow)."""
        prefix = where.path + "/" if where.path else ""
        entries: dict[str, Json] = {}
        for f in self._files(where):
            if not f.path.startswith(prefix):
                continue
            rest = f.path[len(prefix) :]
            head, _, tail = rest.partition("/")
            if tail:
                entries.setdefault(head, {"path": head, "is_dir": True})
            else:
                entries[head] = {"path": head, "is_dir": False, "file_size": f.size}
        return {"files": [entries[k] for k in sorted(entries)]}

    def _files(self, where: ArtifactPlace) -> list[Artifact]:
        if where.model_id is None:
            return self._tracking.list_artifacts(where.run_id)
        with self._db.session() as session:
            self._model_row(where.model_id, session)
            rows = session.execute(
                select(LoggedModelFileRow.path, LoggedModelFileRow.digest, LoggedModelFileRow.size)
                .where(LoggedModelFileRow.model_id == where.model_id)
                .order_by(LoggedModelFileRow.path)
            ).all()
        return [Artifact(p, d, s) for p, d, s in rows]

    @property
    def blobs(self) -> BlobStore:
        return self._blobs


class ArtifactPlace:
    """Where an ``mlflow-artifacts`` path points: a run's or a logged model's file (or folder).

    Paths are ``<experiment>/<run>/artifacts/<path>`` or
    ``<experiment>/models/<model>/artifacts/<path>``; ``path`` is confined to the run or model
    (no ``..``, no absolute paths, no backslashes or NULs).
    """

    __slots__ = ("experiment_id", "model_id", "path", "run_id")

    def __init__(self, experiment_id: str, run_id: str, model_id: str | None, path: str) -> None:
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.model_id = model_id
        self.path = path

    @classmethod
    def parse(cls, raw: str, *, file: bool) -> ArtifactPlace:
        parts = raw.split("/")
        if any(p in ("..", ".") for p in parts) or "\\" in raw or "\0" in raw or len(raw) > 1200:
            raise InvalidInput(
                f"Invalid artifact path {raw[:200]!r}: no '..', '.', backslashes or NUL bytes."
            )
        parts = [p for p in parts if p]
        if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
            experiment, model_id, rest = parts[0], parts[2], parts[4:]
            run_id = ""
            if not _MODEL_ID.fullmatch(model_id):
                raise NotFound(f"No logged model has the id {model_id!r}.")
        elif len(parts) >= 3 and parts[2] == "artifacts":
            experiment, run_id, rest = parts[0], validate_run_id(parts[1]), parts[3:]
            model_id = None
        else:
            raise NotFound(
                f"No artifact location {raw[:200]!r}: paths look like "
                f"'<experiment id>/<run id>/artifacts/<file>'."
            )
        if file and not rest:
            raise InvalidInput("Name a file inside the artifact folder, not the folder itself.")
        return cls(experiment, run_id, model_id, "/".join(rest))


# -- translation helpers ---------------------------------------------------------------------

# "status", "attributes.status", "attribute.status", "run.status" but never "params.status".
_STATUS_FIELD = r"(?<![\w.`\"'])(?:(?:attributes?|run)\.)?status"
_STATUS_VALUE = re.compile(rf"(?i)({_STATUS_FIELD}\s*(?:=|==|!=|<>)\s*)'([A-Za-z]+)'")
_STATUS_LIST = re.compile(rf"(?i)({_STATUS_FIELD}\s+(?:not\s+)?in\s*)\(([^)]*)\)")
_ATTRIBUTE_NAMES = re.compile(
    r"(?i)(?<![\w.`\"'])(?:attributes?|run)\.(run_name|run_id|start_time|end_time|status)\b"
)
_BARE_RUN_NAME = re.compile(r"(?i)(?<![\w.`\"'])run_name\b")


def translate_filter(text: str) -> str:
    """An MLflow search filter in Loopline's grammar (the two are close: see the docs).

    MLflow writes statuses in capitals and names the run ``run_name``; Loopline's grammar
    takes lowercase statuses and ``name``. Quoted values other than a status are untouched.
    """
    if not text:
        return ""
    text = _STATUS_VALUE.sub(lambda m: f"{m.group(1)}'{m.group(2).lower()}'", text)
    text = _STATUS_LIST.sub(lambda m: f"{m.group(1)}({m.group(2).lower()})", text)
    text = _ATTRIBUTE_NAMES.sub(_attribute, text)
    return _BARE_RUN_NAME.sub("name", text)


def translate_order(text: str) -> str:
    """An MLflow ``order_by`` item (``metrics.acc DESC``) in Loopline's form."""
    return _BARE_RUN_NAME.sub("name", _ATTRIBUTE_NAMES.sub(_attribute, text))


def _attribute(match: re.Match[str]) -> str:
    name = match.group(1)
    return "attributes." + ("name" if name.lower() == "run_name" else name)


_EXPERIMENT_FILTER = re.compile(r"(?i)\s*(?:attributes?\.)?name\s*(=|!=|like|ilike)\s*'(.*)'\s*")


def _experiment_filter(text: str) -> Any:
    if not text:
        return lambda _name: True
    match = _EXPERIMENT_FILTER.fullmatch(text)
    if match is None:
        raise InvalidInput(
            f"Unsupported experiment filter {text!r}: Loopline takes one condition on the name, "
            f"like \"name = 'iris'\" or \"name LIKE 'iris%'\"."
        )
    op, value = match.group(1).lower(), match.group(2).replace("''", "'")
    if op == "=":
        return lambda name: name == value
    if op == "!=":
        return lambda name: name != value
    pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value)
    flags = re.IGNORECASE if op == "ilike" else 0
    compiled = re.compile(pattern, flags | re.DOTALL)
    return lambda name: compiled.fullmatch(name) is not None


_MODEL_CONDITION = re.compile(r"(?i)\s*(name|source_run_id)\s*=\s*'([^']*)'\s*")


def _model_filter(text: str) -> dict[str, str]:
    """``name = 'x' AND source_run_id = 'y'``: the filters the MLflow client itself sends."""
    wanted: dict[str, str] = {}
    if not text:
        return wanted
    for condition in re.split(r"(?i)\s+and\s+", text):
        match = _MODEL_CONDITION.fullmatch(condition)
        if match is None:
            raise InvalidInput(
                f"Unsupported logged-model filter {text!r}: Loopline takes conditions "
                f"\"name = '...'\" and \"source_run_id = '...'\" joined by AND."
            )
        wanted[match.group(1).lower()] = match.group(2)
    return wanted


def _check_model_name(name: str) -> None:
    if len(name) > 250 or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        raise InvalidInput(
            f"Invalid model name {name[:100]!r}: up to 250 characters, without '/' or '\\'."
        )


def _run_id_of(body: Json) -> str:
    return _text(body, "run_id") or _text(body, "run_uuid", required=True)


def _text(body: Json, key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"Missing value for required parameter '{key}'.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"Parameter '{key}' must be a string, not {type(value).__name__}.")
    return str(value)


def _texts(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{what} must be a list of strings.")
    return list(value)


def _pairs(value: object, what: str, *, limit: int = 10_000) -> dict[str, str]:
    """MLflow's ``[{"key": k, "value": v}, ...]`` as a dict (later keys win)."""
    if value is None:
        return {}
    if not isinstance(value, list) or len(value) > limit:
        raise InvalidInput(f"{what} must be a list of at most {limit:,} {{key, value}} objects.")
    pairs: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict):
            raise InvalidInput(f"Each of {what} must be an object with 'key' and 'value'.")
        pairs[_text(item, "key", required=True)] = _text(item, "value")
    return pairs


def _metric(body: Json) -> MetricPoint:
    key = _text(body, "key", required=True)
    raw = body.get("value")
    if raw is None or isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidInput(f"Metric {key!r}: value must be a number, NaN or Infinity.")
    try:
        value = decode_float(raw) if isinstance(raw, str) else float(raw)
    except (InvalidInput, ValueError) as exc:
        raise InvalidInput(f"Metric {key!r}: value {raw!r} is not a number.") from exc
    return MetricPoint(key, value, _int(body, "step", 0), _int(body, "timestamp", 0))


def _int(body: Json, key: str, default: int) -> int:
    value = body.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"Parameter '{key}' must be an integer, not a boolean.")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Parameter '{key}' must be an integer, not {value!r}.") from exc
    if not -(2**63) <= number < 2**63:
        raise InvalidInput(f"Parameter '{key}' is out of the 64-bit integer range.")
    return number


def _page(body: Json, *, default_limit: int) -> tuple[int, int]:
    limit = _int(body, "max_results", default_limit) or default_limit
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_RESULTS:,}, not {limit}.")
    token = _text(body, "page_token")
    if not token:
        return 0, limit
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(
            f"Invalid page_token {token[:50]!r}: pass back the one you got."
        ) from exc
    if offset < 0:
        raise InvalidInput("Invalid page_token: pass back the one you got.")
    return offset, limit


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _float_json(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _metric_json(point: MetricPoint, run_id: str) -> Json:
    return {
        "key": point.key,
        "value": _float_json(point.value),
        "timestamp": point.timestamp_ms,
        "step": point.step,
        "run_id": run_id,
    }
