"""Click through every page in a real browser, on runs made by the SDK."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.sync_api import expect
from tests.browser.conftest import screenshot
from tests.fixtures.ui_data import LONG_POINTS, PROJECT, UiData

from loopline.backends import LocalBackend

if TYPE_CHECKING:
    from playwright.sync_api import Page

Site = tuple[str, UiData, LocalBackend]


def _run_rows(page: Page) -> list[str]:
    ids = page.eval_on_selector_all(
        "#runs tbody tr[data-run]", "rows => rows.map(r => r.dataset.run)"
    )
    return [str(i) for i in ids]


def test_projects_then_runs_table(page: Page, site: Site) -> None:
    url, data, _ = site
    page.goto(url)
    expect(page).to_have_url(re.compile(r"/ui$"))
    expect(page.locator("#projects")).to_contain_text(PROJECT)
    # Other browser tests add projects to this shared site: find this one's row.
    row = page.locator("#projects tbody tr").filter(has_text=PROJECT).first
    expect(row).to_contain_text(str(len(data.run_ids)))
    screenshot(page, "projects")
    page.get_by_role("link", name=PROJECT, exact=True).first.click()
    expect(page).to_have_url(re.compile(rf"/ui/projects/{PROJECT}/runs$"))
    expect(page.locator("#run-count")).to_have_text(f"{len(data.run_ids)} runs")
    assert len(_run_rows(page)) == len(data.run_ids)
    screenshot(page, "runs")


def test_filter_with_the_keyboard_and_sort_by_a_column(page: Page, site: Site) -> None:
    url, data, _ = site
    page.goto(f"{url}/ui/projects/{PROJECT}/runs")
    page.keyboard.press("/")
    expect(page.locator("#filter")).to_be_focused()
    page.keyboard.type("params.model = 'xgb' and metrics.acc > 0.75")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"filter=params\.model"))
    wanted = {i for i, m in data.models.items() if m == "xgb" and data.acc[i] > 0.75}
    assert set(_run_rows(page)) == wanted
    expect(page.locator("#run-count")).to_contain_text(f"{len(wanted)} run")
    # Sort by acc: descending on the first click, ascending on the second; the filter stays.
    page.locator("#runs thead a", has_text="acc").click()
    expect(page).to_have_url(re.compile(r"sort=metrics\.acc\+desc"))
    assert _run_rows(page) == sorted(wanted, key=lambda i: -data.acc[i])
    page.locator("#runs thead a", has_text="acc").click()
    expect(page).to_have_url(re.compile(r"sort=metrics\.acc\+asc"))
    assert _run_rows(page) == sorted(wanted, key=lambda i: data.acc[i])
    expect(page.locator("#filter")).to_have_value("params.model = 'xgb' and metrics.acc > 0.75")
    screenshot(page, "runs-filtered-sorted")


def test_a_bad_filter_shows_the_error_where_it_is(page: Page, site: Site) -> None:
    url, _, _ = site
    page.goto(f"{url}/ui/projects/{PROJECT}/runs")
    page.fill("#filter", "metrics.acc > 0.9 and paramz.lr = 1")
    page.press("#filter", "Enter")
    error = page.locator("#filter-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("column 23")
    expect(error).to_contain_text("paramz")
    expect(page.locator("#filter")).to_have_attribute("aria-invalid", "true")
    # The caret sits under the bad word.
    assert page.locator(".caret-mark").inner_text().index("^") == 22
    screenshot(page, "runs-bad-filter")


def test_columns_paging_and_selection_survive_in_the_url(page: Page, site: Site) -> None:
    url, data, _ = site
    page.goto(f"{url}/ui/projects/{PROJECT}/runs?per_page=25&sort=start_time+asc")
    page.locator(".columns-picker summary").click()
    page.locator(".columns-picker input[value='params.depth']").check()
    page.locator(".columns-picker input[value='status']").uncheck()
    page.get_by_role("button", name="Show columns").click()
    expect(page.locator("#runs thead")).to_contain_text("depth")
    expect(page.locator("#runs thead")).not_to_contain_text("Status")
    first = _run_rows(page)
    assert first == data.run_ids[:25]
    # Pick one run here, one on the next page: the selection follows through the pages.
    page.locator(f"tr[data-run='{first[0]}'] input[type=checkbox]").check()
    expect(page).to_have_url(re.compile(f"sel={first[0]}"))
    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile("page=2"))
    second = _run_rows(page)
    assert second == data.run_ids[25:]
    expect(page.locator("#runs thead")).to_contain_text("depth")  # columns kept
    page.locator(f"tr[data-run='{second[0]}'] input[type=checkbox]").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/ui/compare\?"))
    assert first[0] in page.url
    assert second[0] in page.url


def test_compare_page(page: Page, site: Site) -> None:
    url, data, _ = site
    a, b, c = data.run_ids[0], data.run_ids[1], data.run_ids[3]
    page.goto(f"{url}/ui/compare?runs={a},{b},{c}")
    expect(page.locator("h1")).to_have_text("Compare 3 runs")
    expect(page.locator("#param-diff tr.differs[data-key='model']")).to_be_visible()
    expect(page.locator("#param-diff tr.differs[data-key='lr']")).to_be_visible()
    acc_row = page.locator("#metric-summary tr[data-key='acc'] td")
    expect(acc_row.nth(2)).to_have_class(re.compile("highest"))  # run c has the best acc
    chart = page.locator("[data-chart][data-ready]").first
    expect(chart).to_be_visible()
    lengths = chart.evaluate(
        "el => el._uplot.data.slice(1).map(s => s.filter(v => v != null).length)"
    )
    assert len(lengths) == 3
    assert all(n > 0 for n in lengths)
    screenshot(page, "compare")
    page.get_by_role("link", name="Only differences").click()
    expect(page.locator("#param-diff tr.same")).to_have_count(0)


def test_run_page_chart_zoom_and_log_scale(page: Page, site: Site) -> None:
    url, data, _ = site
    page.goto(f"{url}/ui/runs/{data.rich_run}")
    expect(page.locator("h1")).to_contain_text("rich")
    expect(page.locator("#params")).to_contain_text("cnn")
    card = page.locator(".chart-card", has_text="val/loss")
    chart = card.locator("[data-chart][data-ready]")
    expect(chart).to_be_visible()
    points, width = chart.evaluate("el => [el._uplot.data[1].length, el.clientWidth]")
    assert 0 < points <= 4 * width < LONG_POINTS
    assert chart.evaluate("el => Math.max(...el._uplot.data[1].filter(v => v != null))") == 50.0
    expect(card.locator("[data-note]")).to_contain_text(f"of {LONG_POINTS + 1:,} points")
    # Drag across the plot to zoom in, then reset.
    span = "el => el._uplot.scales.x.max - el._uplot.scales.x.min"
    before = chart.evaluate(span)
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.up()
    assert chart.evaluate(span) < before / 2
    card.get_by_role("button", name="Reset").click()
    assert chart.evaluate(span) == before
    card.locator("[data-log]").check()
    assert chart.evaluate("el => el._uplot.scales.y.distr") == 3
    screenshot(page, "run")
    page.get_by_role("link", name="child").click()
    expect(page.locator("#lineage")).to_contain_text("rich")


def test_artifacts_browser_previews(page: Page, site: Site) -> None:
    url, data, _ = site
    page.goto(f"{url}/ui/runs/{data.rich_run}")
    page.locator(".run-tabs").get_by_role("link", name="Artifacts").click()
    page.get_by_role("link", name="plots/").click()
    page.get_by_role("link", name="curve.png").click()
    image = page.locator(".image-preview img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") == 24
    screenshot(page, "artifacts-image")
    page.get_by_role("link", name="artifacts", exact=True).click()
    page.get_by_role("link", name="config.json").click()
    expect(page.locator("#file-text")).to_contain_text('"dropout": 0.1')
    page.get_by_role("link", name="artifacts", exact=True).click()
    page.get_by_role("link", name="tables/").click()
    page.get_by_role("link", name="big.parquet").click()
    expect(page.locator("#file-table tbody tr")).to_have_count(100)
    expect(page.locator("#file-table thead")).to_contain_text("label")
    screenshot(page, "artifacts-table")


def test_console_follows_a_running_run(page: Page, site: Site) -> None:
    url, _, backend = site
    run = backend.create_run(PROJECT, name="live")
    backend.append_console(run.id, 0, b"starting\n")
    page.goto(f"{url}/ui/runs/{run.id}/console")
    console = page.locator("#console-text")
    expect(console).to_have_text("starting\n")
    expect(page.locator("#console-state")).to_have_text("Following the run…")
    backend.append_console(run.id, 9, b"epoch 1 done\n")
    expect(console).to_contain_text("epoch 1 done")  # appears without a reload
    backend.end_run(run.id, "finished")
    expect(page.locator("#console-state")).to_have_text("The run has ended.", timeout=20_000)
    expect(console).to_have_text("starting\nepoch 1 done\n")
    expect(page.locator("#run-status")).to_contain_text("finished")
    screenshot(page, "console")


def test_environment_page(page: Page, site: Site) -> None:
    url, data, _ = site
    page.goto(f"{url}/ui/runs/{data.rich_run}/environment")
    expect(page.locator("#env-host")).to_contain_text("Python")
    page.fill("input[data-filters='packages']", "loopline")
    visible = page.locator("#packages tbody tr:visible")
    expect(visible.first).to_contain_text("loopline")
    screenshot(page, "environment")


def test_keyboard_moves_through_rows_and_opens_one(page: Page, site: Site) -> None:
    url, data, _ = site
    page.goto(f"{url}/ui/projects/{PROJECT}/runs?sort=start_time+asc")
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("#runs tbody tr.current")).to_have_attribute("data-run", data.run_ids[1])
    page.keyboard.press("k")
    page.keyboard.press("x")
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/ui/runs/{data.run_ids[0]}$"))


def test_unknown_run_is_a_friendly_404(page: Page, site: Site) -> None:
    url, _, _ = site
    answer = page.goto(f"{url}/ui/runs/{'f' * 32}")
    assert answer is not None
    assert answer.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator(".error-message")).to_contain_text("not found")
    screenshot(page, "not-found")
