"""/api/v1/auth, /me, /users, /projects/{project}/members and /quotas, /audit: accounts over HTTP.

Who may call what is decided before a route runs (``server/_access.py``); these routes only
parse, call the account service and answer. A token's secret is in exactly one answer: the
one that creates it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from loopline.accounts import QUOTA_NAMES, AuditEntry, LoginLimiter, Member, Quota, Token, User
from loopline.errors import InvalidInput, PermissionDenied
from loopline.server._auth import SESSION_COOKIE, accounts_of, user_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class Login(BaseModel):
    user: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class NewTokenBody(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str | None = Field(None, max_length=1000)
    is_admin: bool = False


class UserChange(BaseModel):
    password: str | None = Field(None, max_length=1000)
    is_admin: bool | None = None
    disabled: bool | None = None


class RoleBody(BaseModel):
    role: str = Field(max_length=20)


class QuotaBody(BaseModel):
    concurrent_pipeline_runs: int | None = Field(None, ge=0, le=2**31 - 1)
    queued_tasks: int | None = Field(None, ge=0, le=2**31 - 1)
    storage_bytes: int | None = Field(None, ge=0, le=2**62)
    agents: int | None = Field(None, ge=0, le=2**31 - 1)


def _limiter(request: Request) -> LoginLimiter:
    return LoginLimiter.of(request.app.state)


def _me(request: Request) -> User:
    user = user_of(request)
    if user is None:
        raise InvalidInput(
            "Authentication is off on this server, so there is no signed-in user: start it "
            "with LOOPLINE_AUTH=on to use accounts."
        )
    return user


def _user_json(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "is_admin": user.is_admin,
        "disabled": user.disabled,
        "has_password": user.has_password,
        "created_at": user.created_at,
    }


def _token_json(token: Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "user": token.user,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
    }


def _member_json(member: Member) -> dict[str, str]:
    return {"project": member.project, "user": member.user, "role": member.role}


def _quota_json(quota: Quota) -> dict[str, Any]:
    return {"project": quota.project, **{n: getattr(quota, n) for n in QUOTA_NAMES}}


def _audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "user": entry.user,
        "method": entry.method,
        "path": entry.path,
        "route": entry.route,
        "status": entry.status,
        "remote": entry.remote,
        "project": entry.project,
    }


# -- signing in (browsers) ---------------------------------------------------------------------


@router.post("/auth/login")
def login(request: Request, response: Response, body: Login) -> dict[str, Any]:
    """Check a password and start a browser session (an HttpOnly, SameSite=Strict cookie).

    The answer carries the session's CSRF token, for scripts that send changes with the cookie.
    """
    limiter = _limiter(request)
    client = request.client.host if request.client else "unknown"
    keys = (f"ip:{client}", f"user:{body.user}")
    request.state.audit_user = body.user  # the audit log names who tried, never the password
    limiter.check(*keys)
    accounts = accounts_of(request)
    try:
        user = accounts.check_password(body.user, body.password)
    except PermissionDenied:
        limiter.failed(*keys)
        raise
    secret, csrf = accounts.create_session(user)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        max_age=12 * 3600,
    )
    return {"user": user.name, "csrf_token": csrf}


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response) -> None:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        accounts_of(request).end_session(secret)
    response.delete_cookie(SESSION_COOKIE, path="/")


# -- the caller ------------------------------------------------------------------------------


@router.get("/me")
def me(request: Request) -> dict[str, Any]:
    """Who is calling, and their role in each project (``auth: false`` when auth is off)."""
    user = user_of(request)
    if user is None:
        return {"auth": False, "user": None, "roles": {}}
    roles = accounts_of(request).roles_of(user)
    return {"auth": True, "user": _user_json(user), "roles": roles}


@router.get("/me/tokens")
def my_tokens(request: Request) -> list[dict[str, Any]]:
    return [_token_json(t) for t in accounts_of(request).list_tokens(_me(request).name)]


@router.post("/me/tokens", status_code=status.HTTP_201_CREATED)
def create_my_token(request: Request, body: NewTokenBody) -> dict[str, Any]:
    """A new API token: ``secret`` is shown in this answer only. Keep it somewhere safe."""
    return _new_token(request, _me(request).name, body)


@router.delete("/me/tokens/{token_id}")
def revoke_my_token(request: Request, token_id: str) -> dict[str, Any]:
    return _token_json(accounts_of(request).revoke_token(_me(request).name, token_id))


def _new_token(request: Request, user: str, body: NewTokenBody) -> dict[str, Any]:
    lifetime = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    new = accounts_of(request).create_token(user, body.name, expires_in=lifetime)
    return {**_token_json(new.token), "secret": new.secret}


# -- users (global admins) ---------------------------------------------------------------------


@router.get("/users")
def list_users(request: Request) -> list[dict[str, Any]]:
    return [_user_json(u) for u in accounts_of(request).list_users()]


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(request: Request, body: NewUser) -> dict[str, Any]:
    user = accounts_of(request).create_user(
        body.name, password=body.password, is_admin=body.is_admin
    )
    return _user_json(user)


@router.patch("/users/{name}")
def change_user(request: Request, name: str, body: UserChange) -> dict[str, Any]:
    accounts = accounts_of(request)
    if body.password is not None:
        accounts.set_password(name, body.password)
    if body.disabled is not None:
        accounts.set_disabled(name, body.disabled)
    if body.is_admin is not None:
        accounts.set_admin(name, body.is_admin)
    return _user_json(accounts.get_user(name))


@router.get("/users/{name}/tokens")
def user_tokens(request: Request, name: str) -> list[dict[str, Any]]:
    return [_token_json(t) for t in accounts_of(request).list_tokens(name)]


@router.post("/users/{name}/tokens", status_code=status.HTTP_201_CREATED)
def create_user_token(request: Request, name: str, body: NewTokenBody) -> dict[str, Any]:
    """A token for another user (a service account for agents or CI): shown once."""
    return _new_token(request, name, body)


@router.delete("/users/{name}/tokens/{token_id}")
def revoke_user_token(request: Request, name: str, token_id: str) -> dict[str, Any]:
    return _token_json(accounts_of(request).revoke_token(name, token_id))


# -- members and quotas --------------------------------------------------------------------


@router.get("/projects/{project}/members")
def members(request: Request, project: str) -> list[dict[str, str]]:
    return [_member_json(m) for m in accounts_of(request).members(project)]


@router.put("/projects/{project}/members/{user}")
def set_member(request: Request, project: str, user: str, body: RoleBody) -> dict[str, str]:
    return _member_json(accounts_of(request).set_role(project, user, body.role))


@router.delete("/projects/{project}/members/{user}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(request: Request, project: str, user: str) -> None:
    accounts_of(request).remove_member(project, user)


@router.get("/projects/{project}/quotas")
def quotas(request: Request, project: str) -> dict[str, Any]:
    """The project's limits (null: unlimited), and what it uses now of every quota: pipeline
    runs running, tasks waiting in queues, bytes stored, agents working for it."""
    uses = accounts_of(request).quota_use(project)
    return {
        "project": uses[0].project,
        **{u.quota: u.limit for u in uses},
        "usage": {u.quota: u.current for u in uses},
    }


@router.put("/projects/{project}/quotas")
def set_quotas(request: Request, project: str, body: QuotaBody) -> dict[str, Any]:
    """Set the limits named in the body (null: unlimited); limits not named stay."""
    limits = {name: getattr(body, name) for name in body.model_fields_set}
    return _quota_json(accounts_of(request).set_quota(project, **limits))


# -- audit -----------------------------------------------------------------------------------


@router.get("/audit")
def audit(
    request: Request,
    user: str | None = Query(None, max_length=100),
    project: str | None = Query(None, max_length=100),
    contains: str | None = Query(None, max_length=500),
    since: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    before_id: int | None = Query(None, ge=1, le=2**62),
) -> list[dict[str, Any]]:
    """Changes, newest first: filter by user, project, text in the path, or time."""
    if since is not None and since.tzinfo is None:
        raise InvalidInput("since needs a time zone, like 2026-11-23T08:00:00Z.")
    entries = accounts_of(request).audit(
        user=user,
        project=project,
        contains=contains,
        since=since,
        limit=limit,
        before_id=before_id,
    )
    return [_audit_json(e) for e in entries]
