"""Accounts over HTTP with auth on: sign-in, cookies and CSRF, rate limits, tokens, members,
quotas, the audit log and the bootstrap admin."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.fixtures.server import serving
from tests.server._secured import PASSWORD, Secured, secured_server

from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.server import create_app


@pytest.fixture
def secured(settings: Settings) -> Iterator[Secured]:
    with secured_server(settings) as server:
        yield server


def login(client: httpx.Client, user: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"user": user, "password": password})


def test_sign_in_sets_a_strict_http_only_cookie(secured: Secured) -> None:
    with httpx.Client(base_url=secured.url) as client:
        answer = login(client, "editor")
        assert answer.status_code == 200
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert answer.json()["user"] == "editor"
        me = client.get("/api/v1/me").json()
        assert me["user"]["name"] == "editor"
        assert me["roles"] == {"demo": "editor"}
        client.post("/api/v1/auth/logout", headers={"x-csrf-token": answer.json()["csrf_token"]})
        assert client.get("/api/v1/me").status_code == 401


def test_changes_with_a_cookie_need_the_csrf_token_or_our_origin(secured: Secured) -> None:
    with httpx.Client(base_url=secured.url) as client:
        csrf = login(client, "editor").json()["csrf_token"]
        body = {"project": "demo"}
        forged = client.post("/api/v1/runs", json=body, headers={"origin": "https://evil.test"})
        assert forged.status_code == 401
        assert "CSRF" in forged.json()["error"]["message"]
        assert client.post("/api/v1/runs", json=body).status_code == 401  # no origin at all
        with_token = client.post("/api/v1/runs", json=body, headers={"x-csrf-token": csrf})
        assert with_token.status_code == 201
        same_origin = client.post("/api/v1/runs", json=body, headers={"origin": secured.url})
        assert same_origin.status_code == 201


def test_failed_sign_ins_are_rate_limited(secured: Secured) -> None:
    with httpx.Client(base_url=secured.url) as client:
        for _ in range(5):
            assert login(client, "viewer", "not the password").status_code == 403
        blocked = login(client, "viewer")  # even the right password, for a while
        assert blocked.status_code == 429
        assert "try again in" in blocked.json()["error"]["message"]
    entries = secured.accounts.audit(user="viewer")
    assert [e.status for e in entries][:2] == [429, 403]
    assert all(PASSWORD not in e.path for e in entries)


def test_tokens_through_the_api_are_shown_once(secured: Secured) -> None:
    editor = secured.headers("editor")
    with httpx.Client(base_url=secured.url, headers=editor) as client:
        made = client.post("/api/v1/me/tokens", json={"name": "ci", "expires_in_days": 30})
        assert made.status_code == 201
        secret = made.json()["secret"]
        listed = client.get("/api/v1/me/tokens").json()
        assert "secret" not in listed[-1]
        assert secret not in str(listed)
        assert client.get("/api/v1/me", headers={"authorization": f"Bearer {secret}"}).is_success
        client.delete(f"/api/v1/me/tokens/{made.json()['id']}")
        revoked = client.get("/api/v1/me", headers={"authorization": f"Bearer {secret}"})
        assert revoked.status_code == 401
        assert "revoked" in revoked.json()["error"]["message"]
    assert all(secret not in e.path for e in secured.accounts.audit(limit=1000))


def test_members_and_quotas(secured: Secured) -> None:
    with httpx.Client(base_url=secured.url) as client:
        admin, root = secured.headers("admin"), secured.headers("root")
        put = client.put(
            "/api/v1/projects/demo/members/guest", json={"role": "viewer"}, headers=admin
        )
        assert put.json() == {"project": "demo", "user": "guest", "role": "viewer"}
        members = client.get("/api/v1/projects/demo/members", headers=secured.headers("viewer"))
        assert ("guest", "viewer") in [(m["user"], m["role"]) for m in members.json()]
        quota = {"storage_bytes": 1000, "concurrent_pipeline_runs": 2}
        assert (
            client.put("/api/v1/projects/demo/quotas", json=quota, headers=admin).status_code == 403
        )
        assert client.put("/api/v1/projects/demo/quotas", json=quota, headers=root).is_success
        got = client.get("/api/v1/projects/demo/quotas", headers=secured.headers("viewer"))
        assert got.json()["storage_bytes"] == 1000


DAG = {"steps": [{"name": "a", "step": "m:a", "inputs": {}, "outputs": []}], "params": []}


def test_a_project_over_its_quota_gets_429_with_the_quota_and_its_use(secured: Secured) -> None:
    secured.accounts.set_quota("demo", concurrent_pipeline_runs=1)
    body = {"pipeline": "train", "params": {}, "dag": DAG}
    with httpx.Client(base_url=secured.url, headers=secured.headers("editor")) as client:
        first = client.post("/api/v1/projects/demo/pipeline-runs", json=body)
        assert first.status_code == 201
        second = client.post("/api/v1/projects/demo/pipeline-runs", json=body)
        assert second.status_code == 429
        error = second.json()["error"]
        assert error["type"] == "QuotaExceeded"
        assert error["details"] == {
            "project": "demo",
            "quota": "concurrent_pipeline_runs",
            "limit": 1,
            "current": 1,
        }
        assert "quota of 1 concurrent pipeline runs (now 1)" in error["message"]
        quota = client.get("/api/v1/projects/demo/quotas").json()
        assert quota["usage"]["concurrent_pipeline_runs"] == 1
        client.post(
            f"/api/v1/pipeline-runs/{first.json()['id']}/finish", json={"status": "succeeded"}
        )
        assert client.post("/api/v1/projects/demo/pipeline-runs", json=body).status_code == 201


def test_the_audit_log_records_every_change_and_is_searchable(secured: Secured) -> None:
    with httpx.Client(base_url=secured.url) as client:
        editor = secured.headers("editor")
        run = client.post("/api/v1/runs", json={"project": "demo"}, headers=editor).json()
        client.post(
            f"/api/v1/runs/{run['id']}/params", json={"params": {"lr": 0.1}}, headers=editor
        )
        client.get(f"/api/v1/runs/{run['id']}", headers=editor)  # a read: not recorded
        entries = client.get(
            "/api/v1/audit", params={"user": "editor"}, headers=secured.headers("root")
        ).json()
        assert [(e["method"], e["route"], e["status"]) for e in entries] == [
            ("POST", "/api/v1/runs/{run_id}/params", 204),
            ("POST", "/api/v1/runs", 201),
        ]
        assert entries[0]["project"] == "demo"
        assert entries[0]["remote"] == "127.0.0.1"
        found = client.get(
            "/api/v1/audit", params={"contains": run["id"]}, headers=secured.headers("root")
        ).json()
        assert len(found) == 1
        assert client.get("/api/v1/audit", headers=editor).status_code == 403


def test_unknown_callers_are_asked_to_sign_in(secured: Secured) -> None:
    api = httpx.get(f"{secured.url}/api/v1/projects")
    assert api.status_code == 401
    assert api.headers["www-authenticate"].startswith("Bearer")
    page = httpx.get(f"{secured.url}/ui/projects/demo/runs?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/login?next=%2Fui%2Fprojects%2Fdemo%2Fruns%3Fx%3D1"
    assert httpx.get(f"{secured.url}/healthz").status_code == 200


def test_the_admin_from_the_environment_can_sign_in(settings: Settings) -> None:
    boot = settings.with_(auth=True, admin_user="boss", admin_password=PASSWORD)
    backend = LocalBackend.open(boot)
    try:
        with serving(create_app(backend=backend)) as url, httpx.Client(base_url=url) as client:
            assert login(client, "boss").status_code == 200
            assert client.get("/api/v1/users").json()[0]["is_admin"] is True
    finally:
        backend.close()
