"""BlobStore behaviour, on a local folder and on a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.blobs.helpers import blob_key, overwrite_blob, staged_files, stored_keys

from loopline.blobs import BlobRef, BlobStore, FsspecBackend
from loopline.errors import CorruptBlob, InvalidInput, NotFound

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MISSING = "0" * 64


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_put_bytes_round_trips(store: BlobStore, kind: Callable[[bytes], bytes]) -> None:
    data = b"hello, blobs"
    ref = store.put_bytes(kind(data))
    assert ref == BlobRef(sha256(data), len(data))
    assert store.get_bytes(ref.digest) == data
    assert store.exists(ref.digest)
    assert store.size(ref.digest) == len(data)
    assert stored_keys(store) == [blob_key(ref.digest)]


def test_put_file_round_trips(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(3 << 20))
    ref = store.put_file(source)
    assert ref == BlobRef(sha256(source.read_bytes()), 3 << 20)
    copy = store.local_copy(ref.digest, tmp_path / "out" / "deep" / "model.bin")
    assert copy == tmp_path / "out" / "deep" / "model.bin"
    assert copy.read_bytes() == source.read_bytes()


def test_put_stream_round_trips_and_leaves_the_stream_open(store: BlobStore) -> None:
    data = os.urandom(2_500_000)  # not a multiple of the chunk size
    stream = io.BytesIO(data)
    ref = store.put_stream(stream)
    assert not stream.closed
    assert ref == BlobRef(sha256(data), len(data))
    with store.open(ref.digest) as blob:
        assert blob.read() == data


class Trickle:
    """A stream that hands out a few bytes at a time, as a socket might."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(self._step, size if size >= 0 else self._step))


def test_put_stream_accepts_short_reads(store: BlobStore) -> None:
    data = os.urandom(10_000)
    ref = store.put_stream(Trickle(data, 333))
    assert store.get_bytes(ref.digest) == data


def test_open_reads_in_pieces(store: BlobStore) -> None:
    data = os.urandom(3_000_001)
    ref = store.put_bytes(data)
    pieces = []
    with store.open(ref.digest) as blob:
        while piece := blob.read(65_536):
            pieces.append(piece)
    assert b"".join(pieces) == data


def test_empty_blob(store: BlobStore, tmp_path: Path) -> None:
    ref = store.put_bytes(b"")
    assert ref == BlobRef(EMPTY_SHA256, 0)
    assert store.exists(EMPTY_SHA256)
    assert store.size(EMPTY_SHA256) == 0
    assert store.get_bytes(EMPTY_SHA256) == b""
    with store.open(EMPTY_SHA256) as blob:
        assert blob.read() == b""
    assert store.local_copy(EMPTY_SHA256, tmp_path / "empty").read_bytes() == b""
    assert store.put_stream(io.BytesIO(b"")) == ref


