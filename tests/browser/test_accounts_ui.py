"""Accounts in a real browser, with auth on: sign in, make a token (shown once), see the
members and quotas of a project, search the audit log, sign out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.browser.conftest import screenshot
from tests.server._secured import PASSWORD, Secured, secured_server

from loopline.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    home = tmp_path_factory.mktemp("accounts-ui")
    settings = Settings.from_env(
        {
            "LOOPLINE_HOME": str(home / "home"),
            "LOOPLINE_URI": f"sqlite:///{home / 'loopline.db'}",
            "LOOPLINE_ARTIFACTS": str(home / "blobs"),
            "LOOPLINE_AUTO_UPGRADE": "1",
        }
    )
    with secured_server(settings) as server:
        server.accounts.set_quota("demo", concurrent_pipeline_runs=3, storage_bytes=10**9)
        yield server


def sign_in(page: Page, url: str, user: str, password: str = PASSWORD) -> None:
    page.fill("#login-user", user)
    page.fill("#login-password", password)
    page.click("#login-button")


def test_sign_in_tokens_members_audit_sign_out(page: Page, secured: Secured) -> None:
    url = secured.url
    page.goto(f"{url}/ui/projects/demo/members")
    assert "/ui/login" in page.url  # not signed in: sent to the sign-in page, then back
    sign_in(page, url, "admin", "not the password")
    assert "Wrong user name or password" in page.inner_text("#login-problem")
    sign_in(page, url, "admin")
    page.wait_for_url(f"{url}/ui/projects/demo/members")
    members = page.inner_text("#members")
    assert "viewer" in members
    assert "editor" in members
    quotas = page.inner_text("#quotas")
    assert "concurrent pipeline runs" in quotas
    assert "1,000,000,000" in quotas
    screenshot(page, "accounts-members")

    page.goto(f"{url}/ui/account")
    assert page.inner_text("#account-name") == "admin"
    page.fill("#token-name", "browser")
    page.fill("#token-days", "30")
    page.click("#token-button")
    secret = page.inner_text("#new-token-secret")
    assert secret.startswith("llt_")
    screenshot(page, "accounts-new-token")
    me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["user"]["name"] == "admin"
    page.goto(f"{url}/ui/account")  # shown once: not on the page any more
    assert secret not in page.content()
    assert "browser" in page.inner_text("#tokens")

    refused = page.goto(f"{url}/ui/admin/audit")  # for global admins only
    assert refused is not None
    assert refused.status == 403
    assert "is for global admins" in page.content()

    page.goto(f"{url}/ui/account")
    page.click("#logout-button")
    page.wait_for_url(f"{url}/ui/login")


def test_the_audit_log_page(page: Page, secured: Secured) -> None:
    url = secured.url
    editor = secured.headers("editor")
    run = httpx.post(f"{url}/api/v1/runs", json={"project": "demo"}, headers=editor).json()
    params = {"params": {"lr": 0.1}}
    httpx.post(f"{url}/api/v1/runs/{run['id']}/params", json=params, headers=editor)
    page.goto(f"{url}/ui/login")
    sign_in(page, url, "root")
    page.goto(f"{url}/ui/admin/audit")
    page.fill("#audit-contains", run["id"][:12])
    page.click("#audit-button")
    table = page.inner_text("#audit")
    assert "POST" in table
    assert "editor" in table
    screenshot(page, "accounts-audit")
    page.goto(f"{url}/ui/admin/users")
    assert "guest" in page.inner_text("#users")


def test_tokens_are_revoked_and_members_managed_from_the_pages(
    page: Page, secured: Secured
) -> None:
    url = secured.url
    page.goto(f"{url}/ui/account")
    sign_in(page, url, "admin")
    page.wait_for_url(f"{url}/ui/account")
    page.fill("#token-name", "short-lived")
    page.click("#token-button")
    secret = page.inner_text("#new-token-secret")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{url}/api/v1/me", headers=bearer).status_code == 200
    page.goto(f"{url}/ui/account")
    row = page.locator("#tokens tr", has_text="short-lived")
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_url(f"{url}/ui/account")
    assert "revoked" in page.locator("#tokens tr", has_text="short-lived").inner_text()
    assert httpx.get(f"{url}/api/v1/me", headers=bearer).status_code == 401

    # The top bar leads to the account; the project's tabs lead to its members.
    page.click("#account-link")
    page.wait_for_url(f"{url}/ui/account")
    page.goto(f"{url}/ui/projects/demo/runs")
    page.get_by_role("link", name="Members").click()
    page.wait_for_url(f"{url}/ui/projects/demo/members")
    page.select_option("#member-user", "guest")
    page.select_option("#member-role", "viewer")
    page.click("#member-button")
    page.wait_for_url(f"{url}/ui/projects/demo/members")
    guest = page.locator('#members tr[data-member="guest"]')
    guest.locator("select").select_option("editor")
    guest.get_by_role("button", name="Change").click()
    page.wait_for_url(f"{url}/ui/projects/demo/members")
    roles = {m.user: m.role for m in secured.accounts.members("demo")}
    assert roles["guest"] == "editor"
    screenshot(page, "accounts-members-edit")
    page.locator('#members tr[data-member="guest"]').get_by_role("button", name="Remove").click()
    page.wait_for_url(f"{url}/ui/projects/demo/members")
    assert "guest" not in {m.user for m in secured.accounts.members("demo")}
    assert 'id="quota-form"' not in page.content()  # quotas are a global admin's


def test_a_global_admin_creates_and_deactivates_users_and_sets_quotas(
    page: Page, secured: Secured
) -> None:
    url = secured.url
    page.goto(f"{url}/ui/admin/users")
    sign_in(page, url, "root")
    page.wait_for_url(f"{url}/ui/admin/users")
    page.fill("#user-name", "newcomer")
    page.fill("#user-password", "a long enough password")
    page.click("#user-button")
    page.wait_for_url(f"{url}/ui/admin/users")
    row = page.locator('#users tr[data-user="newcomer"]')
    assert row.locator(".state").inner_text() == "active"
    row.get_by_role("button", name="Deactivate").click()
    page.wait_for_url(f"{url}/ui/admin/users")
    assert page.locator('#users tr[data-user="newcomer"] .state').inner_text() == "disabled"
    assert secured.accounts.get_user("newcomer").disabled

    page.goto(f"{url}/ui/projects/demo/members")
    page.fill('#quota-form input[name="queued_tasks"]', "25")
    page.fill('#quota-form input[name="storage_bytes"]', "")
    page.click("#quota-button")
    page.wait_for_url(f"{url}/ui/projects/demo/members")
    quota = secured.accounts.quota("demo")
    assert (quota.queued_tasks, quota.storage_bytes) == (25, None)
    assert "25" in page.locator('#quotas tr[data-quota="queued_tasks"]').inner_text()
