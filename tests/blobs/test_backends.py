"""The backends on their own: keys stay inside the root; publishing is atomic and durable."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest

from loopline.blobs import BlobBackend, BlobStore, FsspecBackend, LocalFolderBackend
from loopline.errors import InvalidInput, NotFound

ESCAPES = [
    "../outside",
    "sha256/../../outside",
    "sha256/ab/../../../outside",
    "/etc/passwd",
    "",
    ".",
    "sha256/\0/x",
]


def staged(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.part"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("key", ESCAPES)
def test_local_keys_cannot_leave_the_root(tmp_path: Path, key: str) -> None:
    root = tmp_path / "blobs"
    (tmp_path / "outside").write_bytes(b"secret")
    backend = LocalFolderBackend(root)
    source = staged(tmp_path / "staging", b"evil")
    for call in (
        lambda: backend.size(key),
        lambda: backend.open(key),
        lambda: backend.publish(key, source),
        lambda: backend.delete(key),
    ):
        with pytest.raises(InvalidInput, match="escapes the blob root"):
            call()
    assert (tmp_path / "outside").read_bytes() == b"secret"
    assert source.exists()  # a refused publish does not take the file


def test_local_keys_cannot_follow_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x").write_bytes(b"secret")
    root.mkdir()
    (root / "sha256").symlink_to(tmp_path / "elsewhere")
    backend = LocalFolderBackend(root)
    with pytest.raises(InvalidInput, match="escapes the blob root"):
        backend.open("sha256/x")
    with pytest.raises(InvalidInput, match="escapes the blob root"):
        backend.delete("sha256/x")
    assert (tmp_path / "elsewhere" / "x").exists()


def test_local_backend_publishes_lazily_and_atomically(tmp_path: Path) -> None:
    backend = LocalFolderBackend(tmp_path / "blobs", fsync=False)
    assert not (tmp_path / "blobs").exists()  # nothing is created before the first write
    assert backend.size("sha256/aa/bb/k") is None
    first = staged(backend.staging_dir, b"one")
    backend.publish("sha256/aa/bb/k", first)
    assert not first.exists()  # ownership taken
    with backend.open("sha256/aa/bb/k") as reader:
        second = staged(backend.staging_dir, b"two!")
        backend.publish("sha256/aa/bb/k", second)  # replaces while a reader holds the old one
        assert reader.read() == b"one"
    assert backend.size("sha256/aa/bb/k") == 4
    assert backend.delete("sha256/aa/bb/k") is True
    assert backend.delete("sha256/aa/bb/k") is False
    with pytest.raises(NotFound):
        backend.open("sha256/aa/bb/k")


def test_local_backend_with_fsync(tmp_path: Path) -> None:
    backend = LocalFolderBackend(tmp_path / "blobs", fsync=True)
    store = BlobStore(backend, backend.staging_dir)
    ref = store.put_bytes(b"durable")
    assert store.get_bytes(ref.digest) == b"durable"


def test_local_backend_publishes_across_file_systems(tmp_path: Path) -> None:
    # /dev/shm is a RAM disk: a rename from there to tmp_path crosses file systems (EXDEV).
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the temp folder")
    staging = shm / f"loopline-test-{uuid.uuid4().hex}"
    try:
        backend = LocalFolderBackend(tmp_path / "blobs", fsync=True)
        store = BlobStore(backend, staging)
        ref = store.put_bytes(b"far away")
        assert store.get_bytes(ref.digest) == b"far away"
        assert list(staging.iterdir()) == []
        assert list(backend.staging_dir.iterdir()) == []
    finally:
        for leftover in staging.glob("*"):
            leftover.unlink()
        staging.rmdir()


def test_a_directory_where_a_blob_belongs_is_no_blob(tmp_path: Path) -> None:
    backend = LocalFolderBackend(tmp_path)
    (tmp_path / "sha256" / "aa" / "bb" / "k").mkdir(parents=True)
    assert backend.size("sha256/aa/bb/k") is None
    with pytest.raises(NotFound):
        backend.open("sha256/aa/bb/k")


@pytest.mark.parametrize("key", ["../outside", "sha256/../x", "/abs", "", "a//b", "a/./b"])
def test_fsspec_keys_cannot_leave_the_root(tmp_path: Path, key: str) -> None:
    backend = FsspecBackend(fsspec.filesystem("memory"), f"/test-{uuid.uuid4().hex}")
    source = staged(tmp_path, b"evil")
    for call in (
        lambda: backend.size(key),
        lambda: backend.open(key),
        lambda: backend.publish(key, source),
        lambda: backend.delete(key),
    ):
        with pytest.raises(InvalidInput, match="escapes the blob root"):
            call()


def test_fsspec_backend_on_a_memory_file_system(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    root = f"/test-{uuid.uuid4().hex}"
    backend = FsspecBackend(fs, root)
    store = BlobStore(backend, tmp_path / "staging")
    try:
        ref = store.put_bytes(b"in memory")
        assert fs.cat_file(f"{root}/sha256/{ref.digest[:2]}/{ref.digest}") == (b"in memory")
        assert store.get_bytes(ref.digest) == b"in memory"
        assert store.delete(ref.digest) is True
        assert store.delete(ref.digest) is False
        assert list((tmp_path / "staging").iterdir()) == []
    finally:
        fs.rm(root, recursive=True)


def test_backends_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(LocalFolderBackend(tmp_path), BlobBackend)
    assert isinstance(FsspecBackend(fsspec.filesystem("memory"), "/x"), BlobBackend)


def test_the_protocol_docstring_example_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The example in BlobBackend's docstring is the guide for third-party backends: keep it true.
    doc = BlobBackend.__doc__ or ""
    example = doc.split("(good enough for a test)::")[1]
    code = "\n".join(line[8:] for line in example.splitlines())
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "BlobBackend example", "exec"), {})  # noqa: S102 - our own docstring
    assert list((tmp_path / "staging").iterdir()) == []
