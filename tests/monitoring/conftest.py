"""Monitoring fixtures: an evaluation store on a local folder and on a real S3 server."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.fixtures.s3 import S3Server

from loopline.config import Settings
from loopline.monitoring import EvaluationStore


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EvaluationStore:
    """A fresh evaluation store, in a folder and on SeaweedFS (tests run on both)."""
    if request.param == "local":
        return EvaluationStore(str(tmp_path / "evaluations"))
    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    settings = Settings.from_env(
        {
            "LOOPLINE_HOME": str(tmp_path / "home"),
            "LOOPLINE_EVALUATION_URI": f"s3://{bucket}/evaluations",
            "LOOPLINE_S3_ENDPOINT_URL": server.endpoint_url,
            "LOOPLINE_S3_KEY": server.key,
            "LOOPLINE_S3_SECRET": server.secret,
        }
    )
    return EvaluationStore.from_settings(settings)
