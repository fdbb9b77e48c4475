"""The loop's pages over HTTP: the timeline with gate and observation figures, links and the
revert form (which reverts once, then says it was reverted already), triggers and a trigger's
page, deliveries, and bad addresses."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from tests.fixtures.automation_ui_data import ENDPOINT, MODEL, TRIGGER, seed_loop
from tests.fixtures.ui_data import UiData

from loopline.automation import LoopEvent
from loopline.backends import LocalBackend
from loopline.ui._automation_pages import group_events


def test_timeline_triggers_deliveries_and_revert(
    web: httpx.Client, ui_site: tuple[str, UiData, LocalBackend], tmp_path: Path
) -> None:
    backend = ui_site[2]
    project = f"loop-{uuid.uuid4().hex[:6]}"
    seeded = seed_loop(backend, project, tmp_path)
    base = f"/ui/projects/{project}/automation"

    page = web.get(base)
    assert page.status_code == 200
    assert 'href="/ui/projects/' + project + '/automation" aria-current="page">Loop' in page.text
    gate = page.text.split(f'id="event-{seeded.gate_event}"')[1].split("data-event=")[0]
    assert 'data-metric="accuracy"' in gate
    assert "0.9412" in gate
    assert "0.9301" in gate
    assert "&gt;= -0.01" in gate
    observation = page.text.split(f'id="event-{seeded.observation_event}"')[1]
    observation = observation.split("data-event=")[0]
    assert 'data-metric="p99_ms"' in observation
    assert "requests: challenger 40 · champion 160" in observation
    assert page.text.count('data-kind="gate_failed"') == 1
    assert f'action="{base}/events/{seeded.promoted_event}/revert"' in page.text
    assert f'action="{base}/events/{seeded.gate_event}/revert"' not in page.text  # not a decision
    assert f"/ui/projects/{project}/models/{MODEL}/versions/2" in page.text
    assert f"/ui/projects/{project}/endpoints/{ENDPOINT}" in page.text
    assert f"/ui/pipeline-runs/{seeded.run_id}" in page.text
    assert f"{base}/triggers/{TRIGGER}" in page.text

    done = web.post(f"{base}/events/{seeded.promoted_event}/revert")
    assert done.status_code == 303
    after = web.get(done.headers["location"])
    assert 'id="loop-notice"' in after.text
    assert 'data-kind="reverted"' in after.text
    assert f'action="{base}/events/{seeded.promoted_event}/revert"' not in after.text
    assert "reverted by" in after.text
    assert backend.registry.version(project, MODEL, "champion").number == 1
    again = web.post(f"{base}/events/{seeded.promoted_event}/revert")
    assert again.status_code == 409
    assert "reverted already" in again.text

    triggers = web.get(f"{base}/triggers")
    assert f'data-trigger="{TRIGGER}"' in triggers.text
    trigger = web.get(f"{base}/triggers/{TRIGGER}")
    assert trigger.status_code == 200
    assert 'data-status="launched"' in trigger.text
    assert "{event.reason}" in trigger.text  # the mapping, as written
    assert 'data-version="1"' in trigger.text
    deliveries = web.get(f"{base}/deliveries")
    assert deliveries.status_code == 200
    assert 'data-state="reverted"' in deliveries.text or 'data-state="promoted"' in deliveries.text
    assert 'data-metric="error_rate"' in deliveries.text


def test_bad_addresses_answer_4xx(
    web: httpx.Client, ui_site: tuple[str, UiData, LocalBackend]
) -> None:
    backend = ui_site[2]
    project = f"loop-{uuid.uuid4().hex[:6]}"
    backend.create_project(project)
    base = f"/ui/projects/{project}/automation"
    empty = web.get(base)
    assert empty.status_code == 200
    assert "has not done anything yet" in empty.text
    assert web.get(f"{base}/triggers/nobody").status_code == 404
    assert web.get(f"{base}/deliveries").status_code == 200
    assert web.post(f"{base}/events/abc/revert").status_code == 404
    assert web.post(f"{base}/events/999999/revert").status_code == 404
    assert web.get("/ui/projects/no-such-project/automation").status_code == 404


def test_events_of_one_iteration_are_grouped() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)

    def event(i: int, kind: str, **links: str) -> LoopEvent:
        return LoopEvent(i, "p", kind, at, "", model="m", version=2, **links)  # type: ignore[arg-type]

    events = [
        event(5, "promoted", delivery_id="d"),
        event(4, "observation", delivery_id="d"),
        event(3, "canary_started", delivery_id="d", gate_id="g"),
        event(2, "gate_passed", gate_id="g"),
        event(1, "gate_failed", gate_id="h"),
    ]
    groups = group_events(events)
    assert [[e.id for e in g.events] for g in groups] == [[5, 4, 3, 2], [1]]
    assert groups[0].title == "m v2"
