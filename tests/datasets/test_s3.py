"""Datasets on the S3 blob backend (a real SeaweedFS server), embedded and through a server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fixtures.s3 import S3Server
from tests.fixtures.server import serving

import loopline as ll
from loopline import Client
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.server import create_app

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_settings(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> Settings:
    return Settings.from_env(
        {
            "LOOPLINE_HOME": str(tmp_path / "home"),
            "LOOPLINE_ARTIFACTS": f"s3://{s3_bucket}/blobs",
            "LOOPLINE_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "LOOPLINE_S3_KEY": s3_server.key,
            "LOOPLINE_S3_SECRET": s3_server.secret,
        }
    )


@pytest.fixture(params=["local", "remote"])
def s3_client(request: pytest.FixtureRequest, s3_settings: Settings) -> Iterator[Client]:
    if request.param == "local":
        with Client(settings=s3_settings) as c:
            yield c
        return
    backend = LocalBackend.open(s3_settings)
    try:
        with serving(create_app(backend=backend)) as url:
            home = s3_settings.home / "client"
            with Client(
                settings=Settings.from_env({"LOOPLINE_URI": url, "LOOPLINE_HOME": str(home)})
            ) as c:
                yield c
    finally:
        backend.close()


def test_commit_and_copy_on_s3(s3_client: Client, files: Path, tmp_path: Path) -> None:
    ds = ll.Dataset.create("d", client=s3_client)
    ds.add_files(files)
    v1 = ds.commit()
    (files / "a.txt").write_text("edited\n")
    ds.add_files(files / "a.txt")
    v2 = ds.commit()
    assert (v2.info.modified, v2.file_count) == (1, 3)
    folder = v2.local_copy(tmp_path / "copy")
    assert (folder / "a.txt").read_text() == "edited\n"
    assert (folder / "sub" / "c.txt").read_text() == "gamma\n"
    # The blobs were downloaded once into the local cache; the copy links to them.
    cache = s3_client.settings.home / "cache" / "blobs"
    assert len([p for p in cache.rglob("*") if p.is_file()]) == 3
    assert v1.local_copy(tmp_path / "old").joinpath("a.txt").read_text() == "alpha\n"
    with v1.open("b.txt") as f:
        assert f.read() == b"beta\n"
    assert ll.Dataset.diff(v1, v2).modified[0].path == "a.txt"
