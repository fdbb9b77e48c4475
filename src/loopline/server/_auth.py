"""Authentication, authorisation and the audit log, once for the whole app.

Every request is matched to its route, the route's rule is looked up in ``_access.RULES``,
the caller is identified (an API token in ``Authorization: Bearer``, or a browser session
cookie), the project the request touches is found, and the caller's role there decides.
Every change (any method but GET/HEAD/OPTIONS) is then recorded in the audit log: who, what,
when, from where and how it ended, never a body, a query string or a header.

Off (the default for embedded use and a loopback server), none of this runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopline.accounts import (
    AccountService,
    QuotaUse,
    User,
    quota_message,
    role_allows,
    validate_role,
)
from loopline.backends import LocalBackend
from loopline.errors import LooplineError, NotFound, PermissionDenied
from loopline.mlflow_compat import ArtifactPlace, MlflowService
from loopline.server._access import QUOTA_PROJECTS, QUOTAS, SAFE_METHODS, Rule, rule_for

__all__ = [
    "AuthMiddleware",
    "Gate",
    "accounts_of",
    "user_of",
    "SESSION_COOKIE",
    "CSRF_HEADER",
    "routes_of",
]

log = logging.getLogger("loopline.server")

SESSION_COOKIE = "loopline_session"
CSRF_HEADER = "x-csrf-token"
_BODY_SOURCES = ("body:", "mlflow:")


def accounts_of(request: Request) -> AccountService:
    """The app's account service."""
    return cast(AccountService, request.app.state.accounts)


def user_of(request: Request) -> User | None:
    """Who is calling (None when authentication is off)."""
    return cast(User | None, request.scope.get("state", {}).get("user"))


def acting(request: Request, claimed: str) -> str:
    """Who makes a change: the signed-in user when authentication is on; otherwise the name
    the client sends (embedded and loopback servers trust their one user)."""
    user = user_of(request)
    return claimed if user is None else user.name


