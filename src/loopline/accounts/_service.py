"""AccountService: users, API tokens, browser sessions, project roles, quotas, the audit log."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopline.accounts._tables import (
    AuditRow,
    MemberRow,
    QuotaRow,
    SessionRow,
    TokenRow,
    UserRow,
)
from loopline.accounts._types import (
    MIN_PASSWORD,
    QUOTA_NAMES,
    TOKEN_PREFIX,
    AuditEntry,
    Member,
    NewToken,
    Quota,
    QuotaUse,
    Role,
    Token,
    UsageCounter,
    User,
    quota_message,
    validate_role,
)
from loopline.db import Database, utcnow
from loopline.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    did_you_mean,
)
from loopline.projects import ProjectService, validate_name

__all__ = ["AccountService", "SESSION_LIFETIME", "QUOTA_NAMES"]

SESSION_LIFETIME = timedelta(hours=12)
_BAD_LOGIN = "Wrong user name or password."  # the same for both: no probing for user names
# argon2id with the library's defaults (RFC 9106's second recommendation, 64 MiB).
_HASHER = PasswordHasher()


def _digest(secret: str) -> str:
    # Tokens and session cookies are 256 random bits: a plain SHA-256 cannot be brute-forced,
    # and a lookup by it is one index probe (argon2 is for passwords, which people choose).
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountService:
    """Everything accounts store, behind one service.

    Example:
        >>> svc = AccountService(db, ProjectService(db))
        >>> svc.create_user("ada", password="correct horse battery")
        >>> new = svc.create_token("ada", "laptop")
        >>> svc.authenticate_token(new.secret).name
        'ada'
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        *,
        counters: Sequence[UsageCounter] = (),
        open_projects: bool = True,
    ) -> None:
        self._db = db
        self._projects = projects
        self._counters = tuple(counters)
        self.open_projects = open_projects
        """Whether any signed-in user may create a project (and becomes its admin)."""

    # -- users ---------------------------------------------------------------------------------

    def create_user(
        self, name: str, *, password: str | None = None, is_admin: bool = False
    ) -> User:
        """Add a user. ``password`` (at least 12 characters) lets them sign in to the UI."""
        validate_name(name, "user", "ada")
        hashed = _hash_password(password) if password is not None else None
        try:
            with self._db.transaction() as session:
                row = UserRow(name=name, password_hash=hashed, is_admin=is_admin, disabled=False)
                session.add(row)
                session.flush()
                return _user(row)
        except IntegrityError as exc:
            raise Conflict(f"User {name!r} already exists.") from exc

    def ensure_admin(self, name: str, password: str | None) -> User:
        """The bootstrap admin (from the environment): created once, made admin, and given
        ``password`` when it has none yet (a password changed since is kept)."""
        with self._db.transaction() as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).one_or_none()
            if row is not None:
                row.is_admin = True
                if row.password_hash is None and password is not None:
                    row.password_hash = _hash_password(password)
                return _user(row)
        try:
            return self.create_user(name, password=password, is_admin=True)
        except Conflict:
            return self.ensure_admin(name, password)

    def get_user(self, name: str) -> User:
        with self._db.session() as session:
            return _user(self._user_row(session, name))

    def list_users(self) -> list[User]:
        with self._db.session() as session:
            rows = session.scalars(select(UserRow)).all()
            return sorted((_user(r) for r in rows), key=lambda u: u.name)

    def set_password(self, name: str, password: str) -> None:
        hashed = _hash_password(password)
        with self._db.transaction() as session:
            self._user_row(session, name).password_hash = hashed

    def set_admin(self, name: str, is_admin: bool) -> User:
        """Make a user a global admin (or not any more)."""
        with self._db.transaction() as session:
            row = self._user_row(session, name)
            row.is_admin = is_admin
            return _user(row)

    def set_disabled(self, name: str, disabled: bool) -> User:
        """Disable (or enable again) a user: their tokens and sessions stop working at once."""
        with self._db.transaction() as session:
            row = self._user_row(session, name)
            row.disabled = disabled
            if disabled:
                session.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
            return _user(row)

    def check_password(self, name: str, password: str) -> User:
        """The user, if ``password`` is theirs; PermissionDenied (the same message whatever was
        wrong) otherwise."""
        with self._db.session() as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).one_or_none()
        stored = row.password_hash if row is not None else None
        try:
            if stored is None:
                # Spend the same time as a real check, so a missing user is not told apart.
                _HASHER.verify(_dummy_hash(), password)
                raise PermissionDenied(_BAD_LOGIN)
            _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError) as exc:
            raise PermissionDenied(_BAD_LOGIN) from exc
        assert row is not None
        if row.disabled:
            raise PermissionDenied(_BAD_LOGIN)
        if _HASHER.check_needs_rehash(stored):
            self.set_password(name, password)
        return _user(row)

    def _user_row(self, session: Session, name: str) -> UserRow:
        row = session.scalars(select(UserRow).where(UserRow.name == name)).one_or_none()
        if row is None:
            names = session.scalars(select(UserRow.name)).all()
            raise NotFound(f"User {name!r} not found.{did_you_mean(name, names)}")
        return row

    # -- tokens --------------------------------------------------------------------------------

    def create_token(
        self, user: str, name: str, *, expires_in: timedelta | None = None
    ) -> NewToken:
        """A new API token for ``user``. Its secret is in the answer and nowhere else."""
        if not isinstance(name, str) or not 0 < len(name) <= 100:
            raise InvalidInput("A token name must be 1 to 100 characters, like 'laptop'.")
        if expires_in is not None and expires_in <= timedelta(0):
            raise InvalidInput("A token's lifetime must be positive.")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._db.transaction() as session:
            owner = self._user_row(session, user)
            row = TokenRow(
                user_id=owner.id,
                name=name,
                secret_hash=_digest(secret),
                prefix=secret[:10],
                expires_at=utcnow() + expires_in if expires_in is not None else None,
            )
            session.add(row)
            session.flush()
            return NewToken(_token(row, owner.name), secret)

    def authenticate_token(self, secret: str) -> User:
        """The user a token belongs to; PermissionDenied when it is unknown, revoked, expired,
        or its user is disabled."""
        now = utcnow()
        with self._db.transaction() as session:
            found = session.execute(
                select(TokenRow, UserRow)
                .join(UserRow, UserRow.id == TokenRow.user_id)
                .where(TokenRow.secret_hash == _digest(secret))
            ).one_or_none()
            if found is None:
                raise PermissionDenied("Unknown API token: create one with `loopline tokens`.")
            token, user = found
            if token.revoked_at is not None:
                raise PermissionDenied(f"API token {token.prefix}... was revoked.")
            if token.expires_at is not None and token.expires_at <= now:
                raise PermissionDenied(
                    f"API token {token.prefix}... expired on {token.expires_at:%Y-%m-%d}."
                )
            if user.disabled:
                raise PermissionDenied(f"User {user.name!r} is disabled.")
            # Once a minute at most: a busy client must not turn every call into a write.
            if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
                token.last_used_at = now
            return _user(user)

    def list_tokens(self, user: str) -> list[Token]:
        with self._db.session() as session:
            owner = self._user_row(session, user)
            rows = session.scalars(
                select(TokenRow).where(TokenRow.user_id == owner.id).order_by(TokenRow.created_at)
            ).all()
            return [_token(r, owner.name) for r in rows]

    def revoke_token(self, user: str, token_id: str) -> Token:
        """Revoke one of ``user``'s tokens (revoking twice is fine)."""
        with self._db.transaction() as session:
            owner = self._user_row(session, user)
            row = session.get(TokenRow, token_id) if isinstance(token_id, str) else None
            if row is None or row.user_id != owner.id:
                raise NotFound(f"User {user!r} has no token {token_id!r}.")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return _token(row, owner.name)

    # -- browser sessions ----------------------------------------------------------------------

    def create_session(self, user: User) -> tuple[str, str]:
        """A new browser session for ``user``: (the cookie's secret, its CSRF token)."""
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utcnow()
        with self._db.transaction() as session:
            session.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
            session.add(
                SessionRow(
                    id=_digest(secret),
                    user_id=user.id,
                    csrf=csrf,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
        return secret, csrf

    def session_user(self, secret: str) -> tuple[User, str]:
        """The user and CSRF token of a live session; PermissionDenied otherwise."""
        with self._db.session() as session:
            found = session.execute(
                select(SessionRow, UserRow)
                .join(UserRow, UserRow.id == SessionRow.user_id)
                .where(SessionRow.id == _digest(secret))
            ).one_or_none()
        if found is None or found[0].expires_at <= utcnow() or found[1].disabled:
            raise PermissionDenied("Your session has ended: sign in again.")
        return _user(found[1]), found[0].csrf

    def end_session(self, secret: str) -> None:
        with self._db.transaction() as session:
            session.execute(delete(SessionRow).where(SessionRow.id == _digest(secret)))

    # -- project roles -------------------------------------------------------------------------

    def set_role(self, project: str, user: str, role: str) -> Member:
        """Give ``user`` ``role`` in ``project`` (replacing the role they had)."""
        clean = validate_role(role)
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            owner = self._user_row(session, user)
            session.execute(
                delete(MemberRow).where(
                    MemberRow.project_id == project_row.id, MemberRow.user_id == owner.id
                )
            )
            session.add(MemberRow(project_id=project_row.id, user_id=owner.id, role=clean))
        return Member(project_row.name, owner.name, clean)

    def remove_member(self, project: str, user: str) -> None:
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            owner = self._user_row(session, user)
            found = session.get(MemberRow, (project_row.id, owner.id))
            if found is not None:
                session.delete(found)
        if found is None:
            raise NotFound(f"User {user!r} is not a member of project {project!r}.")

    def members(self, project: str) -> list[Member]:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            rows = session.execute(
                select(UserRow.name, MemberRow.role)
                .join(UserRow, UserRow.id == MemberRow.user_id)
                .where(MemberRow.project_id == project_row.id)
                .order_by(UserRow.name)
            ).all()
        return [Member(project_row.name, name, validate_role(role)) for name, role in rows]

    def roles_of(self, user: User) -> dict[str, Role]:
        """Project name -> the role ``user`` holds there."""
        with self._db.session() as session:
            rows = session.execute(
                select(MemberRow.project_id, MemberRow.role).where(MemberRow.user_id == user.id)
            ).all()
        names = {p.id: p.name for p in self._projects.list()}
        return {names[pid]: validate_role(role) for pid, role in rows if pid in names}

    def role_in(self, user: User, project: str) -> Role | None:
        """The role ``user`` holds in ``project`` (None when they are not a member)."""
        return self.roles_of(user).get(project)

    # -- quotas --------------------------------------------------------------------------------

    def quota(self, project: str) -> Quota:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            row = session.get(QuotaRow, project_row.id)
        if row is None:
            return Quota(project_row.name)
        return Quota(
            project_row.name,
            row.concurrent_pipeline_runs,
            row.queued_tasks,
            row.storage_bytes,
            row.agents,
        )

    def set_quota(self, project: str, **limits: int | None) -> Quota:
        """Set some of a project's limits (``None`` removes one); the others stay."""
        unknown = sorted(set(limits) - set(QUOTA_NAMES))
        if unknown:
            raise InvalidInput(
                f"Unknown quota {unknown[0]!r}: one of {', '.join(QUOTA_NAMES)}."
                + did_you_mean(unknown[0], QUOTA_NAMES)
            )
        for name, value in limits.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62
            ):
                raise InvalidInput(f"Quota {name!r} must be a whole number from 0, or null.")
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            row = session.get(QuotaRow, project_row.id)
            if row is None:
                row = QuotaRow(project_id=project_row.id)
                session.add(row)
            for name, value in limits.items():
                setattr(row, name, value)
        return self.quota(project)

    def usage(self, project: str) -> dict[str, int]:
        """What ``project`` uses now of every quota, as its domains count it (see
        :class:`UsageCounter`): running pipeline runs, waiting tasks, stored bytes, agents."""
        self._projects.get(project)  # NotFound for an unknown project
        used = dict.fromkeys(QUOTA_NAMES, 0)
        for counter in self._counters:
            for name, value in counter.quota_usage(project).items():
                if name in used:
                    used[name] += int(value)
        return used

    def quota_use(self, project: str) -> list[QuotaUse]:
        """Every quota of ``project``: its limit and its current use."""
        quota = self.quota(project)
        used = self.usage(quota.project)
        return [QuotaUse(quota.project, n, getattr(quota, n), used[n]) for n in QUOTA_NAMES]

    def over_quota(self, project: str, quota: str, adding: int = 1) -> QuotaUse | None:
        """The quota's limit and use when adding ``adding`` more (one more run or task; the
        bytes a write brings) would pass it; None when it fits or is unlimited. A write whose
        size is unknown counts as one byte: a project at its storage quota writes nothing."""
        if quota not in QUOTA_NAMES:
            raise InvalidInput(f"Unknown quota {quota!r}: one of {', '.join(QUOTA_NAMES)}.")
        limit = getattr(self.quota(project), quota)
        if limit is None:
            return None
        used = self.usage(project)[quota]
        if used + max(int(adding), 1) <= limit:
            return None
        return QuotaUse(project, quota, limit, used)

    def check_quota(self, project: str, quota: str, adding: int = 1) -> None:
        """QuotaExceeded (429, with the limit and current use) when :meth:`over_quota` says so."""
        over = self.over_quota(project, quota, adding)
        if over is not None:
            raise QuotaExceeded(quota_message(over), details=over.as_details())

    def agent_limits(self) -> dict[str, int]:
        """Project name -> its ``agents`` limit, for the projects that have one."""
        with self._db.session() as session:
            rows = session.execute(
                select(QuotaRow.project_id, QuotaRow.agents).where(QuotaRow.agents.is_not(None))
            ).all()
        if not rows:
            return {}
        names = {p.id: p.name for p in self._projects.list()}
        return {names[pid]: int(limit) for pid, limit in rows if pid in names and limit is not None}

    # -- audit log -----------------------------------------------------------------------------

    def record(
        self,
        *,
        user: str,
        method: str,
        path: str,
        route: str,
        status: int,
        remote: str,
        project: str | None,
    ) -> None:
        """Append one entry to the audit log (there is no way to change or remove one)."""
        with self._db.transaction() as session:
            session.add(
                AuditRow(
                    user_name=user[:100],
                    method=method[:10],
                    path=path[:2000],
                    route=route[:500],
                    status=status,
                    remote=remote[:100],
                    project=project[:100] if project else None,
                )
            )

    def audit(
        self,
        *,
        user: str | None = None,
        project: str | None = None,
        contains: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """Entries newest first, filtered by user, project, text in the path, and time."""
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1,000, not {limit}.")
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if user:
            query = query.where(AuditRow.user_name == user)
        if project:
            query = query.where(AuditRow.project == project)
        if contains:
            escaped = contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(AuditRow.path.like(f"%{escaped}%", escape="\\"))
        if since is not None:
            query = query.where(AuditRow.at >= since)
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        with self._db.session() as session:
            rows: Sequence[AuditRow] = session.scalars(query).all()
            return [
                AuditEntry(
                    r.id,
                    r.at,
                    r.user_name,
                    r.method,
                    r.path,
                    r.route,
                    r.status,
                    r.remote,
                    r.project,
                )
                for r in rows
            ]


def _hash_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"A password must be at least {MIN_PASSWORD} characters long.")
    if len(password) > 1000:
        raise InvalidInput("A password must be at most 1,000 characters long.")
    return _HASHER.hash(password)


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("loopline-no-such-user")


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        name=row.name,
        is_admin=row.is_admin,
        disabled=row.disabled,
        has_password=row.password_hash is not None,
        created_at=row.created_at,
    )


def _token(row: TokenRow, user: str) -> Token:
    return Token(
        id=row.id,
        user=user,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
