"""Quotas, project creation and recorded actors over HTTP with authentication on."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from tests.server._secured import Secured, secured_server

from loopline.config import Settings

DAG = {"steps": [{"name": "a", "step": "m:a", "inputs": {}, "outputs": []}], "params": []}


@pytest.fixture
def secured(settings: Settings) -> Iterator[Secured]:
    with secured_server(settings) as server:
        yield server


def _blob(client: httpx.Client, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    assert client.put(f"/api/v1/blobs/{digest}", content=data).status_code == 201
    return digest


def test_waiting_tasks_and_stored_bytes_are_limited(secured: Secured) -> None:
    secured.accounts.set_quota("demo", queued_tasks=1, storage_bytes=150)
    with httpx.Client(base_url=secured.url, headers=secured.headers("editor")) as client:
        payload = _blob(client, b"task")
        task = {"kind": "step", "payload": payload, "project": "demo"}
        assert client.post("/api/v1/queues/default/tasks", json=task).status_code == 201
        refused = client.post("/api/v1/queues/default/tasks", json=task)
        assert refused.status_code == 429
        assert refused.json()["error"]["details"] == {
            "project": "demo",
            "quota": "queued_tasks",
            "limit": 1,
            "current": 1,
        }
        # Another project's tasks (and project-less ones) are not counted against demo.
        assert (
            client.post(
                "/api/v1/queues/default/tasks", json={"kind": "step", "payload": payload}
            ).status_code
            == 201
        )

        run = client.post("/api/v1/runs", json={"project": "demo"}).json()["id"]
        small, big = _blob(client, b"s" * 100), _blob(client, b"b" * 60)
        artifacts = f"/api/v1/runs/{run}/artifacts"
        ok = client.post(artifacts, json={"path": "a", "digest": small, "size": 100})
        assert ok.status_code == 201
        over = client.post(artifacts, json={"path": "b", "digest": big, "size": 60})
        assert over.status_code == 429  # 100 + 60 would pass 150
        error = over.json()["error"]
        assert error["details"] == {
            "project": "demo",
            "quota": "storage_bytes",
            "limit": 150,
            "current": 100,
        }
        assert "quota of 150 storage bytes (now 100)" in error["message"]
        # Reads and deletes always work.
        assert client.get(artifacts).status_code == 200
        assert client.get(f"/api/v1/blobs/{small}").content == b"s" * 100
        assert client.delete(f"/api/v1/runs/{run}").status_code in (200, 204)

        quota = client.get("/api/v1/projects/demo/quotas").json()
        assert set(quota["usage"]) == {
            "concurrent_pipeline_runs",
            "queued_tasks",
            "storage_bytes",
            "agents",
        }
        assert quota["usage"]["queued_tasks"] == 1
        assert (quota["queued_tasks"], quota["storage_bytes"], quota["agents"]) == (1, 150, None)
    audit = secured.accounts.audit(user="editor")
    assert [e.status for e in audit if e.status == 429] == [429, 429]


def test_the_quota_page_shows_limits_use_and_bars(secured: Secured) -> None:
    secured.accounts.set_quota("demo", concurrent_pipeline_runs=2)
    headers = secured.headers("viewer")
    with httpx.Client(base_url=secured.url, headers=headers) as client:
        client.post(
            "/api/v1/projects/demo/pipeline-runs",
            json={"pipeline": "train", "params": {}, "dag": DAG},
            headers=secured.headers("editor"),
        )
        page = client.get("/ui/projects/demo/members")
        assert page.status_code == 200
        row = page.text.split('data-quota="concurrent_pipeline_runs"')[1].split("</tr>")[0]
        assert '<td class="num used">1</td>' in row
        assert '<td class="num limit">2</td>' in row
        assert '<meter min="0" max="2"' in row
        assert 'id="quota-form"' not in page.text  # a viewer sees no forms
        assert 'id="member-form"' not in page.text


def test_any_user_creates_a_project_and_becomes_its_admin(secured: Secured) -> None:
    with httpx.Client(base_url=secured.url, headers=secured.headers("viewer")) as client:
        made = client.post("/api/v1/projects", json={"name": "mine"})
        assert made.status_code == 201
        assert client.get("/api/v1/me").json()["roles"]["mine"] == "admin"
        member = client.put("/api/v1/projects/mine/members/guest", json={"role": "editor"})
        assert member.status_code == 200
        # MLflow experiments are projects too.
        exp = client.post("/api/2.0/mlflow/experiments/create", json={"name": "exp"})
        assert exp.status_code == 200
        assert client.get("/api/v1/me").json()["roles"]["exp"] == "admin"
        # Quotas stay a global admin's: a project admin could raise their own.
        assert client.put("/api/v1/projects/mine/quotas", json={"agents": 1}).status_code == 403


def test_only_global_admins_create_projects_when_the_server_says_so(settings: Settings) -> None:
    with secured_server(settings.with_(open_projects=False)) as server:
        viewer = httpx.post(
            f"{server.url}/api/v1/projects", json={"name": "x"}, headers=server.headers("viewer")
        )
        assert viewer.status_code == 403
        assert "LOOPLINE_OPEN_PROJECTS" in viewer.json()["error"]["message"]
        root = httpx.post(
            f"{server.url}/api/v1/projects", json={"name": "x"}, headers=server.headers("root")
        )
        assert root.status_code == 201


def test_records_name_the_signed_in_caller_not_the_body(secured: Secured) -> None:
    with httpx.Client(base_url=secured.url, headers=secured.headers("editor")) as client:
        code = _blob(client, b"code snapshot")
        template = {"name": "train", "dag": DAG, "code": code, "entry": "m:p"}
        made = client.post("/api/v1/projects/demo/pipeline-templates", json=template)
        assert made.status_code == 201, made.text
        assert made.json()["created_by"] == "editor"
        run = client.post(
            "/api/2.0/mlflow/runs/create",
            json={
                "experiment_id": secured.experiment_id,
                "user_id": "someone-else",
                "tags": [{"key": "mlflow.user", "value": "someone-else"}],
            },
        )
        assert run.status_code == 200, run.text
        assert run.json()["run"]["info"]["user_id"] == "editor"
