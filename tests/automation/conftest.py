"""Automation fixtures: an embedded store (SQLite, in-process), a published training template,
and a controller whose launches are recorded (the real launch path is in the end-to-end test)."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import loopline as ll
from loopline import Client
from loopline.automation import AutomationController
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.pipelines import PipelineRunRecord

FLOW = """
import loopline as ll


@ll.step
def train(dataset_version: int = 0, reason: str = "") -> int:
    return dataset_version


@ll.pipeline(name="retrain")
def retrain(dataset_version: int = 0, reason: str = ""):
    train(dataset_version, reason)
"""

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Client]:
    c = Client(
        settings=Settings.from_env(
            {
                "LOOPLINE_HOME": str(tmp_path / "home"),
                "LOOPLINE_URI": f"sqlite:///{tmp_path / 'store.db'}",
                "LOOPLINE_USER": "ada",
                "LOOPLINE_PROJECT": "loop",
            }
        )
    )
    c.create_project("loop")
    yield c
    c.close()


@pytest.fixture
def backend(embedded: Client) -> LocalBackend:
    assert isinstance(embedded._backend, LocalBackend)
    return embedded._backend


def publish_flow(client: Client, tmp_path: Path, source: str = FLOW, project: str = "loop") -> Any:
    """Publish ``source`` (a module defining pipeline ``retrain``) in ``project``."""
    tag = uuid.uuid4().hex[:8]
    folder = tmp_path / f"src-{tag}"
    folder.mkdir()
    (folder / f"autoflow_{tag}.py").write_text(source)
    sys.path.insert(0, str(folder))
    try:
        module = __import__(f"autoflow_{tag}")
        return module.retrain.publish(client=client, project=project)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(f"autoflow_{tag}", None)
        shutil.rmtree(folder)


@pytest.fixture
def template(embedded: Client, tmp_path: Path) -> Any:
    return publish_flow(embedded, tmp_path)


@dataclass
class Launches:
    """A launcher that creates the pipeline run in the store (as the real one does) but
    starts no driver process: the run stays ``running`` until a test finishes it."""

    backend: LocalBackend
    made: list[PipelineRunRecord] = field(default_factory=list)

    def __call__(
        self,
        project: str,
        template: str,
        params: Mapping[str, Any],
        version: str,
        tags: Mapping[str, str],
    ) -> PipelineRunRecord:
        from loopline.pipelines._dag import DAG

        found = self.backend.pipelines.get_template(project, template, version)
        bound = DAG.from_spec(found.dag).bind(dict(params))
        record = self.backend.pipelines.create_run(
            project, found.name, bound, found.dag, tags=dict(tags)
        )
        self.made.append(record)
        return record

    def finish(self, status: str = "succeeded") -> None:
        for record in self.made:
            if self.backend.pipelines.get_run(record.id).status == "running":
                self.backend.pipelines.finish_run(record.id, status)  # type: ignore[arg-type]


@pytest.fixture
def launches(backend: LocalBackend) -> Launches:
    return Launches(backend)


@pytest.fixture
def controller(backend: LocalBackend, launches: Launches) -> AutomationController:
    return AutomationController(backend.automation, backend.settings, launch=launches)


__all__ = ["FLOW", "T0", "Launches", "ll", "publish_flow"]
