"""Blobs through both backends: the same verified, deduplicated store in-process and over HTTP."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from loopline.backends import Backend, LocalBackend
from loopline.errors import CorruptBlob, InvalidInput, NotFound


def test_bytes_and_files_round_trip(backend: Backend, tmp_path: Path) -> None:
    data = b"x,y\n" + b"1,2\n" * 50_000
    ref = backend.put_blob(data)
    assert ref.digest == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert backend.blob_exists(ref.digest)
    assert backend.get_blob(ref.digest) == data

    source = tmp_path / "model.bin"
    source.write_bytes(bytes(range(256)) * 20_000)  # 5 MB: several chunks each way
    from_file = backend.put_blob(source)
    copy = backend.download_blob(from_file.digest, tmp_path / "out" / "model.bin")
    assert copy.read_bytes() == source.read_bytes()


def test_the_same_content_is_stored_once(backend: Backend, local_backend: LocalBackend) -> None:
    first = backend.put_blob(b"same bytes")
    second = backend.put_blob(b"same bytes")
    assert first == second
    stored = [p for p in Path(local_backend.settings.artifacts).rglob("*") if p.is_file()]
    assert [p.name for p in stored if not p.name.endswith(".part")] == [first.digest]


def test_missing_and_malformed_digests(backend: Backend, tmp_path: Path) -> None:
    absent = "0" * 64
    assert backend.blob_exists(absent) is False
    with pytest.raises(NotFound, match=absent):
        backend.get_blob(absent)
    with pytest.raises(NotFound):
        backend.download_blob(absent, tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()
    for bad in ("abc", "../../etc/passwd", "G" * 64):
        with pytest.raises(InvalidInput):
            backend.get_blob(bad)
        with pytest.raises(InvalidInput):
            backend.blob_exists(bad)


@pytest.mark.parametrize("size", [26, 9 << 20], ids=["small", "streamed"])
def test_a_corrupt_blob_is_refused_and_the_destination_untouched(
    backend: Backend, local_backend: LocalBackend, tmp_path: Path, size: int
) -> None:
    original = b"the original model weights" * (size // 26)
    ref = backend.put_blob(original)
    stored = next(Path(local_backend.settings.artifacts).rglob(ref.digest))
    stored.write_bytes(original.replace(b"original", b"damaged!"))  # same size: dedup can't tell
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"what was there before")
    with pytest.raises(CorruptBlob):
        backend.get_blob(ref.digest)
    with pytest.raises(CorruptBlob):
        backend.download_blob(ref.digest, dest)
    assert dest.read_bytes() == b"what was there before"


def test_a_missing_source_file_is_named(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        backend.put_blob(tmp_path / "missing.csv")


def test_an_upload_whose_bytes_do_not_match_its_digest_is_refused(server_url: str) -> None:
    import httpx

    wrong = hashlib.sha256(b"something else").hexdigest()
    answer = httpx.put(f"{server_url}/api/v1/blobs/{wrong}", content=b"these bytes")
    assert answer.status_code == 400
    assert "hash to" in answer.json()["error"]["message"]
