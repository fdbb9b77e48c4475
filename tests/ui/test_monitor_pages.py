"""The monitor pages over HTTP: the list, a monitor's page with its charts' data, its runs'
drift reports (viewed sandboxed, downloaded as a file), the alerts filter, and bad input."""

from __future__ import annotations

import uuid

import httpx
from tests.fixtures.monitor_ui_data import MONITOR, seed_monitor
from tests.fixtures.ui_data import UiData

from loopline.backends import LocalBackend
from loopline.ui._monitor_pages import series_payload


def test_monitor_pages(web: httpx.Client, ui_site: tuple[str, UiData, LocalBackend]) -> None:
    backend = ui_site[2]
    project = f"mon-{uuid.uuid4().hex[:6]}"
    run_id = seed_monitor(backend, project)
    base = f"/ui/projects/{project}/monitors"
    listing = web.get(base)
    assert listing.status_code == 200
    assert f'data-monitor="{MONITOR}"' in listing.text
    assert "1 alert firing" in listing.text
    page = web.get(f"{base}/{MONITOR}")
    assert page.status_code == 200
    assert 'id="chart-drift_share"' in page.text
    assert 'id="chart-p99_ms"' in page.text
    assert f'data-run="{run_id}"' in page.text
    series = web.get(f"{base}/{MONITOR}/series", params={"metric": "drift_share"}).json()
    assert [s["label"] for s in series["series"]] == ["churn v1", "churn v2"]
    assert len(series["x"]) == 3
    assert series["y"][1] == [0.5, 0.5, 0.5]  # x drifts, plan does not
    report = web.get(f"{base}/{MONITOR}/runs/{run_id}/report?model=churn&version=2")
    assert report.status_code == 200
    assert "sandbox" in report.headers["content-security-policy"]
    assert "<svg" in report.text
    download = web.get(f"{base}/{MONITOR}/runs/{run_id}/report.html?model=churn&version=2")
    assert download.headers["content-disposition"].startswith("attachment;")
    firing = web.get(f"/ui/projects/{project}/alerts?state=firing")
    assert firing.text.count('data-state="firing"') == 1
    assert (
        'data-state="firing"' not in web.get(f"/ui/projects/{project}/alerts?state=resolved").text
    )
    ran = web.post(f"{base}/{MONITOR}/run")
    assert ran.status_code == 303
    assert ran.headers["location"].endswith("?ran=no+data") or "ran=" in ran.headers["location"]


def test_bad_addresses_answer_4xx(
    web: httpx.Client, ui_site: tuple[str, UiData, LocalBackend]
) -> None:
    backend = ui_site[2]
    project = f"mon-{uuid.uuid4().hex[:6]}"
    backend.create_project(project)
    base = f"/ui/projects/{project}/monitors"
    assert web.get(f"{base}/nobody").status_code == 404
    assert web.get(f"{base}/nobody/series", params={"metric": "nope"}).status_code in (400, 422)
    assert web.get(f"{base}/nobody/runs/{'f' * 32}/report").status_code == 404
    assert web.get("/ui/projects/no-such-project/monitors").status_code == 404


def test_the_series_leave_gaps_for_windows_without_a_value() -> None:
    assert series_payload([], "accuracy") == {"key": "accuracy", "series": [], "x": [], "y": []}
