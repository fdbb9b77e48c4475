"""Blob store fixtures: the same store API on a local folder and on a real S3 server.

The S3 server fixtures (``s3_server``, ``s3_bucket``) come from the plugin ``tests.fixtures.s3``,
which the root conftest registers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.blobs.helpers import local_settings, s3_settings
from tests.fixtures.s3 import S3Server

from loopline.blobs import BlobStore, open_blob_store


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """A fresh blob store, on a local folder and on SeaweedFS (tests run on both)."""
    if request.param == "local":
        return open_blob_store(local_settings(tmp_path))
    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    return open_blob_store(s3_settings(tmp_path, server, bucket))
