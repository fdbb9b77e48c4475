"""AccountService on SQLite and PostgreSQL: users, passwords, tokens, roles, quotas, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from loopline.accounts import AccountService
from loopline.accounts._tables import TokenRow, UserRow
from loopline.backends import LocalBackend
from loopline.db import utcnow
from loopline.errors import Conflict, InvalidInput, NotFound, PermissionDenied

PASSWORD = "correct horse battery staple"


@pytest.fixture
def accounts(local_backend: LocalBackend) -> AccountService:
    local_backend.create_project("demo")
    return AccountService(local_backend.db, local_backend.projects)


def test_passwords_are_kept_as_argon2_hashes(
    accounts: AccountService, local_backend: LocalBackend
) -> None:
    accounts.create_user("ada", password=PASSWORD)
    with local_backend.db.session() as session:
        stored = session.scalars(select(UserRow.password_hash)).one()
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert accounts.check_password("ada", PASSWORD).name == "ada"


@pytest.mark.parametrize(("user", "password"), [("ada", "wrong password!!"), ("nobody", PASSWORD)])
def test_a_wrong_login_says_the_same_whatever_was_wrong(
    accounts: AccountService, user: str, password: str
) -> None:
    accounts.create_user("ada", password=PASSWORD)
    with pytest.raises(PermissionDenied, match=r"^Wrong user name or password\.$"):
        accounts.check_password(user, password)


def test_short_passwords_and_bad_names_are_refused(accounts: AccountService) -> None:
    with pytest.raises(InvalidInput, match="at least 12 characters"):
        accounts.create_user("ada", password="short")
    with pytest.raises(InvalidInput, match="Invalid user name"):
        accounts.create_user("../ada")
    accounts.create_user("ada")
    with pytest.raises(Conflict, match="already exists"):
        accounts.create_user("ada")


def test_a_token_is_shown_once_and_only_its_hash_is_stored(
    accounts: AccountService, local_backend: LocalBackend
) -> None:
    accounts.create_user("ada")
    new = accounts.create_token("ada", "laptop")
    assert new.secret.startswith("llt_")
    assert len(new.secret) > 40
    with local_backend.db.session() as session:
        row = session.scalars(select(TokenRow)).one()
        assert new.secret not in (row.secret_hash, row.prefix, row.name)
    listed = accounts.list_tokens("ada")
    assert [t.id for t in listed] == [new.token.id]
    assert not hasattr(listed[0], "secret")
    assert accounts.authenticate_token(new.secret).name == "ada"
    assert accounts.list_tokens("ada")[0].last_used_at is not None


def test_revoked_expired_and_disabled_tokens_stop_working(
    accounts: AccountService, local_backend: LocalBackend
) -> None:
    accounts.create_user("ada")
    revoked = accounts.create_token("ada", "old")
    accounts.revoke_token("ada", revoked.token.id)
    with pytest.raises(PermissionDenied, match="was revoked"):
        accounts.authenticate_token(revoked.secret)

    expiring = accounts.create_token("ada", "short", expires_in=timedelta(days=1))
    with local_backend.db.transaction() as session:
        row = session.get(TokenRow, expiring.token.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(PermissionDenied, match="expired"):
        accounts.authenticate_token(expiring.secret)

    live = accounts.create_token("ada", "live")
    accounts.set_disabled("ada", True)
    with pytest.raises(PermissionDenied, match="disabled"):
        accounts.authenticate_token(live.secret)
    with pytest.raises(PermissionDenied, match="Unknown API token"):
        accounts.authenticate_token("llt_made-up")
    with pytest.raises(NotFound):
        accounts.revoke_token("ada", "0" * 32)


def test_sessions_end_and_carry_a_csrf_token(accounts: AccountService) -> None:
    user = accounts.create_user("ada", password=PASSWORD)
    secret, csrf = accounts.create_session(user)
    assert accounts.session_user(secret) == (user, csrf)
    accounts.end_session(secret)
    with pytest.raises(PermissionDenied, match="session has ended"):
        accounts.session_user(secret)


def test_roles_per_project(accounts: AccountService) -> None:
    ada = accounts.create_user("ada")
    accounts.set_role("demo", "ada", "viewer")
    accounts.set_role("demo", "ada", "editor")  # replaces
    assert accounts.role_in(ada, "demo") == "editor"
    assert [(m.user, m.role) for m in accounts.members("demo")] == [("ada", "editor")]
    with pytest.raises(InvalidInput, match="Invalid role 'owner'"):
        accounts.set_role("demo", "ada", "owner")
    with pytest.raises(NotFound, match=r"Project 'dmeo' not found\. Did you mean 'demo'"):
        accounts.set_role("dmeo", "ada", "viewer")
    accounts.remove_member("demo", "ada")
    assert accounts.role_in(ada, "demo") is None
    with pytest.raises(NotFound):
        accounts.remove_member("demo", "ada")


def test_bootstrap_admin_keeps_a_changed_password(accounts: AccountService) -> None:
    accounts.ensure_admin("root", PASSWORD)
    accounts.set_password("root", "a brand new password")
    again = accounts.ensure_admin("root", PASSWORD)
    assert again.is_admin
    accounts.check_password("root", "a brand new password")


def test_quotas(accounts: AccountService) -> None:
    assert accounts.quota("demo").storage_bytes is None
    accounts.set_quota("demo", storage_bytes=10**9, concurrent_pipeline_runs=2)
    accounts.set_quota("demo", concurrent_pipeline_runs=None)
    quota = accounts.quota("demo")
    assert (quota.storage_bytes, quota.concurrent_pipeline_runs) == (10**9, None)
    with pytest.raises(InvalidInput, match="Unknown quota 'storage'"):
        accounts.set_quota("demo", storage=1)
    with pytest.raises(InvalidInput, match="whole number"):
        accounts.set_quota("demo", agents=-1)


def test_the_audit_log_is_searchable(accounts: AccountService) -> None:
    for i, user in enumerate(["ada", "bob", "ada"]):
        accounts.record(
            user=user,
            method="POST",
            path=f"/api/v1/runs/{i}",
            route="/api/v1/runs/{run_id}",
            status=201,
            remote="127.0.0.1",
            project="demo",
        )
    newest_first = accounts.audit()
    assert [e.path for e in newest_first] == ["/api/v1/runs/2", "/api/v1/runs/1", "/api/v1/runs/0"]
    assert [e.user for e in accounts.audit(user="ada")] == ["ada", "ada"]
    assert [e.path for e in accounts.audit(contains="runs/1")] == ["/api/v1/runs/1"]
    assert accounts.audit(contains="%") == []  # LIKE wildcards are literal
    assert len(accounts.audit(before_id=newest_first[0].id)) == 2
    assert not hasattr(accounts, "delete_audit")
