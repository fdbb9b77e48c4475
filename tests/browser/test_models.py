"""The models pages in a real browser: list, versions, a version, its card, lineage, history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect
from sklearn.linear_model import LogisticRegression
from tests.browser.conftest import screenshot
from tests.fixtures.server import serving

from loopline import Client, Dataset, ModelRegistry
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.server import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Page

PROJECT = "vision"


@pytest.fixture(scope="module")
def model_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store with a dataset and two trained versions of 'digits' (v2 the champion), served."""
    root = Path(tmp_path_factory.mktemp("models-ui"))
    settings = Settings.from_env(
        {
            "LOOPLINE_HOME": str(root / "home"),
            "LOOPLINE_URI": f"sqlite:///{root / 'ui.db'}",
            "LOOPLINE_ARTIFACTS": str(root / "blobs"),
            "LOOPLINE_USER": "ada",
        },
        cwd=root,
        user_home=root,
    )
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"width": rng.normal(size=40), "height": rng.normal(size=40)})
    y = (x.width > x.height).astype(int)
    with Client(settings=settings) as client:
        draft = Dataset.create("shapes", project=PROJECT, client=client)
        draft.add_frame(x.assign(label=y), "train.parquet")
        draft.commit("first cut")
        registry = ModelRegistry(client)
        for c in (0.1, 1.0):
            with client.start_run(PROJECT, name=f"train-c{c}", capture=False) as run:
                Dataset.get("shapes", project=PROJECT, client=client)
                run.log_metric("acc", 0.8 + c / 10)
                model = LogisticRegression(C=c).fit(x, y)
                logged = registry.log_model(model, input_example=x.head(3), run=run)
            registry.register(logged, "digits", description=f"logistic, C={c}")
        registry.set_alias("digits", "champion", 2, project=PROJECT, reason="higher acc")
        registry.set_status("digits", 2, "approved", project=PROJECT, reason="holdout gate")
    backend = LocalBackend.open(settings)
    try:
        with serving(create_app(backend=backend)) as url:
            yield url
    finally:
        backend.close()


def test_models_list_then_a_model_and_its_versions(page: Page, model_site: str) -> None:
    page.goto(f"{model_site}/ui/projects/{PROJECT}/runs")
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/ui/projects/{PROJECT}/models$"))
    expect(page.locator("#models")).to_contain_text("digits")
    expect(page.locator("#models")).to_contain_text("@champion → v2")
    screenshot(page, "models")
    page.locator("#models a.row-link", has_text="digits").click()
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("v2")
    expect(rows.first).to_contain_text("approved")
    expect(rows.first).to_contain_text("@champion")
    screenshot(page, "model-versions")


def test_a_version_its_card_and_its_lineage(page: Page, model_site: str) -> None:
    page.goto(f"{model_site}/ui/projects/{PROJECT}/models/digits/versions/champion")
    expect(page.locator("h1")).to_contain_text("v2")
    expect(page.locator("#signature-inputs")).to_contain_text("width")
    expect(page.locator("#training-data")).to_contain_text("shapes:1")
    expect(page.locator("#version-metrics")).to_contain_text("0.9")
    expect(page.locator("#requirements")).to_contain_text("scikit-learn==")
    screenshot(page, "model-version")
    page.get_by_role("link", name="Model card").click()
    card = page.locator("#model-card")
    expect(card.locator("h1")).to_have_text("digits, version 2")
    expect(card).to_contain_text("higher acc")
    expect(card.locator("table").first).to_be_visible()
    screenshot(page, "model-card")
    page.get_by_role("link", name="Lineage").click()
    graph = page.locator("#lineage-graph")
    expect(graph.locator("[data-kind=dataset]")).to_have_count(1)
    expect(graph.locator("[data-kind=run]")).to_have_count(1)
    expect(graph).to_contain_text("digits v2")
    expect(graph).to_contain_text("shapes:1")
    screenshot(page, "model-lineage")
    graph.locator("[data-kind=run] a").click()
    expect(page).to_have_url(re.compile(r"/ui/runs/[0-9a-f]{32}$"))


def test_the_alias_and_status_history(page: Page, model_site: str) -> None:
    page.goto(f"{model_site}/ui/projects/{PROJECT}/models/digits")
    page.get_by_role("link", name="Alias & status history").click()
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("registered -> approved")
    expect(rows.nth(0)).to_contain_text("holdout gate")
    expect(rows.nth(1)).to_contain_text("set `champion` to 2")
    expect(rows.nth(1)).to_contain_text("ada")
    screenshot(page, "model-history")


def test_an_unknown_model_or_version_is_a_friendly_404(page: Page, model_site: str) -> None:
    response = page.goto(f"{model_site}/ui/projects/{PROJECT}/models/digit")
    assert response is not None
    assert response.status == 404
    expect(page.locator("main")).to_contain_text("Did you mean 'digits'")
    response = page.goto(f"{model_site}/ui/projects/{PROJECT}/models/digits/versions/7")
    assert response is not None
    assert response.status == 404
    expect(page.locator("main")).to_contain_text("no version 7")
