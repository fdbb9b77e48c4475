"""schemathesis over the server's own OpenAPI schema: no input makes it answer 500, and every
answer matches the schema it publishes. Bounded examples, so it stays within a CI minute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.schemas import BaseSchema

from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.server import create_app

# Routes that stream bytes or long-poll: fuzzing them is slow and proves nothing the blob and
# console tests do not. The MLflow API answers MLflow's error shape, which its schema (a JSON
# object in, a JSON object out) allows.
SKIPPED = r"^/(ui|api/v1/blobs/|api/v1/runs/\{run_id\}/console|api/2\.0/mlflow-artifacts)"


@pytest.fixture
def fuzzed_schema(tmp_path: Path) -> Iterator[BaseSchema]:
    settings_ = Settings.from_env(
        {
            "LOOPLINE_HOME": str(tmp_path / "home"),
            "LOOPLINE_URI": f"sqlite:///{tmp_path / 'loopline.db'}",
            "LOOPLINE_ARTIFACTS": str(tmp_path / "blobs"),
            "LOOPLINE_AUTO_UPGRADE": "1",
        }
    )
    backend = LocalBackend.open(settings_)
    backend.create_project("demo")
    app = create_app(backend=backend)
    yield schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=SKIPPED)
    backend.close()


def test_no_500_and_answers_match_the_schema(fuzzed_schema: BaseSchema) -> None:
    failures: list[str] = []
    operations = []
    for result in fuzzed_schema.get_all_operations():
        assert isinstance(result, Ok), f"the schema does not load: {result.err()}"
        operations.append(result.ok())
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Case[Any]) -> None:
            case.call_and_validate(
                checks=[checks.not_a_server_error, checks.response_schema_conformance]
            )

        try:
            check()
        # A failed check or an exception the app raised (the ASGI client re-raises them):
        # every failing route is reported, not just the first.
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
