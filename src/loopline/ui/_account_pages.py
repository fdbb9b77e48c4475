"""Pages of accounts: sign-in, your account and API tokens, users, a project's members and
quotas, and the audit log.

Who may open which page is decided before a handler runs (the server's route table); these
pages read and change accounts through the app's :class:`AccountService`. Forms post back to
this origin, which is what the server's CSRF check asks of a change made with the cookie.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopline.accounts import QUOTA_NAMES, ROLES, AccountService, LoginLimiter, User
from loopline.errors import Conflict, InvalidInput, NotFound, PermissionDenied, QuotaExceeded
from loopline.ui._pages import sections_of
from loopline.ui._render import base_url, render

if TYPE_CHECKING:
    from loopline.backends import Backend

__all__ = ["add_account_routes", "SESSION_COOKIE"]

SESSION_COOKIE = "loopline_session"  # the server's auth middleware reads the same name


def _accounts(request: Request) -> AccountService:
    return cast(AccountService, request.app.state.accounts)


def _auth_on(request: Request) -> bool:
    return bool(getattr(request.app.state, "auth_enabled", False))


def _user(request: Request) -> User | None:
    return cast(User | None, request.scope.get("state", {}).get("user"))


def _next(raw: str | None, ui: str) -> str:
    """Where to go after signing in: a page of this UI, never another site."""
    if raw and raw.startswith(ui) and not raw.startswith("//") and "\\" not in raw:
        return raw
    return ui


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def add_account_routes(router: APIRouter, backend: Backend) -> None:
    """Add the account pages to the UI's router."""

    @router.get("/login")
    def login_page(request: Request) -> Response:
        ui = str(request.scope.get("root_path", "")).rstrip("/") + "/ui"
        return render(
            request,
            "login.html",
            title="Sign in",
            next=_next(request.query_params.get("next"), ui),
            auth=_auth_on(request),
            problem=None,
        )

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        ui = str(request.scope.get("root_path", "")).rstrip("/") + "/ui"
        target = _next(form.get("next"), ui)
        name, password = form.get("user", "")[:100], form.get("password", "")[:1000]
        limiter = LoginLimiter.of(request.app.state)
        client = request.client.host if request.client else "unknown"
        keys = (f"ip:{client}", f"user:{name}")
        request.state.audit_user = name or "anonymous"
        accounts = _accounts(request)
        try:
            limiter.check(*keys)
            try:
                user = accounts.check_password(name, password)
            except PermissionDenied:
                limiter.failed(*keys)
                raise
        except (PermissionDenied, InvalidInput) as exc:
            return render(
                request,
                "login.html",
                403,
                title="Sign in",
                next=target,
                auth=_auth_on(request),
                problem=exc.message,
            )
        except QuotaExceeded as exc:  # too many attempts
            return render(
                request,
                "login.html",
                429,
                title="Sign in",
                next=target,
                auth=_auth_on(request),
                problem=exc.message,
            )
        secret, _csrf = accounts.create_session(user)
        answer = RedirectResponse(target, 303)
        answer.set_cookie(
            SESSION_COOKIE,
            secret,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
            max_age=12 * 3600,
        )
        return answer

    @router.post("/logout")
    def logout(request: Request) -> Response:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            _accounts(request).end_session(secret)
        answer = RedirectResponse(str(request.url_for("login_page")), 303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    @router.get("/account")
    def account(request: Request) -> Response:
        return _account_page(request, new_secret=None)

    @router.post("/account/tokens")
    async def create_token(request: Request) -> Response:
        user = _signed_in(request)
        form = await _form(request)
        days = form.get("expires_in_days", "").strip()
        if days and (not days.isdigit() or not 1 <= int(days) <= 3650):
            raise InvalidInput("Expiry must be a number of days from 1 to 3650, or empty.")
        lifetime = timedelta(days=int(days)) if days else None
        new = _accounts(request).create_token(
            user.name, form.get("name", "").strip(), expires_in=lifetime
        )
        return _account_page(request, new_secret=new.secret, status_code=201)

    @router.post("/account/tokens/{token_id}/revoke")
    def revoke_token(request: Request, token_id: str) -> Response:
        _accounts(request).revoke_token(_signed_in(request).name, token_id)
        return RedirectResponse(str(request.url_for("account")), 303)

    @router.get("/admin/users")
    def users(request: Request) -> Response:
        return _users_page(request, problem=None)

    @router.post("/admin/users")
    async def create_user(request: Request) -> Response:
        form = await _form(request)
        password = form.get("password", "")
        try:
            _accounts(request).create_user(
                form.get("name", "").strip(),
                password=password or None,
                is_admin=form.get("is_admin") == "on",
            )
        except (InvalidInput, Conflict) as exc:
            code = 409 if isinstance(exc, Conflict) else 400
            return _users_page(request, problem=exc.message, status_code=code)
        return RedirectResponse(f"{base_url(request)}/admin/users", 303)

    @router.post("/admin/users/{name}/state")
    async def user_state(request: Request, name: str) -> Response:
        form = await _form(request)
        disabled = form.get("disabled") == "1"
        me = _user(request)
        if disabled and me is not None and me.name == name:
            raise InvalidInput("You cannot deactivate yourself: ask another global admin.")
        _accounts(request).set_disabled(name, disabled)
        return RedirectResponse(f"{base_url(request)}/admin/users", 303)

    @router.get("/admin/audit")
    def audit(request: Request) -> Response:
        query = request.query_params
        filters = {k: query.get(k, "").strip() or None for k in ("user", "project", "contains")}
        entries = _accounts(request).audit(
            user=filters["user"],
            project=filters["project"],
            contains=filters["contains"],
            limit=200,
        )
        return render(request, "audit.html", title="Audit log", entries=entries, filters=filters)

    @router.get("/projects/{project}/members")
    def members(request: Request, project: str) -> Response:
        return _members_page(request, project, problem=None)

    @router.post("/projects/{project}/members")
    async def set_member(request: Request, project: str) -> Response:
        form = await _form(request)
        try:
            _accounts(request).set_role(
                project, form.get("user", "").strip(), form.get("role", "").strip()
            )
        except (InvalidInput, NotFound) as exc:
            return _members_page(request, project, problem=exc.message, status_code=400)
        return RedirectResponse(f"{base_url(request)}/projects/{project}/members", 303)

    @router.post("/projects/{project}/members/{user}/remove")
    def remove_member(request: Request, project: str, user: str) -> Response:
        _accounts(request).remove_member(project, user)
        return RedirectResponse(f"{base_url(request)}/projects/{project}/members", 303)

    @router.post("/projects/{project}/quotas")
    async def set_quotas(request: Request, project: str) -> Response:
        form = await _form(request)
        limits: dict[str, int | None] = {}
        for name in QUOTA_NAMES:
            if name not in form:
                continue
            text = form[name].strip().replace(",", "").replace("_", "")
            if text and not text.isdigit():
                return _members_page(
                    request,
                    project,
                    problem=f"{name.replace('_', ' ')}: a whole number from 0, or empty for "
                    f"unlimited (not {form[name]!r}).",
                    status_code=400,
                )
            limits[name] = int(text) if text else None
        try:
            _accounts(request).set_quota(project, **limits)
        except InvalidInput as exc:
            return _members_page(request, project, problem=exc.message, status_code=400)
        return RedirectResponse(f"{base_url(request)}/projects/{project}/members", 303)


def _users_page(request: Request, *, problem: str | None, status_code: int = 200) -> Response:
    return render(
        request,
        "admin_users.html",
        status_code,
        title="Users",
        users=_accounts(request).list_users(),
        me=_user(request),
        problem=problem,
    )


def _members_page(
    request: Request, project: str, *, problem: str | None, status_code: int = 200
) -> Response:
    accounts = _accounts(request)
    me = _user(request)
    members = accounts.members(project)
    # Forms for those who may use them (the server checks again on every change).
    can_manage = me is None or me.is_admin or accounts.role_in(me, project) == "admin"
    can_set_quotas = me is None or me.is_admin
    known = {m.user for m in members}
    others = [u.name for u in accounts.list_users() if u.name not in known] if can_manage else []
    return render(
        request,
        "members.html",
        status_code,
        title=f"Members · {project}",
        project=project,
        project_name=project,
        section="members",
        sections=sections_of(project, base_url(request)),
        members=members,
        roles=ROLES,
        others=others,
        uses=accounts.quota_use(project),
        can_manage=can_manage,
        can_set_quotas=can_set_quotas,
        problem=problem,
    )


def _signed_in(request: Request) -> User:
    user = _user(request)
    if user is None:
        raise InvalidInput("Authentication is off on this server: there are no accounts to use.")
    return user


def _account_page(request: Request, *, new_secret: str | None, status_code: int = 200) -> Response:
    user = _user(request)
    accounts = _accounts(request)
    tokens = accounts.list_tokens(user.name) if user is not None else []
    roles = accounts.roles_of(user) if user is not None else {}
    return render(
        request,
        "account.html",
        status_code,
        title="Your account",
        user=user,
        roles=sorted(roles.items()),
        tokens=tokens,
        new_secret=new_secret,
    )
