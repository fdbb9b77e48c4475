"""ApiClient: the HTTP client behind remote mode."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Hashable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from loopline import errors
from loopline._version import __version__
from loopline.errors import LooplineError, ServerUnreachable

__all__ = ["ApiClient", "Sink", "error_from_response"]

T = TypeVar("T")


class Sink(Protocol):
    """Where a download's bytes go: anything with a binary ``write``."""

    def write(self, data: bytes, /) -> object: ...


_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answers that mean "not now" from a proxy or a server that is starting or draining.
_RETRY_STATUSES = frozenset({502, 503, 504})
# Errors that another attempt would only repeat.
_FINAL_ERRORS = frozenset({"SchemaOutOfDate", "CorruptBlob"})
# What the status code means when the body does not name an error type (a proxy answered).
_STATUS_ERRORS: dict[int, type[LooplineError]] = {
    400: errors.InvalidInput,
    401: errors.PermissionDenied,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    422: errors.InvalidInput,
    429: errors.QuotaExceeded,
}


class ApiClient:
    """A small, typed wrapper over :class:`httpx.Client` for the Loopline REST API.

    - Connection failures are retried with exponential backoff and jitter; so are 502/503/504.
    - Every write carries an ``Idempotency-Key`` that stays the same across its retries, so a
      write whose answer was lost is not applied twice: the server replays the first answer.
    - Error answers become the exception type the server raised (``NotFound``, ``Conflict``...).

    Example:
        >>> api = ApiClient("http://127.0.0.1:8765")
        >>> api.get("/api/v1/projects")
        [{'id': '...', 'name': 'default', ...}]
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.1,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = max(1, retries)
        self.backoff = backoff
        headers = {"User-Agent": f"loopline/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, *, json: Any = None) -> Any:
        return self.request("POST", path, json=json)

    def put(self, path: str, *, json: Any = None) -> Any:
        return self.request("PUT", path, json=json)

    def patch(self, path: str, *, json: Any = None) -> Any:
        return self.request("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        idempotent: bool = False,
    ) -> Any:
        """Send one request (retrying as described above) and return the decoded JSON body.

        Args:
            content: a raw body instead of ``json``.
            idempotent: the write is idempotent by itself (a PUT of content-addressed bytes),
                so it needs no ``Idempotency-Key``.

        Raises:
            ServerUnreachable: no answer after every attempt.
            LooplineError: the server answered with an error; the subclass it raised.
        """
        method = method.upper()
        headers = {}
        if method in _WRITE_METHODS and not idempotent:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        if content is not None:
            headers["Content-Type"] = "application/octet-stream"
            body = content
            response = self._send(
                method, path, content=lambda: iter([body]), params=params, headers=headers
            )
        else:
            response = self._send(method, path, json=json, params=params, headers=headers)
        return _decode_response(response)

    def exists(self, path: str) -> bool:
        """HEAD ``path``: True on 200, False on 404; other answers raise as usual."""
        response = self._send("HEAD", path)
        if response.status_code == 404:
            return False
        if response.is_success:
            return True
        raise error_from_response(response)

    def upload(self, path: str, file: Path, *, headers: dict[str, str] | None = None) -> Any:
        """PUT the bytes of ``file`` as the request body, streamed (for blobs; no key needed:
        such a PUT is idempotent by itself). Returns the decoded JSON answer."""
        size = file.stat().st_size
        all_headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        all_headers.update(headers or {})

        def body() -> Iterator[bytes]:
            with file.open("rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk

        response = self._send("PUT", path, content=body, headers=all_headers)
        return _decode_response(response)

    def download(self, path: str, sink: Sink) -> None:
        """GET ``path`` and write the body to ``sink`` as it arrives (for blobs)."""
        try:
            with self._http.stream("GET", path) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                for chunk in response.iter_bytes(1 << 20):
                    sink.write(chunk)
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"Downloading {path} from {self.base_url} was interrupted ({_describe(exc)}). "
                f"Retry."
            ) from exc

    def _send(
        self,
        method: str,
        path: str,
        *,
        content: Callable[[], Iterator[bytes]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        last_problem = ""
        for attempt in range(1, self.retries + 1):
            if content is not None:
                kwargs["content"] = content()  # a fresh stream for every attempt
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.ReadTimeout as exc:
                # A write that timed out may still be running on the server; waiting on it
                # again would double the caller's timeout. Reads retry.
                if method in _WRITE_METHODS:
                    raise ServerUnreachable(
                        f"The Loopline server at {self.base_url} did not answer {method} {path} "
                        f"in time. It may still complete; retry, or raise LOOPLINE_HTTP_TIMEOUT."
                    ) from exc
                last_problem = _describe(exc)
            except (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError) as exc:
                # Refused, reset or dropped connections: safe to retry, since writes carry
                # their idempotency key (or are idempotent by themselves).
                last_problem = _describe(exc)
            except httpx.TransportError as exc:
                raise ServerUnreachable(
                    f"Talking to the Loopline server at {self.base_url} failed: {_describe(exc)}."
                ) from exc
            else:
                if attempt == self.retries or not _worth_retrying(response):
                    return response
                last_problem = f"HTTP {response.status_code}"
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + random.random()))
        raise ServerUnreachable(
            f"Cannot reach the Loopline server at {self.base_url} ({last_problem}; tried "
            f"{self.retries} times). Start it with `loopline server`, or fix LOOPLINE_URI.",
            details={"url": self.base_url},
        )

    def decode(self, kind: type[T], data: Any) -> T:
        """Turn JSON from the server into our value objects (dataclasses, lists of them)."""
        try:
            return cast(T, _adapter(cast(Hashable, kind)).validate_python(data))
        except ValidationError as exc:
            raise LooplineError(
                f"The server at {self.base_url} sent an answer this client cannot read "
                f"({exc.error_count()} problems; first: {exc.errors()[0]['msg']}). "
                f"Are the client and server the same Loopline version?"
            ) from exc

    @staticmethod
    def quote(segment: str) -> str:
        """Quote one path segment (so a name can never add a path level)."""
        return quote(segment, safe="")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@lru_cache(maxsize=256)
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _describe(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _worth_retrying(response: httpx.Response) -> bool:
    """Proxy and start-up answers, and a write still running under the same key, are retried;
    an answer that will not change (a schema from another version, say) is not."""
    if response.status_code not in _RETRY_STATUSES and response.status_code != 409:
        return False
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return response.status_code != 409
    if response.status_code == 409:
        return bool((error.get("details") or {}).get("reason") == "in-progress")
    return error.get("type") not in _FINAL_ERRORS


def _decode_response(response: httpx.Response) -> Any:
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        return response.json()
    raise error_from_response(response)


def error_from_response(response: httpx.Response) -> LooplineError:
    """The exception a server error answer stands for (the same type the server raised)."""
    try:
        body = response.json()
        error = body["error"]
        name, message = str(error["type"]), str(error["message"])
        details = error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        snippet = response.text[:200].strip() or response.reason_phrase
        cls = _STATUS_ERRORS.get(response.status_code, LooplineError)
        return cls(f"HTTP {response.status_code} from {response.request.url}: {snippet}")
    found: object = getattr(errors, name, None) if name in errors.__all__ else None
    if isinstance(found, type) and issubclass(found, LooplineError):
        return found(message, details=details)
    return _STATUS_ERRORS.get(response.status_code, LooplineError)(message, details=details)
