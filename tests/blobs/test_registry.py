"""open_blob_store: from LOOPLINE_ARTIFACTS to a backend; bad settings give clear errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from tests.blobs.helpers import local_settings, s3_settings
from tests.fixtures.s3 import S3Server

from loopline.blobs import BlobStore, FsspecBackend, LocalFolderBackend, open_blob_store
from loopline.config import Settings
from loopline.errors import ConfigError, NotFound, StorageError


def test_a_folder_gives_a_local_store_staging_inside_its_root(tmp_path: Path) -> None:
    store = open_blob_store(local_settings(tmp_path, LOOPLINE_BLOB_FSYNC="1"))
    assert isinstance(store.backend, LocalFolderBackend)
    assert store.url == str(tmp_path / "blobs")
    ref = store.put_bytes(b"x")
    assert (tmp_path / "blobs" / "sha256" / ref.digest[:2] / ref.digest).is_file()
    assert (tmp_path / "blobs" / ".staging").is_dir()
    assert not (tmp_path / "home" / "staging").exists()


def test_a_file_url_is_a_folder(tmp_path: Path) -> None:
    store = open_blob_store(local_settings(tmp_path, LOOPLINE_ARTIFACTS=f"file://{tmp_path}/b"))
    assert isinstance(store.backend, LocalFolderBackend)
    assert store.url == str(tmp_path / "b")


def test_the_default_is_the_blobs_folder_of_the_home(tmp_path: Path) -> None:
    store = open_blob_store(Settings.from_env({"LOOPLINE_HOME": str(tmp_path)}))
    assert store.url == str(tmp_path / "blobs")


@pytest.mark.s3
def test_s3_gives_an_fsspec_store_staging_in_the_home(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    store = open_blob_store(s3_settings(tmp_path, s3_server, s3_bucket))
    assert isinstance(store.backend, FsspecBackend)
    assert store.url == f"s3://{s3_bucket}/blobs"
    assert s3_server.endpoint_url in repr(store)
    store.put_bytes(b"x")
    assert (tmp_path / "home" / "staging").is_dir()


def test_another_fsspec_protocol(tmp_path: Path) -> None:
    root = f"memory://test-{uuid.uuid4().hex}/blobs"
    store = open_blob_store(local_settings(tmp_path, LOOPLINE_ARTIFACTS=root))
    assert isinstance(store.backend, FsspecBackend)
    ref = store.put_bytes(b"in memory")
    assert store.get_bytes(ref.digest) == b"in memory"
    store.backend.fs.rm(root, recursive=True)


def test_an_unknown_scheme_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        open_blob_store(local_settings(tmp_path, LOOPLINE_ARTIFACTS="nosuch://bucket/x"))
    message = str(caught.value)
    assert "LOOPLINE_ARTIFACTS='nosuch://bucket/x'" in message
    assert "unknown scheme 'nosuch'" in message
    assert "s3://bucket/prefix" in message


def test_a_misspelt_scheme_gets_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 's3'"):
        open_blob_store(local_settings(tmp_path, LOOPLINE_ARTIFACTS="ss3://bucket/x"))


def test_a_protocol_whose_package_is_missing_is_a_config_error(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    if _importable("gcsfs"):
        pytest.skip("gcsfs is installed here")
    with pytest.raises(ConfigError, match="gcsfs"):
        open_blob_store(local_settings(tmp_path, LOOPLINE_ARTIFACTS="gcs://bucket/blobs"))


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on leaving: nobody listens there


def test_an_s3_endpoint_that_refuses_connections(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    server = S3Server(endpoint, "testkey", "testsecret")
    store = open_blob_store(s3_settings(tmp_path, server, "bucket", LOOPLINE_HTTP_RETRIES="1"))
    for call in (
        lambda: store.put_bytes(b"x"),
        lambda: store.exists("0" * 64),
        lambda: store.get_bytes("0" * 64),
    ):
        with pytest.raises(StorageError) as caught:
            call()
        message = str(caught.value)
        assert endpoint in message
        assert "LOOPLINE_S3_ENDPOINT_URL" in message
        assert "\n" not in message
    assert list((tmp_path / "home").rglob("*.part")) == []


@pytest.mark.s3
def test_wrong_s3_credentials(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    wrong = S3Server(s3_server.endpoint_url, s3_server.key, "not-the-secret")
    store = open_blob_store(s3_settings(tmp_path, wrong, s3_bucket, LOOPLINE_HTTP_RETRIES="1"))
    for call in (lambda: store.put_bytes(b"x"), lambda: store.get_bytes("0" * 64)):
        with pytest.raises(StorageError, match="LOOPLINE_S3_SECRET") as caught:
            call()
        assert "Access denied" in str(caught.value)


@pytest.mark.s3
def test_a_missing_bucket(tmp_path: Path, s3_server: S3Server) -> None:
    store = open_blob_store(s3_settings(tmp_path, s3_server, f"missing-{uuid.uuid4().hex[:12]}"))
    assert not store.exists("0" * 64)
    with pytest.raises(NotFound, match=r"does not exist .* create it"):
        store.get_bytes("0" * 64)


PLUGIN = """
from pathlib import Path

from loopline.blobs import BlobStore, LocalFolderBackend


def open_store(url, settings):
    backend = LocalFolderBackend(Path(url.split("://", 1)[1]))
    return BlobStore(backend, backend.staging_dir)
"""


def test_a_plugin_adds_a_scheme_through_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real installed distribution, as pip would leave it: a module and its .dist-info.
    site = tmp_path / "site"
    info = site / "loopline_demo_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: loopline-demo-plugin\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[loopline.blob_backends]\ndemo = loopline_demo_plugin:open_store\n", encoding="utf-8"
    )
    (site / "loopline_demo_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    store = open_blob_store(local_settings(tmp_path, LOOPLINE_ARTIFACTS=f"demo://{tmp_path}/d"))
    assert isinstance(store, BlobStore)
    assert store.url == str(tmp_path / "d")
    assert store.get_bytes(store.put_bytes(b"plugged in").digest) == b"plugged in"


def test_importing_loopline_does_not_import_storage_libraries() -> None:
    code = textwrap.dedent(
        """
        import sys
        import loopline
        import loopline.blobs
        heavy = ("fsspec", "s3fs", "boto3", "botocore", "aiobotocore")
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
