"""The HTTP server: health, readiness, metrics, error answers and idempotent writes."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline import errors
from loopline.backends import LocalBackend
from loopline.server import STATUS_CODES


def test_healthz_and_readyz_answer(server_url: str) -> None:
    health = httpx.get(f"{server_url}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    ready = httpx.get(f"{server_url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "blobs": "ok"}}


def test_readyz_is_503_when_the_schema_is_not_current(
    server_url: str, local_backend: LocalBackend
) -> None:
    from sqlalchemy import text

    with local_backend.db.transaction() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    ready = httpx.get(f"{server_url}/readyz")
    assert ready.status_code == 503
    assert "newer Loopline" in ready.json()["checks"]["database"]


def test_metrics_count_requests_by_route_template(server_url: str) -> None:
    httpx.post(f"{server_url}/api/v1/projects", json={"name": "m1"})
    httpx.get(f"{server_url}/api/v1/projects/m1")
    httpx.get(f"{server_url}/api/v1/projects/nope")
    text = httpx.get(f"{server_url}/metrics").text
    assert "# TYPE loopline_http_requests_total counter" in text
    route = 'route="/api/v1/projects/{name}"'
    assert f'loopline_http_requests_total{{method="GET",{route},status="404"}} 1.0' in text
    assert 'loopline_http_request_duration_seconds_bucket{le="0.005",method="POST"' in text


def test_unusual_methods_share_one_metrics_label(server_url: str) -> None:
    # Methods the HTTP parser lets through (httptools refuses made-up ones like FOO itself)
    # but the API does not use: each must not get a label of its own.
    for verb in ("PROPFIND", "MKCOL", "LOCK"):
        httpx.request(verb, f"{server_url}/healthz")
    text = httpx.get(f"{server_url}/metrics").text
    assert 'method="PROPFIND"' not in text
    assert 'loopline_http_requests_total{method="other"' in text


def test_readyz_is_503_when_the_blob_store_cannot_be_written(
    server_url: str, local_backend: LocalBackend
) -> None:
    import os
    from pathlib import Path

    if os.geteuid() == 0:
        # root writes through permission bits: make the root a file instead of a folder.
        root = Path(local_backend.settings.artifacts)
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        root.write_text("not a folder")
    ready = httpx.get(f"{server_url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["blobs"] != "ok"


def test_every_error_type_has_a_status_and_bad_input_is_4xx() -> None:
    from loopline.server._errors import status_for

    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.LooplineError):
            status = status_for(cls("x"))
            assert 400 <= status < 600
            if issubclass(cls, errors.InvalidInput | errors.NotFound | errors.Conflict):
                assert status < 500, name
    assert STATUS_CODES[-1][0] is errors.LooplineError


def test_error_answers_name_the_type_and_say_what_to_do(server_url: str) -> None:
    missing = httpx.get(f"{server_url}/api/v1/projects/ghost")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "NotFound"
    nowhere = httpx.get(f"{server_url}/api/v2/whatever")
    assert nowhere.status_code == 404
    assert "/docs" in nowhere.json()["error"]["message"]
    bad = httpx.post(f"{server_url}/api/v1/projects", json={"description": 3})
    assert bad.status_code == 422
    assert bad.json()["error"]["type"] == "InvalidInput"
    assert "name: Field required" in bad.json()["error"]["message"]
    not_json = httpx.post(
        f"{server_url}/api/v1/projects",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 422


def test_a_retried_write_is_applied_once_and_replayed(server_url: str) -> None:
    headers = {"Idempotency-Key": "k-123"}
    url = f"{server_url}/api/v1/projects"
    first = httpx.post(url, json={"name": "once"}, headers=headers)
    again = httpx.post(url, json={"name": "once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert [p["name"] for p in httpx.get(url).json()] == ["once"]


def test_a_key_reused_for_another_request_is_refused(server_url: str) -> None:
    url = f"{server_url}/api/v1/projects"
    httpx.post(url, json={"name": "a1"}, headers={"Idempotency-Key": "same"})
    other = httpx.post(url, json={"name": "a2"}, headers={"Idempotency-Key": "same"})
    assert other.status_code == 422
    assert "different request" in other.json()["error"]["message"]
    assert [p["name"] for p in httpx.get(url).json()] == ["a1"]


@pytest.mark.parametrize("key", ["", "x" * 201])
def test_malformed_idempotency_keys_are_refused(server_url: str, key: str) -> None:
    answer = httpx.post(
        f"{server_url}/api/v1/projects", json={"name": "k"}, headers={"Idempotency-Key": key}
    )
    assert answer.status_code == 400


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_JSON | st.fixed_dictionaries({"name": _JSON, "description": _JSON}))
def test_no_request_body_makes_the_server_answer_500(server_url: str, body: object) -> None:
    answer = httpx.post(f"{server_url}/api/v1/projects", json=body)
    assert answer.status_code < 500, answer.text
    assert "error" in answer.json() or answer.status_code == 201