def test_large_blob(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "large.bin"
    source.write_bytes(os.urandom(20 << 20))
    expected = sha256(source.read_bytes())
    ref = store.put_file(source)
    assert ref == BlobRef(expected, 20 << 20)
    copy = store.local_copy(ref.digest, tmp_path / "copy.bin")
    assert sha256(copy.read_bytes()) == expected
    if isinstance(store.backend, FsspecBackend):
        # Uploaded in parts: a multipart object's ETag ends with "-<number of parts>".
        info = store.backend.fs.info(f"{store.url.split('://', 1)[1]}/{blob_key(ref.digest)}")
        assert str(info["ETag"]).strip('"').endswith("-3")


# -- content addressing ------------------------------------------------------------------------


def test_same_content_is_stored_once(store: BlobStore, tmp_path: Path) -> None:
    data = b"the same bytes"
    source = tmp_path / "a.txt"
    source.write_bytes(data)
    refs = {
        store.put_bytes(data),
        store.put_file(source),
        store.put_stream(io.BytesIO(data)),
        store.put_bytes(data),
    }
    assert len(refs) == 1
    assert stored_keys(store) == [blob_key(sha256(data))]
    assert staged_files(store, tmp_path) == []


def test_concurrent_puts_of_the_same_content(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(1_500_000)
    barrier = threading.Barrier(8)
    refs: list[BlobRef] = []
    errors: list[Exception] = []

    def put() -> None:
        barrier.wait()
        try:
            refs.append(store.put_stream(io.BytesIO(data)))
        except Exception as exc:  # noqa: BLE001 - collected, and checked in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert refs == [BlobRef(sha256(data), len(data))] * 8
    assert stored_keys(store) == [blob_key(sha256(data))]
    assert store.get_bytes(sha256(data)) == data
    assert staged_files(store, tmp_path) == []


def test_put_many_keeps_the_order(store: BlobStore, tmp_path: Path) -> None:
    paths = []
    for i, size in enumerate([0, 10, 2_000_000, 10, 1_100_000, 7]):
        path = tmp_path / f"f{i}"
        path.write_bytes(os.urandom(size) if i != 3 else b"0123456789")
        paths.append(path)
    refs = store.put_many(paths, workers=2)
    assert refs == [BlobRef(sha256(p.read_bytes()), p.stat().st_size) for p in paths]
    assert store.put_many([], workers=2) == []
    assert store.put_many(paths[:2], workers=1) == refs[:2]


def test_put_many_reports_a_missing_file(store: BlobStore, tmp_path: Path) -> None:
    (tmp_path / "there").write_bytes(b"x")
    with pytest.raises(NotFound, match="missing"):
        store.put_many([tmp_path / "there", tmp_path / "missing"], workers=2)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_put_many_refuses_a_bad_worker_count(store: BlobStore, workers: object) -> None:
    with pytest.raises(InvalidInput, match="workers"):
        store.put_many([], workers=workers)  # type: ignore[arg-type]


def test_delete(store: BlobStore) -> None:
    ref = store.put_bytes(b"short-lived")
    assert store.delete(ref.digest) is True
    assert not store.exists(ref.digest)
    assert store.delete(ref.digest) is False
    assert stored_keys(store) == []


# -- verification and repair -------------------------------------------------------------------


@pytest.mark.parametrize("damage", [b"same length!", b"shorter", b"a longer piece of text"])
def test_reads_detect_a_damaged_blob(store: BlobStore, tmp_path: Path, damage: bytes) -> None:
    ref = store.put_bytes(b"same length?")
    overwrite_blob(store, ref.digest, damage)

    def read_all() -> bytes:
        with store.open(ref.digest) as blob:
            return blob.read()

    def read_in_pieces() -> bytes:
        with store.open(ref.digest) as blob:
            pieces = []
            while piece := blob.read(3):
                pieces.append(piece)
            return b"".join(pieces)

    reads: list[Callable[[], object]] = [
        lambda: store.get_bytes(ref.digest),
        read_all,
        read_in_pieces,
        lambda: store.local_copy(ref.digest, tmp_path / "copy"),
    ]
    for read in reads:
        with pytest.raises(CorruptBlob) as caught:
            read()
        message = str(caught.value)
        assert ref.digest in message
        assert store.url in message
        assert sha256(damage) in message
        assert "put the original content again" in message
        assert "\n" not in message
    assert not (tmp_path / "copy").exists()
    assert list(tmp_path.glob(".copy*")) == []


def test_a_damaged_blob_of_another_size_is_repaired_by_putting_it_again(
    store: BlobStore,
) -> None:
    data = b"precious bytes"
    ref = store.put_bytes(data)
    overwrite_blob(store, ref.digest, data[:5])  # truncated, as an interrupted copy leaves it
    with pytest.raises(CorruptBlob):
        store.get_bytes(ref.digest)
    assert store.put_bytes(data) == ref
    assert store.get_bytes(ref.digest) == data


def test_a_damaged_blob_of_the_same_size_is_repaired_by_delete_then_put(
    store: BlobStore,
) -> None:
    data = b"precious bytes"
    ref = store.put_bytes(data)
    overwrite_blob(store, ref.digest, b"X" * len(data))  # bit rot keeps the size
    store.put_bytes(data)  # dedup trusts the size, so this cannot see the damage ...
    with pytest.raises(CorruptBlob):
        store.get_bytes(ref.digest)
    assert store.delete(ref.digest)  # ... and the message's advice repairs it
    store.put_bytes(data)
    assert store.get_bytes(ref.digest) == data


def test_local_copy_keeps_the_existing_file_when_the_blob_is_damaged(
    store: BlobStore, tmp_path: Path
) -> None:
    ref = store.put_bytes(b"version two")
    dest = tmp_path / "out" / "model.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"version one")
    overwrite_blob(store, ref.digest, b"version 2!!")
    with pytest.raises(CorruptBlob):
        store.local_copy(ref.digest, dest)
    assert dest.read_bytes() == b"version one"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.bin"]


def test_local_copy_replaces_an_existing_file(store: BlobStore, tmp_path: Path) -> None:
    ref = store.put_bytes(b"new")
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"old content")
    store.local_copy(ref.digest, dest)
    assert dest.read_bytes() == b"new"


def test_local_copy_refuses_a_folder(store: BlobStore, tmp_path: Path) -> None:
    ref = store.put_bytes(b"x")
    with pytest.raises(InvalidInput, match="folder"):
        store.local_copy(ref.digest, tmp_path)


# -- failures ----------------------------------------------------------------------------------


class Boom(Exception):
    pass


class BreaksMidway:
    """A stream that yields some data, then fails like a dropped connection."""

    def __init__(self) -> None:
        self.calls = 0

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls > 2:
            raise Boom("connection dropped")
        return b"x" * 1000


def test_a_half_written_put_leaves_nothing(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(Boom):
        store.put_stream(BreaksMidway())
    assert stored_keys(store) == []
    assert staged_files(store, tmp_path) == []
    assert not store.exists(sha256(b"x" * 2000))


def test_missing_blob(store: BlobStore, tmp_path: Path) -> None:
    assert not store.exists(MISSING)
    assert store.delete(MISSING) is False
    reads: list[Callable[[], object]] = [
        lambda: store.size(MISSING),
        lambda: store.open(MISSING),
        lambda: store.get_bytes(MISSING),
        lambda: store.local_copy(MISSING, tmp_path / "dest"),
    ]
    for read in reads:
        with pytest.raises(NotFound, match=f"No blob {MISSING} in "):
            read()
    assert not (tmp_path / "dest").exists()


def test_put_file_of_a_missing_file(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"nope\.bin"):
        store.put_file(tmp_path / "nope.bin")


def test_put_file_of_a_folder(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="folder"):
        store.put_file(tmp_path)


def test_put_stream_of_text(store: BlobStore) -> None:
    with pytest.raises(InvalidInput, match="binary"):
        store.put_stream(io.StringIO("text"))  # type: ignore[arg-type]


def test_put_bytes_of_text(store: BlobStore) -> None:
    with pytest.raises(InvalidInput, match="encode"):
        store.put_bytes("text")  # type: ignore[arg-type]


BAD_DIGESTS = [
    "",
    "abc",
    EMPTY_SHA256.upper(),
    "g" * 64,
    "0" * 63,
    "0" * 65,
    MISSING + "\n",
    " " + MISSING[1:],
    "../../" + "0" * 58,
    None,
    123,
    MISSING.encode(),
]


@pytest.mark.parametrize("digest", BAD_DIGESTS, ids=repr)
def test_malformed_digests_are_refused(store: BlobStore, digest: object, tmp_path: Path) -> None:
    calls: list[Callable[[str], object]] = [
        store.exists,
        store.size,
        store.open,
        store.get_bytes,
        store.delete,
        lambda d: store.local_copy(d, tmp_path / "dest"),
    ]
    for call in calls:
        with pytest.raises(InvalidInput, match="not a blob digest"):
            call(digest)  # type: ignore[arg-type]
    assert not (tmp_path / "dest").exists()


def test_reading_exactly_the_size_verifies_without_reaching_eof(store: BlobStore) -> None:
    """pickle.load, numpy.load and torch.load read what they need and never ask for EOF."""
    import pickle

    good = store.put_bytes(pickle.dumps({"weights": [1.0, 2.0, 3.0]}))
    with store.open(good.digest) as f:
        assert pickle.load(f) == {"weights": [1.0, 2.0, 3.0]}  # noqa: S301 - our own bytes

    ref = store.put_bytes(b"A" * 14)
    overwrite_blob(store, ref.digest, b"X" * 14)
    with store.open(ref.digest) as f, pytest.raises(CorruptBlob):
        f.read(ref.size)
