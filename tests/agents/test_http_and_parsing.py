"""The agents API answers bad requests with 4xx (never 500); names and resources parse safely."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline.agents._types import validate_queue_name, validate_resources
from loopline.backends import LocalBackend
from loopline.cli._agents import parse_resources
from loopline.errors import InvalidInput


@pytest.fixture
def api(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server_url}/api/v1", timeout=10) as client:
        yield client


def test_bad_requests_are_4xx(api: httpx.Client, local_backend: LocalBackend) -> None:
    payload = local_backend.put_blob(b"p").digest
    agent = api.post("/agents", json={"name": "a", "host": "h", "queues": ["default"]})
    assert agent.status_code == 201
    agent_id = agent.json()["id"]
    answers = [
        api.put("/queues/bad%20name", json={}),
        api.post("/queues/default/tasks", json={"kind": "job", "payload": payload}),
        api.post("/queues/default/tasks", json={"kind": "step", "payload": "nothex"}),
        api.post("/queues/nosuch/tasks", json={"kind": "step", "payload": payload}),
        api.post(
            "/queues/default/tasks",
            json={"kind": "step", "payload": payload, "resources": {"gpu": -1}},
        ),
        api.post(f"/agents/{agent_id}/claim", json={"lease_seconds": 0}),
        api.post("/agents/" + "0" * 32 + "/claim", json={}),
        api.post(f"/agents/{agent_id}/heartbeat", json={"task_ids": "x"}),
        api.post("/tasks/" + "0" * 32 + "/finish", json={"agent_id": agent_id, "status": "ok"}),
        api.get("/tasks", params={"status": "done"}),
        api.post("/agents", json={"name": "a", "host": "h", "queues": []}),
        api.post("/autoscaler/decisions", json={"queue": "q", "action": "grow", "reason": ""}),
    ]
    codes = [a.status_code for a in answers]
    assert all(400 <= c < 500 for c in codes), codes
    assert answers[3].status_code == 404
    assert "Did you mean" in answers[3].text or "No queue is called" in answers[3].text


@given(st.text(max_size=80))
def test_a_queue_name_is_valid_or_refused_clearly(name: str) -> None:
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        assert validate_queue_name(name) == name
    else:
        with pytest.raises(InvalidInput, match="not a queue name"):
            validate_queue_name(name)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
        st.floats(min_value=0, max_value=1e12, allow_nan=False),
        max_size=5,
    )
)
def test_resources_written_on_the_command_line_parse_back(resources: dict[str, float]) -> None:
    written = [f"{k}={v!r}" for k, v in resources.items()]
    assert parse_resources(written) == resources
    assert validate_resources(resources) == resources


@given(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(), st.none())))
def test_any_resources_validate_or_fail_clearly(resources: dict[str, object]) -> None:
    fine = all(
        k and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in resources.items()
    )
    if fine:
        assert validate_resources(resources) == {k: float(v) for k, v in resources.items()}  # type: ignore[arg-type]
    else:
        with pytest.raises(InvalidInput, match="Resource"):
            validate_resources(resources)
