"""1,000 versions of a 1,000-file dataset, each changing one file, store ~2,000 file blobs."""

from __future__ import annotations

from pathlib import Path

from tests.datasets.conftest import blob_files

import loopline as ll
from loopline import Client
from loopline.config import Settings

FILES = 1_000
VERSIONS = 1_000


def test_a_thousand_versions_store_changes_not_copies(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"LOOPLINE_HOME": str(tmp_path / "home"), "LOOPLINE_ARTIFACTS": str(tmp_path / "blobs")}
    )
    source = tmp_path / "src"
    source.mkdir()
    for i in range(FILES):
        (source / f"f{i:04d}.txt").write_text(f"{i}\n")
    with Client(settings=settings) as client:
        ds = ll.Dataset.create("d", client=client)
        ds.add_files(source)
        ds.commit(message="v1")
        changed = tmp_path / "changed"
        changed.mkdir()
        for n in range(2, VERSIONS + 1):
            f = changed / f"f{n % FILES:04d}.txt"
            f.write_text(f"version {n}\n")
            ds.add_files(f)  # replaces that path in the draft, which goes on from each commit
            ds.commit(message=f"v{n}")
        latest = ll.Dataset.get("d", client=client)
        assert (latest.number, latest.file_count) == (VERSIONS, FILES)
        first = ll.Dataset.get("d", 1, client=client)
        assert len(ll.Dataset.diff(first, latest).modified) == VERSIONS - 1
    blobs = blob_files(settings)
    # 1,000 files of version 1 + 999 changed files; and one manifest per version.
    file_blobs = FILES + VERSIONS - 1
    assert len(blobs) == file_blobs + VERSIONS, len(blobs)
    assert len(blobs) < 3_000, "about 2,000 file blobs (plus the manifests), not a million"
