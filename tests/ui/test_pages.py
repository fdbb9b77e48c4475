"""The UI's pages over HTTP: status codes, what they show, and no stack trace for any input."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fixtures.ui_data import LONG_POINTS, PROJECT, UiData

from loopline.backends import LocalBackend


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-run="([0-9a-f]{32})"', html)


def test_root_leads_to_the_projects_page(web: httpx.Client) -> None:
    root = web.get("/")
    assert root.status_code == 307
    assert root.headers["location"].endswith("/ui")
    page = web.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"/ui/projects/{PROJECT}/runs" in page.text
    assert "Content-Security-Policy" in page.headers


def test_runs_page_filters_sorts_and_pages(web: httpx.Client, ui_data: UiData) -> None:
    page = web.get(
        f"/ui/projects/{PROJECT}/runs",
        params={"filter": "params.model = 'rf'", "sort": "metrics.acc desc", "per_page": "25"},
    )
    assert page.status_code == 200
    rf = sorted((i for i, m in ui_data.models.items() if m == "rf"), key=lambda i: -ui_data.acc[i])
    assert _rows(page.text) == rf
    assert f"{len(rf)} runs match the filter" in page.text
    # Second page of everything, 25 a page: the remaining runs, none of the first page's.
    first = _rows(web.get(f"/ui/projects/{PROJECT}/runs", params={"per_page": "25"}).text)
    second = _rows(
        web.get(f"/ui/projects/{PROJECT}/runs", params={"per_page": "25", "page": "2"}).text
    )
    assert len(first) == 25
    assert len(second) == len(ui_data.run_ids) - 25
    assert not set(first) & set(second)


def test_a_bad_filter_is_shown_inline_pointing_at_its_column(web: httpx.Client) -> None:
    page = web.get(f"/ui/projects/{PROJECT}/runs", params={"filter": "metrics.acc >> 1"})
    assert page.status_code == 200
    assert 'aria-invalid="true"' in page.text
    error = re.search(r'id="filter-error">(.*?)</div>', page.text, re.S)
    assert error is not None
    assert "Invalid filter at column 14" in error.group(1)
    caret = re.search(r'class="caret-mark">( *)\^', page.text)
    assert caret is not None
    assert len(caret.group(1)) == 13
    assert _rows(page.text) == []


def test_chosen_columns_are_the_ones_shown(web: httpx.Client) -> None:
    page = web.get(f"/ui/projects/{PROJECT}/runs", params={"cols": "name,params.depth"})
    head = re.search(r"<thead>(.*?)</thead>", page.text, re.S)
    assert head is not None
    assert ">depth" in head.group(1)
    assert "Status" not in head.group(1)
    assert ">acc" not in head.group(1)


def test_run_page_shows_params_metrics_and_lineage(web: httpx.Client, ui_data: UiData) -> None:
    page = web.get(f"/ui/runs/{ui_data.rich_run}")
    assert page.status_code == 200
    assert "val/loss" in page.text
    assert "cnn" in page.text
    assert f"/ui/runs/{ui_data.child_run}" in page.text  # the child run, under lineage
    child = web.get(f"/ui/runs/{ui_data.child_run}")
    assert f"/ui/runs/{ui_data.rich_run}" in child.text  # and its parent


def test_chart_data_is_thinned_but_keeps_the_extremes(web: httpx.Client, ui_data: UiData) -> None:
    answer = web.get(
        "/ui/series", params={"key": "val/loss", "runs": ui_data.rich_run, "width": "500"}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["series"][0]["points"] == LONG_POINTS + 1
    assert len(body["x"]) <= 4 * 500
    assert max(body["y"][0]) == 50.0  # the last-step spike survives the thinning
    assert min(body["y"][0]) < 1.0001
    assert body["x"] == sorted(body["x"])


def test_compare_highlights_differing_params(web: httpx.Client, ui_data: UiData) -> None:
    a, b = ui_data.run_ids[0], ui_data.run_ids[3]  # same model, different lr and acc
    page = web.get(f"/ui/compare?runs={a}&runs={b}")
    assert page.status_code == 200
    assert re.search(r'<tr class="differs" data-key="lr">', page.text)
    assert re.search(r'<tr class="same" data-key="model">', page.text)
    only = web.get(f"/ui/compare?runs={a},{b}&only=diff")
    assert 'data-key="model"' not in only.text
    overlaid = web.get("/ui/series", params=[("key", "loss"), ("runs", a), ("runs", b)]).json()
    assert [s["run_id"] for s in overlaid["series"]] == [a, b]
    assert len(overlaid["y"]) == 2
    assert len(overlaid["y"][0]) == len(overlaid["x"]) == 50


def test_artifact_previews(web: httpx.Client, ui_data: UiData) -> None:
    base = f"/ui/runs/{ui_data.rich_run}/artifacts"
    listing = web.get(base)
    assert "plots/" in listing.text
    assert "config.json" in listing.text
    config = web.get(base, params={"path": "config.json"})
    assert "&#34;dropout&#34;: 0.1" in config.text
    table = web.get(base, params={"path": "tables/big.parquet"})
    assert "100 of 250 rows" in table.text
    assert "item-99" in table.text
    assert "item-100" not in table.text
    csv = web.get(base, params={"path": "tables/small.csv"})
    assert "<td>z</td>" in csv.text
    image = web.get(f"{base}/raw", params={"path": "plots/curve.png"})
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert "sandbox" in image.headers["content-security-policy"]
    text = web.get(f"{base}/raw", params={"path": "notes/readme.txt"})
    assert text.headers["content-disposition"].startswith("attachment")


def test_console_and_environment_pages(web: httpx.Client, ui_data: UiData) -> None:
    console = web.get(f"/ui/runs/{ui_data.rich_run}/console")
    assert "epoch 2: loss 0.25" in console.text
    assert "data-complete" in console.text
    env = web.get(f"/ui/runs/{ui_data.rich_run}/environment")
    assert env.status_code == 200
    assert "Packages" in env.text
    assert "loopline" in env.text


def test_unknown_ids_and_paths_get_the_friendly_404_page(
    web: httpx.Client, ui_data: UiData
) -> None:
    for path in (
        "/ui/runs/" + "0" * 32,
        "/ui/runs/not-a-run",
        "/ui/projects/nope/runs",
        f"/ui/runs/{ui_data.rich_run}/artifacts?path=missing.txt",
        f"/ui/runs/{ui_data.rich_run}/artifacts/raw?path=missing.txt",
        "/ui/no/such/page",
    ):
        page = web.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "Back to the projects" in page.text
        assert "Traceback" not in page.text


def test_compare_needs_two_runs(web: httpx.Client, ui_data: UiData) -> None:
    page = web.get(f"/ui/compare?runs={ui_data.run_ids[0]}")
    assert page.status_code == 400
    assert "at least two runs" in page.text


_text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["metrics.acc > 0.7", "params.lr < 0.05 or", "status = 'x'", "(", "`", "'"]
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    filter_=_text,
    sort=_text,
    page=st.text(max_size=8),
    per_page=st.text(max_size=4),
    cols=_text,
    sel=_text,
)
def test_no_query_string_makes_the_runs_page_fail(
    web: httpx.Client, filter_: str, sort: str, page: str, per_page: str, cols: str, sel: str
) -> None:
    query = "&".join(
        f"{k}={quote(v)}"
        for k, v in (
            ("filter", filter_),
            ("sort", sort),
            ("page", page),
            ("per_page", per_page),
            ("cols", cols),
            ("sel", sel),
        )
    )
    answer = web.get(f"/ui/projects/{PROJECT}/runs?{query}")
    assert answer.status_code == 200, answer.text[:500]
    assert "Traceback" not in answer.text


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=_text, width=st.text(max_size=6), path=_text, offset=st.text(max_size=6))
def test_no_query_string_makes_a_run_page_fail(
    web: httpx.Client, ui_data: UiData, key: str, width: str, path: str, offset: str
) -> None:
    run = ui_data.rich_run
    for url in (
        f"/ui/series?key={quote(key)}&runs={run}&width={quote(width)}",
        f"/ui/runs/{run}/artifacts?path={quote(path)}",
        f"/ui/runs/{run}/artifacts/raw?path={quote(path)}",
        f"/ui/runs/{run}/console/more?offset={quote(offset)}",
        f"/ui/compare?runs={quote(key)}",
    ):
        answer = web.get(url)
        assert answer.status_code < 500, (url, answer.text[:500])


def test_a_large_artifact_downloads_whole_in_a_stream(
    web: httpx.Client, ui_site: tuple[str, UiData, LocalBackend]
) -> None:
    backend = ui_site[2]
    run = backend.create_run("streams")
    data = bytes(range(256)) * (40 * 1024 + 7)  # ~10 MB: past the verify-first size
    backend.log_artifact(run.id, "big/weights.bin", data)
    answer = web.get(f"/ui/runs/{run.id}/artifacts/raw?path=big/weights.bin")
    assert answer.status_code == 200
    assert answer.content == data
    assert "attachment" in answer.headers["content-disposition"]
