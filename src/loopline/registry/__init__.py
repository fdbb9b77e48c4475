"""The model registry: versions, aliases, statuses, signatures, flavors, lineage and model cards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.registry._card import describe_event, model_card
from loopline.registry._compare import ModelComparison, compare_versions
from loopline.registry._signature import (
    ColumnSpec,
    Schema,
    SchemaMismatch,
    Signature,
    TensorSpec,
    infer_schema,
    infer_signature,
)
from loopline.registry._types import (
    MODEL_STATUSES,
    PACKAGE_FILE,
    EventKind,
    ModelEvent,
    ModelStatus,
    ModelUri,
    ModelVersion,
    RegisteredModel,
    TrainingData,
    parse_model_uri,
    validate_artifact_name,
    validate_model_alias,
    validate_model_name,
    validate_model_ref,
    validate_status,
)

if TYPE_CHECKING:
    from loopline.registry._package import LoadedModel, ModelLibraryWarning
    from loopline.registry._service import RegistryService

__all__ = [
    "RegistryService",
    "RegisteredModel",
    "ModelVersion",
    "ModelEvent",
    "EventKind",
    "ModelStatus",
    "MODEL_STATUSES",
    "TrainingData",
    "ModelUri",
    "ModelComparison",
    "LoadedModel",
    "ModelLibraryWarning",
    "Signature",
    "Schema",
    "ColumnSpec",
    "TensorSpec",
    "SchemaMismatch",
    "PACKAGE_FILE",
    "infer_schema",
    "infer_signature",
    "compare_versions",
    "model_card",
    "describe_event",
    "parse_model_uri",
    "validate_artifact_name",
    "validate_model_alias",
    "validate_model_name",
    "validate_model_ref",
    "validate_status",
]

_LAZY = {
    # The service needs SQLAlchemy; remote clients only need the value types above.
    "RegistryService": "loopline.registry._service",
    "LoadedModel": "loopline.registry._package",
    "ModelLibraryWarning": "loopline.registry._package",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopline.registry' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
