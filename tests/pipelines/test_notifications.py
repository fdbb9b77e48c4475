"""Notifications: the webhook against a real HTTP server on 127.0.0.1 (retries, giving up
without raising), notifications attached to a pipeline, a launched run and a stopped run, a
notifier registered by dotted path, and bad input; both databases and both backends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

import loopline as ll
from loopline.backends import Backend
from loopline.errors import InvalidInput
from loopline.pipelines import Notify, RunEvent, WebhookNotifier
from loopline.pipelines._notify import wait_for_deliveries
from tests.fixtures.server import free_port
from tests.pipelines import test_templates

published = test_templates.published  # a published template, as a fixture here too
DAG = {"steps": [{"name": "a", "step": "m:a", "inputs": {}, "outputs": []}], "params": []}


class Hook:
    """A real HTTP server on a loopback port that records JSON bodies POSTed to it; the first
    ``failures`` requests are answered 503."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.failures = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.attempts += 1
                if hook.attempts <= hook.failures:
                    self.send_response(503)
                else:
                    hook.bodies.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.bodies


@pytest.fixture
def hook() -> Iterator[Hook]:
    made = Hook()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


def _event(status: str = "failed") -> RunEvent:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    return RunEvent("r" * 32, "p", "training", status, now, now, {"lr": 0.1}, "/ui/runs/x")  # type: ignore[arg-type]


def test_the_webhook_posts_json_and_retries_with_backoff(hook: Hook) -> None:
    hook.failures = 2
    WebhookNotifier(hook.url, retries=3, backoff=0.01).notify(_event())
    assert hook.attempts == 3
    (body,) = hook.bodies
    assert body["event"] == "pipeline_run.ended"
    assert (body["status"], body["pipeline"], body["params"]) == ("failed", "training", {"lr": 0.1})
    assert body["started_at"] == "2030-01-01T00:00:00+00:00"


def test_the_webhook_gives_up_without_raising(hook: Hook) -> None:
    hook.failures = 100
    WebhookNotifier(hook.url, retries=1, backoff=0.01).notify(_event())
    assert (hook.attempts, hook.bodies) == (2, [])
    nobody = f"http://127.0.0.1:{free_port()}/hook"
    WebhookNotifier(nobody, retries=1, backoff=0.01, timeout=1).notify(_event())


def test_a_stopped_run_tells_its_notifications(backend: Backend, hook: Hook) -> None:
    run = backend.create_pipeline_run("p", "training", {"lr": 0.1}, DAG)
    backend.attach_pipeline_notification("p", ll.pipelines.webhook(hook.url), run=run.id)
    backend.attach_pipeline_notification(
        "p", ll.pipelines.webhook(hook.url, on=["succeeded"]), pipeline="training"
    )
    assert [n.run for n in backend.list_pipeline_notifications("p", run=run.id)] == [run.id]
    backend.stop_pipeline_run(run.id)
    (body,) = hook.wait_for(1)
    wait_for_deliveries(10)
    assert (body["run_id"], body["status"]) == (run.id, "stopped")
    assert body["link"] == f"/ui/runs/{run.id}"
    assert len(hook.bodies) == 1  # the pipeline's notification is for successes only


def test_a_launched_template_tells_its_pipeline_and_run_notifications(
    client: ll.Client, published: tuple[str, Any], hook: Hook
) -> None:
    ll.pipelines.add_notification(
        ll.pipelines.webhook(hook.url), pipeline="digits-training", client=client, project="p"
    )
    run = ll.launch(
        "digits-training",
        params={"n": 2},
        client=client,
        project="p",
        notify=[ll.pipelines.webhook(hook.url, on=["failed"])],  # it succeeds: not told
    )
    assert run.status == "succeeded"
    (body,) = hook.wait_for(1)
    assert (body["run_id"], body["status"], body["params"]) == (
        run.id,
        "succeeded",
        {"n": 2, "lr": 0.5},
    )
    (attached,) = client._backend.list_pipeline_notifications("p", pipeline="digits-training")
    client._backend.detach_pipeline_notification(attached.id)
    assert client._backend.list_pipeline_notifications("p", pipeline="digits-training") == []


class Collector:
    """A notifier of the tests' own, registered by dotted path."""

    seen: ClassVar[list[RunEvent]] = []

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def notify(self, event: RunEvent) -> None:
        Collector.seen.append(event)


def test_a_registered_notifier_is_imported_by_its_path(local_backend: Backend) -> None:
    ll.pipelines.register_notifier("collect", f"{__name__}:Collector")
    run = local_backend.create_pipeline_run("p", "training", {}, DAG)
    local_backend.attach_pipeline_notification("p", Notify("collect", {"tag": "x"}), run=run.id)
    local_backend.finish_pipeline_run(run.id, "failed")
    wait_for_deliveries(10)
    assert [e.status for e in Collector.seen if e.run_id == run.id] == ["failed"]
    assert isinstance(Collector("x"), ll.pipelines.Notifier)


def test_bad_notifications_are_refused_naming_the_field(backend: Backend) -> None:
    backend.create_project("p")
    cases: list[tuple[Notify, dict[str, str | None], str, str]] = [
        (Notify("webhok", {"url": "http://x"}), {"pipeline": "t"}, "notifier", "'webhook'"),
        (ll.pipelines.webhook("http://x", on=["ended"]), {"pipeline": "t"}, "on", "succeeded"),
        (Notify("webhook", {"uri": "http://x"}), {"pipeline": "t"}, "config", "config"),
        (ll.pipelines.webhook("file:///etc/passwd"), {"pipeline": "t"}, "config", "http"),
        (ll.pipelines.webhook("http://x"), {}, "target", "one of"),
        (ll.pipelines.webhook("http://x"), {"pipeline": "t", "run": "r" * 32}, "target", "one"),
    ]
    for spec, target, field, words in cases:
        with pytest.raises(InvalidInput, match=words) as info:
            backend.attach_pipeline_notification("p", spec, **target)
        assert info.value.details["field"] == field
    assert backend.list_pipeline_notifications("p") == []