def routes_of(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route of an app, through included routers, in matching order."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from routes_of(list(inner.routes))
        else:
            yield route


@dataclass(frozen=True, slots=True)
class Gate:
    """What the middleware needs: the switch, the services, the app's routes."""

    enabled: bool
    backend: LocalBackend
    accounts: AccountService
    mlflow: MlflowService

    def match(self, scope: Scope) -> tuple[str, dict[str, Any]] | None:
        """The path template of the route that will answer, and its path parameters."""
        for route in routes_of(list(scope["app"].router.routes)):
            found, child = route.matches(scope)
            if found == Match.FULL:
                return str(getattr(route, "path", "")), dict(child.get("path_params", {}))
        return None

    def projects(
        self, source: str, params: dict[str, Any], query: dict[str, list[str]], body: Any
    ) -> list[str] | None:
        """The projects a request touches, by the rule's ``source``; None when they cannot
        be found (an unknown run, a malformed body)."""
        try:
            return _projects(self, source, params, query, body)
        except LooplineError:
            return None

    def over_quota(self, project: str, quota: str, adding: int = 1) -> dict[str, Any] | None:
        """The quota, its limit and the current use, when adding ``adding`` (one more run or
        task, the bytes of a write) would pass it. Counting is the domains' (see
        ``AccountService.usage``)."""
        try:
            over = self.accounts.over_quota(project, quota, adding)
        except NotFound:
            return None  # an unknown project: the route answers 404 itself
        return None if over is None else over.as_details()

    def allowed(self, user: User, rule: Rule, projects: list[str] | None) -> bool:
        if user.is_admin or rule.need in ("public", "user"):
            return True
        if rule.need == "global_admin":
            return False
        needed = validate_role(rule.need)
        roles = self.accounts.roles_of(user)
        if rule.project == "any":
            return any(role_allows(held, needed) for held in roles.values())
        if not projects:
            return False
        return all(role_allows(roles.get(p), needed) for p in projects)


def _projects(
    gate: Gate, source: str, params: dict[str, Any], query: dict[str, list[str]], body: Any
) -> list[str] | None:
    def q(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    def field(name: str) -> Any:
        return body.get(name) if isinstance(body, dict) else None

    tracking = gate.backend.tracking
    kind, _, key = source.partition(":")
    if kind == "path":
        return [str(params[key])]
    if kind == "query":
        value = q(key)
        return [value] if value else None
    if kind == "body":
        value = field(key)
        return [value] if isinstance(value, str) else None
    if source == "run":
        return [tracking.get_run(str(params["run_id"])).project]
    if source == "pipeline_run":
        return [gate.backend.get_pipeline_run(str(params["run_id"])).project]
    if source == "schedule":
        return [gate.backend.get_pipeline_schedule(str(params["schedule_id"])).project]
    if source == "mlflow:experiment":
        value = field("experiment_id") or q("experiment_id") or "0"
        return [gate.mlflow.project_of_experiment(str(value))]
    if source == "mlflow:experiments":
        ids = field("experiment_ids")
        if not isinstance(ids, list) or not ids:
            return None
        return [gate.mlflow.project_of_experiment(str(i)) for i in ids]
    if source == "mlflow:experiment_name":
        value = q("experiment_name")
        return [value] if value else None
    if source == "mlflow:run":
        value = field("run_id") or field("run_uuid") or q("run_id") or q("run_uuid")
        return [tracking.get_run(str(value)).project] if value else None
    if source == "mlflow:model":
        return [gate.mlflow.project_of_model(str(params["model_id"]))]
    if source == "mlflow:artifact":
        raw = params.get("path") or q("path") or ""
        place = ArtifactPlace.parse(str(raw), file=False)
        if place.model_id is not None:
            return [gate.mlflow.project_of_model(place.model_id)]
        return [tracking.get_run(place.run_id).project]
    raise NotFound(f"unknown project source {source!r}")


class AuthMiddleware:
    """Identify, authorise, audit (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.gate.enabled:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        matched = self.gate.match(scope)
        template, params = matched if matched is not None else ("", {})
        rule, _ = rule_for(method, template) if matched is not None else (Rule("user"), False)
        state: dict[str, Any] = scope.setdefault("state", {})

        user: User | None = None
        if rule.need != "public":
            try:
                user = await run_in_threadpool(self._identify, scope, method)
            except PermissionDenied as exc:
                await _deny(scope, send, 401, exc.message, bearer=True)
                return
            if user is None:
                if method in SAFE_METHODS and scope["path"].startswith("/ui"):
                    await _redirect_to_login(scope, send)
                    return
                await _deny(
                    scope,
                    send,
                    401,
                    "Sign in first: send an API token as 'Authorization: Bearer <token>' "
                    "(LOOPLINE_TOKEN for Loopline clients, MLFLOW_TRACKING_TOKEN for mlflow).",
                    bearer=True,
                )
                return
            state["user"] = user

        projects: list[str] | None = None
        if rule.project is not None and rule.project != "any":
            body: Any = None
            if method not in SAFE_METHODS and rule.project.startswith(_BODY_SOURCES):
                raw, receive = await _buffer(receive)
                body = _json(raw)
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            projects = await run_in_threadpool(
                self.gate.projects, rule.project, params, query, body
            )
        if user is not None and not await run_in_threadpool(
            self.gate.allowed, user, rule, projects
        ):
            await _deny(scope, send, 403, _refusal(user, rule, projects, template, method))
            if method not in SAFE_METHODS:
                await run_in_threadpool(self._audit, scope, user, template, 403, projects)
            return

        quota = QUOTAS.get(f"{method} {template}")
        counted = projects
        adding = 1
        if quota is not None:
            counted, adding, receive = await self._counted(
                scope, receive, template, params, projects, quota
            )
        if quota is not None and counted:
            over = await run_in_threadpool(self.gate.over_quota, counted[0], quota, adding)
            if over is not None:
                await _over_quota(scope, send, over)
                await run_in_threadpool(self._audit, scope, user, template, 429, projects)
                return

        audited = method in SAFE_METHODS  # reads are not recorded

        async def record(status: int) -> None:
            nonlocal audited
            if not audited:
                audited = True
                who = user or state.get("audit_user")
                await run_in_threadpool(self._audit, scope, who, template, status, projects)

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Recorded before the answer leaves: whoever sees the answer finds the entry.
                await record(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            await record(500)  # no answer started: the request failed

    async def _counted(
        self,
        scope: Scope,
        receive: Receive,
        template: str,
        params: dict[str, Any],
        projects: list[str] | None,
        quota: str,
    ) -> tuple[list[str] | None, int, Receive]:
        """The project a quota route counts against, what the request adds (one run or task;
        for storage, the bytes it declares: an artifact's ``size``, an upload's length), and
        a receive that still has the body."""
        method = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        source = QUOTA_PROJECTS.get(f"{method} {template}")
        length = headers.get("content-length", "")
        upload = quota == "storage_bytes" and template.startswith("/api/2.0/mlflow-artifacts/")
        body: Any = None
        small = length.isdigit() and int(length) <= 1 << 20  # JSON bodies, not uploads
        if (source is not None or quota == "storage_bytes") and not upload and small:
            raw, receive = await _buffer(receive)
            body = _json(raw)
        if source is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            projects = await run_in_threadpool(self.gate.projects, source, params, query, body)
        adding = 1
        if quota == "storage_bytes":
            declared = body.get("size") if isinstance(body, dict) else None
            if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
                adding = declared
            elif upload and length.isdigit():
                adding = int(length)
        return projects, adding, receive

    def _identify(self, scope: Scope, method: str) -> User | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.get("authorization", "")
        if authorization:
            kind, _, secret = authorization.partition(" ")
            if kind.lower() != "bearer" or not secret.strip():
                raise PermissionDenied(
                    "Only API tokens are accepted: 'Authorization: Bearer <token>'."
                )
            return self.gate.accounts.authenticate_token(secret.strip())
        cookie = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        if cookie is None:
            return None
        user, csrf = self.gate.accounts.session_user(cookie)
        if method not in SAFE_METHODS and not _same_origin_or_token(headers, csrf):
            raise PermissionDenied(
                "This change did not come from a Loopline page (CSRF check failed): reload the "
                "page and try again."
            )
        return user

    def _audit(
        self,
        scope: Scope,
        user: User | str | None,
        template: str,
        status: int,
        projects: list[str] | None,
    ) -> None:
        client = scope.get("client")
        name = user.name if isinstance(user, User) else (user or "anonymous")
        self.gate.accounts.record(
            user=name,
            method=scope["method"],
            path=scope["path"],  # never the query string: it may carry secrets
            route=template,
            status=status,
            remote=str(client[0]) if client else "",
            project=projects[0] if projects else None,
        )


def _refusal(user: User, rule: Rule, projects: list[str] | None, template: str, method: str) -> str:
    what = f"{method} {template}"
    if rule.need == "global_admin":
        return f"{what} is for global admins; {user.name!r} is not one."
    if rule.project == "any":
        return f"{what} needs the {rule.need} role in a project; {user.name!r} has none."
    if not projects:
        return f"{what}: what this request names does not exist, or {user.name!r} may not see it."
    where = ", ".join(repr(p) for p in projects)
    return (
        f"{what} needs the {rule.need} role in project {where}; ask a project admin to add "
        f"{user.name!r} (PUT /api/v1/projects/<project>/members/{user.name})."
    )


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (the body limit is enforced outside), and a receive that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def _same_origin_or_token(headers: dict[str, str], csrf: str) -> bool:
    """A cookie-carrying change is genuine when it carries the session's CSRF token, or its
    Origin (else Referer) is this server (what a browser sends from our own pages)."""
    if headers.get(CSRF_HEADER) == csrf:
        return True
    host = headers.get("host", "")
    origin = headers.get("origin") or headers.get("referer") or ""
    return bool(host) and urlsplit(origin).netloc == host


async def _deny(
    scope: Scope, send: Send, status: int, message: str, *, bearer: bool = False
) -> None:
    if scope["path"].startswith("/api/2.0/"):
        # The MLflow API's shape, so the mlflow client shows the message and the code.
        code = "UNAUTHENTICATED" if status == 401 else "PERMISSION_DENIED"
        body = json.dumps({"error_code": code, "message": message}).encode()
    else:
        error = {"type": "PermissionDenied", "message": message, "details": {}}
        body = json.dumps({"error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if bearer:
        headers.append((b"www-authenticate", b'Bearer realm="loopline"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _over_quota(scope: Scope, send: Send, over: dict[str, Any]) -> None:
    message = quota_message(QuotaUse(**over))
    if scope["path"].startswith("/api/2.0/"):
        body = json.dumps({"error_code": "RESOURCE_EXHAUSTED", "message": message}).encode()
    else:
        error = {"type": "QuotaExceeded", "message": message, "details": over}
        body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _redirect_to_login(scope: Scope, send: Send) -> None:
    target = scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        target += "?" + query
    location = "/ui/login?next=" + quote(target, safe="")
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
