"""Code snapshots: a deterministic tar.gz of the code a run needs, when git cannot bring it back."""

from __future__ import annotations

import gzip
import io
import logging
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from loopline.tracking._environment import (
    GIT_TIMEOUT,
    _first_line,
    _git_command,
    _git_env,
)

__all__ = ["code_snapshot"]

log = logging.getLogger("loopline.tracking")

_SNAPSHOT_SKIP_DIRS = frozenset(
    {
        ".venv",
        "__pycache__",
        ".git",
        "node_modules",
        # Tool caches: never code, sometimes large.
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".ipynb_checkpoints",
    }
)
_SNAPSHOT_MAX_FILE = 1_000_000  # bytes, per file, outside git
_SNAPSHOT_MAX_FILES = 10_000  # files, outside git: a script in $HOME must not pack $HOME


# ------------------------------------------------------------------------------- code snapshot


def code_snapshot(
    entry_point: Path, repo_root: Path | None, max_bytes: int = 20_000_000
) -> bytes | None:
    """A deterministic ``tar.gz`` of the code needed to rerun, for when git cannot reproduce it.

    In a git repository (``repo_root`` given) it holds the tracked and untracked-not-ignored files
    (``git ls-files -co --exclude-standard``) as they are on disk, named relative to the root.
    Otherwise it holds the entry point's folder (or ``entry_point`` itself when it is a folder),
    skipping ``.venv``, ``__pycache__``, ``.git``, ``node_modules``, tool caches, virtual
    environments, files over 1 MB, and giving up past 10,000 files.

    The archive is the same bytes for the same files: entries sorted by name, times, owners and
    the gzip header fixed, modes reduced to 644/755. Symbolic links are kept as links; folders
    (git submodules among them) and special files are left out.

    Args:
        entry_point: the script that was run, or the folder to pack.
        repo_root: the git working tree's root, or ``None`` outside git.
        max_bytes: the largest archive returned.

    Returns:
        The archive, or ``None`` when it would exceed ``max_bytes`` or nothing could be listed;
        the reason is logged on the ``loopline.tracking`` logger.
    """
    listed = _git_files(repo_root) if repo_root is not None else None
    if listed is not None and repo_root is not None:
        base, names = repo_root, listed
    else:
        base = entry_point if entry_point.is_dir() else entry_point.parent
        found = _folder_files(base)
        if found is None:
            log.warning(
                "No code snapshot: %s holds over %d files; commit the code to git instead.",
                base,
                _SNAPSHOT_MAX_FILES,
            )
            return None
        names = found

    out = _CappedBuffer(max_bytes)
    try:
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name in sorted(set(names)):
                _add_to_tar(tar, base, name)
    except _TooBig:
        log.warning(
            "No code snapshot: the code under %s is over %d bytes compressed; commit it to git, "
            "or pass a larger max_bytes.",
            base,
            max_bytes,
        )
        return None
    except _ChangedWhilePacking as exc:
        log.warning("No code snapshot: %s changed while it was being packed.", exc)
        return None
    return out.getvalue()


class _TooBig(Exception):
    pass


class _ChangedWhilePacking(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """Gives up as soon as the compressed archive passes the cap, so a stray 5 GB file costs
    about max_bytes of memory and as many bytes of reading as it takes to fill them."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def write(self, data: Any, /) -> int:
        written = super().write(data)
        if self.tell() > self._limit:
            raise _TooBig
        return written


def _git_files(root: Path) -> list[str] | None:
    try:
        done = subprocess.run(
            _git_command("ls-files", "-z", "--cached", "--others", "--exclude-standard"),
            cwd=root,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT * 3,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("git ls-files failed (%s); snapshotting the entry point's folder instead", exc)
        return None
    if done.returncode != 0:
        log.info("git ls-files failed: %s", _first_line(done.stderr))
        return None
    return [os.fsdecode(p) for p in done.stdout.split(b"\0") if p]


def _folder_files(base: Path) -> list[str] | None:
    names: list[str] = []
    for folder, dirs, files in os.walk(base):
        # Pruning in place stops os.walk from descending; virtual environments carry pyvenv.cfg.
        dirs[:] = [
            d
            for d in dirs
            if d not in _SNAPSHOT_SKIP_DIRS and not Path(folder, d, "pyvenv.cfg").exists()
        ]
        for file in files:
            path = Path(folder, file)
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_size > _SNAPSHOT_MAX_FILE:
                continue
            names.append(path.relative_to(base).as_posix())
            if len(names) > _SNAPSHOT_MAX_FILES:
                return None
    return names


def _add_to_tar(tar: tarfile.TarFile, base: Path, name: str) -> None:
    path = base / name
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            entry = _fixed_info(name, 0o777)
            entry.type = tarfile.SYMTYPE
            entry.linkname = str(path.readlink())
            tar.addfile(entry)
            return
        if not stat.S_ISREG(info.st_mode):
            return  # folders (submodules), sockets, devices
        entry = _fixed_info(name, 0o755 if info.st_mode & 0o111 else 0o644)
        if info.st_size <= _SNAPSHOT_MAX_FILE:
            # Read whole: a file that changes size while being packed cannot break the archive.
            data = path.read_bytes()
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
            return
        stream = path.open("rb")
    except OSError:
        return  # vanished or unreadable: leave it out
    with stream:
        entry.size = info.st_size
        try:
            tar.addfile(entry, stream)  # streamed: the cap may stop it part way
        except OSError as exc:  # shorter than its size said: the archive is broken now
            raise _ChangedWhilePacking(str(path)) from exc


def _fixed_info(name: str, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
