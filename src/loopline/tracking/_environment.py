"""What a run ran on, captured cheaply at its start, and a code snapshot for when git cannot help.

:func:`capture_environment` records the code state (git commit, branch, the dirty diff including
untracked text files, the remote without credentials), the entry point and its arguments, the
interpreter, the host (CPU, memory, GPUs) and the installed packages, as an immutable
:class:`Environment` that round-trips through JSON.

It never fails a run: anything git-related that goes wrong leaves ``git`` as ``None`` with a short
``git_error``, and every other probe falls back to ``None`` (or ``[]``) when the platform cannot
answer. It is cheap because the git commands (and ``nvidia-smi``) run as parallel processes while
this process reads the packages and the host, and because package metadata is read once per
process.

:func:`code_snapshot` packs the code needed to rerun into a deterministic ``tar.gz``: the same files
always give the same bytes, so a content-addressed blob store keeps one copy however many runs
share them.

Example::

    env = capture_environment()
    if env.git is not None and env.git.dirty:
        print(env.git.diff)
    blob = json.dumps(env.to_dict(), sort_keys=True).encode()
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from loopline.errors import InvalidInput

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "Environment",
    "GitState",
    "EntryPoint",
    "PythonInfo",
    "HostInfo",
    "GPU",
    "capture_environment",
    "strip_credentials",
    "installed_packages",
    "FORMAT_VERSION",
]

log = logging.getLogger("loopline.tracking")

FORMAT_VERSION = 1
"""Written as ``"format"`` by :meth:`Environment.to_dict`; bumped when a field changes meaning."""

GIT_TIMEOUT = 3.0
"""Seconds all git commands together may take before the capture gives up on git."""

GPU_TIMEOUT = 2.0
MAX_UNTRACKED_LISTED = 1_000
"""Untracked paths kept in :attr:`GitState.untracked` (the diff holds their text, up to its cap)."""

# What git looks at to call a file binary: a NUL byte in its first 8,000 bytes.
_BINARY_SNIFF = 8_000
# What `git diff` (without --binary) prints instead of a binary file's change.
_BINARY_CHANGE = re.compile(rb"^Binary files .* differ$", re.MULTILINE)
# Paths git would C-quote in a diff header even with core.quotepath=off.
_NEEDS_QUOTING = re.compile(r'[\x00-\x1f"\\\x7f]')


# --------------------------------------------------------------------------------- value objects


@dataclass(frozen=True, slots=True)
class GitState:
    """The code state of a git working tree, enough to reproduce it from the recorded commit.

    Attributes:
        commit: the full SHA of ``HEAD``; ``None`` in a repository with no commit yet.
        branch: the checked-out branch, or ``None`` on a detached ``HEAD``.
        dirty: whether tracked files differ from ``HEAD`` or untracked (not ignored) files exist.
        diff: a patch that ``git apply`` turns ``commit``'s tree into the working tree: ``git diff
            HEAD`` followed by a "new file" section per untracked text file. Binary changes appear
            as "Binary files ... differ" only (the code snapshot has them).
        diff_truncated: the patch was cut at ``max_diff_bytes`` (at a line end) and is incomplete.
        diff_complete: applying ``diff`` to ``commit`` gives back the working tree exactly: not
            truncated, and no binary change or untracked binary (or unreadable) file left out.
            When false, a rerun needs the code snapshot.
        untracked: untracked, not ignored files, relative to ``root``, sorted (at most 1,000).
        remote_url: the ``origin`` remote (or else the first one), credentials removed.
        root: the absolute path of the working tree's top folder.
    """

    commit: str | None
    branch: str | None
    dirty: bool
    diff: str = field(repr=False)  # can be a megabyte
    diff_truncated: bool
    diff_complete: bool
    untracked: tuple[str, ...]
    remote_url: str | None
    root: str


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """How the program was started.

    Attributes:
        path: the script (``__main__.__file__``), relative to the repository root when inside it
            (POSIX separators), else absolute; ``None`` in a notebook, a REPL or ``python -c``.
        argv: the command-line arguments, ``argv[0]`` included.
        module: the module run with ``python -m`` (``"pkg.train"``; ``"pkg.__main__"`` for a
            package), which a rerun must start the same way; ``None`` for a script.
        interactive: no script file: a notebook, a REPL or ``python -c``.
        cwd: the working folder the program ran in (relative paths in ``argv`` are relative to it).
    """

    path: str | None
    argv: tuple[str, ...]
    module: str | None
    interactive: bool
    cwd: str


@dataclass(frozen=True, slots=True)
class PythonInfo:
    """The interpreter: ``version`` like ``"3.11.9"``, ``implementation`` like ``"CPython"``."""

    version: str
    implementation: str
    executable: str


@dataclass(frozen=True, slots=True)
class GPU:
    """One GPU as ``nvidia-smi`` names it, with its total memory in bytes when reported."""

    name: str
    memory_bytes: int | None


@dataclass(frozen=True, slots=True)
class HostInfo:
    """The machine. Every field the platform cannot answer is ``None`` (``gpus`` is empty)."""

    platform: str
    hostname: str | None
    user: str | None
    cpu_count: int | None
    cpu_model: str | None
    memory_bytes: int | None
    gpus: tuple[GPU, ...]


@dataclass(frozen=True, slots=True)
class Environment:
    """Everything :func:`capture_environment` records; JSON through :meth:`to_dict`.

    Attributes:
        git: the code state, or ``None`` outside a repository, without git, or when git failed.
        git_error: why git failed (``None`` when it worked or there is simply no repository).
        entry_point: the script, its arguments and working folder.
        python: the interpreter.
        host: the machine.
        packages: installed distributions, ``{normalised name: version}``, sorted by name.
        captured_at: when the capture was taken (aware, UTC).
    """

    git: GitState | None
    git_error: str | None
    entry_point: EntryPoint
    python: PythonInfo
    host: HostInfo
    # A dict cannot be hashed; leaving it out of the hash keeps Environment hashable.
    packages: Mapping[str, str] = field(hash=False, repr=False)
    captured_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (lists for tuples, an ISO 8601 string for the time)."""
        data: dict[str, Any] = _jsonable(asdict(self))
        data["captured_at"] = self.captured_at.isoformat()
        return {"format": FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Environment:
        """Rebuild what :meth:`to_dict` wrote; keys a newer Loopline added are ignored.

        Raises:
            InvalidInput: a required key is missing or has the wrong shape.
        """
        try:
            git, ep, host = data["git"], data["entry_point"], data["host"]
            return cls(
                git=None if git is None else _build(GitState, git, untracked=(*git["untracked"],)),
                git_error=data.get("git_error"),
                entry_point=_build(EntryPoint, ep, argv=(*ep["argv"],)),
                python=_build(PythonInfo, data["python"]),
                host=_build(HostInfo, host, gpus=tuple(_build(GPU, g) for g in host["gpus"])),
                packages=dict(data["packages"]),
                captured_at=datetime.fromisoformat(data["captured_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"This is not a captured environment ({type(exc).__name__}: {exc}). "
                "Pass the dict that Environment.to_dict() wrote."
            ) from exc


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


_D = TypeVar("_D", bound="DataclassInstance")


def _build(cls: type[_D], data: Mapping[str, Any], **given: Any) -> _D:
    return cls(**{f.name: given[f.name] if f.name in given else data[f.name] for f in fields(cls)})


# ------------------------------------------------------------------------------------- capture


def capture_environment(
    *,
    argv: Sequence[str] | None = None,
    cwd: Path | None = None,
    max_diff_bytes: int = 1_000_000,
) -> Environment:
    """Record the code state, entry point, interpreter, host and packages of this process.

    Args:
        argv: the arguments to record; ``sys.argv`` by default.
        cwd: where to look for the git repository; the current folder by default.
        max_diff_bytes: the largest dirty diff kept (UTF-8 bytes); past it the diff is cut and
            ``diff_truncated`` is set.

    Returns:
        An :class:`Environment`. It never raises because of git, a missing ``nvidia-smi``, or an
        unusual platform: what cannot be found is ``None``.

    Example::

        env = capture_environment(argv=["train.py", "--lr", "0.1"])
        env.git.commit if env.git else None
    """
    if max_diff_bytes < 0:
        raise InvalidInput(f"max_diff_bytes must be 0 or more, not {max_diff_bytes}.")
    started_in = _working_folder(cwd)
    # Start the child processes first: they run while this process reads packages and the host.
    git_probe = _GitProbe.start(started_in, max_diff_bytes) if started_in is not None else None
    gpu_probe = _start_gpu_probe()

    packages = installed_packages()
    python = PythonInfo(
        version=platform.python_version(),
        implementation=platform.python_implementation(),
        executable=sys.executable or "",
    )
    host = _host()
    main_file, main_module = _main_file(), _main_module()

    git: GitState | None = None
    git_error: str | None = None
    if git_probe is None:
        git_error = "the working folder does not exist"
    else:
        git, git_error = git_probe.finish()
    gpus = _finish_gpu_probe(gpu_probe)

    return Environment(
        git=git,
        git_error=git_error,
        entry_point=_entry_point(main_file, main_module, argv, started_in, git),
        python=python,
        host=replace(host, gpus=gpus),
        packages=packages,
        captured_at=datetime.now(UTC),
    )


def strip_credentials(url: str) -> str:
    """A remote URL without the user name and password or token an ``https`` URL may carry.

    ``https://bob:s3cret@host/repo.git`` becomes ``https://host/repo.git``; for other schemes
    (``ssh://git@host/...``) only a password is removed, since the user name is needed to connect
    and is not a secret. SCP-like remotes (``git@host:org/repo.git``) and paths are unchanged.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        # Malformed: do not risk echoing a secret back.
        return url.split("://", 1)[0] + "://<unparseable>"
    if "@" not in parts.netloc:
        return url
    user = parts.username
    netloc = host or ""
    if ":" in netloc:  # an IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.scheme not in {"http", "https", "ftp", "ftps"} and user:
        netloc = f"{user}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# Distribution metadata does not change while a process runs (short of installing into it), and
# reading it is the slowest part of a capture, so it is read once per distinct sys.path.
_packages_cache: dict[tuple[str, ...], dict[str, str]] = {}
_packages_lock = threading.Lock()


def installed_packages() -> dict[str, str]:
    """``{normalised name: version}`` of the installed distributions, sorted by name.

    Names are normalised as pip does (``Typing_Extensions`` → ``typing-extensions``). When a
    distribution is on ``sys.path`` twice, the first one (the one imports see) wins.
    """
    key = tuple(sys.path)
    with _packages_lock:
        cached = _packages_cache.get(key)
        if cached is None:
            cached = _read_packages()
            _packages_cache.clear()
            _packages_cache[key] = cached
    return dict(cached)


def _read_packages() -> dict[str, str]:
    # Imported here: it pulls in the email package (~30 ms), which `import loopline` should not pay.
    import importlib.metadata

    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        # The header alone: parsing whole METADATA files with the email parser is 10x slower.
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
        name, version = _name_and_version(text) if text else (None, None)
        if name is None or version is None:
            continue
        found.setdefault(_normalise(name), version)
    return dict(sorted(found.items()))


def _name_and_version(metadata: str) -> tuple[str | None, str | None]:
    name = version = None
    for line in metadata.splitlines():
        if not line:  # the headers end at the first blank line
            break
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
        if name and version:
            break
    return name or None, version or None


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _working_folder(cwd: Path | None) -> Path | None:
    try:
        folder = Path(cwd) if cwd is not None else Path.cwd()
    except OSError:  # the current folder was deleted
        return None
    return folder if folder.is_dir() else None


def _main_file() -> Path | None:
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    # "<stdin>", "<string>" and the like name no file that could be run again.
    if not isinstance(file, str) or not file or (file.startswith("<") and file.endswith(">")):
        return None
    try:
        return Path(file).resolve()
    except OSError:
        return Path.cwd() / file


def _main_module() -> str | None:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)  # None unless `python -m`
    name = getattr(spec, "name", None)
    return name if isinstance(name, str) and name else None


def _entry_point(
    main_file: Path | None,
    main_module: str | None,
    argv: Sequence[str] | None,
    cwd: Path | None,
    git: GitState | None,
) -> EntryPoint:
    path: str | None = None
    if main_file is not None:
        path = str(main_file)
        if git is not None:
            with contextlib.suppress(ValueError):  # outside the repository: keep it absolute
                path = main_file.relative_to(Path(git.root).resolve()).as_posix()
    args = list(getattr(sys, "argv", [])) if argv is None else list(argv)
    return EntryPoint(
        path=path,
        argv=tuple(str(a) for a in args),
        module=main_module,
        interactive=main_file is None,
        cwd=str(cwd) if cwd is not None else "",
    )


def _host() -> HostInfo:
    """The host without its GPUs (``nvidia-smi`` is still running)."""
    try:
        user: str | None = getpass.getuser()
    except (KeyError, OSError, ImportError):  # no LOGNAME/USER and no passwd entry
        user = None
    return HostInfo(
        platform=platform.platform(),
        hostname=platform.node() or None,
        user=user,
        cpu_count=os.cpu_count(),
        cpu_model=_cpu_model(),
        memory_bytes=_memory_bytes(),
        gpus=(),
    )


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:  # noqa: PTH123
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in {"model name", "Model", "Hardware", "cpu model"}:
                    return value.strip() or None
    except OSError:
        pass
    name = platform.processor()
    return name if name and name != "unknown" else None


def _memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:  # noqa: PTH123
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


# ---------------------------------------------------------------------------- child processes


@dataclass(frozen=True, slots=True)
class _Output:
    returncode: int
    stdout: bytes
    stderr: bytes
    truncated: bool


class _Child:
    """A child process whose output a thread reads, up to ``limit`` bytes, so many run at once."""

    def __init__(
        self, args: list[str], *, cwd: Path | None, env: dict[str, str] | None, limit: int
    ) -> None:
        self._limit = limit
        self._output: _Output | None = None
        self._proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read, name="loopline-capture", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        proc = self._proc
        assert proc.stdout is not None
        assert proc.stderr is not None
        out = proc.stdout.read(self._limit + 1)
        truncated = len(out) > self._limit
        if truncated:
            proc.kill()  # we have all we keep; do not make it produce the rest
            out = out[: self._limit]
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        self._output = _Output(proc.wait(), out, err, truncated)

    def result(self, deadline: float) -> _Output:
        """The output, or :class:`TimeoutError` (the child killed) if it runs past ``deadline``."""
        self._reader.join(max(0.0, deadline - time.monotonic()))
        if self._reader.is_alive() or self._output is None:
            self._proc.kill()
            self._reader.join(1.0)
            raise TimeoutError
        return self._output


def _start_gpu_probe() -> _Child | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        return _Child(
            [exe, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            cwd=None,
            env=None,
            limit=1 << 16,
        )
    except OSError:
        return None


def _finish_gpu_probe(probe: _Child | None) -> tuple[GPU, ...]:
    if probe is None:
        return ()
    try:
        out = probe.result(time.monotonic() + GPU_TIMEOUT)
    except TimeoutError:
        return ()
    if out.returncode != 0:
        return ()
    return _parse_gpus(out.stdout.decode("utf-8", "replace"))


def _parse_gpus(text: str) -> tuple[GPU, ...]:
    """Lines like ``NVIDIA A100-SXM4-40GB, 40960 MiB`` (``[N/A]`` memory becomes ``None``)."""
    units = {"b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}
    units.update(kb=10**3, mb=10**6, gb=10**9)
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, memory = line.rpartition(",")
        if not name:
            name, memory = memory, ""
        memory_bytes: int | None = None
        match = re.fullmatch(r"\s*(\d+)\s*([KMG]i?B)?\s*", memory, flags=re.IGNORECASE)
        if match:
            unit = (match.group(2) or "MiB").lower()
            memory_bytes = int(match.group(1)) * units[unit]
        gpus.append(GPU(name=name.strip(), memory_bytes=memory_bytes))
    return tuple(gpus)


# --------------------------------------------------------------------------------------- git


# diff.relative=false: paths from the root, wherever in the tree the script was started.
_GIT_CONFIG = (
    "core.quotepath=off",
    "color.ui=false",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.relative=false",
)


def _git_command(*args: str) -> list[str]:
    # --no-optional-locks: never take index.lock, the user may be running git right now.
    return ["git", "--no-optional-locks", *(a for c in _GIT_CONFIG for a in ("-c", c)), *args]


def _git_env() -> dict[str, str]:
    # English messages, so that "not a git repository" can be told apart from a real failure.
    return {**os.environ, "LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0"}


class _GitProbe:
    """The four git commands a capture needs, started together and collected together."""

    def __init__(self, cwd: Path, max_diff_bytes: int, children: dict[str, _Child]) -> None:
        self._cwd = cwd
        self._max_diff_bytes = max_diff_bytes
        self._children = children
        self._error: str | None = None

    @classmethod
    def start(cls, cwd: Path, max_diff_bytes: int) -> _GitProbe:
        env = _git_env()
        commands = {
            "root": (_git_command("rev-parse", "--show-toplevel"), 1 << 16),
            "status": (
                _git_command("status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all"),
                16 << 20,
            ),
            "diff": (
                _git_command(
                    "diff", "HEAD", "--no-ext-diff", "--no-textconv", "--no-renames", "--"
                ),
                max_diff_bytes,
            ),
            "remotes": (_git_command("config", "--get-regexp", r"^remote\..*\.url$"), 1 << 16),
        }
        children: dict[str, _Child] = {}
        probe = cls(cwd, max_diff_bytes, children)
        if shutil.which("git", path=env.get("PATH")) is None:
            probe._error = "git is not installed (not found on PATH)"
            return probe
        try:
            for key, (args, limit) in commands.items():
                children[key] = _Child(args, cwd=cwd, env=env, limit=limit)
        except OSError as exc:
            probe._error = f"could not run git: {exc.strerror or exc}"
        return probe

    def finish(self) -> tuple[GitState | None, str | None]:
        """``(state, None)``, ``(None, None)`` outside a repository, or ``(None, error)``."""
        try:
            return self._finish()
        except _GitFailed as exc:
            return None, str(exc)
        except (OSError, UnicodeError, ValueError) as exc:  # reading untracked files, parsing
            return None, f"could not read the git state: {exc}"
        finally:
            deadline = time.monotonic()
            for child in self._children.values():
                with contextlib.suppress(TimeoutError):
                    child.result(deadline)

    def _finish(self) -> tuple[GitState | None, str | None]:
        if self._error is not None:
            return None, self._error
        deadline = time.monotonic() + GIT_TIMEOUT
        root_out = self._result("root", deadline)
        if root_out.returncode != 0:
            message = _first_line(root_out.stderr)
            if "not a git repository" in message:
                return None, None
            raise _GitFailed(f"git rev-parse failed: {message}")
        root = Path(os.fsdecode(root_out.stdout.rstrip(b"\n")))

        status = self._result("status", deadline)
        if status.returncode != 0:
            raise _GitFailed(f"git status failed: {_first_line(status.stderr)}")
        commit, branch, changed, untracked = _parse_status(status.stdout)

        diff_out = self._result("diff", deadline)
        if commit is None:
            tracked_diff, tracked_truncated = b"", False  # no HEAD to compare with
        elif diff_out.returncode != 0 and not diff_out.truncated:  # killed once we had enough
            raise _GitFailed(f"git diff failed: {_first_line(diff_out.stderr)}")
        else:
            tracked_diff, tracked_truncated = diff_out.stdout, diff_out.truncated

        remotes = self._result("remotes", deadline)  # exit 1: no remote at all
        remote = _pick_remote(remotes.stdout) if remotes.returncode == 0 else None

        diff, truncated, omitted = _build_diff(root, tracked_diff, untracked, self._max_diff_bytes)
        truncated = truncated or tracked_truncated
        return (
            GitState(
                commit=commit,
                branch=branch,
                dirty=changed or bool(untracked),
                diff=diff,
                diff_truncated=truncated,
                diff_complete=not truncated and not omitted,
                untracked=tuple(untracked[:MAX_UNTRACKED_LISTED]),
                remote_url=strip_credentials(remote) if remote else None,
                root=str(root),
            ),
            None,
        )

    def _result(self, key: str, deadline: float) -> _Output:
        try:
            return self._children[key].result(deadline)
        except TimeoutError:
            raise _GitFailed(f"git took longer than {GIT_TIMEOUT:g} s") from None


class _GitFailed(Exception):
    """A git command failed; the message is the short ``git_error``."""


def _first_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    line = text.splitlines()[0] if text else "no message"
    return line.removeprefix("fatal: ")[:200]


def _parse_status(out: bytes) -> tuple[str | None, str | None, bool, list[str]]:
    """``git status --porcelain=v2 -z --branch``: commit, branch, tracked changes, untracked."""
    commit: str | None = None
    branch: str | None = None
    changed = False
    untracked: list[str] = []
    records = iter(out.split(b"\0"))
    for record in records:
        if not record:
            continue
        if record.startswith(b"# branch.oid "):
            oid = record[13:].decode("ascii", "replace")
            commit = None if oid == "(initial)" else oid
        elif record.startswith(b"# branch.head "):
            head = os.fsdecode(record[14:])
            branch = None if head == "(detached)" else head
        elif record.startswith(b"? "):
            untracked.append(os.fsdecode(record[2:]))
        elif record[:2] in {b"1 ", b"u "}:
            changed = True
        elif record.startswith(b"2 "):  # a rename: its original path is the next record
            changed = True
            next(records, None)
    untracked.sort()
    return commit, branch, changed, untracked


def _pick_remote(out: bytes) -> str | None:
    urls: dict[str, str] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        key, _, url = line.partition(" ")
        name = key.removeprefix("remote.").removesuffix(".url")
        urls.setdefault(name, url.strip())
    return urls.get("origin") or next(iter(urls.values()), None)


def _build_diff(
    root: Path, tracked: bytes, untracked: Sequence[str], limit: int
) -> tuple[str, bool, bool]:
    """``git diff HEAD`` plus a "new file" patch per untracked text file, cut at ``limit``.

    Returns the patch, whether it was cut, and whether some change could not be put in it.
    """
    parts = [tracked]
    size = len(tracked)
    truncated = size > limit
    omitted = _BINARY_CHANGE.search(tracked) is not None
    for path in untracked:
        if size > limit:
            truncated = True
            break
        patch = _new_file_patch(root, path, limit - size + 1)
        if patch is None:
            omitted = True
        else:
            parts.append(patch)
            size += len(patch)
    data = b"".join(parts)
    if len(data) > limit:
        truncated = True
        data = data[:limit]
        # Keep whole lines: a patch cut mid-line is harder to read and to partially apply.
        end = data.rfind(b"\n")
        data = data[: end + 1] if end >= 0 else b""
    return data.decode("utf-8", "replace"), truncated, omitted


def _new_file_patch(root: Path, path: str, budget: int) -> bytes | None:
    """The patch ``git diff`` would show for ``path`` once added; ``None`` for binary, unreadable
    or oddly named files and for symbolic links."""
    if _NEEDS_QUOTING.search(path):
        return None
    full = root / path
    try:
        info = full.lstat()
        if not stat.S_ISREG(info.st_mode):
            return None
        with full.open("rb") as f:
            # Read a little past the budget: enough to fill it, and to know it overflowed.
            content = f.read(max(budget, _BINARY_SNIFF) + 1)
    except OSError:
        return None
    if b"\0" in content[:_BINARY_SNIFF]:
        return None
    name = os.fsencode(path)
    mode = b"100755" if info.st_mode & 0o111 else b"100644"
    header = b"diff --git a/%s b/%s\nnew file mode %s\n" % (name, name, mode)
    if not content:
        return header
    lines = content.split(b"\n")
    ends_with_newline = lines[-1] == b""
    if ends_with_newline:
        lines.pop()
    hunk = b"@@ -0,0 +1 @@\n" if len(lines) == 1 else b"@@ -0,0 +1,%d @@\n" % len(lines)
    body = b"".join(b"+" + line + b"\n" for line in lines)
    if not ends_with_newline:
        body += b"\\ No newline at end of file\n"
    return header + b"--- /dev/null\n+++ b/%s\n" % name + hunk + body
