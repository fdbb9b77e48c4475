"""Clone and rerun: run a recorded run's code again, in the code state it ran with.

The run's captured environment names the entry point, its arguments and the code state: a git
commit plus the uncommitted diff, or a snapshot of the code when git could not reproduce it.
The code is brought back into a temporary folder (a detached ``git worktree`` of the commit with
the diff applied, or the extracted snapshot), and the entry point runs there with
``LOOPLINE_RERUN_OF`` and ``LOOPLINE_PARAMS`` set: the first run it starts becomes the clone,
with the overrides in its params and ``cloned_from`` pointing at the original.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.errors import InvalidInput, LooplineError, NotFound

if TYPE_CHECKING:
    from loopline._client import Client
    from loopline.tracking import Run

__all__ = ["rerun"]

_GIT_TIMEOUT = 120


def rerun(client: Client, run_id: str, params: Mapping[str, str], *, quiet: bool = False) -> Run:
    """See :meth:`loopline.Client.rerun`."""
    original = client.get_run(run_id)
    if original.environment_digest is None:
        raise InvalidInput(
            f"Run {run_id} has no recorded environment (it was started with capture=False), "
            f"so its code cannot be found again."
        )
    env: dict[str, Any] = json.loads(client._backend.get_blob(original.environment_digest))
    entry = env.get("entry_point") or {}
    script = entry.get("path")
    if entry.get("interactive") or not script:
        raise InvalidInput(
            f"Run {run_id} was started from a notebook or an interactive session: there is no "
            f"script to run again. Start it from a script to make it rerunnable."
        )
    unknown = sorted(set(params) - set(original.params))
    if unknown:
        from loopline.errors import did_you_mean

        raise InvalidInput(
            f"Run {run_id} has no param {unknown[0]!r}.{did_you_mean(unknown[0], original.params)}"
            f" Its params: {', '.join(sorted(original.params)) or 'none'}."
        )
    before = {r.id for r in _clones(client, original)}
    with _code_state(client, env) as (code_root, recorded_root):
        recorded_script = Path(script)
        if not recorded_script.is_absolute():
            recorded_script = (recorded_root or code_root) / script
        script_path = _translate(recorded_script, recorded_root, code_root, keep=True)
        cwd = _translate(
            Path(entry.get("cwd") or recorded_root or code_root), recorded_root, code_root
        )
        argv = list(entry.get("argv") or [script])[1:]
        module = entry.get("module")
        command = ["-m", module] if module else [str(script_path)]
        child_env = dict(os.environ)  # PATH and friends; Loopline's settings are set below
        child_env.update(_settings_for_child(client))
        child_env["LOOPLINE_RERUN_OF"] = run_id
        child_env["LOOPLINE_PARAMS"] = json.dumps(dict(params))
        if not quiet:
            sys.stderr.write(f"loopline: rerunning {run_id} ({script}) in {code_root}\n")
        result = subprocess.run(
            [sys.executable, *command, *argv],
            cwd=cwd if cwd.is_dir() else code_root,
            env=child_env,
            check=False,
            stdout=subprocess.DEVNULL if quiet else None,
            stderr=subprocess.DEVNULL if quiet else None,
        )
    clones = [r for r in _clones(client, original) if r.id not in before]
    if not clones:
        raise LooplineError(
            f"The rerun of {run_id} exited with status {result.returncode} without starting a "
            f"run; the script must call ll.start_run()."
        )
    return max(clones, key=lambda r: r.start_time)


def _clones(client: Client, original: Run) -> list[Run]:
    runs = client.list_runs(original.project, limit=50_000)
    return [r for r in runs if r.cloned_from == original.id]


def _settings_for_child(client: Client) -> dict[str, str]:
    s = client.settings
    values = {"LOOPLINE_HOME": str(s.home), "LOOPLINE_PROJECT": s.project}
    if s.mode == "remote" and s.server_url:
        values["LOOPLINE_URI"] = s.server_url
    elif s.db_url:
        values["LOOPLINE_URI"] = s.db_url
        values["LOOPLINE_ARTIFACTS"] = s.artifacts
    return values


def _translate(
    path: Path, recorded_root: Path | None, code_root: Path, *, keep: bool = False
) -> Path:
    """A recorded path, moved from the original tree into the restored one (or, outside the
    tree, ``path`` itself when ``keep``, else the restored root)."""
    if recorded_root is not None and path.is_relative_to(recorded_root):
        return code_root / path.relative_to(recorded_root)
    return path if keep else code_root


@contextmanager
def _code_state(client: Client, env: Mapping[str, Any]) -> Iterator[tuple[Path, Path | None]]:
    """Bring the run's code back; yield (where it is now, where it was then)."""
    git: dict[str, Any] = env.get("git") or {}
    snapshot = env.get("code_snapshot")
    with tempfile.TemporaryDirectory(prefix="loopline-rerun-") as tmp:
        target = Path(tmp) / "code"
        usable_git = bool(git.get("commit")) and _has_commit(Path(git["root"]), git["commit"])
        complete = git.get("diff_complete", not git.get("diff_truncated"))
        if usable_git and (complete or snapshot is None):
            with _worktree(Path(git["root"]), git["commit"], git.get("diff") or "", target):
                yield target, Path(git["root"])
            return
        if snapshot is not None:
            _extract(client._backend.get_blob(snapshot), target)
            # The snapshot holds the repository (git) or else the entry point's folder.
            script = Path(str((env.get("entry_point") or {}).get("path")))
            yield target, Path(git["root"]) if git else script.parent
            return
        where = f"commit {git['commit']} in {git['root']}" if git else "no git repository"
        raise NotFound(
            f"The run's code cannot be found: {where} is not available here and no code snapshot "
            f"was stored. Rerun it on the machine (and clone) where it ran."
        )


def _has_commit(root: Path, commit: str) -> bool:
    if not root.is_dir():
        return False
    probe = _git(root, "cat-file", "-e", f"{commit}^{{commit}}", check=False)
    return probe.returncode == 0


@contextmanager
def _worktree(root: Path, commit: str, diff: str, target: Path) -> Iterator[None]:
    _git(root, "worktree", "add", "--detach", "--force", str(target), commit)
    try:
        if diff.strip():
            applied = _git(target, "apply", "--whitespace=nowarn", "-", stdin=diff, check=False)
            if applied.returncode != 0:
                raise LooplineError(
                    f"The run's uncommitted changes do not apply to commit {commit[:12]}: "
                    f"{applied.stderr.strip().splitlines()[0] if applied.stderr.strip() else '?'}."
                )
        yield
    finally:
        _git(root, "worktree", "remove", "--force", str(target), check=False)


def _git(
    cwd: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LooplineError(f"git {args[0]} failed in {cwd}: {exc}") from exc
    if check and result.returncode != 0:
        raise LooplineError(f"git {' '.join(args[:2])} failed in {cwd}: {result.stderr.strip()}")
    return result


def _extract(archive: bytes, target: Path) -> None:
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        # The "data" filter refuses absolute paths, '..', devices and links that leave target.
        tar.extractall(target, filter="data")
