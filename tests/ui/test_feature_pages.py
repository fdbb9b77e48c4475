"""The feature store pages over HTTP, on SQLite and PostgreSQL: the views with their freshness,
and one view's schema, source, entities and what uses it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest
from tests.fixtures.serving_ui_data import (
    FEATURED,
    MODEL,
    ON_DEMAND,
    PROJECT,
    VIEW,
    ServingUiData,
    serving_ui_site,
)

from loopline.backends import LocalBackend
from loopline.features import FeatureViewInfo
from loopline.ui._feature_pages import freshness_of

BASE = f"/ui/projects/{PROJECT}/features"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ServingUiData, LocalBackend]]:
    with serving_ui_site(request, tmp_path_factory, request.param) as served:
        yield served


@pytest.fixture
def web(site: tuple[str, ServingUiData, LocalBackend]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site[0], timeout=30) as client:
        yield client


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _row(html: str, attribute: str, value: str) -> str:
    found = re.search(rf'<tr data-{attribute}="{value}"[^>]*>(.*?)</tr>', html, re.S)
    assert found is not None, f"no row {value}"
    return _text(found.group(1))


def test_the_views_with_entities_features_source_and_freshness(web: httpx.Client) -> None:
    page = web.get(BASE)
    assert page.status_code == 200
    assert re.findall(r'<tr data-view="([^"]+)"', page.text) == [VIEW, ON_DEMAND]
    batch = _row(page.text, "view", VIEW)
    assert "driver (driver_id)" in batch
    assert "driver_stats.parquet" in batch
    assert "1 d" in batch  # the TTL
    assert "yes" in batch
    assert "old" in batch  # materialized: its age
    assert 'data-view="driver_stats" data-freshness="fresh"' in page.text
    computed = _row(page.text, "view", ON_DEMAND)
    assert "on demand" in computed
    assert "from driver_stats" in computed
    assert "computed per request" in computed
    assert 'aria-current="page">Features<' in page.text.replace("\n", "")


def test_a_batch_view_its_schema_source_entities_and_users(web: httpx.Client) -> None:
    page = web.get(f"{BASE}/{VIEW}")
    assert page.status_code == 200
    assert _row(page.text, "feature", "conv_rate").split() == [
        "conv_rate",
        "float64",
        "driver_stats:conv_rate",
        "share",
        "of",
        "offers",
        "taken",
    ]
    assert _row(page.text, "feature", "trips").split()[:2] == ["trips", "int64"]
    source = re.search(r'id="source-location">(.*?)<', page.text)
    assert source is not None
    assert source.group(1).endswith("driver_stats.parquet")
    entities = re.search(r'id="view-entities">(.*?)</table>', page.text, re.S)
    assert entities is not None
    assert "driver driver_id someone who drives" in _text(entities.group(1))
    assert 'data-freshness="fresh"' in page.text
    watermark = re.search(r'id="view-watermark">(.*?)</dd>', page.text, re.S)
    assert watermark is not None
    assert "never" not in watermark.group(1)
    # Used by: the endpoint that looks its features up, and the on-demand view reading it.
    assert _row(page.text, "endpoint", FEATURED).split()[:4] == [
        FEATURED,
        "conv_rate",
        ",",
        "trips",
    ]
    readers = re.search(r'id="view-readers">(.*?)</ul>', page.text, re.S)
    assert readers is not None
    assert ON_DEMAND in readers.group(1)
    models = re.search(r'id="view-models">(.*?)</table>', page.text, re.S)
    assert models is not None
    assert f'data-model="{MODEL}/1"' in models.group(1)
    assert f'data-model="{MODEL}/2"' not in models.group(1)


def test_an_on_demand_view_shows_its_inputs_and_function(web: httpx.Client) -> None:
    page = web.get(f"{BASE}/{ON_DEMAND}")
    assert page.status_code == 200
    sources = re.search(r'id="view-sources">(.*?)</span>', page.text, re.S)
    assert sources is not None
    assert f'href="{BASE}/{VIEW}"' in sources.group(1)
    request_sources = re.search(r'id="request-sources">(.*?)</table>', page.text, re.S)
    assert request_sources is not None
    assert "trip km float64" in _text(request_sources.group(1))
    assert "def rate_km" in page.text
    assert "No endpoint looks up" in page.text


def test_an_unknown_view_is_a_404_with_a_suggestion(web: httpx.Client) -> None:
    page = web.get(f"{BASE}/driver_stat")
    assert page.status_code == 404
    assert "Did you mean &#39;driver_stats&#39;?" in page.text
    assert web.get("/ui/projects/nowhere/features").status_code == 404


def _info(**changes: object) -> FeatureViewInfo:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    values: dict[str, object] = {
        "name": "v",
        "type": "batch",
        "version": 1,
        "entities": ["driver"],
        "join_keys": ["driver_id"],
        "features": [],
        "source": None,
        "sources": [],
        "ttl_seconds": 3600.0,
        "online": True,
        "description": "",
        "tags": {},
        "created_at": now,
        "updated_at": now,
        **changes,
    }
    return FeatureViewInfo(**values)  # type: ignore[arg-type]


def test_freshness_states() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert freshness_of(_info(), now).state == "never"
    fresh = freshness_of(_info(watermark=now - timedelta(minutes=30)), now)
    assert (fresh.state, fresh.age_seconds) == ("fresh", 1800.0)
    assert freshness_of(_info(watermark=now - timedelta(hours=2)), now).state == "stale"
    no_ttl = _info(watermark=now - timedelta(days=30), ttl_seconds=None)
    assert freshness_of(no_ttl, now).state == "fresh"
    assert freshness_of(_info(online=False), now).state == "offline"
    assert freshness_of(_info(type="on_demand"), now).state == "on_demand"
