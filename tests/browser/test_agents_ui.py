"""The agents page in a real browser: queues with their depth, waiting tasks, agents and
autoscaler decisions, updating by itself as work arrives and agents take it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect
from tests.browser.conftest import screenshot
from tests.fixtures.server import serving

from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.server import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def agents_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LocalBackend]]:
    root = Path(tmp_path_factory.mktemp("agents-browser"))
    settings = Settings.from_env(
        {
            "LOOPLINE_HOME": str(root / "home"),
            "LOOPLINE_URI": f"sqlite:///{root / 'ui.db'}",
            "LOOPLINE_ARTIFACTS": str(root / "blobs"),
        }
    )
    backend = LocalBackend.open(settings)
    payload = backend.put_blob(b"payload").digest
    backend.put_queue("gpu", priority=10, tags=["gpu"])
    backend.enqueue_task("gpu", "step", payload, name="train (run 1)", resources={"gpu": 1})
    backend.enqueue_task("default", "step", payload, name="load (run 1)")
    busy = backend.register_agent("box-1", "gpu-host", ["gpu"], resources={"gpu": 1}, pid=42)
    backend.claim_task(busy.id)
    backend.register_agent("box-2", "cpu-host", ["default", "gpu"])
    backend.record_decision("gpu", "start", "2 tasks wait, agents are free for 0", agent="box-1")
    try:
        with serving(create_app(backend=backend)) as url:
            yield url, backend
    finally:
        backend.close()


def test_queues_agents_and_decisions_are_shown_and_kept_current(
    page: Page, agents_site: tuple[str, LocalBackend]
) -> None:
    url, backend = agents_site
    page.goto(f"{url}/ui")
    page.get_by_role("link", name="Agents", exact=True).click()
    expect(page.locator("h1")).to_have_text("Agents and queues")
    queues = page.locator("#queues tbody tr")
    expect(queues).to_have_count(2)
    expect(queues.first).to_have_attribute("data-queue", "gpu")  # highest priority first
    expect(page.locator("tr[data-queue='gpu'] .depth")).to_have_text("0")
    expect(page.locator("tr[data-queue='default'] .depth")).to_have_text("1")
    expect(page.locator("#waiting")).to_contain_text("load (run 1)")
    busy = page.locator("tr[data-agent='box-1']")
    expect(busy).to_contain_text("gpu-host")
    expect(busy).to_contain_text("gpu=1")
    expect(busy.locator(".badge")).to_have_text("busy")
    expect(busy).to_contain_text("train (run 1)")
    expect(page.locator("tr[data-agent='box-2'] .badge")).to_have_text("idle")
    expect(page.locator("#decisions")).to_contain_text("2 tasks wait, agents are free for 0")
    screenshot(page, "agents-page")

    # Work arrives and a decision is made: the page shows both without a reload.
    payload = backend.put_blob(b"payload").digest
    backend.enqueue_task("gpu", "step", payload, name="tune (run 2)", resources={"gpu": 1})
    backend.record_decision("gpu", "hold", "1 task waits but 2 agents run, the maximum")
    expect(page.locator("tr[data-queue='gpu'] .depth")).to_have_text("1", timeout=15_000)
    expect(page.locator("#waiting")).to_contain_text("tune (run 2)")
    expect(page.locator("#decisions tbody tr").first).to_have_attribute("data-action", "hold")


def test_the_page_explains_an_empty_installation(page: Page, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "LOOPLINE_HOME": str(tmp_path / "home"),
            "LOOPLINE_URI": f"sqlite:///{tmp_path / 'empty.db'}",
            "LOOPLINE_ARTIFACTS": str(tmp_path / "blobs"),
        }
    )
    backend = LocalBackend.open(settings)
    try:
        with serving(create_app(backend=backend)) as url:
            page.goto(f"{url}/ui/agents")
            expect(page.locator("#agents-live")).to_contain_text("No agent is running")
            expect(page.locator("#agents-live")).to_contain_text("loopline queues create")
    finally:
        backend.close()
