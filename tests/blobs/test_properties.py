"""Content addressing, by property: any bytes round-trip under their SHA-256; bad digests fail."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.blobs import BlobStore, LocalFolderBackend
from loopline.errors import InvalidInput

# The store fixture is built once per test and shared by its examples: content addressing
# makes that safe (each example's bytes live under their own digest), and it keeps S3 fast.
SHARED_STORE = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SHARED_STORE
@given(data=st.binary(max_size=5000))
def test_any_bytes_round_trip_under_their_sha256(store: BlobStore, data: bytes) -> None:
    ref = store.put_bytes(data)
    assert ref.digest == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert store.get_bytes(ref.digest) == data


@SHARED_STORE
@given(pieces=st.lists(st.binary(max_size=700), max_size=8))
def test_a_stream_in_any_pieces_is_stored_as_its_concatenation(
    store: BlobStore, pieces: list[bytes]
) -> None:
    class Pieces:
        def __init__(self) -> None:
            self._left = [p for p in pieces if p]

        def read(self, size: int = -1) -> bytes:
            return self._left.pop(0) if self._left else b""

    whole = b"".join(pieces)
    ref = store.put_stream(Pieces())
    assert ref.digest == hashlib.sha256(whole).hexdigest()
    with store.open(ref.digest) as blob:
        assert blob.read() == whole


_HEX64 = re.compile(r"[0-9a-f]{64}")

bad_digests = st.one_of(
    st.text().filter(lambda s: not _HEX64.fullmatch(s)),
    # Near misses: a real digest with one character changed, or something added around it.
    st.tuples(
        st.from_regex(_HEX64, fullmatch=True),
        st.integers(0, 63),
        st.characters().filter(lambda c: c not in "0123456789abcdef"),
    ).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]),
    st.tuples(st.from_regex(_HEX64, fullmatch=True), st.text(min_size=1)).map(
        lambda t: t[0] + t[1]
    ),
    st.none(),
    st.integers(),
    st.binary(),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(digest=bad_digests)
def test_a_malformed_digest_is_always_invalid_input(tmp_path: Path, digest: object) -> None:
    backend = LocalFolderBackend(tmp_path / "blobs")
    store = BlobStore(backend, backend.staging_dir)
    for call in (store.exists, store.size, store.open, store.get_bytes, store.delete):
        with pytest.raises(InvalidInput, match="not a blob digest"):
            call(digest)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not a blob digest"):
        store.local_copy(digest, tmp_path / "dest")  # type: ignore[arg-type]
    assert not (tmp_path / "dest").exists()
    assert not (tmp_path / "blobs").exists()
