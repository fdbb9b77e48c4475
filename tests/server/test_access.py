"""The role matrix: every route of the app, called by every kind of user, is allowed or refused
exactly as its rule in ``server/_access.py`` says; and a viewer can change nothing at all.

The routes come from the app itself, so a route added without a rule fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server._secured import IDENTITIES, ROLE_OF, Secured, secured_server

from loopline.config import Settings
from loopline.server import create_app
from loopline.server._access import SAFE_METHODS, Rule, rule_for
from loopline.server._auth import routes_of

RANK = {"viewer": 0, "editor": 1, "admin": 2}
# Sources the matrix has no object for (no pipeline run or schedule is made): they resolve to
# nothing, so only a global admin passes.
UNRESOLVED = {"pipeline_run", "schedule"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Access rules do not depend on the database: SQLite only (the matrix is the slowest test
    in the suite, and the stores beneath are tested on PostgreSQL elsewhere)."""
    return f"sqlite:///{tmp_path / 'access.db'}"


def app_routes(settings: Settings) -> list[tuple[str, str]]:
    """(method, path template) of every route the app answers."""
    from loopline.backends import LocalBackend

    backend = LocalBackend.open(settings)
    try:
        app = create_app(backend=backend)
        found = []
        for route in routes_of(list(app.router.routes)):
            methods = getattr(route, "methods", None) or {"GET"}
            found += [(m, str(getattr(route, "path", ""))) for m in sorted(methods) if m != "HEAD"]
        return sorted(set(found), key=lambda r: (r[1], r[0]))
    finally:
        backend.close()


_OBJECTS: dict[str, tuple[str, str]] = {}


@pytest.fixture
def secured(settings: Settings) -> Iterator[Secured]:
    _OBJECTS.clear()
    with secured_server(settings) as server:
        yield server
    _OBJECTS.clear()


def test_every_route_has_a_rule(settings: Settings) -> None:
    missing = [f"{m} {t}" for m, t in app_routes(settings) if not rule_for(m, t)[1]]
    assert missing == [], "add these routes to RULES in server/_access.py:\n" + "\n".join(missing)


def expected(who: str, rule: Rule) -> bool:
    """What the rule promises ``who`` (independently of how the server decides)."""
    if rule.need == "public":
        return True
    if who == "anonymous":
        return False
    if who == "root" or rule.need == "user":
        return True
    if rule.need == "global_admin":
        return False
    held = ROLE_OF[who]
    if rule.project == "any":
        return who == "outsider" or RANK[str(held)] >= RANK[rule.need]
    if rule.project in UNRESOLVED or held is None:
        return False
    return RANK[held] >= RANK[rule.need]


def request_for(server: Secured, method: str, template: str) -> tuple[str, dict[str, Any]]:
    """A concrete request for a route: fresh objects in project "demo" for every parameter."""
    # A change gets objects of its own (a delete must not take another request's run away);
    # reads share one set.
    key = "fresh" if method not in SAFE_METHODS else "shared"
    if key == "fresh" or key not in _OBJECTS:
        run = server.backend.create_run("demo")
        model = server.mlflow.create_logged_model(
            {"experiment_id": server.experiment_id, "source_run_id": run.id}
        )["model"]["info"]["model_id"]
        _OBJECTS[key] = (run.id, model)
    run_id, model = _OBJECTS[key]
    artifact = f"{server.experiment_id}/{run_id}/artifacts/notes.txt"
    values = {
        "project": "demo",
        "name": "demo",  # /projects/{name} names the project
        "run_id": run_id,
        "model_id": model,
        "path": artifact,
        "user": "guest",  # a member being added or removed: never one of the callers
    }

    def fill(match: re.Match[str]) -> str:
        return str(values.get(match.group(1), "x0"))

    path = re.sub(r"\{(\w+)(?::\w+)?\}", fill, template)
    if template == "/ui/static":
        path = "/ui/static/app.css"  # a mount: a file under it
    body = {
        "project": "demo",
        "experiment_id": server.experiment_id,
        "experiment_ids": [server.experiment_id],
        "run_id": run_id,
    }
    query = {
        "project": "demo",
        "run_id": run_id,
        "experiment_id": server.experiment_id,
        "experiment_name": "demo",
        "path": artifact,
        "metric_key": "loss",
    }
    options: dict[str, Any] = {"params": query}
    if method not in SAFE_METHODS and not template.startswith("/ui/login"):
        options["json"] = body
    return path, options


