"""Hardening the whole app shares: body limits (413), security headers, no stack traces,
artifact paths confined to their run."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from tests.fixtures.server import serving

from loopline.backends import LocalBackend
from loopline.server import _security, create_app
from loopline.server._errors import install_error_handlers


def raw_request(
    url: str, method: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """Send the path and headers exactly as given (httpx would normalise '..' and check them)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        conn.putrequest(method, parts.path, skip_accept_encoding=True)
        for name, value in (headers or {"Content-Length": str(len(body))}).items():
            conn.putheader(name, value)
        conn.endheaders(body)
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


@pytest.fixture
def small_limits_url(local_backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server whose limits are small enough to pass in a test: 1 KiB bodies, 4 KiB uploads."""
    monkeypatch.setattr(_security, "MAX_BODY", 1024)
    monkeypatch.setattr(_security, "MAX_UPLOAD", 4096)
    with serving(create_app(backend=local_backend)) as url:
        yield url


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(
    small_limits_url: str,
) -> None:
    big = {"project": "demo", "name": "x" * 2000}
    answer = httpx.post(f"{small_limits_url}/api/v1/runs", json=big)
    assert answer.status_code == 413
    error = answer.json()["error"]
    assert "1,024-byte limit" in error["message"]
    assert error["details"] == {"limit": 1024}


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(small_limits_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"project": "demo", "name": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'"}'

    answer = httpx.post(
        f"{small_limits_url}/api/v1/runs",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413


def test_uploads_have_their_own_larger_limit(
    small_limits_url: str, local_backend: LocalBackend
) -> None:
    run = local_backend.create_run("demo")
    exp = local_backend.get_project("demo").id
    url = f"{small_limits_url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run.id}/artifacts/a.bin"
    assert httpx.put(url, content=b"x" * 3000).status_code == 200  # over 1 KiB, under 4 KiB
    assert httpx.put(url, content=b"x" * 5000).status_code == 413
    status, _ = raw_request(url, "PUT", b"x", {"Content-Length": "abc"})
    assert status == 400


def test_security_headers(server_url: str) -> None:
    page = httpx.get(f"{server_url}/ui", follow_redirects=True)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-eval" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    api = httpx.get(f"{server_url}/api/v1/projects")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["referrer-policy"] == "same-origin"


def test_raw_artifacts_are_sandboxed(server_url: str, local_backend: LocalBackend) -> None:
    run = local_backend.create_run("demo")
    local_backend.log_artifact(run.id, "page.html", b"<script>alert(1)</script>")
    raw = httpx.get(f"{server_url}/ui/runs/{run.id}/artifacts/raw", params={"path": "page.html"})
    assert "sandbox" in raw.headers["content-security-policy"]


def test_an_unexpected_error_shows_no_stack_trace() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals at /srv/app.py line 12")

    with serving(app) as url:
        answer = httpx.get(f"{url}/boom")
    assert answer.status_code == 500
    assert "Traceback" not in answer.text
    assert "secret internals" not in answer.text
    assert answer.json()["error"]["message"].startswith("Internal server error (RuntimeError)")


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "a/../../b",
        "./x",
        "a\\..\\b",
        "%2e%2e/secret",
    ],
)
def test_artifact_paths_are_confined_to_their_run(
    server_url: str, local_backend: LocalBackend, bad: str
) -> None:
    run = local_backend.create_run("demo")
    exp = local_backend.get_project("demo").id
    base = f"{server_url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run.id}/artifacts/"
    status, body = raw_request(base + bad, "PUT", b"data")  # sent as written, not normalised
    assert status in (400, 404), body
    assert json.loads(body)["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    assert local_backend.list_artifacts(run.id) == []
