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
