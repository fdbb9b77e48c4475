"""Versioned datasets against DVC (latest, in its own virtual environment), same run, same data.

    .venv/bin/python benchmarks/datasets.py            # 10,000 small files and 2 GB of large ones
    .venv/bin/python benchmarks/datasets.py --quick    # 1,000 small files and 128 MB
    .venv/bin/python benchmarks/datasets.py --repeats 5

Measured (issue 3, "Shown by"), each end to end as a user runs it (a fresh process, import and
start-up included; DVC through its command line):

- commit: Loopline ``Dataset.create`` + ``add_files`` + ``commit`` into an empty embedded store
  (SQLite + a local blob folder); DVC ``dvc add`` + ``dvc push`` to a local remote folder, in a
  fresh ``dvc init --no-scm`` workspace holding a copy of the data (made before timing).
- local copy: Loopline ``Dataset.get(...).local_copy(dest)`` into a new folder (hard links from
  the store, verified; then ``link=False``, copies hashed while made; then the same copy again);
  DVC ``dvc pull`` into a fresh workspace (fetch from the remote into its cache, then check out).
- hashing: Loopline's parallel hashing of the large files against ``sha256sum`` of them.

DVC runs with its defaults (cache type ``reflink,copy``, which is a copy on ext4) and analytics
off. DVC is installed (once, reused) into benchmarks/.peers/dvc with ``python3 -m venv`` and pip.
Data is seeded random bytes under benchmarks/.data/datasets (kept between runs; every store,
cache and workspace is made in a temporary folder and removed after each repeat). Everything is
in the page cache (the machines have far more RAM than data); ``sync`` runs before each timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _machine import machine

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_VENV = HERE / ".peers" / "dvc"
DATA = HERE / ".data" / "datasets"
SEED = 20261124
PEER_ENV = {"DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1", "GIT_PYTHON_REFRESH": "quiet"}

console = Console(width=None if sys.stdout.isatty() else 130)


@dataclass(frozen=True)
class Sizes:
    small_files: int = 10_000
    small_min: int = 1_024
    small_max: int = 8_192
    large_files: int = 8
    large_size: int = 256 << 20  # 8 x 256 MiB = 2 GiB

    @classmethod
    def quick(cls) -> Sizes:
        return cls(small_files=1_000, large_files=4, large_size=32 << 20)


# --- data -------------------------------------------------------------------------------------


def make_data(sizes: Sizes) -> dict[str, Path]:
    """Seeded random files: ``small`` (many files in 100 folders) and ``large``; reused."""
    import numpy as np

    folders = {}
    for kind in ("small", "large"):
        tag = (
            f"{kind}-{sizes.small_files}-{sizes.small_min}-{sizes.small_max}"
            if kind == "small"
            else f"{kind}-{sizes.large_files}x{sizes.large_size}"
        )
        folder = DATA / tag
        folders[kind] = folder
        if data_ready(folder):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        rng = np.random.default_rng(SEED)
        console.print(f"Writing {tag} into {folder} ...")
        if kind == "small":
            for i in range(sizes.small_files):
                sub = folder / f"d{i % 100:02d}"
                sub.mkdir(exist_ok=True)
                size = int(rng.integers(sizes.small_min, sizes.small_max + 1))
                (sub / f"f{i:05d}.bin").write_bytes(rng.bytes(size))
        else:
            for i in range(sizes.large_files):
                with (folder / f"part-{i:02d}.bin").open("wb") as f:
                    left = sizes.large_size
                    while left:
                        n = min(left, 64 << 20)
                        f.write(rng.bytes(n))
                        left -= n
        # The marker sits beside the folder, not in it: it is not part of the data.
        (folder.parent / f"{tag}.complete").write_text("ok")
    return folders


def data_ready(folder: Path) -> bool:
    return (folder.parent / f"{folder.name}.complete").exists()


def folder_bytes(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


# --- timing helpers ---------------------------------------------------------------------------


def timed(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-2000:]}"
            f"\n{result.stderr[-3000:]}"
        )
    return elapsed, result.stdout


def loopline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env.update(LOOPLINE_HOME=str(home), LOOPLINE_QUIET="1", LOOPLINE_PROJECT="bench")
    return env


def loopline(code: str, home: Path) -> tuple[float, dict[str, Any]]:
    """Run ``code`` in a fresh interpreter; wall time, and the JSON it printed last."""
    elapsed, out = timed([sys.executable, "-c", code], cwd=home.parent, env=loopline_env(home))
    return elapsed, json.loads(out.strip().splitlines()[-1])


COMMIT = """
import json, time
t = time.perf_counter()
import loopline as ll
ds = ll.Dataset.create({name!r})
ds.add_files({folder!r})
v = ds.commit(message="benchmark")
took = time.perf_counter() - t
print(json.dumps({{"inner": took, "files": v.file_count, "bytes": v.total_bytes}}))
"""

COPY = """
import json, time
t = time.perf_counter()
import loopline as ll
path = ll.Dataset.get({name!r}).local_copy({dest!r}, link={link!r})
print(json.dumps({{"inner": time.perf_counter() - t, "path": str(path)}}))
"""

HASH = """
import json, time
from pathlib import Path
from loopline.datasets._hashing import hash_files
files = sorted(p for p in Path({folder!r}).iterdir() if p.is_file())
t = time.perf_counter()
refs = hash_files(files)
print(json.dumps({{"inner": time.perf_counter() - t, "bytes": sum(r.size for r in refs)}}))
"""


def ensure_peer() -> Path:
    dvc = PEER_VENV / "bin" / "dvc"
    if dvc.exists():
        return dvc
    console.print(f"Installing the latest dvc into {PEER_VENV} (a minute or two) ...")
    subprocess.run(["python3", "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    subprocess.run(
        [str(PEER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "dvc"],
        check=True,
    )
    return dvc


def dvc_version(dvc: Path) -> str:
    out = subprocess.run([str(dvc), "--version"], capture_output=True, text=True, env=dvc_env())
    return out.stdout.strip()


def dvc_env() -> dict[str, str]:
    return {**os.environ, **PEER_ENV}


def dvc_workspace(dvc: Path, folder: Path, remote: Path) -> None:
    folder.mkdir(parents=True)
    env = dvc_env()
    for cmd in (
        [str(dvc), "init", "--no-scm", "-q"],
        [str(dvc), "config", "core.analytics", "false"],
        [str(dvc), "remote", "add", "-d", "store", str(remote)],
    ):
        subprocess.run(cmd, cwd=folder, env=env, check=True, capture_output=True)


# --- one repeat -------------------------------------------------------------------------------


def one_repeat(kind: str, data: Path, dvc: Path | None, scratch: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    # Loopline: commit into an empty store, then local copies in fresh processes.
    home = scratch / "ll" / "home"
    home.mkdir(parents=True)
    out["ll_commit"], info = loopline(COMMIT.format(name=kind, folder=str(data)), home)
    out["ll_commit_inner"] = info["inner"]
    dest = scratch / "ll" / "copy-link"
    out["ll_copy_link"], info = loopline(COPY.format(name=kind, dest=str(dest), link=True), home)
    out["ll_copy_link_inner"] = info["inner"]
    out["ll_copy_again"], info = loopline(COPY.format(name=kind, dest=str(dest), link=True), home)
    out["ll_copy_again_inner"] = info["inner"]
    out["ll_copy_copy"], info = loopline(
        COPY.format(name=kind, dest=str(scratch / "ll" / "copy-copy"), link=False), home
    )
    out["ll_copy_copy_inner"] = info["inner"]
    check_same(data, dest)
    check_same(data, scratch / "ll" / "copy-copy")
    shutil.rmtree(scratch / "ll", onerror=_writable_then_retry)
    if dvc is None:
        return out
    # DVC: add + push from a workspace holding a copy of the data, then pull into a fresh one.
    remote = scratch / "dvc" / "remote"
    work = scratch / "dvc" / "work"
    dvc_workspace(dvc, work, remote)
    shutil.copytree(data, work / "data")
    add, _ = timed([str(dvc), "add", "-q", "data"], cwd=work, env=dvc_env())
    push, _ = timed([str(dvc), "push", "-q"], cwd=work, env=dvc_env())
    out["dvc_add"], out["dvc_push"], out["dvc_commit"] = add, push, add + push
    fresh = scratch / "dvc" / "fresh"
    dvc_workspace(dvc, fresh, remote)
    shutil.copy(work / "data.dvc", fresh / "data.dvc")
    out["dvc_pull"], _ = timed([str(dvc), "pull", "-q"], cwd=fresh, env=dvc_env())
    check_same(data, fresh / "data")
    shutil.rmtree(scratch / "dvc", onerror=_writable_then_retry)
    return out


def check_same(a: Path, b: Path) -> None:
    """Both folders hold the same files with the same sizes (a cheap guard on the copies)."""
    left = {p.relative_to(a): p.stat().st_size for p in a.rglob("*") if p.is_file()}
    right = {p.relative_to(b): p.stat().st_size for p in b.rglob("*") if p.is_file()}
    if left != right:
        raise RuntimeError(f"{b} does not hold the files of {a}")


def _writable_then_retry(func: Any, path: str, _exc: Any) -> None:
    os.chmod(Path(path).parent, 0o700)  # noqa: PTH101 - read-only folders from DVC's cache
    func(path)


def hashing(data: Path, scratch: Path) -> dict[str, float]:
    files = sorted(str(p) for p in data.iterdir() if p.is_file())
    total = sum(Path(f).stat().st_size for f in files)
    sha, _ = timed(["sha256sum", *files], cwd=scratch, env=dict(os.environ))
    home = scratch / "hash-home"
    home.mkdir()
    _, info = loopline(HASH.format(folder=str(data)), home)
    shutil.rmtree(home)
    return {"sha256sum_mbps": total / sha / 1e6, "ll_hash_mbps": total / info["inner"] / 1e6}


# --- report -----------------------------------------------------------------------------------


def med(runs: list[dict[str, float]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def ratio(peer: float | None, ours: float | None) -> str:
    return "-" if peer is None or ours is None or ours == 0 else f"{peer / ours:.1f}x"


def report(results: dict[str, Any]) -> None:
    for kind in ("small", "large"):
        runs = results["runs"][kind]
        files, size = results["data"][kind]
        table = Table(
            "operation",
            "median s",
            "runs (s)",
            "MB/s",
            "vs DVC",
            title=f"{kind}: {files:,} files, {size / 1e6:,.0f} MB ({len(runs)} repeats)",
        )

        def row(
            label: str,
            key: str,
            peer_key: str | None,
            runs: list[dict[str, float]] = runs,
            size: int = size,
            table: Table = table,
        ) -> None:
            value = med(runs, key)
            rate = "-" if not value else f"{size / value / 1e6:,.0f}"
            table.add_row(
                label,
                fmt(value),
                " ".join(fmt(r.get(key)) for r in runs),
                rate,
                ratio(med(runs, peer_key), value) if peer_key else "",
            )

        row("Loopline add + commit", "ll_commit", "dvc_commit")
        row("  (in-process part)", "ll_commit_inner", None)
        row("DVC add + push", "dvc_commit", None)
        row("  dvc add", "dvc_add", None)
        row("  dvc push", "dvc_push", None)
        row("Loopline local_copy (hard links, verified)", "ll_copy_link", "dvc_pull")
        row("Loopline local_copy (copies, verified)", "ll_copy_copy", "dvc_pull")
        row("Loopline local_copy again (same folder)", "ll_copy_again", "dvc_pull")
        row("DVC pull into a fresh workspace", "dvc_pull", None)
        console.print(table)
    h = results["hashing"]
    console.print(
        f"Hashing the large files: Loopline {h['ll_hash_mbps']:,.0f} MB/s, sha256sum "
        f"{h['sha256sum_mbps']:,.0f} MB/s ({h['ll_hash_mbps'] / h['sha256sum_mbps']:.1f}x)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 small files and 128 MB")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--skip-peer", action="store_true", help="Loopline only")
    parser.add_argument("--only", default="small,large", help="small, large or both")
    args = parser.parse_args()
    sizes = Sizes.quick() if args.quick else Sizes()
    repeats = args.repeats or (1 if args.quick else 3)
    dvc = None if args.skip_peer else ensure_peer()
    folders = make_data(sizes)
    kinds = [k for k in ("small", "large") if k in args.only.split(",")]
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "peer": None if dvc is None else dvc_version(dvc),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": {k: folder_bytes(folders[k]) for k in ("small", "large")},
        "runs": {"small": [], "large": []},
        "load_before": os.getloadavg(),
    }
    console.print(f"{results['machine']}; DVC {results['peer']}; load {os.getloadavg()}")
    for i in range(repeats):
        for kind in kinds:
            with tempfile.TemporaryDirectory(prefix="ll-bench-ds-", dir=HERE / ".data") as tmp:
                run = one_repeat(kind, folders[kind], dvc, Path(tmp))
            results["runs"][kind].append(run)
            console.print(
                f"repeat {i + 1} {kind}: " + ", ".join(f"{k} {v:.2f}" for k, v in run.items())
            )
    with tempfile.TemporaryDirectory(prefix="ll-bench-hash-", dir=HERE / ".data") as tmp:
        results["hashing"] = hashing(folders["large"], Path(tmp))
    results["load_after"] = os.getloadavg()
    out = HERE / ".data" / f"datasets-results{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps(results, indent=2))
    report(results)
    console.print(f"Raw figures: {out}")


if __name__ == "__main__":
    main()
