"""Blob store throughput on a local folder, next to `cp -r` of the same files in the same run.

    .venv/bin/python benchmarks/blobs.py               # about 1 GB: 8 x 100 MB + 2,000 x 100 KB
    .venv/bin/python benchmarks/blobs.py --size-mb 50  # a quick run

Measured, each the median of --runs runs into fresh destination folders:

- ``cp -r`` of the folder (the peer), and ``cp -r`` followed by ``sync`` of every copied file
  (the peer for the fsync row);
- ``BlobStore.put_file`` of each file, one after the other;
- ``BlobStore.put_many`` with 2 workers;
- ``BlobStore.local_copy`` of every blob into a fresh folder (a verified get);
- ``sha256sum`` of every file, and the same read + SHA-256 in Python (hashlib, which uses
  OpenSSL and the CPU's SHA instructions where coreutils may not): the ceiling for anything
  that hashes what it stores;
- ``put_many`` with 2 workers and ``LOOPLINE_BLOB_FSYNC=1``.

The data is generated once (random bytes, seeded) under benchmarks/.data/, which git ignores;
it is deleted at the end when it is over 500 MB, unless --keep-data is given.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from loopline.blobs import BlobRef, BlobStore, open_blob_store
from loopline.config import Settings

CHUNK_SIZE = 1 << 20
DATA_ROOT = Path(__file__).resolve().parent / ".data"
SMALL_FILE = 100 * 1000  # 100 KB
BIG_FILES = 8
SEED = 20261123


@dataclass(frozen=True)
class Result:
    name: str
    seconds: list[float]
    megabytes: float

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.megabytes / self.median


def generate(size_mb: int) -> tuple[Path, list[Path]]:
    """Make (or reuse) the data set: 80% in 8 big files, 20% in 100 KB files."""
    folder = DATA_ROOT / f"blobs-{size_mb}mb"
    big_size = size_mb * 1_000_000 * 8 // 10 // BIG_FILES
    small_count = size_mb * 1_000_000 * 2 // 10 // SMALL_FILE
    done = folder / ".complete"
    names = [f"big/{i:02d}.bin" for i in range(BIG_FILES)]
    names += [f"small/{i // 100:03d}/{i:05d}.bin" for i in range(small_count)]
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        rng = random.Random(SEED)
        for name in names:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(big_size if name.startswith("big/") else SMALL_FILE))
        done.write_text("ok\n", encoding="utf-8")
    return folder, [folder / name for name in names]


def measure_all(
    actions: dict[str, Callable[[Path], None]], runs: int, megabytes: float, scratch: Path
) -> list[Result]:
    """Time each ``action(fresh folder)`` ``runs`` times, in rounds.

    Rounds (each operation once per round) rather than all runs of one operation in a row, so a
    slow patch of a shared machine hits every operation alike. Before each timed run the
    previous output is deleted and the disk is synced, so no run pays for its predecessor's
    write-back.
    """
    seconds: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            where = scratch / uuid.uuid4().hex
            where.mkdir(parents=True)
            os.sync()
            start = time.perf_counter()
            action(where)
            seconds[name].append(time.perf_counter() - start)
            shutil.rmtree(where)
    return [Result(name, times, megabytes) for name, times in seconds.items()]


def store_in(folder: Path, *, fsync: bool = False) -> BlobStore:
    return open_blob_store(
        Settings.from_env(
            {
                "LOOPLINE_HOME": str(folder / "home"),
                "LOOPLINE_ARTIFACTS": str(folder / "blobs"),
                "LOOPLINE_BLOB_FSYNC": "1" if fsync else "0",
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1000, help="data set size (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--keep-data", action="store_true", help="keep the generated data")
    args = parser.parse_args()

    console = Console()
    console.print(f"Generating or reusing {args.size_mb} MB of data under {DATA_ROOT} ...")
    source, files = generate(args.size_mb)
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    scratch = DATA_ROOT / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    # Read everything once so every measurement starts from the same warm page cache.
    subprocess.run(["cat", *map(str, files)], stdout=subprocess.DEVNULL, check=True)

    def cp(dest: Path) -> None:
        subprocess.run(["cp", "-r", str(source), str(dest / "copy")], check=True)

    def cp_sync(dest: Path) -> None:
        cp(dest)
        copied = [str(p) for p in (dest / "copy").rglob("*") if p.is_file()]
        subprocess.run(["sync", *copied], check=True)

    def put_serial(dest: Path) -> None:
        store = store_in(dest)
        for path in files:
            store.put_file(path)

    def put_many(dest: Path, *, fsync: bool = False) -> None:
        store_in(dest, fsync=fsync).put_many(files, workers=2)

    def sha256sum(dest: Path) -> None:
        subprocess.run(["sha256sum", *map(str, files)], stdout=subprocess.DEVNULL, check=True)

    def hashlib_only(dest: Path) -> None:
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        for path in files:
            digest = hashlib.sha256()
            with path.open("rb", buffering=0) as source:
                while count := source.readinto(buffer):
                    digest.update(view[:count])

    # The get measurement reads from one store filled beforehand (not timed).
    filled = scratch / "filled"
    filled.mkdir(parents=True)
    full_store = store_in(filled)
    refs: list[BlobRef] = full_store.put_many(files, workers=2)

    def get_all(dest: Path) -> None:
        for i, ref in enumerate(refs):
            full_store.local_copy(ref.digest, dest / f"{i:05d}.bin")

    actions: dict[str, Callable[[Path], None]] = {
        "cp -r (peer)": cp,
        "sha256sum": sha256sum,
        "read + hashlib.sha256 (ceiling)": hashlib_only,
        "put_file, serial": put_serial,
        "put_many, 2 workers": put_many,
        "local_copy of every blob (get)": get_all,
        "cp -r + sync each file (peer)": cp_sync,
        "put_many, 2 workers, fsync": lambda d: put_many(d, fsync=True),
    }
    results = measure_all(actions, args.runs, megabytes, scratch)
    shutil.rmtree(scratch)

    synced = results[6]
    peers = {synced.name: synced, "put_many, 2 workers, fsync": synced}
    table = Table(title=f"Blob store, local folder: {len(files):,} files, {megabytes:,.0f} MB")
    table.add_column("operation")
    table.add_column("median s", justify="right")
    table.add_column("runs (s)", justify="right")
    table.add_column("MB/s", justify="right")
    table.add_column("vs cp", justify="right")
    for result in results:
        peer = peers.get(result.name, results[0])
        table.add_row(
            result.name,
            f"{result.median:.2f}",
            " ".join(f"{s:.2f}" for s in result.seconds),
            f"{result.rate:,.0f}",
            f"{peer.median / result.median:.2f}x",
        )
    console.print(table)
    console.print(
        "vs cp = time of the peer / time of the operation (above 1 is faster than the peer); "
        "the fsync rows compare with cp -r + sync."
    )

    if not args.keep_data and megabytes > 500:
        shutil.rmtree(source)
        console.print(f"Deleted the generated data ({megabytes:,.0f} MB) in {source}.")


if __name__ == "__main__":
    main()
