"""Backend selection: the URI picks the backend, and each mode loads only what it needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopline.backends import LocalBackend, RemoteBackend, open_backend
from loopline.config import Settings


def modules_loaded_by(code: str, tmp_path: Path) -> set[str]:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env["LOOPLINE_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout
    return {m.split(".")[0] for m in json.loads(out.splitlines()[-1])}


def test_the_uri_selects_the_backend(tmp_path: Path) -> None:
    local = open_backend(Settings.from_env({"LOOPLINE_HOME": str(tmp_path)}))
    assert isinstance(local, LocalBackend)
    local.close()
    remote = open_backend(Settings.from_env({"LOOPLINE_URI": "http://127.0.0.1:9"}))
    assert isinstance(remote, RemoteBackend)
    assert remote.location == "http://127.0.0.1:9"
    remote.close()


def test_import_loopline_loads_no_heavy_dependency(tmp_path: Path) -> None:
    loaded = modules_loaded_by("import loopline", tmp_path)
    heavy = {"sqlalchemy", "httpx", "pydantic", "fastapi", "fsspec", "s3fs", "boto3", "alembic"}
    assert loaded & heavy == set()


def test_a_local_client_does_not_load_the_http_client(tmp_path: Path) -> None:
    loaded = modules_loaded_by("import loopline as ll; ll.Client().list_projects()", tmp_path)
    assert "sqlalchemy" in loaded
    assert loaded & {"httpx", "fastapi", "fsspec", "s3fs"} == set()


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9"])
def test_a_remote_client_does_not_load_the_database_layer(tmp_path: Path, uri: str) -> None:
    loaded = modules_loaded_by(f"import loopline as ll; ll.Client({uri!r})", tmp_path)
    assert "httpx" in loaded
    assert loaded & {"sqlalchemy", "alembic", "psycopg"} == set()
