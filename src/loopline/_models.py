"""Models from Python: ``ll.log_model``, ``ll.register_model``, ``ll.load_model``,
``ll.set_alias``, ``ll.compare_models``, and :class:`ModelRegistry` beneath them.

A logged model is a folder of files (written by its flavor) plus ``loopline-model.json``, stored
as artifacts of the run, each file a content-addressed blob. Registering it makes a numbered
version that records the run, its metrics, the dataset versions it read, and the model's
signature and requirements. Loading fetches the files into a cache under the Loopline home
(``<home>/models/<digest>/``), checks each against its digest, and hands the folder to the
flavor.

Loading a pickled model (the sklearn, pyfunc and LightGBM scikit-learn-style flavors) runs code
from its files: load only models registered in your own store by people you trust.
"""

from __future__ import annotations

import builtins
import hashlib
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from loopline._client import Client, default_client
from loopline._runs import ActiveRun, require_run
from loopline.errors import CorruptBlob, InvalidInput, NotFound
from loopline.registry import (
    PACKAGE_FILE,
    ModelComparison,
    ModelEvent,
    ModelStatus,
    ModelVersion,
    RegisteredModel,
    Signature,
    compare_versions,
    parse_model_uri,
    validate_artifact_name,
    validate_model_name,
)

if TYPE_CHECKING:
    from loopline.backends import Backend
    from loopline.registry import LoadedModel
    from loopline.registry._package import ModelPackage

__all__ = [
    "LoggedModel",
    "ModelRegistry",
    "log_model",
    "register_model",
    "load_model",
    "set_alias",
    "compare_models",
]


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """A model logged in a run, before (or without) registration.

    Example:
        >>> logged = ll.log_model(clf, "model", input_example=X[:5])
        >>> logged.uri
        'runs:/6f1c.../model'
    """

    run_id: str
    project: str
    path: str
    flavor: str
    package_digest: str
    size: int
    signature: Signature | None = None

    @property
    def uri(self) -> str:
        return f"runs:/{self.run_id}/{self.path}"


