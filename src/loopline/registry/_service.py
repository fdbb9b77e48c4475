"""RegistryService: registered models, versions, aliases, statuses and their events.

A version is registered from a model logged in a run: the service reads the model's manifest
(``loopline-model.json``, a verified blob), checks every file it names is stored, and copies into
the version what serving and monitoring will need: flavor, signature, requirements, library
versions, size, the run's metrics, the dataset versions the run read and the reference profile
of that training data. Every alias and status change is an event (who, when, why). Both backends
call this service: the local one in-process, the server behind its routes.
"""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopline.blobs import BlobStore
from loopline.datasets import DatasetService
from loopline.db import Database
from loopline.errors import Conflict, InvalidInput, NotFound, did_you_mean
from loopline.projects import Project, ProjectService, validate_actor
from loopline.projects._types import validate_text
from loopline.registry._card import model_card
from loopline.registry._package import ModelPackage
from loopline.registry._tables import ModelAliasRow, ModelEventRow, ModelRow, ModelVersionRow
from loopline.registry._types import (
    MAX_DESCRIPTION,
    MAX_REASON,
    PACKAGE_FILE,
    EventKind,
    ModelEvent,
    ModelStatus,
    ModelVersion,
    RegisteredModel,
    TrainingData,
    validate_artifact_name,
    validate_model_alias,
    validate_model_name,
    validate_model_ref,
    validate_status,
)
from loopline.tracking import TrackingService, validate_run_id

__all__ = ["RegistryService", "REGISTER_ATTEMPTS"]

REGISTER_ATTEMPTS = 8
"""Tries to number a version when concurrent registrations collide."""
MAX_EVENTS = 1000


