"""Registry value objects and input rules: light (no database imports), shared by every layer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from loopline.errors import InvalidInput
from loopline.projects import validate_alias, validate_name, validate_version_ref

__all__ = [
    "ModelStatus",
    "MODEL_STATUSES",
    "EventKind",
    "TrainingData",
    "ModelVersion",
    "RegisteredModel",
    "ModelEvent",
    "ModelUri",
    "validate_model_name",
    "validate_model_alias",
    "validate_model_ref",
    "validate_status",
    "validate_artifact_name",
    "parse_model_uri",
    "PACKAGE_FILE",
    "MAX_DESCRIPTION",
    "MAX_REASON",
]

ModelStatus = Literal["registered", "approved", "archived"]
MODEL_STATUSES: tuple[ModelStatus, ...] = ("registered", "approved", "archived")
EventKind = Literal["registered", "alias_set", "alias_removed", "status_changed"]

PACKAGE_FILE = "loopline-model.json"
"""The file, inside a logged model's folder, that describes the model (its manifest)."""
MAX_DESCRIPTION = 10_000
MAX_REASON = 2_000
_ARTIFACT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}(?:/[A-Za-z0-9_][A-Za-z0-9._-]{0,99})*")


@dataclass(frozen=True, slots=True)
class TrainingData:
    """A dataset version the source run read, recorded with the model version it trained."""

    version_id: str
    project: str
    dataset: str
    number: int
    digest: str
    profile_digest: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.dataset}:{self.number}"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One immutable version of a registered model: what it is, where it came from, how to run it.

    Attributes:
        number: 1, 2, 3... in registration order within the model.
        status: ``registered``, then ``approved`` or ``archived`` (every change is an event).
        flavor: how the model is saved and loaded (``sklearn``, ``xgboost``, ``pyfunc``...).
        package_digest: the blob of the model's manifest (``loopline-model.json``), which names
            every file of the model by digest: two versions with the same digest are the same
            model.
        run_id: the run that logged the model (``None`` if that run was deleted since).
        artifact_path: where in the run the model was logged (``model``).
        size: bytes of the model's files.
        signature: input and output schema (see :class:`~loopline.registry.Signature`), as a dict.
        requirements: pip requirements to load it (``scikit-learn==1.6.1``...).
        libraries: versions of the libraries it was saved with.
        metrics: the latest value of each metric of the source run when it was registered.
        training_data: the dataset versions the source run read.
        profile_digest: the reference profile of the training data (drift monitoring compares
            live inputs with it): the profile blob of the first training dataset that has one.
        creator: who registered it.
    """

    id: str
    project: str
    model: str
    number: int
    status: ModelStatus
    flavor: str
    package_digest: str
    created_at: datetime
    creator: str
    description: str = ""
    run_id: str | None = None
    artifact_path: str = "model"
    size: int = 0
    signature: dict[str, Any] | None = None
    requirements: list[str] = field(default_factory=list)
    libraries: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    training_data: list[TrainingData] = field(default_factory=list)
    profile_digest: str | None = None
    aliases: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        """The URI that loads exactly this version: ``models:/project/name/3``."""
        return f"models:/{self.project}/{self.model}/{self.number}"

    @property
    def ref(self) -> str:
        """How people name it: ``project/name:3``."""
        return f"{self.project}/{self.model}:{self.number}"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model in a project, under which versions are registered.

    ``aliases`` maps each alias to the version number it points at; ``latest`` is the newest
    version (``None`` before the first).
    """

    id: str
    project: str
    name: str
    description: str
    created_at: datetime
    version_count: int = 0
    latest: ModelVersion | None = None
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """A change to a model, as the audit trail shows it: what, to which version, who, when, why.

    ``old`` and ``new`` are version numbers (as text) for alias events and statuses for status
    events.
    """

    id: str
    project: str
    model: str
    kind: EventKind
    at: datetime
    actor: str
    reason: str = ""
    version: int | None = None
    alias: str | None = None
    old: str | None = None
    new: str | None = None


