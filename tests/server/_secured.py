"""A real server with authentication on, its users (one per role) and their API tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.fixtures.server import serving

from loopline.accounts import AccountService
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.mlflow_compat import MlflowService
from loopline.server import create_app

# Weakest first: "outsider" is an admin, of another project.
IDENTITIES = ("anonymous", "outsider", "viewer", "editor", "admin", "root")
ROLE_OF = {"outsider": None, "viewer": "viewer", "editor": "editor", "admin": "admin"}
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Secured:
    url: str
    backend: LocalBackend
    accounts: AccountService
    mlflow: MlflowService
    tokens: dict[str, str]
    experiment_id: str

    def headers(self, who: str) -> dict[str, str]:
        token = self.tokens.get(who)
        return {"Authorization": f"Bearer {token}"} if token else {}


@contextmanager
def secured_server(settings: Settings) -> Iterator[Secured]:
    """Serve ``settings``' store with auth on; users root (global admin), viewer, editor and
    admin of project "demo", and outsider (admin of project "other")."""
    backend = LocalBackend.open(settings.with_(auth=True))
    try:
        accounts = AccountService(backend.db, backend.projects)
        demo = backend.projects.ensure("demo")
        backend.projects.ensure("other")
        accounts.create_user("root", password=PASSWORD, is_admin=True)
        tokens = {"root": accounts.create_token("root", "t").secret}
        for who, role in ROLE_OF.items():
            accounts.create_user(who, password=PASSWORD)
            accounts.set_role("demo" if role else "other", who, role or "admin")
            tokens[who] = accounts.create_token(who, "t").secret
        accounts.create_user("guest")  # belongs nowhere: the one the matrix adds and removes
        mlflow = MlflowService(backend.db, backend.projects, backend.tracking, backend.blobs)
        with serving(create_app(backend=backend)) as url:
            yield Secured(url, backend, accounts, mlflow, tokens, demo.id)
    finally:
        backend.close()
