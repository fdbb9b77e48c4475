"""ApiClient: the HTTP client behind remote mode."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Hashable
from functools import lru_cache
from typing import Any, TypeVar, cast
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from loopline import errors
from loopline._version import __version__
from loopline.errors import LooplineError, ServerUnreachable

__all__ = ["ApiClient", "error_from_response"]

T = TypeVar("T")

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answers that mean "not now" from a proxy or a server that is starting or draining.
_RETRY_STATUSES = frozenset({502, 503, 504})
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
    ) -> Any:
        """Send one request (retrying as described above) and return the decoded JSON body.

        Raises:
            ServerUnreachable: no answer after every attempt.
            LooplineError: the server answered with an error; the subclass it raised.
        """
        method = method.upper()
        headers = {"Idempotency-Key": uuid.uuid4().hex} if method in _WRITE_METHODS else {}
        last_problem = ""
        for attempt in range(1, self.retries + 1):
            try:
                response = self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                last_problem = _describe(exc)
            except httpx.ReadTimeout as exc:
                # A write that timed out may still be running on the server; its key protects
                # a retry, but waiting on it again would double the caller's timeout. Reads retry.
                if method in _WRITE_METHODS:
                    raise ServerUnreachable(
                        f"The Loopline server at {self.base_url} did not answer {method} {path} "
                        f"in time. It may still complete; retry, or raise LOOPLINE_HTTP_TIMEOUT."
                    ) from exc
                last_problem = _describe(exc)
            except httpx.TransportError as exc:
                raise ServerUnreachable(
                    f"Talking to the Loopline server at {self.base_url} failed: {_describe(exc)}."
                ) from exc
            else:
                if response.status_code in _RETRY_STATUSES and attempt < self.retries:
                    last_problem = f"HTTP {response.status_code}"
                else:
                    return _decode_response(response)
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
