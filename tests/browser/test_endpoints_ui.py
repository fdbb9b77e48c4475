"""The endpoint and feature store pages in a real browser: change an endpoint's weights through
the confirmation step and see the new revision, watch its state and charts update by themselves,
roll it back, and browse the feature views."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect
from tests.browser.conftest import screenshot
from tests.fixtures.serving_ui_data import (
    ENDPOINT,
    MODEL,
    PROJECT,
    VIEW,
    ServingUiData,
    serving_ui_server,
    stats_windows,
)

from loopline.backends import LocalBackend
from loopline.serving import EndpointSpec, Route

if TYPE_CHECKING:
    from playwright.sync_api import Page

BASE = f"/ui/projects/{PROJECT}/endpoints"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, ServingUiData, LocalBackend]]:
    with serving_ui_server(Path(tmp_path_factory.mktemp("endpoints-browser"))) as site:
        yield site


def _endpoint(backend: LocalBackend) -> str:
    name = f"ep-{uuid.uuid4().hex[:6]}"
    spec = EndpointSpec(routes=(Route(f"models:/{MODEL}/1"),))
    backend.create_endpoint(PROJECT, name, spec, actor="ada", message="first")
    backend.mark_endpoint_revision(PROJECT, name, 1, "live")
    return name


def test_change_weights_confirm_and_see_the_new_revision(
    page: Page, served: tuple[str, ServingUiData, LocalBackend]
) -> None:
    url, _, backend = served
    name = _endpoint(backend)
    page.goto(f"{url}/ui/projects/{PROJECT}/runs")
    page.get_by_role("link", name="Endpoints", exact=True).click()
    expect(page).to_have_url(re.compile(rf"{BASE}$"))
    expect(page.locator(f'#endpoints tr[data-endpoint="{ENDPOINT}"]')).to_contain_text("90%")
    screenshot(page, "endpoints")
    page.locator("#endpoints a.row-link", has_text=name).click()
    expect(page.locator("h1")).to_have_text(name)
    form = page.locator("#route-form")
    form.get_by_label("Weight of digits/1").fill("75")
    form.get_by_label("Model to add").fill(f"{MODEL}/latest")
    form.get_by_label("Weight of the added model").fill("25")
    page.fill("#change-message", "canary the latest")
    page.click("#review-button")
    # The confirmation: old weights -> new weights, nothing made yet.
    changes = page.locator("#route-changes")
    expect(changes.locator('tr[data-route="digits/1"]')).to_contain_text("100%")
    expect(changes.locator('tr[data-route="digits/1"]')).to_contain_text("75%")
    expect(changes.locator('tr[data-route="digits/3"]')).to_contain_text("added")
    assert backend.get_endpoint(PROJECT, name).revision.number == 1
    screenshot(page, "endpoint-confirm")
    page.click("#confirm-change")
    expect(page.locator("#endpoint-notice")).to_contain_text("Revision 2 is recorded")
    expect(page.locator("#revisions tbody tr").first).to_contain_text("canary the latest")
    expect(page.locator("#newest-revision")).to_contain_text("pending")
    expect(page.locator('#routes tr[data-route="digits/3"]')).to_contain_text("25%")
    # An inference server reports the revision live: the page shows it without a reload.
    backend.mark_endpoint_revision(PROJECT, name, 2, "live")
    expect(page.locator("#newest-revision")).to_contain_text("live", timeout=20_000)
    expect(page.locator('#revisions tr[data-revision="1"]')).to_contain_text("superseded")
    screenshot(page, "endpoint-new-revision")


def test_bad_weights_show_the_message_on_the_page(
    page: Page, served: tuple[str, ServingUiData, LocalBackend]
) -> None:
    url, _, backend = served
    name = _endpoint(backend)
    page.goto(f"{url}{BASE}/{name}")
    page.locator("#route-form").get_by_label("Model to add").fill(f"{MODEL}/2")
    page.locator("#route-form").get_by_label("Weight of the added model").fill("20")
    page.click("#review-button")
    expect(page.locator("#form-error")).to_contain_text("add up to 120, not 100")
    # What was typed is still there to correct.
    expect(page.locator("#route-form").get_by_label("Model to add")).to_have_value(f"{MODEL}/2")
    screenshot(page, "endpoint-bad-weights")


def test_roll_back_with_confirmation(
    page: Page, served: tuple[str, ServingUiData, LocalBackend]
) -> None:
    url, _, backend = served
    name = _endpoint(backend)
    spec = EndpointSpec(routes=(Route(f"models:/{MODEL}/2"),))
    backend.update_endpoint(PROJECT, name, spec, actor="bob", message="v2 everywhere")
    backend.mark_endpoint_revision(PROJECT, name, 2, "live")
    page.goto(f"{url}{BASE}/{name}")
    page.click("#rollback-button")
    expect(page.locator("#rollback-form")).to_be_visible()
    page.fill("#rollback-message", "v2 is slower")
    screenshot(page, "endpoint-rollback-confirm")
    page.click("#confirm-rollback")
    expect(page.locator("#endpoint-notice")).to_contain_text("rolls back to revision 1")
    newest = page.locator('#revisions tr[data-revision="3"]')
    expect(newest).to_contain_text("rollback of 1")
    expect(newest).to_contain_text("v2 is slower")
    expect(newest).to_contain_text("digits/1 100%")
    assert backend.get_endpoint(PROJECT, name).revision.rollback_of == 1


def test_live_charts_draw_and_refresh(
    page: Page, served: tuple[str, ServingUiData, LocalBackend]
) -> None:
    url, _, backend = served
    name = _endpoint(backend)
    backend.record_endpoint_stats(PROJECT, name, "w1", stats_windows(datetime.now(UTC)))
    page.goto(f"{url}{BASE}/{name}?minutes=5")
    page.locator("#traffic").scroll_into_view_if_needed()
    for key in ("rate", "errors", "p50", "p99"):
        chart = page.locator(f"#chart-{key} .chart")
        chart.scroll_into_view_if_needed()
        expect(chart).to_have_attribute("data-ready", "1")
        expect(chart.locator("canvas")).to_have_count(1)
    expect(page.locator("#chart-rate .u-legend")).to_contain_text("digits/1")
    # The page polls every few seconds, and the charts fetch their data again each time.
    expect(page.locator("#chart-rate .chart")).to_have_attribute(
        "data-refreshed", re.compile(r"[1-9]"), timeout=20_000
    )
    expect(page.locator('#last-minute tr[data-model="digits/1"]')).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "endpoint-charts")


def test_feature_views_and_a_view(
    page: Page, served: tuple[str, ServingUiData, LocalBackend]
) -> None:
    url, _, _ = served
    page.goto(f"{url}/ui/projects/{PROJECT}/runs")
    page.get_by_role("link", name="Features", exact=True).click()
    rows = page.locator("#feature-views tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("old")
    screenshot(page, "features")
    page.locator("#feature-views a.row-link", has_text=VIEW).click()
    expect(page.locator("#view-features")).to_contain_text("conv_rate")
    expect(page.locator("#view-endpoints")).to_contain_text("rides")
    screenshot(page, "feature-view")