@dataclass(frozen=True, slots=True)
class ModelUri:
    """A parsed ``models:/`` or ``runs:`` URI.

    ``models:/[project/]name`` followed by ``/3`` (a version), ``/latest`` or ``@alias``; or
    ``runs:/<run_id>/<path>`` (also written ``runs:<run_id>/<path>``) for a logged model.
    """

    kind: Literal["models", "runs"]
    name: str = ""
    project: str | None = None
    ref: int | str = "latest"
    run_id: str = ""
    path: str = ""

    def __str__(self) -> str:
        if self.kind == "runs":
            return f"runs:/{self.run_id}/{self.path}"
        where = f"{self.project}/{self.name}" if self.project else self.name
        if isinstance(self.ref, int) or self.ref == "latest":
            return f"models:/{where}/{self.ref}"
        return f"models:/{where}@{self.ref}"


def validate_model_name(name: object) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`InvalidInput`.

    Example:
        >>> validate_model_name("digits")
        'digits'
    """
    return validate_name(name, "model", "digits")


def validate_model_alias(alias: object) -> str:
    """An alias names one version (``champion``, ``challenger``); never a number or ``latest``."""
    return validate_alias(alias, "champion")


def validate_model_ref(ref: object) -> int | str:
    """A version as users name it: a number from 1, ``"latest"``, an alias, or digits as text."""
    return validate_version_ref(ref, "champion")


def validate_status(status: object) -> ModelStatus:
    for known in MODEL_STATUSES:
        if status == known:
            return known
    raise InvalidInput(
        f"Invalid model status {status!r}: expected one of {', '.join(MODEL_STATUSES)}."
    )


def validate_artifact_name(path: object) -> str:
    """Where in a run a model is logged: ``model``, ``models/ranker`` (no ``..``, no ``/`` ends)."""
    if not isinstance(path, str) or not _ARTIFACT.fullmatch(path) or ".." in path.split("/"):
        raise InvalidInput(
            f"Invalid model path {path!r}: use letters, digits, '.', '_' and '-', with '/' "
            f"between folders (for example 'model')."
        )
    return path


def parse_model_uri(uri: object) -> ModelUri:
    """Parse a model URI (see :class:`ModelUri`).

    Example:
        >>> parse_model_uri("models:/digits@champion")
        ModelUri(kind='models', name='digits', project=None, ref='champion', run_id='', path='')
        >>> parse_model_uri("models:/vision/digits/3").project
        'vision'
    """
    if not isinstance(uri, str):
        raise InvalidInput(f"A model URI is a string, not {type(uri).__name__}.")
    if uri.startswith("runs:"):
        rest = uri.removeprefix("runs:").lstrip("/")
        run_id, _, path = rest.partition("/")
        if not re.fullmatch(r"[0-9a-f]{32}", run_id) or not path:
            raise InvalidInput(
                f"Invalid model URI {uri!r}: expected runs:/<run id>/<path>, for example "
                f"runs:/{'0' * 32}/model."
            )
        return ModelUri("runs", run_id=run_id, path=validate_artifact_name(path.rstrip("/")))
    if not uri.startswith("models:/"):
        raise InvalidInput(
            f"Invalid model URI {uri!r}: expected models:/name/3, models:/name@alias, "
            f"models:/project/name/latest, or runs:/<run id>/model."
        )
    rest = uri.removeprefix("models:/")
    ref: int | str = "latest"
    if "@" in rest:
        rest, _, alias = rest.partition("@")
        ref = validate_model_alias(alias)
        parts = rest.split("/")
    else:
        parts = rest.split("/")
        if len(parts) >= 2 and (parts[-1] == "latest" or parts[-1].isdigit()):
            ref = validate_model_ref(parts[-1])
            parts = parts[:-1]
    if len(parts) == 1:
        return ModelUri("models", name=validate_model_name(parts[0]), ref=ref)
    if len(parts) == 2:
        from loopline.projects import validate_project_name

        return ModelUri(
            "models",
            name=validate_model_name(parts[1]),
            project=validate_project_name(parts[0]),
            ref=ref,
        )
    raise InvalidInput(
        f"Invalid model URI {uri!r}: expected models:/[project/]name followed by /<version>, "
        f"/latest or @<alias>."
    )