class ModelRegistry:
    """The registry through one :class:`~loopline.Client`: the explicit object under the
    one-liners (``ll.register_model`` is ``ModelRegistry().register``).

    Args:
        client: the client to use (default: the one the one-liners use).

    Example:
        >>> registry = ll.ModelRegistry()
        >>> [m.name for m in registry.list("vision")]
        ['digits']
        >>> registry.set_status("digits", 3, "approved", reason="passed the holdout gate")
    """

    def __init__(self, client: Client | None = None) -> None:
        self.client = client if client is not None else default_client()

    @property
    def _backend(self) -> Backend:
        return self.client._backend

    def _project(self, project: str | None) -> str:
        return project or self.client.settings.project

    # -- logging and registering ---------------------------------------------------------------

    def log_model(
        self,
        model: Any,
        name: str = "model",
        *,
        flavor: str | None = None,
        signature: Signature | Mapping[str, Any] | bool | None = None,
        input_example: Any = None,
        requirements: Sequence[str] | None = None,
        artifacts: Mapping[str, str | Path] | None = None,
        options: Mapping[str, Any] | None = None,
        run: ActiveRun | None = None,
    ) -> LoggedModel:
        """Save ``model`` with its flavor and store it in the current run (see ``ll.log_model``)."""
        from loopline.registry._package import save_package

        validate_artifact_name(name)
        run = run if run is not None else require_run()
        opts = dict(options or {})
        if artifacts:
            opts["artifacts"] = {str(k): str(v) for k, v in artifacts.items()}
        staging = self.client.settings.staging_dir / f"model-{uuid.uuid4().hex[:12]}"
        staging.mkdir(parents=True)
        try:
            package = save_package(
                model,
                staging,
                flavor=flavor,
                signature=signature,
                input_example=input_example,
                requirements=requirements,
                options=opts,
            )
            for f in package.files:
                self._backend.log_artifact(run.id, f"{name}/{f.path}", staging / f.path)
            manifest = self._backend.log_artifact(
                run.id, f"{name}/{PACKAGE_FILE}", (staging / PACKAGE_FILE).read_bytes()
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return LoggedModel(
            run_id=run.id,
            project=run.project,
            path=name,
            flavor=package.flavor,
            package_digest=manifest.digest,
            size=package.size,
            signature=package.signature,
        )

    def register(
        self,
        model: LoggedModel | str,
        name: str,
        *,
        project: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register a logged model as the next version of ``name`` (see ``ll.register_model``)."""
        validate_model_name(name)
        if isinstance(model, LoggedModel):
            run_id, path = model.run_id, model.path
            project = project or model.project
        else:
            uri = parse_model_uri(model)
            if uri.kind != "runs":
                raise InvalidInput(
                    f"register_model takes a logged model (runs:/<run id>/<path>, or what "
                    f"ll.log_model returned), not {model!r}: that one is registered already."
                )
            run_id, path = uri.run_id, uri.path
        return self._backend.register_model(
            project, name, run_id, path, description=description, actor=self.client.settings.actor
        )

    # -- loading -------------------------------------------------------------------------------

    def load(self, uri: str) -> LoadedModel:
        """The model at ``uri`` (``models:/name/3``, ``models:/name@alias``, ``runs:/id/model``)."""
        from loopline.registry._package import load_package

        parsed = parse_model_uri(uri)
        if parsed.kind == "runs":
            digest = self._manifest_in_run(parsed.run_id, parsed.path)
            source = str(parsed)
        else:
            project = self._project(parsed.project)
            version = self._backend.get_model_version(project, parsed.name, parsed.ref)
            digest = version.package_digest
            source = f"model {version.ref}"
            if isinstance(parsed.ref, str) and parsed.ref != "latest":
                source += f" (@{parsed.ref})"
        folder, package = self._fetch(digest, source)
        return load_package(folder, package, source)

    def _manifest_in_run(self, run_id: str, path: str) -> str:
        wanted = f"{path}/{PACKAGE_FILE}"
        for artifact in self._backend.list_artifacts(run_id):
            if artifact.path == wanted:
                return artifact.digest
        raise NotFound(f"Run {run_id} has no model logged at {path!r}.")

    def _fetch(self, digest: str, source: str) -> tuple[Path, ModelPackage]:
        """The model's files in the cache, each checked against its digest (fetched if absent
        or damaged)."""
        from loopline.registry._package import ModelPackage

        folder = self.client.settings.home / "models" / digest
        manifest_path = folder / PACKAGE_FILE
        if manifest_path.is_file() and _sha256(manifest_path) == digest:
            raw = manifest_path.read_bytes()
        else:
            raw = self._download(digest, None, source, PACKAGE_FILE)
        package = ModelPackage.from_json(raw, source)
        for f in package.files:
            dest = folder / _safe_path(f.path, source)
            if dest.is_file() and dest.stat().st_size == f.size and _sha256(dest) == f.digest:
                continue
            self._download(f.digest, dest, source, f.path)
        if not manifest_path.is_file():
            temp = folder / f".{PACKAGE_FILE}.{uuid.uuid4().hex[:8]}"
            folder.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(raw)
            temp.replace(manifest_path)  # last: a complete folder is one with its manifest
        return folder, package

    def _download(self, digest: str, dest: Path | None, source: str, file: str) -> bytes:
        try:
            if dest is None:
                return self._backend.get_blob(digest)
            self._backend.download_blob(digest, dest)
            return b""
        except CorruptBlob as exc:
            raise CorruptBlob(
                f"{source}: the model file {file!r} is corrupt (blob {digest} no longer matches "
                f"its digest: {exc.message}). Log and register the model again from its run.",
                details={**exc.details, "file": file, "digest": digest},
            ) from exc
        except NotFound as exc:
            raise NotFound(
                f"{source}: the model file {file!r} (blob {digest}) is missing from the store. "
                f"Log and register the model again from its run.",
                details={"file": file, "digest": digest},
            ) from exc

    # -- reading -------------------------------------------------------------------------------

    def list(self, project: str | None = None) -> list[RegisteredModel]:
        return self._backend.list_registered_models(self._project(project))

    def get(self, name: str, *, project: str | None = None) -> RegisteredModel:
        return self._backend.get_registered_model(self._project(project), name)

    def versions(self, name: str, *, project: str | None = None) -> builtins.list[ModelVersion]:
        """Every version of ``name``, newest first."""
        return self._backend.list_model_versions(self._project(project), name)

    def version(
        self, name: str, ref: int | str = "latest", *, project: str | None = None
    ) -> ModelVersion:
        """One version, by number, ``"latest"`` or alias."""
        return self._backend.get_model_version(self._project(project), name, ref)

    def events(
        self, name: str, *, project: str | None = None, limit: int = 200
    ) -> builtins.list[ModelEvent]:
        """Registrations, alias moves and status changes of ``name``, newest first."""
        return self._backend.model_events(self._project(project), name, limit=limit)

    def card(self, name: str, ref: int | str = "latest", *, project: str | None = None) -> str:
        """The version's model card, in Markdown."""
        return self._backend.model_card(self._project(project), name, ref)

    def compare(self, name: str, *refs: int | str, project: str | None = None) -> ModelComparison:
        """Versions of ``name`` side by side (see ``ll.compare_models``)."""
        if len(refs) < 2:
            raise InvalidInput("compare_models needs at least two versions, like (name, 3, 4).")
        return compare_versions([self.version(name, r, project=project) for r in refs])

    # -- changing ------------------------------------------------------------------------------

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | str,
        *,
        reason: str = "",
        project: str | None = None,
    ) -> ModelVersion:
        """Point ``alias`` at ``version`` (see ``ll.set_alias``)."""
        return self._backend.set_model_alias(
            self._project(project),
            name,
            alias,
            version,
            actor=self.client.settings.actor,
            reason=reason,
        )

    def remove_alias(
        self, name: str, alias: str, *, reason: str = "", project: str | None = None
    ) -> None:
        self._backend.remove_model_alias(
            self._project(project), name, alias, actor=self.client.settings.actor, reason=reason
        )

    def set_status(
        self,
        name: str,
        version: int | str,
        status: ModelStatus,
        *,
        reason: str = "",
        project: str | None = None,
    ) -> ModelVersion:
        """Mark a version ``registered``, ``approved`` or ``archived``; recorded as an event."""
        return self._backend.set_model_status(
            self._project(project),
            name,
            version,
            status,
            actor=self.client.settings.actor,
            reason=reason,
        )


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def _safe_path(path: str, source: str) -> PurePosixPath:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise InvalidInput(f"{source} names a file outside its folder: {path!r}.")
    return pure


