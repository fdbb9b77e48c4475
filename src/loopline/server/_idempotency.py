"""Idempotent writes: a retried request with the same ``Idempotency-Key`` is answered once.

The client sends a fresh key with every write and keeps it across retries. The first request
with a key records a *pending* row, runs, and stores its answer; a retry with the same key gets
the stored answer back (marked ``Idempotent-Replayed: true``) instead of running again. Two
requests racing with one key: the loser gets 409 and retries. A key reused for a different
request is refused with 422. Records live in the metadata database, so every server process
sharing it agrees, and expire after a day.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, LargeBinary, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopline.db import Base, CreatedAt, Database, utcnow
from loopline.server._errors import error_body

__all__ = ["IdempotencyMiddleware", "IdempotencyStore"]

HEADER = "idempotency-key"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TTL = timedelta(hours=24)
_MAX_KEY = 200
_MAX_STORED_BODY = 1 << 20  # answers larger than this are not replayable; the key is released


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (Index("ix_idempotency_records_created_at", "created_at"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary(), nullable=True)
    created_at: Mapped[datetime] = CreatedAt()


@dataclass(frozen=True, slots=True)
class _Stored:
    status_code: int
    content_type: str
    body: bytes


class IdempotencyStore:
    """The records behind :class:`IdempotencyMiddleware` (a table this module owns)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._claims = 0

    def claim(self, key: str, fingerprint: str) -> _Stored | str | None:
        """Claim ``key`` for a new request. Returns ``None`` when claimed (go ahead), the stored
        answer to replay, or a reason string (``"in-progress"`` / ``"mismatch"``)."""
        self._claims += 1
        if self._claims % 500 == 1:
            self._purge_expired()
        try:
            with self._db.transaction() as session:
                row = session.get(IdempotencyRecord, key)
                if row is not None and row.created_at < utcnow() - _TTL:
                    session.delete(row)
                    session.flush()
                    row = None
                if row is None:
                    session.add(IdempotencyRecord(key=key, fingerprint=fingerprint))
                    return None
                if row.fingerprint != fingerprint:
                    return "mismatch"
                if row.status_code is None:
                    return "in-progress"
                return _Stored(row.status_code, row.content_type or "", row.body or b"")
        except IntegrityError:
            return "in-progress"

    def complete(self, key: str, status_code: int, content_type: str, body: bytes) -> None:
        with self._db.transaction() as session:
            row = session.get(IdempotencyRecord, key)
            if row is not None:
                row.status_code, row.content_type, row.body = status_code, content_type, body

    def release(self, key: str) -> None:
        """Forget a claim whose request failed on the server's side, so a retry can run."""
        with self._db.transaction() as session:
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == key))

    def _purge_expired(self) -> None:
        with self._db.transaction() as session:
            cutoff = utcnow() - _TTL
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))

    def pending_keys(self) -> list[str]:
        """Keys claimed by requests that have not answered yet (for tests and diagnostics)."""
        with self._db.session() as session:
            query = select(IdempotencyRecord.key).where(IdempotencyRecord.status_code.is_(None))
            return list(session.scalars(query))


class IdempotencyMiddleware:
    """ASGI middleware applying :class:`IdempotencyStore` to writes that carry a key."""

    def __init__(self, app: ASGIApp, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        raw_key = _header(scope, HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not key or len(key) > _MAX_KEY or not key.isprintable():
            await _send_json(
                send,
                400,
                error_body(
                    "InvalidInput", f"Idempotency-Key must be 1 to {_MAX_KEY} printable characters."
                ),
            )
            return

        body = await _read_body(receive)
        fingerprint = hashlib.sha256(
            b"\0".join(
                [
                    scope["method"].encode(),
                    scope["path"].encode(),
                    scope.get("query_string", b""),
                    body,
                ]
            )
        ).hexdigest()
        outcome = await run_in_threadpool(self.store.claim, key, fingerprint)
        if isinstance(outcome, _Stored):
            await _send_raw(
                send, outcome.status_code, outcome.content_type, outcome.body, replayed=True
            )
            return
        if outcome == "mismatch":
            await _send_json(
                send,
                422,
                error_body(
                    "InvalidInput",
                    "This Idempotency-Key was already used for a different request; "
                    "send a new key with each new request.",
                ),
            )
            return
        if outcome == "in-progress":
            await _send_json(
                send,
                409,
                error_body(
                    "Conflict",
                    "A request with this Idempotency-Key is still running; retry shortly.",
                ),
            )
            return

        status, content_type = 500, ""
        chunks: list[bytes] = []

        replayed = False

        async def replay_body() -> Message:
            # The app reads the body we already consumed; after that, the real channel
            # (which only ever says "disconnect").
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            await run_in_threadpool(self.store.release, key)
            raise
        answer = b"".join(chunks)
        if status >= 500 or len(answer) > _MAX_STORED_BODY:
            await run_in_threadpool(self.store.release, key)
        else:
            await run_in_threadpool(self.store.complete, key, status, content_type, answer)


def _header(scope: Scope, name: str) -> bytes | None:
    target = name.encode("latin-1")
    for key, value in scope.get("headers", []):
        if key.lower() == target:
            return bytes(value)
    return None


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _send_raw(
    send: Send, status: int, content_type: str, body: bytes, *, replayed: bool = False
) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, payload: object) -> None:
    await _send_raw(send, status, "application/json", json.dumps(payload).encode())
