"""The loop's timeline in a real browser: from the project's tabs to the timeline, the gate's
figures (challenger against champion per metric), the promotion, and a revert made with the
button and its confirmation, which the timeline then shows; then the deliveries and a
trigger's page."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import expect
from tests.browser.conftest import screenshot
from tests.fixtures.automation_ui_data import MODEL, TRIGGER, seed_loop
from tests.fixtures.server import serving

from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.server import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_timeline_shows_gate_figures_a_promotion_and_a_revert(page: Page, tmp_path: Path) -> None:
    # Its own store: the shared browser site's project list is checked by other tests.
    settings = Settings.from_env(
        {"LOOPLINE_HOME": str(tmp_path / "home"), "LOOPLINE_URI": f"sqlite:///{tmp_path / 'db'}"}
    )
    backend = LocalBackend.open(settings)
    try:
        with serving(create_app(backend=backend)) as url:
            _walk_the_timeline(page, url, backend, tmp_path)
    finally:
        backend.close()


def _walk_the_timeline(page: Page, url: str, backend: LocalBackend, tmp_path: Path) -> None:
    project = f"loop-{uuid.uuid4().hex[:6]}"
    seeded = seed_loop(backend, project, tmp_path)
    page.goto(f"{url}/ui/projects/{project}/runs")
    page.get_by_role("link", name="Loop", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/projects/{project}/automation$"))
    gate = page.locator(f"#event-{seeded.gate_event}")
    accuracy = gate.locator('.figures tr[data-metric="accuracy"]')
    expect(accuracy).to_contain_text("0.9412")
    expect(accuracy).to_contain_text("0.9301")
    expect(accuracy).to_contain_text("pass")
    promoted = page.locator(f"#event-{seeded.promoted_event}")
    expect(promoted.locator(".badge").first).to_have_text("promoted")
    expect(promoted).to_contain_text(f"{MODEL} v2 promoted")
    screenshot(page, "automation-timeline")

    promoted.get_by_text("Revert…").click()
    page.locator(f"#confirm-revert-{seeded.promoted_event}").click()
    expect(page.locator("#loop-notice")).to_contain_text("Reverted")
    reverted = page.locator('tr[data-kind="reverted"]')
    expect(reverted).to_have_count(1)
    expect(reverted).to_contain_text(f"undid #{seeded.promoted_event}")
    expect(page.locator(f"#event-{seeded.promoted_event} .reverted-by")).to_be_visible()
    expect(page.locator(f"#revert-{seeded.promoted_event}")).to_have_count(0)
    assert backend.registry.version(project, MODEL, "champion").number == 1
    screenshot(page, "automation-reverted")

    page.locator("#loop-tabs").get_by_role("link", name="Deliveries").click()
    past = page.locator("#past-deliveries tr[data-delivery]")
    expect(past).to_have_count(1)
    expect(past.locator('tr[data-metric="p99_ms"]')).to_contain_text("pass")
    screenshot(page, "automation-deliveries")
    page.locator("#loop-tabs").get_by_role("link", name="Triggers").click()
    page.locator("#triggers").get_by_role("link", name=TRIGGER).click()
    expect(page.locator("#firings tr[data-status='launched']")).to_have_count(1)
    expect(page.locator("#trigger-params")).to_contain_text("{event.reason}")
    screenshot(page, "automation-trigger")