# -- the one-liners ------------------------------------------------------------------------------


def log_model(
    model: Any,
    name: str = "model",
    *,
    flavor: str | None = None,
    signature: Signature | Mapping[str, Any] | bool | None = None,
    input_example: Any = None,
    requirements: Sequence[str] | None = None,
    artifacts: Mapping[str, str | Path] | None = None,
    options: Mapping[str, Any] | None = None,
) -> LoggedModel:
    """Save ``model`` in the current run, as ``name`` (a folder of its artifacts).

    Args:
        flavor: ``sklearn``, ``xgboost``, ``lightgbm``, ``torch``, ``onnx`` or ``pyfunc``;
            detected from the model's class when ``None``.
        signature: ``None`` infers it from ``input_example`` and the model's predictions on
            it; ``False`` records none; or a :class:`~loopline.registry.Signature`.
        input_example: a few rows of input (a DataFrame, an array, a dict of columns).
        requirements: pip requirements; ``None`` records the flavor's libraries as installed.
        artifacts: files a ``pyfunc`` model needs, by name (see ``load_context``).
        options: flavor options, e.g. ``{"init": {...}}`` for a torch state dict's class.

    Example:
        >>> with ll.start_run(project="vision"):
        ...     clf = LogisticRegression().fit(X, y)
        ...     logged = ll.log_model(clf, "model", input_example=X[:5])
    """
    return ModelRegistry().log_model(
        model,
        name,
        flavor=flavor,
        signature=signature,
        input_example=input_example,
        requirements=requirements,
        artifacts=artifacts,
        options=options,
    )


def register_model(
    model: LoggedModel | str, name: str, *, project: str | None = None, description: str = ""
) -> ModelVersion:
    """Register a logged model (``runs:/<run id>/model`` or what ``log_model`` returned) as the
    next version of ``name``, in its run's project unless ``project`` is given.

    Example:
        >>> v = ll.register_model(logged, "digits", description="logistic baseline")
        >>> v.number, v.uri
        (1, 'models:/vision/digits/1')
    """
    return ModelRegistry().register(model, name, project=project, description=description)


def load_model(uri: str) -> LoadedModel:
    """Load a model: ``models:/digits/3``, ``models:/digits@champion``,
    ``models:/vision/digits/latest`` or ``runs:/<run id>/model``.

    The project is ``LOOPLINE_PROJECT`` unless the URI names one. The result has ``predict``
    (checked against the signature) and ``predict_proba`` for classifiers.

    Example:
        >>> model = ll.load_model("models:/vision/digits@champion")
        >>> model.predict(X_test[:3])
        array([7, 2, 1])
    """
    return ModelRegistry().load(uri)


def set_alias(
    name: str, alias: str, version: int | str, *, reason: str = "", project: str | None = None
) -> ModelVersion:
    """Point ``alias`` (``champion``, ``challenger``, any name) at a version of ``name``; the
    move is recorded with who, when and ``reason``.

    Example:
        >>> ll.set_alias("digits", "champion", 3, reason="best F1 on the holdout")
    """
    return ModelRegistry().set_alias(name, alias, version, reason=reason, project=project)


def compare_models(name: str, *versions: int | str, project: str | None = None) -> ModelComparison:
    """Versions of a model side by side: metrics (with deltas) and what else differs.

    Example:
        >>> cmp = ll.compare_models("digits", 3, 4)
        >>> cmp.metric_delta("f1"), cmp.differences
        (0.012, ('signature',))
    """
    return ModelRegistry().compare(name, *versions, project=project)
