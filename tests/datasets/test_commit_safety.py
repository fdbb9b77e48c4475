"""Commits are atomic and resumable, versions are checked, and bad input is answered with 4xx."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import loopline as ll
from loopline import Client
from loopline.backends import Backend, LocalBackend
from loopline.blobs import BlobRef
from loopline.config import Settings
from loopline.datasets import FileEntry, Manifest
from loopline.errors import InvalidInput, NotFound, StorageError


def many_files(root: Path, count: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"f{i:03d}.txt").write_text(f"file {i}\n")
    return root


def test_an_interrupted_upload_leaves_no_version_and_a_rerun_skips_what_arrived(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = many_files(tmp_path / "data", 20)
    backend = client._backend
    real_upload = backend.upload_blob
    uploads: list[str] = []

    def flaky(path: Path, expected: BlobRef) -> BlobRef:
        if len(uploads) >= 7:
            raise StorageError("the network went away")
        uploads.append(expected.digest)
        return real_upload(path, expected)

    monkeypatch.setattr(backend, "upload_blob", flaky)
    ds = ll.Dataset.create("d", client=client)
    ds.add_files(folder)
    with pytest.raises(StorageError, match="network went away"):
        ds.commit()
    with pytest.raises(NotFound, match="no versions yet"):
        ll.Dataset.get("d", client=client)
    assert len(backend.missing_blobs([FileEntry("x", d, 0).digest for d in uploads])) == 0
    uploads.clear()

    def counting(path: Path, expected: BlobRef) -> BlobRef:
        uploads.append(expected.digest)
        return real_upload(path, expected)

    monkeypatch.setattr(backend, "upload_blob", counting)
    v = ds.commit()
    assert v.number == 1
    assert v.file_count == 20
    assert len(uploads) == 20 - 7, "the rerun uploads only what did not arrive"


def test_commit_refuses_a_manifest_whose_files_are_not_stored(backend: Backend) -> None:
    backend.create_dataset("p", "d")
    ghost = "ab" * 32
    manifest = Manifest.of([FileEntry("x.bin", ghost, 10)])
    digest = backend.put_blob(manifest.encode()).digest
    with pytest.raises(InvalidInput, match=r"1 file\(s\) of this version are not stored.*'x.bin'"):
        backend.commit_version("p", "d", digest)
    with pytest.raises(InvalidInput, match="not stored"):
        backend.commit_version("p", "d", "cd" * 32)
    garbage = backend.put_blob(b"not a manifest").digest
    with pytest.raises(InvalidInput, match="not a dataset manifest"):
        backend.commit_version("p", "d", garbage)
    real = backend.put_blob(b"hello")
    wrong_size = backend.put_blob(Manifest.of([FileEntry("h", real.digest, 99)]).encode()).digest
    with pytest.raises(InvalidInput, match="holds 5 bytes, not 99"):
        backend.commit_version("p", "d", wrong_size)
    with pytest.raises(NotFound):
        backend.commit_version("p", "nope", digest)
    assert backend.list_versions("p", "d") == []


def test_commit_checks_its_parent_and_run(backend: Backend) -> None:
    backend.create_dataset("p", "d")
    blob = backend.put_blob(b"data")
    m1 = backend.put_blob(Manifest.of([FileEntry("a", blob.digest, 4)]).encode()).digest
    v1 = backend.commit_version("p", "d", m1, message="one")
    with pytest.raises(InvalidInput, match="exactly those of d:1"):
        backend.commit_version("p", "d", m1, parent=1)
    m2 = backend.put_blob(Manifest.of([FileEntry("b", blob.digest, 4)]).encode()).digest
    with pytest.raises(NotFound, match="no version 5"):
        backend.commit_version("p", "d", m2, parent=5)
    with pytest.raises(NotFound):
        backend.commit_version("p", "d", m2, parent=1, run_id="0" * 32)
    v2 = backend.commit_version("p", "d", m2, parent=1)
    assert (v2.number, v2.parent, v2.added, v2.removed) == (2, v1.number, 1, 1)


def test_a_commit_parent_is_a_number(local_backend: LocalBackend) -> None:
    local_backend.create_dataset("p", "d")
    blob = local_backend.put_blob(b"data")
    m1 = local_backend.put_blob(Manifest.of([FileEntry("a", blob.digest, 4)]).encode()).digest
    for parent in ("latest", "golden"):
        with pytest.raises(InvalidInput, match="resolve 'latest' or an alias"):
            local_backend.datasets.commit("p", "d", m1, parent=parent)  # type: ignore[arg-type]


def test_the_server_answers_4xx_for_bad_dataset_input(server_url: str) -> None:
    with httpx.Client(base_url=server_url) as http:
        bad = [
            http.get("/api/v1/projects/p/datasets/..bad"),
            http.post("/api/v1/projects/p/datasets", json={"name": "../x"}),
            http.post("/api/v1/projects/p/datasets", json={"nome": "x"}),
            http.get("/api/v1/projects/p/datasets/d/versions/0"),
            http.post("/api/v1/blobs/missing", json={"digests": ["xyz"]}),
            http.post("/api/v1/projects/p/datasets/d/versions", json={"manifest_digest": "no"}),
            http.get("/api/v1/lineage"),
            http.post(
                "/api/v1/lineage",
                json={"run_id": "0" * 32, "version_id": "0" * 32, "direction": "sideways"},
            ),
        ]
        http.post("/api/v1/projects/p/datasets", json={"name": "d"})
        bad.append(http.get("/api/v1/projects/p/datasets/d/versions/latest"))
        bad.append(http.put("/api/v1/projects/p/datasets/d/aliases/latest", json={"version": 1}))
        for r in bad:
            assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
            assert set(r.json()["error"]) == {"type", "message", "details"}


def test_the_rest_api_serves_files_diff_and_profile(client: Client, tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("x,y\n1,a\n2,b\n")
    ds = ll.Dataset.create("d", project="p", client=client)
    ds.add_files(tmp_path / "t.csv")
    ds.commit()
    (tmp_path / "u.txt").write_text("u")
    ds.add_files(tmp_path / "u.txt")
    ds.commit()
    backend = client._backend
    service = backend.datasets if isinstance(backend, LocalBackend) else None
    if service is None:
        api = backend.api  # type: ignore[attr-defined]
        page = api.get("/api/v1/projects/p/datasets/d/versions/2/files", params={"limit": 1})
        assert page["total"] == 2
        assert [f["path"] for f in page["files"]] == ["t.csv"]
        diff = api.get("/api/v1/projects/p/datasets/d/diff", params={"a": "1", "b": "latest"})
        assert [c["path"] for c in diff["added"]] == ["u.txt"]
        profile = api.get("/api/v1/projects/p/datasets/d/versions/1/profile")
    else:
        page = service.files("p", "d", 2, limit=1)
        assert page.total == 2
        assert [f.path for f in page.files] == ["t.csv"]
        assert [c.path for c in service.diff("p", "d", 1, "latest").added] == ["u.txt"]
        profile = service.profile("p", "d", 1)
    assert profile is not None
    assert json.dumps(profile)
    assert profile["files"]["t.csv"]["rows"] == 2


def test_the_profile_of_an_unchanged_file_is_carried_over(
    client: Client, tmp_path: Path, settings: Settings
) -> None:
    (tmp_path / "t.parquet").write_bytes(b"")
    import pandas as pd

    pd.DataFrame({"x": range(10)}).to_parquet(tmp_path / "t.parquet")
    ds = ll.Dataset.create("d", client=client)
    ds.add_files(tmp_path / "t.parquet")
    v1 = ds.commit()
    (tmp_path / "other.txt").write_text("x")
    ds.add_files(tmp_path / "other.txt")
    v2 = ds.commit()
    p1, p2 = v1.profile(), v2.profile()
    assert p1 is not None
    assert p2 is not None
    assert p1["files"] == p2["files"]
