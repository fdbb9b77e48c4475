"""The monitor pages in a real browser: from the project's tabs to a monitor, its charts drawn
per model version, a window's drift report, and the alerts filtered to those firing."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from playwright.sync_api import expect
from tests.browser.conftest import screenshot
from tests.fixtures.monitor_ui_data import MONITOR, seed_monitor
from tests.fixtures.ui_data import UiData

from loopline.backends import LocalBackend

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_monitor_charts_report_and_alerts(
    page: Page, site: tuple[str, UiData, LocalBackend]
) -> None:
    url, _, backend = site
    project = f"mon-{uuid.uuid4().hex[:6]}"
    seed_monitor(backend, project)
    page.goto(f"{url}/ui/projects/{project}/runs")
    page.get_by_role("link", name="Monitors", exact=True).click()
    row = page.locator(f'#monitors tr[data-monitor="{MONITOR}"]')
    expect(row.locator(".open-alerts")).to_have_text("1")
    row.get_by_role("link", name=MONITOR).click()
    expect(page).to_have_url(re.compile(rf"/monitors/{MONITOR}$"))
    chart = page.locator("#chart-drift_share")
    expect(chart.locator("canvas, svg").first).to_be_visible()
    expect(page.locator("#monitor-alerts tr[data-state='firing']")).to_have_count(1)
    screenshot(page, "monitor")
    page.locator("#monitor-runs .report-link", has_text="churn v2").first.click()
    expect(page.locator("body")).to_contain_text("x")
    expect(page.locator("svg").first).to_be_visible()
    page.goto(f"{url}/ui/projects/{project}/alerts")
    page.locator("#alert-filter").get_by_role("link", name="firing").click()
    expect(page.locator("#alerts tr[data-state='firing']")).to_have_count(1)
    expect(page.locator("#alerts")).to_contain_text("drift_share > 0.3")
