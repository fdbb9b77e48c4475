"""Hashing local files in parallel: the first step of every commit.

hashlib releases the GIL while it hashes a buffer larger than 2 KiB, so threads hash on every
core at once; each thread reads into its own reused 1 MiB buffer (no allocation per chunk).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from loopline.blobs import BlobRef
from loopline.datasets._progress import ByteProgress
from loopline.errors import InvalidInput, NotFound

__all__ = ["READ_SIZE", "default_workers", "hash_file", "hash_files", "parallel_map"]

READ_SIZE = 1 << 20
T = TypeVar("T")
R = TypeVar("R")

_buffers = threading.local()


def default_workers() -> int:
    """Threads for hashing and local copies: two per core (reads wait on the disk too), 4-16."""
    return max(4, min(16, 2 * (os.cpu_count() or 2)))


def hash_file(path: Path, progress: ByteProgress | None = None) -> BlobRef:
    """SHA-256 and size of the file at ``path``.

    Raises:
        NotFound: there is no file at ``path`` (the message names it).
        InvalidInput: ``path`` is a folder or cannot be read.
    """
    buffer: bytearray | None = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    hasher = hashlib.sha256()
    size = 0
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as exc:
        raise NotFound(f"Cannot add {str(path)!r}: no such file. Check the path.") from exc
    except IsADirectoryError as exc:
        raise InvalidInput(f"Cannot add {str(path)!r}: it is a folder.") from exc
    except OSError as exc:
        raise InvalidInput(f"Cannot read {str(path)!r}: {exc.strerror}.") from exc
    try:
        while count := os.readv(fd, [buffer]):
            hasher.update(view[:count])
            size += count
            if progress is not None:
                progress.advance(count)
    except IsADirectoryError as exc:
        raise InvalidInput(f"Cannot add {str(path)!r}: it is a folder.") from exc
    finally:
        os.close(fd)
    if progress is not None:
        progress.advance(0, files=1)
    return BlobRef(hasher.hexdigest(), size)


def hash_files(
    paths: Sequence[Path], *, workers: int | None = None, progress: ByteProgress | None = None
) -> list[BlobRef]:
    """Hash many files in parallel; references come back in the order of ``paths``."""
    return parallel_map(lambda p: hash_file(p, progress), paths, workers=workers)


def parallel_map(
    fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None
) -> list[R]:
    """``[fn(x) for x in items]`` on a thread pool; the first error is raised, the rest are
    cancelled."""
    if not items:
        return []
    count = min(workers or default_workers(), len(items))
    if count <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="loopline-datasets") as pool:
        futures = [pool.submit(fn, x) for x in items]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise
