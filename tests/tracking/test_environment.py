"""capture_environment and code_snapshot, against real git repositories made in temp folders."""

from __future__ import annotations

import importlib.metadata
import io
import json
import logging
import os
import platform
import shutil
import stat
import subprocess
import sys
import tarfile
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline.errors import InvalidInput
from loopline.tracking import _environment
from loopline.tracking._environment import (
    Environment,
    capture_environment,
    strip_credentials,
)
from loopline.tracking._snapshot import code_snapshot

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")

TRAIN = "import sys\n\nprint('training', sys.argv[1:])\n"
CHANGED = "import sys\n\nprint('training', sys.argv[1:])\nprint('a changed line')\n"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.invalid",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.invalid",
        },
    )
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def no_repository_above(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Temp folders are never found inside some repository the machine has above them."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A commit, then a modified file, untracked text and binary files and an ignored one."""
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    git(root, "init", "-q")
    (root / "train.py").write_text(TRAIN)
    (root / "pkg" / "model.py").write_text("WEIGHTS = 3\n")
    (root / ".gitignore").write_text("*.log\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    (root / "train.py").write_text(CHANGED)
    (root / "notes.txt").write_text("try lr=0.01\nno trailing newline")
    (root / "weights.bin").write_bytes(b"\x00\x01\x02binary")
    (root / "run.log").write_text("ignored\n")
    return root


# ------------------------------------------------------------------------------------------ git


@needs_git
def test_a_dirty_repository_is_captured(repo: Path) -> None:
    env = capture_environment(cwd=repo)

    assert env.git_error is None
    assert env.git is not None
    assert env.git.commit == git(repo, "rev-parse", "HEAD")
    assert env.git.branch == "main"
    assert env.git.dirty
    assert "+print('a changed line')" in env.git.diff
    assert "+try lr=0.01" in env.git.diff  # untracked text files are in the diff
    assert "weights.bin" not in env.git.diff  # binary ones are not
    assert env.git.untracked == ("notes.txt", "weights.bin")  # ignored run.log is not
    assert not env.git.diff_truncated
    assert not env.git.diff_complete  # weights.bin is not in it
    assert env.git.root == str(repo.resolve())
    assert env.git.remote_url is None


@needs_git
def test_the_diff_turns_the_commit_into_the_working_tree(repo: Path, tmp_path: Path) -> None:
    (repo / "weights.bin").unlink()
    env = capture_environment(cwd=repo)
    assert env.git is not None
    assert env.git.diff_complete
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    patch = tmp_path / "dirty.patch"
    patch.write_text(env.git.diff)

    git(clone, "apply", "--whitespace=nowarn", str(patch))

    assert (clone / "train.py").read_text() == CHANGED
    assert (clone / "notes.txt").read_text() == "try lr=0.01\nno trailing newline"


@needs_git
def test_a_clean_repository_has_no_diff(repo: Path) -> None:
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "everything")

    env = capture_environment(cwd=repo)

    assert env.git is not None
    assert not env.git.dirty
    assert env.git.diff == ""
    assert env.git.diff_complete
    assert env.git.untracked == ()


@needs_git
def test_a_large_diff_is_cut_and_flagged(repo: Path) -> None:
    env = capture_environment(cwd=repo, max_diff_bytes=60)

    assert env.git is not None
    assert env.git.diff_truncated
    assert not env.git.diff_complete
    assert len(env.git.diff.encode()) <= 60
    assert env.git.diff == "" or env.git.diff.endswith("\n")  # cut at a line end


@needs_git
def test_a_changed_binary_file_makes_the_diff_incomplete(repo: Path) -> None:
    (repo / "weights.bin").unlink()
    (repo / "notes.txt").unlink()
    (repo / "model.pkl").write_bytes(b"\x80\x04\x00old")
    git(repo, "add", "model.pkl")
    git(repo, "commit", "-q", "-m", "a model")
    (repo / "model.pkl").write_bytes(b"\x80\x04\x00new")

    env = capture_environment(cwd=repo)

    assert env.git is not None
    assert "Binary files a/model.pkl and b/model.pkl differ" in env.git.diff
    assert not env.git.diff_truncated
    assert not env.git.diff_complete


@needs_git
def test_credentials_are_stripped_from_the_remote(repo: Path) -> None:
    # Only configured, never contacted.
    git(repo, "remote", "add", "origin", "https://bob:s3cret@example.invalid/repo.git")

    env = capture_environment(cwd=repo)

    assert env.git is not None
    assert env.git.remote_url == "https://example.invalid/repo.git"
    assert "s3cret" not in json.dumps(env.to_dict())
    assert "bob" not in json.dumps(env.to_dict())


@needs_git
def test_origin_is_preferred_over_other_remotes(repo: Path) -> None:
    git(repo, "remote", "add", "alpha", "https://example.invalid/alpha.git")
    git(repo, "remote", "add", "origin", "https://example.invalid/origin.git")

    env = capture_environment(cwd=repo)

    assert env.git is not None
    assert env.git.remote_url == "https://example.invalid/origin.git"


@needs_git
def test_a_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")

    env = capture_environment(cwd=repo)

    assert env.git is not None
    assert env.git.branch is None
    assert env.git.commit == git(repo, "rev-parse", "HEAD")


@needs_git
def test_started_in_a_subfolder_the_root_and_paths_are_the_repositorys(repo: Path) -> None:
    env = capture_environment(cwd=repo / "pkg")

    assert env.git is not None
    assert env.git.root == str(repo.resolve())
    assert "diff --git a/train.py b/train.py" in env.git.diff
    assert env.entry_point.cwd == str(repo / "pkg")


@needs_git
def test_a_repository_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.py").write_text("x = 1\n")

    env = capture_environment(cwd=root)

    assert env.git is not None
    assert env.git.commit is None
    assert env.git.dirty
    assert env.git.untracked == ("a.py",)
    assert "+x = 1" in env.git.diff


@needs_git
def test_outside_a_repository_git_is_none_without_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()

    env = capture_environment(cwd=plain)

    assert env.git is None
    assert env.git_error is None


def test_without_git_on_path_git_is_none_with_a_reason(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    env = capture_environment(cwd=repo)

    assert env.git is None
    assert env.git_error is not None
    assert "not installed" in env.git_error


def fake_tool(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


@pytest.mark.skipif(sys.platform == "win32", reason="shell-script fakes")
def test_a_failing_git_gives_a_short_error(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_tool(tmp_path / "bin", "git", 'echo "fatal: the index is on fire" >&2; exit 128')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))

    env = capture_environment(cwd=repo)

    assert env.git is None
    assert env.git_error == "git rev-parse failed: the index is on fire"


@pytest.mark.skipif(sys.platform == "win32", reason="shell-script fakes")
def test_a_hanging_git_is_given_up_on(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_tool(tmp_path / "bin", "git", "exec sleep 30")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(_environment, "GIT_TIMEOUT", 0.3)

    env = capture_environment(cwd=repo)

    assert env.git is None
    assert env.git_error is not None
    assert "longer than" in env.git_error


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bob:s3cret@example.invalid/repo.git", "https://example.invalid/repo.git"),
        ("https://ghp_token@example.invalid/repo.git", "https://example.invalid/repo.git"),
        ("http://u:p@example.invalid:8080/r.git", "http://example.invalid:8080/r.git"),
        ("https://example.invalid/repo.git", "https://example.invalid/repo.git"),
        ("ssh://git:pw@example.invalid/repo.git", "ssh://git@example.invalid/repo.git"),
        ("ssh://git@example.invalid/repo.git", "ssh://git@example.invalid/repo.git"),
        ("git@example.invalid:org/repo.git", "git@example.invalid:org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("https://u:p@[::1]:9/r.git", "https://[::1]:9/r.git"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


@given(
    user=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1),
    secret=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=8),
    scheme=st.sampled_from(["http", "https", "ssh", "git+ssh", "ftp"]),
)
def test_a_secret_never_survives(user: str, secret: str, scheme: str) -> None:
    url = f"{scheme}://{user}:{secret}@example.invalid/org/repo.git"
    assert f":{secret}@" not in strip_credentials(url)


# ----------------------------------------------------------------------- the rest of the capture


def test_packages_are_normalised_sorted_and_include_pytest() -> None:
    packages = capture_environment().packages

    assert packages["pytest"] == importlib.metadata.version("pytest")
    assert list(packages) == sorted(packages)
    assert all(name == name.lower() and "_" not in name for name in packages)


def test_interpreter_and_host() -> None:
    env = capture_environment(argv=["train.py", "--lr", "0.1"])

    assert env.entry_point.argv == ("train.py", "--lr", "0.1")
    assert env.python.version == platform.python_version()
    assert env.python.executable == sys.executable
    assert env.host.cpu_count == os.cpu_count()
    assert env.host.memory_bytes is None or env.host.memory_bytes > 0
    assert env.captured_at.tzinfo is UTC


@pytest.mark.skipif(sys.platform == "win32", reason="shell-script fakes")
def test_gpus_are_read_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tool(
        tmp_path / "bin",
        "nvidia-smi",
        "printf 'NVIDIA A100-SXM4-40GB, 40960 MiB\\nTesla T4, [N/A]\\n'",
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    gpus = capture_environment().host.gpus

    assert [(g.name, g.memory_bytes) for g in gpus] == [
        ("NVIDIA A100-SXM4-40GB", 40960 << 20),
        ("Tesla T4", None),
    ]


def test_no_nvidia_smi_means_no_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert capture_environment().host.gpus == ()


@needs_git
def test_the_entry_point_is_the_script_relative_to_the_repository(repo: Path) -> None:
    script = repo / "pkg" / "job.py"
    script.write_text(
        "import json\n"
        "from loopline.tracking._environment import capture_environment\n"
        "env = capture_environment()\n"
        "print(json.dumps(env.to_dict()['entry_point']))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), "--epochs", "3"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    entry = json.loads(done.stdout)
    assert entry["path"] == "pkg/job.py"
    assert entry["argv"] == [str(script), "--epochs", "3"]
    assert entry["interactive"] is False
    assert entry["module"] is None

    (repo / "pkg" / "__init__.py").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "pkg.job"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    entry = json.loads(done.stdout)
    assert entry["path"] == "pkg/job.py"
    assert entry["module"] == "pkg.job"


def test_python_c_is_interactive(tmp_path: Path) -> None:
    code = (
        "import json\n"
        "from loopline.tracking._environment import capture_environment\n"
        "print(json.dumps(capture_environment().to_dict()['entry_point']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    entry = json.loads(done.stdout)
    assert entry["path"] is None
    assert entry["interactive"] is True


@needs_git
def test_to_dict_is_json_and_round_trips(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://example.invalid/repo.git")
    env = capture_environment(cwd=repo, argv=["train.py"])

    text = json.dumps(env.to_dict())
    back = Environment.from_dict(json.loads(text))

    assert back == env
    assert hash(back) == hash(env)
    assert json.loads(text)["format"] == _environment.FORMAT_VERSION


def test_from_dict_rejects_what_is_not_an_environment() -> None:
    with pytest.raises(InvalidInput, match="not a captured environment"):
        Environment.from_dict({"git": None})


def test_from_dict_ignores_keys_a_newer_version_added() -> None:
    data = capture_environment().to_dict()
    data["future"] = {"x": 1}
    data["host"]["tpu"] = "v9"
    assert Environment.from_dict(data).to_dict()["host"].get("tpu") is None


# ------------------------------------------------------------------------------- code snapshot


def names_in(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return tar.getnames()


@needs_git
def test_snapshot_of_a_repository_holds_tracked_and_untracked_not_ignored(repo: Path) -> None:
    archive = code_snapshot(repo / "train.py", repo)

    assert archive is not None
    assert names_in(archive) == [
        ".gitignore",
        "notes.txt",
        "pkg/model.py",
        "train.py",
        "weights.bin",
    ]
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile("train.py")
        assert member is not None
        assert member.read().decode() == CHANGED  # the working tree, not the commit


@needs_git
def test_snapshot_is_deterministic(repo: Path, tmp_path: Path) -> None:
    first = code_snapshot(repo / "train.py", repo)
    # New times, a copy in another place: still the same bytes.
    for path in repo.rglob("*"):
        if path.is_file():
            os.utime(path, (1_000_000, 1_000_000))
    copy = tmp_path / "elsewhere"
    shutil.copytree(repo, copy)
    second = code_snapshot(copy / "train.py", copy)

    assert first is not None
    assert first == second

    (copy / "train.py").write_text("changed\n")
    assert code_snapshot(copy / "train.py", copy) != first


def test_snapshot_outside_git_skips_environments_caches_and_big_files(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name in [
        "job.py",
        "lib/helpers.py",
        ".venv/lib/site.py",
        "env/pyvenv.cfg",
        "env/lib/x.py",
        "lib/__pycache__/helpers.cpython-311.pyc",
        ".git/config",
        "node_modules/left-pad/index.js",
    ]:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x\n")
    (project / "big.csv").write_bytes(b"1,2\n" * 300_000)
    (project / "run.sh").write_text("#!/bin/sh\n")
    (project / "run.sh").chmod(0o775)

    archive = code_snapshot(project / "job.py", None)

    assert archive is not None
    assert names_in(archive) == ["job.py", "lib/helpers.py", "run.sh"]
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        modes = {m.name: stat.S_IMODE(m.mode) for m in tar.getmembers()}
        assert {m.mtime for m in tar.getmembers()} == {0}
    assert modes == {"job.py": 0o644, "lib/helpers.py": 0o644, "run.sh": 0o755}
    assert code_snapshot(project, None) == archive  # a folder is packed as itself


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges")
def test_snapshot_keeps_symbolic_links_as_links(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("x = 1\n")
    (tmp_path / "alias.py").symlink_to("job.py")

    archive = code_snapshot(tmp_path / "job.py", None)

    assert archive is not None
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        link = tar.getmember("alias.py")
        assert link.issym()
        assert link.linkname == "job.py"


def test_snapshot_over_the_limit_is_none_with_a_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "job.py").write_text("x = 1\n")
    (tmp_path / "noise.bin").write_bytes(os.urandom(50_000))  # incompressible

    with caplog.at_level(logging.WARNING, logger="loopline.tracking"):
        archive = code_snapshot(tmp_path / "job.py", None, max_bytes=10_000)

    assert archive is None
    assert "over 10000 bytes" in caplog.text


@needs_git
def test_snapshot_falls_back_to_the_folder_when_git_fails(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))

    archive = code_snapshot(repo / "pkg" / "model.py", repo)

    assert archive is not None
    assert names_in(archive) == ["model.py"]


@needs_git
def test_snapshot_of_a_repository_streams_big_files_and_stops_at_the_cap(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (repo / "table.csv").write_bytes(b"1,2,3\n" * 500_000)  # 3 MB, compresses well

    archive = code_snapshot(repo / "train.py", repo, max_bytes=1_000_000)

    assert archive is not None
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert tar.getmember("table.csv").size == 3_000_000

    (repo / "noise.bin").write_bytes(os.urandom(3_000_000))  # an untracked, unignored stray
    with caplog.at_level(logging.WARNING, logger="loopline.tracking"):
        assert code_snapshot(repo / "train.py", repo, max_bytes=1_000_000) is None
    assert "commit it to git" in caplog.text


@needs_git
def test_a_diff_larger_than_a_pipe_is_cut_without_error(repo: Path) -> None:
    # git blocks writing a diff this size until it is read, then is stopped once the cap is full.
    (repo / "pkg" / "model.py").write_text("".join(f"WEIGHT_{i} = {i}\n" for i in range(50_000)))

    env = capture_environment(cwd=repo, max_diff_bytes=10_000)

    assert env.git_error is None
    assert env.git is not None
    assert env.git.diff_truncated
    assert env.git.diff.startswith("diff --git a/pkg/model.py b/pkg/model.py\n")
    assert 9_000 < len(env.git.diff) <= 10_000
