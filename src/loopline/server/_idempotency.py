"""Idempotent writes: a retried request with the same ``Idempotency-Key`` is answered once.

The client sends a fresh key with every write and keeps it across retries. The first request
with a key records a *pending* claim, runs, and stores its answer; a retry with the same key gets
the stored answer back (marked ``Idempotent-Replayed: true``) instead of running again.

- Two requests racing with one key: the loser gets 409 with ``details.reason = "in-progress"``
  and a ``Retry-After``; the client retries it within its retry budget.
- A claim whose request never answered (the server died) is a lease: after
  :data:`PENDING_LEASE` a retry may claim the key again.
- A key reused for a different request is refused with 422.
- Server errors (5xx) release the key, so a retry runs again.
- Only bodies up to :data:`MAX_BODY` are covered: larger ones (blob uploads, which are idempotent
  by their digest anyway) pass through unbuffered.

Records live in the metadata database, so every server process sharing it agrees, and expire
after a day.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, LargeBinary, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopline.db import Base, CreatedAt, Database, utcnow
from loopline.errors import LooplineError
from loopline.server._errors import error_body, status_for

__all__ = ["IdempotencyMiddleware", "IdempotencyStore", "MAX_BODY", "PENDING_LEASE"]

log = logging.getLogger("loopline.server")

HEADER = "idempotency-key"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TTL = timedelta(hours=24)
PENDING_LEASE = timedelta(seconds=60)
_MAX_KEY = 200
MAX_BODY = 1 << 20  # requests and answers larger than this are not covered
IN_PROGRESS = "in-progress"
MISMATCH = "mismatch"


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
        """Claim ``key`` for a new request.

        Returns ``None`` when claimed (go ahead), the stored answer to replay, or
        :data:`IN_PROGRESS` / :data:`MISMATCH`.
        """
        self._claims += 1
        if self._claims % 500 == 1:
            self._purge_expired()
        now = utcnow()
        try:
            with self._db.transaction() as session:
                row = session.get(IdempotencyRecord, key)
                if row is None:
                    session.add(IdempotencyRecord(key=key, fingerprint=fingerprint, created_at=now))
                    return None
                expired = row.created_at < now - _TTL
                abandoned = row.status_code is None and row.created_at < now - PENDING_LEASE
                if expired or abandoned:
                    # A stale answer, or a claim whose request died: this request takes over.
                    row.fingerprint, row.created_at = fingerprint, now
                    row.status_code = row.content_type = row.body = None
                    return None
                if row.fingerprint != fingerprint:
                    return MISMATCH
                if row.status_code is None:
                    return IN_PROGRESS
                return _Stored(row.status_code, row.content_type or "", row.body or b"")
        except IntegrityError:
            return IN_PROGRESS

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
        raw_key = _header(scope, HEADER) if scope["type"] == "http" else None
        if raw_key is None or scope["method"] not in _WRITES or not _small_body(scope):
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not key or len(key) > _MAX_KEY or not key.isprintable():
            message = f"Idempotency-Key must be 1 to {_MAX_KEY} printable characters."
            await _send_json(send, 400, error_body("InvalidInput", message))
            return

        body = await _read_body(receive)
        if body is None:
            return  # the client went away mid-body: nothing was claimed, nothing runs
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
        try:
            outcome = await run_in_threadpool(self.store.claim, key, fingerprint)
        except LooplineError as exc:
            await _send_json(send, status_for(exc), error_body(type(exc).__name__, exc.message))
            return
        if isinstance(outcome, _Stored):
            await _send_raw(
                send,
                outcome.status_code,
                outcome.content_type,
                outcome.body,
                extra=[(b"idempotent-replayed", b"true")],
            )
            return
        if outcome == MISMATCH:
            message = (
                "This Idempotency-Key was already used for a different request; "
                "send a new key with each new request."
            )
            await _send_json(send, 422, error_body("InvalidInput", message))
            return
        if outcome == IN_PROGRESS:
            message = "A request with this Idempotency-Key is still running; retry shortly."
            await _send_json(
                send,
                409,
                error_body("Conflict", message, {"reason": IN_PROGRESS}),
                extra=[(b"retry-after", b"1")],
            )
            return
        await self._run_claimed(scope, receive, send, key, body)

    async def _run_claimed(
        self, scope: Scope, receive: Receive, send: Send, key: str, body: bytes
    ) -> None:
        status, content_type = 500, ""
        chunks: list[bytes] = []
        size = 0
        body_given = False

        async def replay_body() -> Message:
            # The app reads the body we already consumed; after that, the real channel
            # (which only ever says "disconnect").
            nonlocal body_given
            if not body_given:
                body_given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture(message: Message) -> None:
            nonlocal status, content_type, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                part = message.get("body", b"")
                size += len(part)
                if size <= MAX_BODY:
                    chunks.append(part)
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            await self._settle(self.store.release, key)
            raise
        if status >= 500 or size > MAX_BODY:
            await self._settle(self.store.release, key)
        else:
            answer = b"".join(chunks)
            await self._settle(self.store.complete, key, status, content_type, answer)

    @staticmethod
    async def _settle(action: Callable[..., None], *args: object) -> None:
        # The answer has gone out already: a failure to record it must not turn into a second
        # answer. The claim's lease makes the key usable again later.
        try:
            await run_in_threadpool(action, *args)
        except LooplineError as exc:
            log.warning("could not record an idempotent answer: %s", exc.message)


def _small_body(scope: Scope) -> bool:
    length = _header(scope, "content-length")
    if length is None:
        return _header(scope, "transfer-encoding") is None  # no body at all
    try:
        return int(length) <= MAX_BODY
    except ValueError:
        return False


def _header(scope: Scope, name: str) -> bytes | None:
    target = name.encode("latin-1")
    for key, value in scope.get("headers", []):
        if key.lower() == target:
            return bytes(value)
    return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` when the client disconnects before its end."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _send_raw(
    send: Send,
    status: int,
    content_type: str,
    body: bytes,
    *,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-length", str(len(body)).encode()), *(extra or [])]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(
    send: Send, status: int, payload: object, *, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _send_raw(send, status, "application/json", json.dumps(payload).encode(), extra=extra)