def refused(answer: httpx.Response) -> bool:
    """Refused by the access rules: 401/403 as JSON (a route's own answer, like the sign-in
    page saying a password is wrong, is a page), or sent to sign in."""
    if answer.status_code in (401, 403):
        return str(answer.headers.get("content-type", "")).startswith("application/json")
    location = answer.headers.get("location", "")
    return answer.status_code == 303 and location.startswith("/ui/login?next=")


def test_the_role_matrix(secured: Secured, settings: Settings) -> None:
    """Every route x every identity: refused exactly when its rule says so."""
    wrong: list[str] = []
    with httpx.Client(base_url=secured.url, timeout=30) as client:
        for method, template in app_routes(settings):
            rule, _ = rule_for(method, template)
            for who in IDENTITIES:
                path, options = request_for(secured, method, template)
                answer = client.request(method, path, headers=secured.headers(who), **options)
                if refused(answer) == expected(who, rule):
                    wrong.append(
                        f"{method} {template} as {who}: {answer.status_code} "
                        f"(rule {rule}) {answer.text[:150]}"
                    )
    assert wrong == [], "\n".join(wrong)


def snapshot(server: Secured) -> dict[str, Any]:
    """Everything a change could touch, as plain values."""
    backend = server.backend
    runs = backend.search_runs("demo", limit=10_000)
    return {
        "projects": [p.name for p in backend.list_projects()],
        "runs": sorted((r.id, r.status, r.params, r.tags, r.metrics) for r in runs),
        "artifacts": sorted(a.path for r in runs for a in backend.list_artifacts(r.id)),
        "members": [(m.user, m.role) for m in server.accounts.members("demo")],
        "users": [(u.name, u.is_admin, u.disabled) for u in server.accounts.list_users()],
        "quota": server.accounts.quota("demo"),
        "datasets": [d.name for d in backend.list_datasets("demo")],
        "models": [m.name for m in backend.list_registered_models("demo")],
    }


def test_a_viewer_cannot_change_anything(secured: Secured, settings: Settings) -> None:
    writes = [
        (m, t)
        for m, t in app_routes(settings)
        # (a POST that only reads, like a search, needs the viewer role: not a change)
        if m not in SAFE_METHODS and rule_for(m, t)[0].need not in ("public", "user", "viewer")
    ]
    assert len(writes) > 50
    requests = [(m, t, *request_for(secured, m, t)) for m, t in writes]
    before = snapshot(secured)
    allowed = []
    with httpx.Client(base_url=secured.url, timeout=30) as client:
        for method, template, path, options in requests:
            answer = client.request(method, path, headers=secured.headers("viewer"), **options)
            if not refused(answer):
                allowed.append(f"{method} {template}: {answer.status_code}")
    assert allowed == []
    assert snapshot(secured) == before
    # Every refusal was recorded, as the viewer, without a secret in sight.
    entries = [e for e in secured.accounts.audit(user="viewer", limit=1000) if e.status == 403]
    assert len(entries) == len(writes)
    assert not any(secured.tokens["viewer"] in e.path for e in entries)


def test_without_auth_everything_is_open(tmp_path: Path, server_url: str) -> None:
    assert httpx.get(f"{server_url}/api/v1/me").json() == {
        "auth": False,
        "user": None,
        "roles": {},
    }
    assert httpx.post(f"{server_url}/api/v1/projects", json={"name": "open"}).status_code == 201
