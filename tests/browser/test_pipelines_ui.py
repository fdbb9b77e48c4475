"""The pipelines pages in a real browser: launch a published template from its form with a
changed parameter, watch its DAG until every step has finished, find it in the runs over time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect
from tests.browser.conftest import screenshot
from tests.fixtures.pipeline_ui_data import PROJECT, TEMPLATE, PipelineUiData, pipeline_ui_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

DONE = ("succeeded", "cached", "reused", "skipped")


@pytest.fixture(scope="module")
def flow_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, PipelineUiData]]:
    """A published template (two versions) with one earlier run, served."""
    with pipeline_ui_server(Path(tmp_path_factory.mktemp("pipelines-browser")), (0.1,)) as (
        url,
        data,
        _,
    ):
        yield url, data


def test_launch_a_template_from_its_form_and_watch_it_finish(
    page: Page, flow_site: tuple[str, PipelineUiData]
) -> None:
    url, data = flow_site
    page.goto(f"{url}/ui/projects/{PROJECT}/runs")
    page.get_by_role("link", name="Pipelines", exact=True).click()
    expect(page.locator("#templates")).to_contain_text("Digits training, take 2")
    screenshot(page, "pipelines-list")
    page.get_by_role("link", name=TEMPLATE, exact=True).click()
    expect(page.locator("#launch-h")).to_have_text("Launch v2")

    # A changed parameter, and a pause so the run is seen running before it ends.
    page.locator("#param-lr").fill("0.5")
    page.locator("#param-pause").fill("1.5")
    screenshot(page, "pipeline-launch-form")
    page.locator("#launch-button").click()

    page.wait_for_url("**/ui/pipeline-runs/*")
    run_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#run-params")).to_contain_text("0.5")
    nodes = page.locator("svg.dag a.dag-node")
    expect(nodes).to_have_count(4)
    screenshot(page, "pipeline-run-running")
    # htmx replaces the live part every 2 s until the run ends; then every step is done.
    expect(page.locator("#pipeline-run")).to_have_attribute(
        "data-status", "succeeded", timeout=30_000
    )
    statuses = nodes.evaluate_all("(ns) => ns.map((n) => n.dataset.status)")
    assert all(s in DONE for s in statuses), statuses
    expect(page.locator('a.dag-node[data-step="load"]')).to_have_attribute(
        "data-status", "succeeded"
    )
    expect(page.locator("#retry-button")).to_be_disabled()  # every step finished
    screenshot(page, "pipeline-run-finished")

    # A step's panel links to its tracked run's pages.
    page.locator('a.dag-node[data-step="evaluate"]').click()
    expect(page.locator("#step-panel")).to_be_visible()
    expect(page.locator("#step-metrics")).to_contain_text("acc")
    expect(page.locator("#step-links").get_by_role("link", name="Console")).to_be_visible()
    screenshot(page, "pipeline-run-step")

    # The runs over time: the new run first, with its lr and its metrics beside the earlier one.
    page.get_by_role("link", name=TEMPLATE).first.click()
    page.get_by_role("link", name="Runs", exact=True).last.click()
    rows = page.locator("#pipeline-runs tbody tr")
    expect(rows).to_have_count(len(data.runs) + 1)
    expect(rows.first).to_have_attribute("data-run", run_id)
    expect(rows.first).to_contain_text("0.5")
    expect(rows.first.locator('td[data-metric="evaluate.acc"]')).not_to_be_empty()
    expect(page.locator("#runs-chart [data-chart]")).to_have_attribute("data-ready", "1")
    screenshot(page, "pipeline-runs-over-time")
