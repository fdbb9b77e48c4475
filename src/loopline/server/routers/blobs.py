"""/api/v1/blobs/{digest}: content-addressed bytes, streamed both ways."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterator

import anyio.from_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from loopline.blobs import BlobRef, validate_digest
from loopline.blobs._store import blob_key
from loopline.errors import InvalidInput
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1/blobs", tags=["blobs"])
log = logging.getLogger("loopline.server")


class Digests(BaseModel):
    digests: list[str] = Field(max_length=100_000)


@router.post("/missing")
def blobs_missing(request: Request, body: Digests) -> dict[str, list[str]]:
    """Which of ``digests`` the store does not hold: one request instead of one HEAD each, so a
    client uploads only those (a rerun of an interrupted upload skips what arrived)."""
    return {"missing": backend_of(request).missing_blobs(body.digests)}


@router.head("/{digest}")
def blob_head(request: Request, digest: str) -> Response:
    """200 with the size in Content-Length when the blob is stored, 404 otherwise."""
    size = backend_of(request).blobs.size(digest)
    return Response(status_code=200, headers={"Content-Length": str(size)})


# Blobs up to this size are verified before the answer starts, so corruption is a clean error
# answer; larger ones are streamed, and the client's own digest check catches corruption.
_VERIFY_FIRST = 8 << 20


@router.get("/{digest}", response_model=None)
def blob_get(request: Request, digest: str) -> Response | StreamingResponse:
    """The blob's bytes. The client verifies them against the digest as they arrive."""
    store = backend_of(request).blobs
    size = store.size(digest)
    if size <= _VERIFY_FIRST:
        return Response(store.get_bytes(digest), media_type="application/octet-stream")
    raw = store.backend.open(blob_key(digest))

    def chunks() -> Iterator[bytes]:
        # Every byte goes out, as stored: raising mid-answer could only cut the connection.
        # A mismatch is logged here and reported to the caller by its own check.
        hasher = hashlib.sha256()
        with raw:
            while chunk := raw.read(1 << 20):
                hasher.update(chunk)
                yield chunk
        if hasher.hexdigest() != digest:
            log.error(
                "blob %s in %s is corrupt (hashes to %s)", digest, store.url, hasher.hexdigest()
            )

    return StreamingResponse(
        iterate_in_threadpool(chunks()),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size)},
    )


@router.put("/{digest}", status_code=201)
async def blob_put(request: Request, digest: str) -> BlobRef:
    """Store the request body under ``digest``; 400 if the bytes hash to something else.

    Idempotent by nature: putting the same bytes again changes nothing.
    """
    validate_digest(digest)  # refuse a malformed digest before reading a byte
    body = _BodyReader(request.stream())
    ref = await run_in_threadpool(backend_of(request).blobs.put_stream, body)
    if ref.digest != digest:
        raise InvalidInput(
            f"The uploaded bytes hash to {ref.digest}, not {digest} as the URL says; "
            f"the upload was damaged or the digest is wrong. Upload again."
        )
    return ref


class _BodyReader:
    """A blocking ``read(size)`` over the request's async body, for a worker thread.

    The blob store reads its sources synchronously; this hands it the body chunk by chunk
    without buffering the whole upload in memory or on disk first.
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self._done = False

    def read(self, size: int, /) -> bytes:
        while not self._pending and not self._done:
            self._pending = anyio.from_thread.run(self._next)
        taken, self._pending = self._pending[:size], self._pending[size:]
        return taken

    async def _next(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            self._done = True
            return b""
