"""The MLflow-compatible tracking API: MLflow's REST calls translated onto Loopline's services."""

from loopline.mlflow_compat._service import (
    DEFAULT_EXPERIMENT,
    ArtifactPlace,
    MlflowService,
    translate_filter,
    translate_order,
)

__all__ = [
    "MlflowService",
    "ArtifactPlace",
    "DEFAULT_EXPERIMENT",
    "translate_filter",
    "translate_order",
]
