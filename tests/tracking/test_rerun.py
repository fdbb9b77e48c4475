"""Clone and rerun: the recorded code state, the recorded entry point, new params."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopline import Client
from loopline.cli import app
from loopline.config import Settings
from loopline.errors import InvalidInput

TRAIN = textwrap.dedent(
    """
    import loopline as ll
    VERSION = {version}
    with ll.start_run("rerun", params={{"lr": 0.1, "epochs": 3}}) as run:
        lr = float(run.params["lr"])
        ll.log_metric("score", lr * VERSION)
        print("trained", VERSION, lr)
    """
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    return {**env, **GIT_ENV, "LOOPLINE_HOME": str(home)}


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True, capture_output=True
    )


def train(repo: Path, home: Path) -> str:
    subprocess.run(
        [sys.executable, "train.py"], cwd=repo, env=env_for(home), check=True, capture_output=True
    )
    with Client(settings=Settings.from_env({"LOOPLINE_HOME": str(home)})) as c:
        return c.list_runs("rerun")[0].id


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text(TRAIN.format(version=10))
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "train")
    return repo


def client_at(home: Path) -> Client:
    return Client(settings=Settings.from_env({"LOOPLINE_HOME": str(home)}))


def test_rerun_uses_the_recorded_commit_and_the_new_params(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    original = train(repo, home)
    (repo / "train.py").write_text(TRAIN.format(version=1000))  # changed after the run
    with client_at(home) as client:
        clone = client.rerun(original, {"lr": "0.5"}, quiet=True)
        assert clone.cloned_from == original
        assert clone.params == {"epochs": "3", "lr": "0.5"}
        assert clone.status == "finished"
        assert clone.metrics["score"] == pytest.approx(5.0), "the committed code ran, not today's"
    assert "VERSION = 1000" in (repo / "train.py").read_text(), "the working tree is untouched"


def test_rerun_brings_back_uncommitted_changes(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (repo / "train.py").write_text(TRAIN.format(version=7))  # dirty when the run starts
    original = train(repo, home)
    (repo / "train.py").write_text(TRAIN.format(version=1000))
    with client_at(home) as client:
        clone = client.rerun(original, {}, quiet=True)
    assert clone.metrics["score"] == pytest.approx(0.7)


def test_rerun_without_git_uses_the_code_snapshot(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "plain"
    folder.mkdir()
    (folder / "train.py").write_text(TRAIN.format(version=3))
    original = train(folder, home)
    (folder / "train.py").unlink()  # the code is gone from disk
    with client_at(home) as client:
        clone = client.rerun(original, {"lr": "2"}, quiet=True)
    assert clone.metrics["score"] == pytest.approx(6.0)


def test_rerun_refuses_what_it_cannot_do(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    original = train(repo, home)
    with client_at(home) as client:
        with pytest.raises(InvalidInput, match="no param 'learning_rate'"):
            client.rerun(original, {"learning_rate": "1"})
        with client.start_run("rerun", capture=False) as bare:
            pass
        with pytest.raises(InvalidInput, match="no recorded environment"):
            client.rerun(bare.id, {})


def test_the_cli_reruns(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    original = train(repo, home)
    result = CliRunner().invoke(
        app,
        ["runs", "rerun", original, "--param", "lr=0.3", "--json"],
        env={"LOOPLINE_HOME": str(home)},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["params"]["lr"] == "0.3"
    bad = CliRunner().invoke(
        app, ["runs", "rerun", original, "--param", "lr"], env={"LOOPLINE_HOME": str(home)}
    )
    assert bad.exit_code == 1
    assert "KEY=VALUE" in bad.output
