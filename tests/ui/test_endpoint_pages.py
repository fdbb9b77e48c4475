"""The serving endpoint pages over HTTP, on SQLite and PostgreSQL: the list, an endpoint's
routes, revisions and statistics, the route form with its confirmation step, rollback, and bad
input answered on the page (4xx with the message), never a 500."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape

import httpx
import pytest
from tests.fixtures.serving_ui_data import (
    ENDPOINT,
    FEATURED,
    MODEL,
    PROJECT,
    VIEW,
    ServingUiData,
    serving_ui_site,
    stats_windows,
)

from loopline.backends import LocalBackend
from loopline.serving import EndpointSpec, Route

BASE = f"/ui/projects/{PROJECT}/endpoints"


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


@pytest.fixture
def backend(site: tuple[str, ServingUiData, LocalBackend]) -> LocalBackend:
    return site[2]


def _endpoint(backend: LocalBackend, *weights: int) -> str:
    """A new endpoint of its own for a test that changes it: v1, v2... at ``weights``."""
    name = f"ep-{uuid.uuid4().hex[:8]}"
    routes = tuple(Route(f"models:/{MODEL}/{i + 1}", w) for i, w in enumerate(weights))
    backend.create_endpoint(PROJECT, name, EndpointSpec(routes=routes), actor="ada")
    return name


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _form(html: str, form_id: str) -> dict[str, str]:
    """The named inputs of a form as a browser submits them (checked boxes only)."""
    found = re.search(rf'<form[^>]*id="{form_id}".*?</form>', html, re.S)
    assert found is not None, f"no form {form_id}"
    out = {}
    for tag in re.findall(r"<input[^>]*>", found.group(0)):
        name = re.search(r'name="([^"]+)"', tag)
        if name is None:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        if kind is not None and kind.group(1) == "checkbox" and "checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        out[unescape(name.group(1))] = unescape(value.group(1)) if value else "on"
    return out


def test_the_list_shows_each_endpoint_with_its_routes_and_state(web: httpx.Client) -> None:
    page = web.get(BASE)
    assert page.status_code == 200
    row = re.search(rf'<tr data-endpoint="{ENDPOINT}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    cells = _text(row.group(1))
    assert "revision 1" in cells
    assert "digits/1 90%" in cells
    assert "digits/2 10%" in cells
    assert "digits/3 shadow" in cells
    assert "pending" in cells
    assert "canary v2" in cells
    assert "ada" in cells
    assert f'href="/ui/projects/{PROJECT}/models/{MODEL}/versions/3"' in row.group(1)
    assert 'aria-current="page">Endpoints<' in page.text.replace("\n", "")
    # Every project page has the tabs.
    runs = web.get(f"/ui/projects/{PROJECT}/runs").text
    assert f"/ui/projects/{PROJECT}/endpoints" in runs
    assert f"/ui/projects/{PROJECT}/features" in runs


def test_a_project_without_endpoints_says_how_to_make_one(
    web: httpx.Client, backend: LocalBackend
) -> None:
    name = backend.create_project(f"empty-{uuid.uuid4().hex[:6]}").name
    page = web.get(f"/ui/projects/{name}/endpoints")
    assert page.status_code == 200
    assert "No endpoints yet" in page.text
    assert web.get("/ui/projects/nowhere/endpoints").status_code == 404


def _with_stats(backend: LocalBackend) -> tuple[str, float]:
    """A new endpoint with two minutes of statistics up to now, and when they were recorded."""
    name = _endpoint(backend, 90, 10)
    now = datetime.now(UTC)
    backend.record_endpoint_stats(PROJECT, name, "w1", stats_windows(now))
    return name, now.timestamp()


def test_the_endpoint_page_shows_routes_state_figures_and_revisions(
    web: httpx.Client, backend: LocalBackend
) -> None:
    page = web.get(f"{BASE}/{ENDPOINT}")
    assert page.status_code == 200
    routes = re.search(r'<table class="grid compact" id="routes">(.*?)</table>', page.text, re.S)
    assert routes is not None
    assert re.findall(r'<tr data-route="([^"]+)"', routes.group(1)) == [
        "digits/1",
        "digits/2",
        "digits/3",
    ]
    assert "shadow" in _text(routes.group(1))
    revisions = re.findall(r'<tr data-revision="(\d+)"', page.text)
    assert revisions == ["1"]
    assert 'hx-get="' in page.text
    assert "/live?minutes=15" in page.text
    # The last minute: six complete windows of 9 + 1 requests -> 0.9 and 0.1 req/s. (Read in
    # the 10 seconds the statistics were written in: the next window would leave one out.)
    deadline = time.monotonic() + 60
    while True:
        name, written = _with_stats(backend)
        page = web.get(f"{BASE}/{name}")
        if int(written) // 10 == int(time.time()) // 10 or time.monotonic() > deadline:
            break
    minute = re.search(r'id="last-minute">(.*?)</table>', page.text, re.S)
    assert minute is not None
    v1 = re.search(r'<tr data-model="digits/1">(.*?)</tr>', minute.group(1), re.S)
    assert v1 is not None
    assert _text(v1.group(1)).split() == ["digits/1", "54", "0.9", "11.1%", "0.75", "0.995", "1"]
    v2 = re.search(r'<tr data-model="digits/2">(.*?)</tr>', minute.group(1), re.S)
    assert v2 is not None
    assert _text(v2.group(1)).split()[:4] == ["digits/2", "6", "0.1", "0%"]
    # The live part alone is what the page polls for; it carries the revisions out of band.
    live = web.get(f"{BASE}/{ENDPOINT}/live")
    assert live.status_code == 200
    assert 'id="endpoint-live"' in live.text
    assert 'id="revisions-panel"' in live.text
    assert "<html" not in live.text
    quiet = web.get(f"{BASE}/{FEATURED}")
    assert "No requests in the last minute" in quiet.text


def test_chart_data_per_model_version(web: httpx.Client, backend: LocalBackend) -> None:
    name, _ = _with_stats(backend)
    rate = web.get(f"{BASE}/{name}/series", params={"metric": "rate", "minutes": "5"})
    assert rate.status_code == 200
    payload = rate.json()
    assert [s["label"] for s in payload["series"]] == ["digits/1", "digits/2"]
    assert len(payload["x"]) == 30  # 5 minutes of 10-second windows
    assert all(b - a == 10 for a, b in zip(payload["x"], payload["x"][1:], strict=False))
    v1 = payload["y"][0]
    assert 11 <= v1.count(0.9) <= 12
    assert set(v1) == {0.0, 0.9}
    errors = web.get(f"{BASE}/{name}/series", params={"metric": "errors"}).json()
    assert [v for v in errors["y"][0] if v is not None] == pytest.approx([100 / 9] * 12)
    assert {v for v in errors["y"][1] if v is not None} == {0.0}
    p99 = web.get(f"{BASE}/{name}/series", params={"metric": "p99"}).json()
    assert [v for v in p99["y"][0] if v is not None] == pytest.approx([0.995] * 12)
    assert len(p99["x"]) == 90  # the default: 15 minutes
    bad = web.get(f"{BASE}/{name}/series", params={"metric": "cpu"})
    assert bad.status_code == 400
    assert "rate, errors, p50, p99" in bad.text
    empty = web.get(f"{BASE}/{FEATURED}/series", params={"metric": "rate"}).json()
    assert empty["series"] == []
    assert empty["x"] == []


def test_changing_weights_is_reviewed_then_applied_as_a_new_revision(
    web: httpx.Client, backend: LocalBackend
) -> None:
    name = _endpoint(backend, 100)
    page = web.get(f"{BASE}/{name}")
    form = _form(page.text, "route-form")
    assert form["r0.weight"] == "100"
    assert form["base"] == "1"
    form.update({"r0.weight": "80", "new.model": f"{MODEL}/2", "new.weight": "20"})
    form["message"] = "canary v2"
    review = web.post(f"{BASE}/{name}/review", data=form)
    assert review.status_code == 200, _text(review.text)
    changes = re.search(r'id="route-changes">(.*?)</table>', review.text, re.S)
    assert changes is not None
    rows = dict(re.findall(r'<tr data-route="([^"]+)" data-change="(\w+)"', changes.group(1)))
    assert rows == {"digits/1": "modified", "digits/2": "added"}
    text = _text(changes.group(1))
    assert "digits/1 100% → 80%" in text
    assert "digits/2 — → 20%" in text
    assert backend.get_endpoint(PROJECT, name).revision.number == 1  # nothing made yet
    confirm = _form(review.text, "confirm-form")
    done = web.post(f"{BASE}/{name}/update", data=confirm)
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"/endpoints/{name}?made=2")
    endpoint = backend.get_endpoint(PROJECT, name)
    assert endpoint.revision.number == 2
    assert [(r.label, r.weight) for r in endpoint.revision.spec.routes] == [
        ("digits/1", 80),
        ("digits/2", 20),
    ]
    assert endpoint.revision.actor == "ada"
    assert endpoint.revision.message == "canary v2"
    after = web.get(done.headers["location"])
    assert "Revision 2 is recorded" in after.text
    assert re.findall(r'<tr data-revision="(\d+)"', after.text) == ["2", "1"]
    # The same confirmation posted again is refused: the endpoint has moved on since.
    again = web.post(f"{BASE}/{name}/update", data=confirm)
    assert again.status_code == 409
    assert "changed while you were editing" in _text(again.text)
    assert backend.get_endpoint(PROJECT, name).revision.number == 2


def test_shadow_toggle_and_removing_a_route(web: httpx.Client, backend: LocalBackend) -> None:
    name = _endpoint(backend, 50, 50)
    form = _form(web.get(f"{BASE}/{name}").text, "route-form")
    form.update({"r0.weight": "100", "r1.shadow": "on"})
    review = web.post(f"{BASE}/{name}/review", data=form)
    assert review.status_code == 200, _text(review.text)
    assert "digits/2 50% → shadow" in _text(review.text)
    assert web.post(f"{BASE}/{name}/update", data=_form(review.text, "confirm-form")).is_redirect
    routes = backend.get_endpoint(PROJECT, name).revision.spec.routes
    assert [(r.label, r.weight, r.shadow) for r in routes] == [
        ("digits/1", 100, False),
        ("digits/2", 50, True),
    ]
    form = _form(web.get(f"{BASE}/{name}").text, "route-form")
    form["r1.remove"] = "on"
    review = web.post(f"{BASE}/{name}/review", data=form)
    assert 'data-change="removed"' in review.text
    assert web.post(f"{BASE}/{name}/update", data=_form(review.text, "confirm-form")).is_redirect
    assert len(backend.get_endpoint(PROJECT, name).revision.spec.routes) == 1


def test_back_to_the_form_keeps_what_was_typed(web: httpx.Client, backend: LocalBackend) -> None:
    name = _endpoint(backend, 100)
    form = _form(web.get(f"{BASE}/{name}").text, "route-form")
    form.update({"r0.weight": "70", "new.model": f"models:/{MODEL}/3", "new.weight": "30"})
    review = web.post(f"{BASE}/{name}/review", data=form)
    back = web.post(f"{BASE}/{name}/edit", data=_form(review.text, "confirm-form"))
    assert back.status_code == 200
    again = _form(back.text, "route-form")
    assert again["r0.weight"] == "70"
    assert again["new.model"] == f"models:/{MODEL}/3"
    assert again["new.weight"] == "30"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"r0.weight": "60"}, "add up to 60, not 100"),
        ({"r0.weight": "abc"}, "must be a whole percentage from 0 to 100, not 'abc'"),
        ({"r0.weight": "150"}, "from 0 to 100, not '150'"),
        ({"r0.weight": ""}, "Give digits/1 a weight"),
        ({"new.model": "nosuchmodel/1", "new.weight": "0"}, "nosuchmodel"),
        ({"new.model": f"{MODEL}/99", "new.weight": "0"}, "99"),
        ({"new.model": "runs:/" + "0" * 32 + "/model", "new.weight": "0"}, "registered models"),
        ({"r0.remove": "on"}, "at least one route"),
        ({}, "Nothing would change"),
        ({"routes": "x"}, "whole number"),
    ],
)
def test_bad_input_shows_the_message_on_the_page(
    web: httpx.Client, backend: LocalBackend, change: dict[str, str], message: str
) -> None:
    name = _endpoint(backend, 100)
    form = _form(web.get(f"{BASE}/{name}").text, "route-form")
    form.update(change)
    for step in ("review", "update"):
        answer = web.post(f"{BASE}/{name}/{step}", data=form)
        assert answer.status_code == 422, (step, _text(answer.text))
        error = re.search(r'id="form-error"><p>(.*?)</p>', answer.text, re.S)
        assert error is not None
        assert message in unescape(error.group(1))
        # The page keeps what was typed, to correct it.
        kept = _form(answer.text, "route-form")
        if change.get("r0.weight"):
            assert kept["r0.weight"] == change["r0.weight"]
    assert backend.get_endpoint(PROJECT, name).revision.number == 1


def test_an_unknown_model_names_close_matches(web: httpx.Client, backend: LocalBackend) -> None:
    name = _endpoint(backend, 100)
    form = _form(web.get(f"{BASE}/{name}").text, "route-form")
    form.update({"r0.weight": "90", "new.model": "digit/1", "new.weight": "10"})
    answer = web.post(f"{BASE}/{name}/review", data=form)
    assert answer.status_code == 422
    assert "digits" in _text(answer.text)


def test_roll_back_serves_the_previous_revision_again(
    web: httpx.Client, backend: LocalBackend
) -> None:
    name = _endpoint(backend, 100)
    alone = web.post(f"{BASE}/{name}/rollback", data={"base": "1"})
    assert alone.status_code == 409
    assert "no earlier revision" in _text(alone.text)
    backend.mark_endpoint_revision(PROJECT, name, 1, "live")
    spec = EndpointSpec(routes=(Route(f"models:/{MODEL}/1", 50), Route(f"models:/{MODEL}/2", 50)))
    backend.update_endpoint(PROJECT, name, spec, actor="bob", message="50/50")
    backend.mark_endpoint_revision(PROJECT, name, 2, "live")
    page = web.get(f"{BASE}/{name}")
    rollback = _form(page.text, "rollback-form")
    assert rollback["base"] == "2"
    rollback["message"] = "v2 errors"
    done = web.post(f"{BASE}/{name}/rollback", data=rollback)
    assert done.status_code == 303
    endpoint = backend.get_endpoint(PROJECT, name)
    assert endpoint.revision.number == 3
    assert endpoint.revision.rollback_of == 1
    assert endpoint.revision.actor == "ada"
    assert [r.label for r in endpoint.revision.spec.routes] == ["digits/1"]
    after = web.get(done.headers["location"]).text
    assert "Revision 3 rolls back to revision 1" in _text(after)
    row = re.search(r'<tr data-revision="3"[^>]*>(.*?)</tr>', after, re.S)
    assert row is not None
    assert "rollback of 1" in _text(row.group(1))
    assert "v2 errors" in _text(row.group(1))


def test_a_failed_revision_shows_its_error_and_what_keeps_serving(
    web: httpx.Client, backend: LocalBackend
) -> None:
    name = _endpoint(backend, 100)
    backend.mark_endpoint_revision(PROJECT, name, 1, "live")
    spec = EndpointSpec(routes=(Route(f"models:/{MODEL}/2"),))
    backend.update_endpoint(PROJECT, name, spec, actor="ada")
    backend.mark_endpoint_revision(PROJECT, name, 2, "failed", "ModuleNotFoundError: sklearn2")
    page = web.get(f"{BASE}/{name}")
    error = re.search(r'id="revision-error"><p>(.*?)</p>', page.text, re.S)
    assert error is not None
    assert "revision 1 keeps serving: ModuleNotFoundError: sklearn2" in _text(error.group(1))
    listed = web.get(BASE).text
    row = re.search(rf'<tr data-endpoint="{name}">(.*?)</tr>', listed, re.S)
    assert row is not None
    assert "failed" in row.group(1)
    assert "sklearn2" in row.group(1)


def test_feature_lookups_link_to_their_views(web: httpx.Client) -> None:
    page = web.get(f"{BASE}/{FEATURED}")
    found = re.search(r'id="endpoint-features">(.*?)</dd>', page.text, re.S)
    assert found is not None
    assert f'href="/ui/projects/{PROJECT}/features/{VIEW}"' in found.group(1)
    assert "conv_rate, trips" in _text(found.group(1))


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/nope",
        f"{BASE}/Bad%20Name",
        f"{BASE}/nope/live",
        f"{BASE}/nope/series?metric=rate",
        "/ui/projects/nowhere/endpoints/x",
    ],
)
def test_unknown_endpoints_are_friendly_404_pages(web: httpx.Client, path: str) -> None:
    page = web.get(path)
    assert page.status_code == 404
    assert "Traceback" not in page.text


def test_posting_to_an_unknown_endpoint_is_404(web: httpx.Client) -> None:
    for step in ("review", "update", "rollback", "edit"):
        assert web.post(f"{BASE}/nope/{step}", data={"base": "1"}).status_code == 404


def test_a_model_version_page_links_the_endpoints_serving_it(web: httpx.Client) -> None:
    page = web.get(f"/ui/projects/{PROJECT}/models/{MODEL}/versions/3")
    served = re.search(r'id="served-by">(.*?)</dd>', page.text, re.S)
    assert served is not None
    assert f'href="{BASE}/{ENDPOINT}"' in served.group(1)
    assert "shadow" in _text(served.group(1))
    v1 = re.search(
        r'id="served-by">(.*?)</dd>',
        web.get(f"/ui/projects/{PROJECT}/models/{MODEL}/versions/1").text,
        re.S,
    )
    assert v1 is not None
    assert f"{ENDPOINT} 90%" in _text(v1.group(1))
    assert f"{FEATURED} 100%" in _text(v1.group(1))