class RegistryService:
    """Everything the registry stores, behind one service both backends (and the UI) call.

    Args:
        db: the metadata database.
        projects: the project service (models live in projects, created on first use).
        tracking: the tracking service (a version names the run that logged it).
        datasets: the dataset service (a version records the dataset versions its run read).
        blobs: returns the blob store (opened lazily by the backend).

    Example:
        >>> svc = RegistryService(db, projects, tracking, datasets, lambda: store)
        >>> v = svc.register(None, "digits", run_id, "model", actor="ada")
        >>> v.number, v.flavor
        (1, 'sklearn')
        >>> svc.set_alias("vision", "digits", "champion", 1, actor="ada", reason="best F1").aliases
        ['champion']
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        tracking: TrackingService,
        datasets: DatasetService,
        blobs: Callable[[], BlobStore],
    ) -> None:
        self._db = db
        self._projects = projects
        self._tracking = tracking
        self._datasets = datasets
        self._blobs = blobs

    def quota_usage(self, project: str) -> dict[str, int]:
        """Bytes the project's model versions store, each package once (accounts' usage
        counter)."""
        project_id = self._projects.get(project).id
        stored = (
            select(ModelVersionRow.package_digest, ModelVersionRow.size)
            .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
            .where(ModelRow.project_id == project_id)
            .distinct()
            .subquery()
        )
        with self._db.session() as session:
            total = session.scalar(select(func.coalesce(func.sum(stored.c.size), 0)))
        return {"storage_bytes": int(total or 0)}

    # -- registering ---------------------------------------------------------------------------

    def register(
        self,
        project: str | None,
        name: str,
        run_id: str,
        path: str = "model",
        *,
        description: str = "",
        actor: str,
    ) -> ModelVersion:
        """Register the model logged at ``path`` in run ``run_id`` as the next version of ``name``.

        Args:
            project: where the model lives; ``None`` is the run's project.

        Raises:
            NotFound: no such run, or no model logged at ``path`` in it (the message lists the
                models the run has).
            InvalidInput: a file the model's manifest names is not stored.
            CorruptBlob: the manifest's bytes do not match their digest.
        """
        validate_model_name(name)
        validate_run_id(run_id)
        validate_artifact_name(path)
        validate_text(description, "model version description", MAX_DESCRIPTION)
        actor = validate_actor(actor)
        run = self._tracking.get_run(run_id)
        project_row = self._projects.ensure(project or run.project)
        manifest = self._manifest_of(run_id, path)
        store = self._blobs()
        package = ModelPackage.from_json(
            store.get_bytes(manifest), f"The model at {path!r} in run {run_id}"
        )
        missing = [f.path for f in package.files if not store.exists(f.digest)]
        if missing:
            raise InvalidInput(
                f"The model at {path!r} in run {run_id} names files that are not stored: "
                f"{', '.join(missing[:10])}. Log the model again with ll.log_model."
            )
        training = self._training_data(run_id)
        profile = next((t.profile_digest for t in training if t.profile_digest), None)
        metrics = {k: v for k, v in run.metrics.items() if math.isfinite(v)}
        values: dict[str, Any] = {
            "status": "registered",
            "flavor": package.flavor,
            "package_digest": manifest,
            "run_id": run_id,
            "artifact_path": path,
            "size": package.size,
            "description": description,
            "creator": actor,
            "signature": None
            if package.signature is None
            else json.dumps(package.signature.to_dict()),
            "requirements": json.dumps(package.requirements),
            "libraries": json.dumps(package.libraries),
            "metrics": json.dumps(metrics),
            "training_data": json.dumps([_training_dict(t) for t in training]),
            "profile_digest": profile,
        }
        model_id = self._ensure_model(project_row, name)
        for attempt in range(REGISTER_ATTEMPTS):
            try:
                with self._db.transaction() as session:
                    latest = session.scalar(
                        select(func.max(ModelVersionRow.number)).where(
                            ModelVersionRow.model_id == model_id
                        )
                    )
                    number = (latest or 0) + 1
                    row = ModelVersionRow(model_id=model_id, number=number, **values)
                    session.add(row)
                    session.flush()
                    session.add(_event(model_id, "registered", actor, description, version=number))
                    version_id = row.id
                break
            except IntegrityError:
                if attempt == REGISTER_ATTEMPTS - 1:
                    raise Conflict(
                        f"Could not number a new version of {name!r}: {REGISTER_ATTEMPTS} other "
                        f"registrations got there first. Try again."
                    ) from None
        return self._version_by_id(version_id)

    # -- reading -------------------------------------------------------------------------------

    def get(self, project: str, name: str) -> RegisteredModel:
        """A registered model with its latest version and aliases. NotFound (with hints)."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            row = self._model_row(session, project_row, name)
            return self._models(session, project_row, [row])[0]

    def list(self, project: str) -> builtins.list[RegisteredModel]:
        """Every registered model of ``project``, by name."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            rows = session.scalars(
                select(ModelRow).where(ModelRow.project_id == project_row.id)
            ).all()
            models = self._models(session, project_row, list(rows))
        return sorted(models, key=lambda m: m.name)

    def versions(self, project: str, name: str) -> builtins.list[ModelVersion]:
        """Every version of a model, newest first."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            model = self._model_row(session, project_row, name)
            rows = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.model_id == model.id)
                .order_by(ModelVersionRow.number.desc())
            ).all()
            return self._infos(session, project_row.name, model, list(rows))

    def version(self, project: str, name: str, ref: int | str = "latest") -> ModelVersion:
        """One version: by number, ``"latest"``, or an alias.

        Raises:
            NotFound: no such model, number or alias (the message lists what exists).
        """
        ref = validate_model_ref(ref)
        project_row = self._projects.get(project)
        with self._db.session() as session:
            model = self._model_row(session, project_row, name)
            row = self._version_row(session, model, ref)
            return self._infos(session, project_row.name, model, [row])[0]

    def versions_of_run(self, run_id: str) -> builtins.list[ModelVersion]:
        """The versions registered from models a run logged (for the run's lineage)."""
        validate_run_id(run_id)
        with self._db.session() as session:
            rows = session.scalars(
                select(ModelVersionRow).where(ModelVersionRow.run_id == run_id)
            ).all()
            out = []
            for row in rows:
                model = session.get(ModelRow, row.model_id)
                assert model is not None
                project = self._projects.get_by_id(model.project_id).name
                out.extend(self._infos(session, project, model, [row]))
            return out

    def trained_on_features(self, project: str, view: str) -> builtins.list[ModelVersion]:
        """The versions in ``project`` whose training run read feature view ``view`` (a run
        that calls ``get_training_frame`` is tagged with the views it read), newest first."""
        from loopline.errors import NotFound as _NotFound
        from loopline.features import FEATURES_TAG

        project_row = self._projects.get(project)
        with self._db.session() as session:
            rows = session.execute(
                select(ModelRow, ModelVersionRow)
                .join(ModelVersionRow, ModelVersionRow.model_id == ModelRow.id)
                .where(ModelRow.project_id == project_row.id, ModelVersionRow.run_id.is_not(None))
                .order_by(ModelVersionRow.created_at.desc())
                .limit(MAX_EVENTS)
            ).all()
            out = []
            views_of: dict[str, set[str]] = {}
            for model, row in rows:
                run_id = row.run_id
                assert run_id is not None
                if run_id not in views_of:
                    try:
                        tag = self._tracking.get_run(run_id).tags.get(FEATURES_TAG, "")
                    except _NotFound:
                        tag = ""
                    views_of[run_id] = {v for v in str(tag).split(",") if v}
                if view in views_of[run_id]:
                    out.extend(self._infos(session, project_row.name, model, [row]))
            return out

    def events(
        self, project: str, name: str, *, limit: int = 200, version: int | None = None
    ) -> builtins.list[ModelEvent]:
        """The model's changes, newest first (optionally those of one version)."""
        if not 1 <= limit <= MAX_EVENTS:
            raise InvalidInput(f"limit must be from 1 to {MAX_EVENTS}.")
        project_row = self._projects.get(project)
        with self._db.session() as session:
            model = self._model_row(session, project_row, name)
            query = select(ModelEventRow).where(ModelEventRow.model_id == model.id)
            if version is not None:
                query = query.where(ModelEventRow.version == version)
            rows = session.scalars(
                query.order_by(ModelEventRow.at.desc(), ModelEventRow.id.desc()).limit(limit)
            ).all()
            return [_event_info(project_row.name, model.name, r) for r in rows]

    def card(self, project: str, name: str, ref: int | str = "latest") -> str:
        """The version's model card, in Markdown."""
        version = self.version(project, name, ref)
        model = self.get(project, name)
        run_name = None
        if version.run_id is not None:
            try:
                run_name = self._tracking.get_run(version.run_id).name
            except NotFound:
                run_name = None
        history = self.events(project, name, limit=50)
        return model_card(model, version, history, run_name=run_name)

    # -- changing ------------------------------------------------------------------------------

    def set_alias(
        self, project: str, name: str, alias: str, ref: int | str, *, actor: str, reason: str = ""
    ) -> ModelVersion:
        """Point ``alias`` at a version (moving it if it named another); record the event.

        Raises:
            NotFound: no such version (the message lists the versions).
            Conflict: the version is archived.
        """
        validate_model_alias(alias)
        validate_text(reason, "reason", MAX_REASON)
        actor = validate_actor(actor)
        target = self.version(project, name, ref)
        if target.status == "archived":
            raise Conflict(
                f"{target.ref} is archived: an alias cannot point at it. Set its status back to "
                f"'registered' or 'approved' first."
            )
        model = self.get(project, name)
        for _ in range(2):
            try:
                with self._db.transaction() as session:
                    row = session.get(ModelAliasRow, (model.id, alias))
                    if row is not None and row.version_id == target.id:
                        break  # already there: no change, no event
                    old = None
                    if row is None:
                        session.add(
                            ModelAliasRow(model_id=model.id, alias=alias, version_id=target.id)
                        )
                    else:
                        previous = session.get(ModelVersionRow, row.version_id)
                        old = None if previous is None else str(previous.number)
                        row.version_id = target.id
                    session.add(
                        _event(
                            model.id,
                            "alias_set",
                            actor,
                            reason,
                            version=target.number,
                            alias=alias,
                            old=old,
                            new=str(target.number),
                        )
                    )
                break
            except IntegrityError:
                continue  # set by another writer at the same moment: set it again, over theirs
        return self._version_by_id(target.id)

    def remove_alias(
        self, project: str, name: str, alias: str, *, actor: str, reason: str = ""
    ) -> None:
        """Remove an alias (NotFound when the model has no such alias); record the event."""
        validate_model_alias(alias)
        validate_text(reason, "reason", MAX_REASON)
        actor = validate_actor(actor)
        model = self.get(project, name)
        with self._db.transaction() as session:
            row = session.get(ModelAliasRow, (model.id, alias))
            if row is None:
                raise NotFound(
                    f"Model {name!r} has no alias {alias!r}.{did_you_mean(alias, model.aliases)}"
                    f" Aliases: {_aliases_text(model.aliases)}."
                )
            version = session.get(ModelVersionRow, row.version_id)
            number = None if version is None else version.number
            session.delete(row)
            session.add(
                _event(
                    model.id,
                    "alias_removed",
                    actor,
                    reason,
                    version=number,
                    alias=alias,
                    old=None if number is None else str(number),
                )
            )

    def set_status(
        self,
        project: str,
        name: str,
        ref: int | str,
        status: ModelStatus,
        *,
        actor: str,
        reason: str = "",
    ) -> ModelVersion:
        """Change a version's status (``registered``, ``approved``, ``archived``); record it.

        Raises:
            Conflict: archiving a version an alias points at (move the alias first).
        """
        status = validate_status(status)
        validate_text(reason, "reason", MAX_REASON)
        actor = validate_actor(actor)
        target = self.version(project, name, ref)
        if target.status == status:
            return target
        if status == "archived" and target.aliases:
            raise Conflict(
                f"{target.ref} is {_aliases_text(dict.fromkeys(target.aliases, target.number))}: "
                f"move or remove those aliases before archiving it."
            )
        model = self.get(project, name)
        with self._db.transaction() as session:
            row = session.get(ModelVersionRow, target.id, with_for_update=True)
            if row is None:  # pragma: no cover - versions are never deleted
                raise NotFound(f"{target.ref} no longer exists.")
            old = row.status
            row.status = status
            session.add(
                _event(
                    model.id,
                    "status_changed",
                    actor,
                    reason,
                    version=target.number,
                    old=old,
                    new=status,
                )
            )
        return self._version_by_id(target.id)

    # -- internals -----------------------------------------------------------------------------

    def _manifest_of(self, run_id: str, path: str) -> str:
        wanted = f"{path}/{PACKAGE_FILE}"
        artifacts = self._tracking.list_artifacts(run_id)
        for artifact in artifacts:
            if artifact.path == wanted:
                return artifact.digest
        logged = [
            a.path.removesuffix(f"/{PACKAGE_FILE}")
            for a in artifacts
            if a.path.endswith(f"/{PACKAGE_FILE}")
        ]
        hint = (
            f" It has: {', '.join(repr(p) for p in logged)}.{did_you_mean(path, logged)}"
            if logged
            else " It has none: log one with ll.log_model(model, 'model') inside the run."
        )
        raise NotFound(f"Run {run_id} has no model logged at {path!r}.{hint}")

    def _training_data(self, run_id: str) -> builtins.list[TrainingData]:
        lineage = self._datasets.lineage(run_id=run_id, depth=1)
        out = []
        for key in lineage.upstream:
            node = lineage.nodes[key]
            if node.kind != "version":
                continue
            v = self._datasets.version_by_id(node.id)
            out.append(
                TrainingData(v.id, v.project, v.dataset, v.number, v.digest, v.profile_digest)
            )
        return out

    def _ensure_model(self, project: Project, name: str) -> str:
        try:
            with self._db.transaction() as session:
                row = self._find(session, project.id, name)
                if row is None:
                    row = ModelRow(project_id=project.id, name=name, description="")
                    session.add(row)
                    session.flush()
                return row.id
        except IntegrityError:
            pass  # created by another writer meanwhile: theirs is ours
        with self._db.session() as session:
            found = self._find(session, project.id, name)
            assert found is not None
            return found.id

    def _find(self, session: Session, project_id: str, name: str) -> ModelRow | None:
        return session.scalars(
            select(ModelRow).where(ModelRow.project_id == project_id, ModelRow.name == name)
        ).one_or_none()

    def _model_row(self, session: Session, project: Project, name: str) -> ModelRow:
        validate_model_name(name)
        row = self._find(session, project.id, name)
        if row is not None:
            return row
        names = session.scalars(select(ModelRow.name).where(ModelRow.project_id == project.id))
        elsewhere = session.execute(
            select(ModelRow.project_id).where(ModelRow.name == name).limit(3)
        ).scalars()
        others = [self._projects.get_by_id(p).name for p in elsewhere]
        hint = (
            f" A model {name!r} exists in project {others[0]!r}: use models:/{others[0]}/{name}."
            if others
            else ""
        )
        raise NotFound(
            f"Model {name!r} not found in project {project.name!r}."
            f"{did_you_mean(name, list(names))}{hint}"
        )

    def _version_row(self, session: Session, model: ModelRow, ref: int | str) -> ModelVersionRow:
        query = select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
        if ref == "latest":
            row = session.scalars(query.order_by(ModelVersionRow.number.desc()).limit(1)).first()
            if row is None:
                raise NotFound(f"Model {model.name!r} has no versions yet.")
            return row
        if isinstance(ref, int):
            row = session.scalars(query.where(ModelVersionRow.number == ref)).one_or_none()
            if row is None:
                numbers = session.scalars(
                    select(ModelVersionRow.number).where(ModelVersionRow.model_id == model.id)
                ).all()
                have = f"versions 1 to {max(numbers)}" if numbers else "no versions yet"
                raise NotFound(f"Model {model.name!r} has no version {ref}; it has {have}.")
            return row
        alias = session.get(ModelAliasRow, (model.id, ref))
        if alias is None:
            aliases = self._alias_map(session, [model.id]).get(model.id, {})
            raise NotFound(
                f"Model {model.name!r} has no alias {ref!r}.{did_you_mean(ref, aliases)} "
                f"Aliases: {_aliases_text(aliases)}."
            )
        row = session.get(ModelVersionRow, alias.version_id)
        assert row is not None
        return row

    def _version_by_id(self, version_id: str) -> ModelVersion:
        with self._db.session() as session:
            row = session.get(ModelVersionRow, version_id)
            if row is None:
                raise NotFound(f"No model version with id {version_id}.")
            model = session.get(ModelRow, row.model_id)
            assert model is not None
            project = self._projects.get_by_id(model.project_id)
            return self._infos(session, project.name, model, [row])[0]

    def _alias_map(self, session: Session, model_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        if not model_ids:
            return out
        rows = session.execute(
            select(ModelAliasRow.model_id, ModelAliasRow.alias, ModelVersionRow.number)
            .join(ModelVersionRow, ModelVersionRow.id == ModelAliasRow.version_id)
            .where(ModelAliasRow.model_id.in_(model_ids))
        )
        for model_id, alias, number in rows:
            out.setdefault(model_id, {})[alias] = number
        return {k: dict(sorted(v.items())) for k, v in out.items()}

    def _infos(
        self, session: Session, project: str, model: ModelRow, rows: Sequence[ModelVersionRow]
    ) -> builtins.list[ModelVersion]:
        aliases = self._alias_map(session, [model.id]).get(model.id, {})
        by_number: dict[int, builtins.list[str]] = {}
        for alias, number in aliases.items():
            by_number.setdefault(number, []).append(alias)
        return [_version_info(project, model.name, r, by_number.get(r.number, [])) for r in rows]

    def _models(
        self, session: Session, project: Project, rows: Sequence[ModelRow]
    ) -> builtins.list[RegisteredModel]:
        ids = [r.id for r in rows]
        counts: dict[str, int] = {}
        latest: dict[str, ModelVersionRow] = {}
        if ids:
            counts = dict(
                session.execute(
                    select(ModelVersionRow.model_id, func.count())
                    .where(ModelVersionRow.model_id.in_(ids))
                    .group_by(ModelVersionRow.model_id)
                ).all()
            )
            newest = (
                select(ModelVersionRow.model_id, func.max(ModelVersionRow.number).label("n"))
                .where(ModelVersionRow.model_id.in_(ids))
                .group_by(ModelVersionRow.model_id)
                .subquery()
            )
            for version_row in session.scalars(
                select(ModelVersionRow).join(
                    newest,
                    (ModelVersionRow.model_id == newest.c.model_id)
                    & (ModelVersionRow.number == newest.c.n),
                )
            ):
                latest[version_row.model_id] = version_row
        aliases = self._alias_map(session, ids)
        out = []
        for row in rows:
            model_aliases = aliases.get(row.id, {})
            newest_row = latest.get(row.id)
            newest_info = None
            if newest_row is not None:
                names = [a for a, n in model_aliases.items() if n == newest_row.number]
                newest_info = _version_info(project.name, row.name, newest_row, names)
            out.append(
                RegisteredModel(
                    id=row.id,
                    project=project.name,
                    name=row.name,
                    description=row.description,
                    created_at=row.created_at,
                    version_count=counts.get(row.id, 0),
                    latest=newest_info,
                    aliases=model_aliases,
                )
            )
        return out


def _event(
    model_id: str,
    kind: EventKind,
    actor: str,
    reason: str,
    *,
    version: int | None = None,
    alias: str | None = None,
    old: str | None = None,
    new: str | None = None,
) -> ModelEventRow:
    return ModelEventRow(
        model_id=model_id,
        kind=kind,
        actor=actor,
        reason=reason,
        version=version,
        alias=alias,
        old=old,
        new=new,
    )


def _event_info(project: str, model: str, row: ModelEventRow) -> ModelEvent:
    return ModelEvent(
        id=row.id,
        project=project,
        model=model,
        kind=row.kind,  # type: ignore[arg-type]
        at=row.at,
        actor=row.actor,
        reason=row.reason,
        version=row.version,
        alias=row.alias,
        old=row.old,
        new=row.new,
    )


def _training_dict(t: TrainingData) -> dict[str, Any]:
    return {
        "version_id": t.version_id,
        "project": t.project,
        "dataset": t.dataset,
        "number": t.number,
        "digest": t.digest,
        "profile_digest": t.profile_digest,
    }


def _version_info(
    project: str, model: str, row: ModelVersionRow, aliases: builtins.list[str]
) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        project=project,
        model=model,
        number=row.number,
        status=row.status,  # type: ignore[arg-type]
        flavor=row.flavor,
        package_digest=row.package_digest,
        created_at=row.created_at,
        creator=row.creator,
        description=row.description,
        run_id=row.run_id,
        artifact_path=row.artifact_path,
        size=row.size,
        signature=None if row.signature is None else json.loads(row.signature),
        requirements=json.loads(row.requirements),
        libraries=json.loads(row.libraries),
        metrics=json.loads(row.metrics),
        training_data=[TrainingData(**t) for t in json.loads(row.training_data)],
        profile_digest=row.profile_digest,
        aliases=sorted(aliases),
    )


def _aliases_text(aliases: dict[str, int]) -> str:
    if not aliases:
        return "none yet"
    return ", ".join(f"{a} -> {n}" for a, n in aliases.items())
