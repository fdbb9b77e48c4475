"""Label hard examples in a real browser: digits drawn as images, labels typed with the
keyboard and saved on the server as they are given (a reload keeps them), then committed as
the next dataset version and sent to live quality."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from playwright.sync_api import expect
from tests.browser.conftest import screenshot
from tests.fixtures.server import serving
from tests.monitoring.helpers import predictions

from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.monitoring._evaluation import table_to_parquet
from loopline.server import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAGE = "/ui/projects/vision/datasets/digits-review/labelling"


@pytest.fixture
def labelling_site(tmp_path: Path) -> Iterator[tuple[str, LocalBackend]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.data[:4]
    backend = LocalBackend.open(
        Settings.from_env(
            {
                "LOOPLINE_HOME": str(tmp_path / "home"),
                "LOOPLINE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                "LOOPLINE_ARTIFACTS": str(tmp_path / "blobs"),
                "LOOPLINE_AUTO_UPGRADE": "1",
            }
        )
    )
    ids = ["req-0", "req-1", "req-2", "req-3"]
    inputs = {f"pixel_{i}": images[:, i].tolist() for i in range(64)}
    table = predictions(ids, inputs=inputs, output=[0, 9, 2, 3], proba=False, model="digits")
    proba = [[0.41, 0.59], [0.42, 0.58], [0.5, 0.5], [0.45, 0.55]]
    table = table.append_column("proba", pa.array(proba, pa.list_(pa.float64())))
    backend.append_predictions("vision", "digits-api", table_to_parquet(table))
    assert backend.collect_hard_examples("vision", "digits-api", "digits-review").version == 1
    with serving(create_app(backend=backend)) as url:
        yield url, backend
    backend.close()


def test_label_a_few_digits_and_commit(
    page: Page, labelling_site: tuple[str, LocalBackend]
) -> None:
    url, backend = labelling_site
    page.goto(url + PAGE)
    items = page.locator(".label-item")
    expect(items).to_have_count(4)
    expect(page.locator(".label-item img.label-image")).to_have_count(4)  # drawn as images
    expect(page.locator("#label-progress-text")).to_contain_text("0 of 4 labelled")
    screenshot(page, "labelling")

    # The least sure first (req-2, predicted 2): the focus starts in its label box.
    first = items.nth(0)
    expect(first).to_have_attribute("data-request-id", "req-2")
    expect(first.locator(".label-input")).to_be_focused()
    page.keyboard.press("Enter")  # keep the prediction: confirmed
    expect(first.locator("[data-status]")).to_have_text("confirmed")
    second = items.nth(1)  # req-3, predicted 3: the focus moved here
    expect(second.locator(".label-input")).to_be_focused()
    page.keyboard.type("8")  # the box's text was selected: typing replaces it
    page.keyboard.press("Enter")
    expect(second.locator("[data-status]")).to_have_text("corrected")
    expect(page.locator("#label-progress-text")).to_contain_text("2 of 4 labelled")

    page.reload()  # saved on the server, not in the page
    expect(page.locator("#label-progress-text")).to_contain_text("2 of 4 labelled")
    expect(items.nth(1).locator(".label-input")).to_have_value("8")
    expect(items.nth(1).locator("[data-status]")).to_have_text("corrected")

    page.locator("#commit-labels").click()
    expect(page.locator("#labelling-notice")).to_contain_text("version 2")
    expect(page.locator("#label-progress-text")).to_contain_text("0 waiting")
    page.locator("#commit-labels").click()  # again: nothing new, no version 3
    expect(page.locator("#labelling-notice")).to_contain_text("Nothing new")
    versions = backend.datasets.versions("vision", "digits-review")
    assert [v.number for v in versions] == [2, 1]
    labels = backend.evaluations.labels("vision", "digits-api").set_index("request_id")
    assert labels["label"].to_dict() == {"req-2": 2, "req-3": 8}
