"""The datasets pages over HTTP: what they show, 404 pages for unknown things, inline errors for
bad version references, and no stack trace for any query string."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fixtures.ui_data import DATASET, IMAGES, PROJECT, UiData

from loopline.datasets import FileEntry, Manifest
from loopline.errors import InvalidInput
from loopline.ui._dataset_views import (
    file_profile_view,
    folder_crumbs,
    folder_listing,
    read_ref,
)

BASE = f"/ui/projects/{PROJECT}/datasets"
DS = f"{BASE}/{DATASET}"


def _error_page(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert "Back to the projects" in answer.text
    assert "Traceback" not in answer.text


def test_the_project_tabs_lead_to_the_datasets_list(web: httpx.Client) -> None:
    runs = web.get(f"/ui/projects/{PROJECT}/runs")
    assert f'href="{BASE}"' in runs.text
    page = web.get(BASE)
    assert page.status_code == 200
    row = re.search(rf'<tr data-dataset="{DATASET}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert f'{DS}/version?v=3">v3</a>' in row.group(1)
    assert '<td class="num">3</td>' in row.group(1)  # versions
    assert "no versions yet" in page.text  # the dataset 'empty'


def test_versions_page_lists_every_version_with_its_run(web: httpx.Client, ui_data: UiData) -> None:
    page = web.get(DS)
    assert page.status_code == 200
    assert re.findall(r'<tr data-version="(\d+)">', page.text) == ["3", "2", "1"]
    v2 = re.search(r'<tr data-version="2">(.*?)</tr>', page.text, re.S)
    assert v2 is not None
    assert "golden" in v2.group(1)
    assert "more customers" in v2.group(1)
    assert f'<a href="/ui/runs/{ui_data.producer_run}">prepare-data</a>' in v2.group(1)
    assert f"{DS}/diff?a=1&amp;b=2" in v2.group(1)


def test_version_page_browses_folders_by_page_and_shows_lineage(
    web: httpx.Client, ui_data: UiData
) -> None:
    page = web.get(f"{DS}/version", params={"v": "golden"})
    assert page.status_code == 200
    assert 'id="version-h">v2</h2>' in page.text
    assert f"{IMAGES - 1} files" in page.text
    assert f'href="/ui/runs/{ui_data.producer_run}">prepare-data' in page.text
    assert f'href="/ui/runs/{ui_data.consumer_run}">train-model' in page.text
    assert 'id="parent-link">v1</a>' in page.text
    second = web.get(f"{DS}/version", params={"v": "2", "prefix": "images/", "page": "2"})
    names = re.findall(r">(\d{4}\.txt)</a>", second.text)
    assert names == [f"{i:04d}.txt" for i in range(101, 201)]
    partial = web.get(f"{DS}/version", params={"v": "1", "prefix": "images/024"})
    assert re.findall(r">(images/\d{4}\.txt|\d{4}\.txt)</a>", partial.text) == [
        f"{i:04d}.txt" for i in range(240, 250)
    ]
    chosen = web.get(f"{DS}/version", params={"v": "3", "file": "customers.parquet"})
    assert 'class="selected"' in chosen.text
    assert f"{DS}/profile?v=3&amp;file=customers.parquet" in chosen.text


def test_diff_defaults_to_what_the_latest_version_changed(web: httpx.Client) -> None:
    page = web.get(f"{DS}/diff")
    assert page.status_code == 200
    assert re.search(r'<option value="2" selected>', page.text)  # a: v3's parent
    assert re.search(r'<option value="3" selected>', page.text)
    assert 'data-path="README.txt"' in page.text
    wide = web.get(f"{DS}/diff", params={"a": "1", "b": "latest"})
    added = re.search(r'id="diff-added">(.*?)</table>', wide.text, re.S)
    removed = re.search(r'id="diff-removed">(.*?)</table>', wide.text, re.S)
    assert added is not None
    assert "extra/plans.csv" in added.group(1)
    assert removed is not None
    assert "images/0000.txt" in removed.group(1)
    same = web.get(f"{DS}/diff", params={"a": "2", "b": "golden"})
    assert "These are the same version" in same.text


def test_profile_page_shows_schema_histograms_and_categories(
    web: httpx.Client, ui_data: UiData
) -> None:
    page = web.get(f"{DS}/profile")
    assert page.status_code == 200
    assert f"parquet · {ui_data.rows[3]} rows · 4 columns" in page.text
    age = re.search(r'<tr data-column="age">(.*?)</tr>', page.text, re.S)
    assert age is not None
    share = 100 * ui_data.age_nulls / ui_data.rows[3]
    assert f'null-share nulls-some">{share:.1f}%' in age.group(1)
    card = re.search(r'<figure[^>]*data-column="age">(.*?)</figure>', page.text, re.S)
    assert card is not None
    counts = [int(c) for c in re.findall(r'class="hist-bar"[^>]*data-count="(\d+)"', card.group(1))]
    assert len(counts) == 20
    assert sum(counts) == ui_data.rows[3] - ui_data.age_nulls
    plan = re.search(r'<figure[^>]*data-column="plan">(.*?)</figure>', page.text, re.S)
    assert plan is not None
    for value, count in ui_data.plans.items():
        assert re.search(
            rf'data-category="{value}">.*?class="cat-count">{count:,} ', plan.group(1), re.S
        )
    csv = web.get(f"{DS}/profile", params={"v": "2", "file": "extra/plans.csv"})
    assert "csv · 40 rows · 2 columns" in csv.text
    text = web.get(f"{DS}/profile", params={"file": "README.txt"})
    assert text.status_code == 200
    assert 'id="not-tabular"' in text.text
    first = web.get(f"{DS}/profile", params={"v": "1"})
    assert "v1 holds no tabular file" not in first.text  # v1 has customers.parquet


def test_run_page_links_the_datasets_it_read_and_wrote(web: httpx.Client, ui_data: UiData) -> None:
    producer = web.get(f"/ui/runs/{ui_data.producer_run}")
    written = re.search(r'id="datasets-produced">(.*?)</ul>', producer.text, re.S)
    assert written is not None
    assert re.findall(r'href="([^"]+)"', written.group(1)) == [
        f"{DS}/version?v=1",
        f"{DS}/version?v=2",
    ]
    consumer = web.get(f"/ui/runs/{ui_data.consumer_run}")
    assert f'id="datasets-consumed"><li><a href="{DS}/version?v=2">{DATASET}:2</a>' in consumer.text
    plain = web.get(f"/ui/runs/{ui_data.rich_run}")
    assert "datasets-consumed" not in plain.text
    assert "Datasets read" in plain.text


@pytest.mark.parametrize(
    "path",
    [
        "/ui/projects/nope/datasets",
        f"{BASE}/nope",
        f"{BASE}/bad%20name",
        f"{BASE}/nope/diff",
        f"{DS}/version?v=9",
        f"{DS}/version?v=2147483647",
        f"{DS}/version?v=platinum",
        f"{DS}/version?file=missing.txt",
        f"{DS}/version?prefix=nothing/",
        f"{DS}/diff?a=1&b=7",
        f"{DS}/profile?v=nope",
        f"{DS}/profile?file=missing.csv",
    ],
)
def test_unknown_datasets_versions_and_files_are_404_pages(web: httpx.Client, path: str) -> None:
    _error_page(web.get(path), 404)


@pytest.mark.parametrize(
    ("path", "field", "said"),
    [
        (f"{DS}/version?v=-1", "v", "Invalid"),
        (f"{DS}/version?v=latest!", "v", "Invalid"),
        (f"{DS}/profile?v=0", "v", "numbered from 1"),
        (f"{DS}/version?v=99999999999999999999", "v", "that many versions"),
        (f"{DS}/version?v=%C2%B2", "v", "0-9"),
        (f"{DS}/diff?a=x%20y&b=3", "a", "Invalid"),
        (f"{DS}/diff?a=1&b=..", "b", "Invalid"),
    ],
)
def test_bad_version_refs_are_shown_inline(
    web: httpx.Client, path: str, field: str, said: str
) -> None:
    page = web.get(path)
    assert page.status_code == 200
    error = re.search(rf'id="{field}-error">(.*?)</div>', page.text, re.S)
    assert error is not None, page.text[:2000]
    assert said in error.group(1)
    assert "<select" in page.text  # a picker to choose a version that exists


def test_a_dataset_without_versions_says_so_on_every_page(web: httpx.Client) -> None:
    for tab in ("", "/version", "/diff", "/profile"):
        page = web.get(f"{BASE}/empty{tab}")
        assert page.status_code == 200, tab
        assert "No versions yet" in page.text, tab


_text = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["1", "2", "3", "latest", "golden", "0", "-1", "999999999999", "images/", "../", "%", "²"]
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(v=_text, a=_text, b=_text, prefix=_text, page=_text, file=_text)
def test_no_query_string_makes_a_datasets_page_fail(
    web: httpx.Client, v: str, a: str, b: str, prefix: str, page: str, file: str
) -> None:
    for path, params in (
        (DS, {"page": page}),
        (f"{DS}/version", {"v": v, "prefix": prefix, "page": page, "file": file}),
        (f"{DS}/diff", {"a": a, "b": b}),
        (f"{DS}/profile", {"v": v, "file": file}),
    ):
        answer = web.get(f"{path}?{'&'.join(f'{k}={quote(x)}' for k, x in params.items())}")
        assert answer.status_code in (200, 404), (path, params, answer.text[:500])
        assert "Traceback" not in answer.text


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=30)
)
def test_no_dataset_name_makes_a_page_fail(web: httpx.Client, name: str) -> None:
    answer = web.get(f"{BASE}/{quote(name, safe='')}/version")
    assert answer.status_code in (200, 404), (name, answer.text[:500])
    assert "Traceback" not in answer.text


# -- the views, without a server --------------------------------------------------------------


@given(st.text(max_size=30))
def test_read_ref_names_a_version_or_says_why_not(text: str) -> None:
    outcome: int | str | InvalidInput
    try:
        outcome = read_ref(text)
    except InvalidInput as exc:
        outcome = exc
    if isinstance(outcome, InvalidInput):
        assert outcome.message.startswith(("Invalid version", "Invalid alias", "'latest'"))
    elif isinstance(outcome, int):
        assert 1 <= outcome < 2**31
    else:
        assert outcome == "latest" or outcome == text.strip()


_paths = st.lists(
    st.lists(st.sampled_from(["a", "b", "c.txt", "d.csv"]), min_size=1, max_size=4).map("/".join),
    max_size=30,
    unique=True,
)


@given(paths=_paths, prefix=st.sampled_from(["", "a/", "a/b/", "a", "a/c", "x/"]))
def test_a_folder_listing_accounts_for_every_file_under_its_prefix(
    paths: list[str], prefix: str
) -> None:
    # Drop paths that are also folders of others: a manifest refuses them.
    folders = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
    files = [FileEntry(p, "0" * 64, len(p)) for p in paths if p not in folders]
    manifest = Manifest.of(files)
    entries = folder_listing(manifest, prefix)
    under = [f for f in files if f.path.startswith(prefix)]
    assert sum(e.files for e in entries) == len(under)
    assert sum(e.size for e in entries) == sum(f.size for f in under)
    assert all(e.path.startswith(prefix) for e in entries)
    assert all(e.is_folder == e.path.endswith("/") for e in entries)
    assert [c[1] for c in folder_crumbs(prefix)] == [
        prefix[: i + 1] for i, ch in enumerate(prefix) if ch == "/"
    ]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda kids: (
            st.lists(kids, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "columns",
                        "rows",
                        "kind",
                        "histogram",
                        "edges",
                        "counts",
                        "top",
                        "name",
                        "null_share",
                        "quantiles",
                        "error",
                        "format",
                    ]
                ),
                kids,
                max_size=5,
            )
        ),
        max_leaves=30,
    )
)
def test_any_profile_json_gives_a_view(doc: object) -> None:
    view = file_profile_view("t.csv", doc)
    assert view.path == "t.csv"
    for column in view.columns:
        assert column.null_level in ("none", "some", "many")
        assert all(0 <= bar.share <= 100 for bar in column.bins + column.categories)
