"""Click through the datasets pages in a real browser, on versions committed by the SDK:
list -> versions -> version (files, lineage) -> diff -> profile."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.sync_api import expect
from tests.browser.conftest import screenshot
from tests.fixtures.ui_data import DATASET, IMAGES, PROJECT, UiData

from loopline.backends import LocalBackend

if TYPE_CHECKING:
    from playwright.sync_api import Page

Site = tuple[str, UiData, LocalBackend]


def test_datasets_list_versions_and_a_version(page: Page, site: Site) -> None:
    url, data, _ = site
    page.goto(f"{url}/ui/projects/{PROJECT}/runs")
    page.locator(".subnav .tabs").get_by_role("link", name="Datasets").click()
    expect(page).to_have_url(re.compile(rf"/ui/projects/{PROJECT}/datasets$"))
    row = page.locator(f"#datasets tr[data-dataset='{DATASET}']")
    expect(row).to_contain_text("v3")
    expect(row.locator("td").nth(3)).to_have_text("3")  # versions
    expect(page.locator("#datasets tr[data-dataset='empty']")).to_contain_text("no versions yet")
    screenshot(page, "datasets")

    row.get_by_role("link", name=DATASET).click()
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    v2 = page.locator("#versions tr[data-version='2']")
    expect(v2).to_contain_text("golden")
    expect(v2).to_contain_text("more customers")
    expect(v2.locator(".changes")).to_have_text("+1 \u22121 ~1")  # a minus sign
    expect(v2.get_by_role("link", name="prepare-data")).to_have_attribute(
        "href", f"/ui/runs/{data.producer_run}"
    )
    screenshot(page, "dataset-versions")

    v2.get_by_role("link", name="v2").click()
    expect(page).to_have_url(re.compile(r"/version\?v=2$"))
    expect(page.locator("#parent-link")).to_have_text("v1")
    expect(page.locator("#producers")).to_contain_text("prepare-data")
    expect(page.locator("#consumers")).to_contain_text("train-model")
    folder = page.locator("#files tr", has_text="images/")
    expect(folder).to_contain_text(f"{IMAGES - 1} files")  # v2 dropped images/0000.txt
    # "/" jumps to the path box; a prefix typed there narrows the listing.
    page.keyboard.press("/")
    expect(page.locator("#prefix")).to_be_focused()
    page.keyboard.type("images/024")
    page.keyboard.press("Enter")
    expect(page.locator("#files tbody tr:not(:first-child)")).to_have_count(10)
    page.locator(".path").get_by_role("link", name="images").click()
    expect(page).to_have_url(re.compile(r"prefix=images%2F$"))
    expect(page.locator("#files tbody tr")).to_have_count(101)  # "..", then a page of 100
    expect(page.locator("#files tbody")).to_contain_text("0001.txt")
    page.locator(".pager").get_by_role("link", name="2", exact=True).click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("#files tbody")).to_contain_text("0101.txt")
    expect(page.locator("#files tbody")).not_to_contain_text("0001.txt")
    page.locator(".path").get_by_role("link", name=f"{DATASET}:2").click()
    page.get_by_role("link", name="customers.parquet", exact=True).click()
    expect(page).to_have_url(re.compile(r"file=customers\.parquet"))
    expect(page.locator("#file-detail")).to_contain_text("SHA-256")
    screenshot(page, "dataset-version")

    # The run that read v2 links back to it.
    page.goto(f"{url}/ui/runs/{data.consumer_run}")
    page.locator("#datasets-consumed").get_by_role("link", name=f"{DATASET}:2").click()
    expect(page.locator("#version-h")).to_have_text("v2")


def test_diff_then_profile(page: Page, site: Site) -> None:
    url, data, _ = site
    page.goto(f"{url}/ui/projects/{PROJECT}/datasets/{DATASET}")
    page.locator("#versions tr[data-version='3']").get_by_role("link", name="Diff").click()
    expect(page).to_have_url(re.compile(r"/diff\?a=2&b=3$"))
    expect(page.locator("#diff-modified")).to_contain_text("README.txt")
    expect(page.locator("#diff-modified")).to_contain_text("customers.parquet")
    expect(page.locator("#diff-added")).to_have_count(0)
    # Pick another "from" version: the page follows, and says what changed since v1.
    page.select_option("#pick-a", "1")
    expect(page).to_have_url(re.compile(r"a=1&b=3"))
    expect(page.locator("#diff-added")).to_contain_text("extra/plans.csv")
    expect(page.locator("#diff-removed")).to_contain_text("images/0000.txt")
    expect(page.locator("#diff-summary")).to_contain_text("+1 added")
    screenshot(page, "dataset-diff")

    page.locator(".run-tabs").get_by_role("link", name="Profile").click()
    expect(page.locator("#profile-summary")).to_contain_text(f"{data.rows[3]} rows")
    age = page.locator("#schema tr[data-column='age']")
    expect(age.locator(".null-share")).to_have_text(f"{100 * data.age_nulls / data.rows[3]:.1f}%")
    expect(age.locator(".null-share")).to_have_class(re.compile("nulls-some"))
    expect(page.locator("#schema tr[data-column='income'] .null-share")).to_have_class(
        re.compile("nulls-none")
    )
    bars = page.locator(".column-card[data-column='age'] .hist-bar")
    expect(bars).to_have_count(20)
    counts = bars.evaluate_all("bars => bars.map(b => Number(b.dataset.count))")
    assert sum(counts) == data.rows[3] - data.age_nulls
    heights = bars.evaluate_all("bars => bars.map(b => b.getBoundingClientRect().height)")
    assert max(heights) > 50  # drawn, the tallest bar near the chart's full height
    plan = page.locator(".column-card[data-column='plan']")
    for value, count in data.plans.items():
        expect(plan.locator(f"li[data-category='{value}'] .cat-count")).to_contain_text(
            f"{count:,}"
        )
    screenshot(page, "dataset-profile")
    page.select_option("#pick-file", "extra/plans.csv")
    expect(page).to_have_url(re.compile(r"file=extra%2Fplans\.csv"))
    expect(page.locator("#profile-summary")).to_contain_text("csv · 40 rows · 2 columns")
