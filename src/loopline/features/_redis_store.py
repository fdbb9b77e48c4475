"""The shared online store: Redis, one string per (view, entity), read with one MGET.

Values are ``<event time in us>|<JSON>``; writes go through a small Lua script, pipelined, so
that a value never replaces one with a later event time, even when two materializations race.
Needs the ``redis`` extra (``pip install 'loopline[redis]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from loopline.errors import ConfigError, StorageError

__all__ = ["RedisOnlineStore"]

_NEWER_WINS = """
for i = 1, #KEYS do
  local ts = tonumber(ARGV[2 * i - 1])
  local current = redis.call('GET', KEYS[i])
  local keep = false
  if current then
    local bar = string.find(current, '|', 1, true)
    keep = tonumber(string.sub(current, 1, bar - 1)) > ts
  end
  if not keep then
    redis.call('SET', KEYS[i], ARGV[2 * i - 1] .. '|' .. ARGV[2 * i])
  end
end
return #KEYS
"""
_CHUNK = 1_000
_CHUNKS_PER_ROUND_TRIP = 20


class RedisOnlineStore:
    """Latest feature values in Redis: ``redis://host:6379/0`` (``?prefix=ll:`` sets the key
    prefix, so several stores can share one database).

    Example:
        >>> store = RedisOnlineStore.open("redis://127.0.0.1:6379/0?prefix=demo:", Path("."))
        >>> store.read("demo/driver_stats", ["1001"])
        [None]
    """

    def __init__(self, client: Any, prefix: str, location: str) -> None:
        self._client = client
        self.prefix = prefix
        self.location = location
        self._script = client.register_script(_NEWER_WINS)

    @classmethod
    def open(cls, url: str, home: Path) -> RedisOnlineStore:
        try:
            import redis
        except ImportError as exc:
            raise ConfigError(
                f"LOOPLINE_ONLINE_STORE={url!r} needs redis-py: pip install 'loopline[redis]'."
            ) from exc
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        prefix = query.pop("prefix", "ll:")
        plain = parts._replace(query=urlencode(query)).geturl()
        try:
            client = redis.Redis.from_url(plain, socket_timeout=10, socket_connect_timeout=5)
        except ValueError as exc:
            raise ConfigError(f"LOOPLINE_ONLINE_STORE={url!r} is not a Redis URL: {exc}") from exc
        shown = parts._replace(netloc=parts.hostname or "", query="").geturl()
        if parts.port:
            shown = parts._replace(netloc=f"{parts.hostname}:{parts.port}", query="").geturl()
        return cls(client, prefix, f"{shown}?prefix={prefix}")

    def _key(self, namespace: str, key: str) -> str:
        return f"{self.prefix}{namespace}:{key}"

    def read(self, namespace: str, keys: Sequence[str]) -> list[tuple[int, str | bytes] | None]:
        names = [f"{self.prefix}{namespace}:{k}" for k in keys]
        try:
            raw = [self._client.get(names[0])] if len(names) == 1 else self._client.mget(names)
        except Exception as exc:
            raise self._error("Reading from", exc) from exc
        out: list[tuple[int, str | bytes] | None] = []
        for value in raw:
            if value is None:
                out.append(None)
            else:
                ts, _, payload = value.partition(b"|")
                out.append((int(ts), payload))
        return out

    def write(self, namespace: str, rows: Sequence[tuple[str, int, str]]) -> None:
        try:
            pipe = self._client.pipeline(transaction=False)
            pending = 0
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                args: list[Any] = []
                for _, ts, payload in chunk:
                    args.extend((ts, payload))
                self._script(
                    keys=[self._key(namespace, k) for k, _, _ in chunk], args=args, client=pipe
                )
                pending += 1
                if pending == _CHUNKS_PER_ROUND_TRIP:
                    pipe.execute()
                    pending = 0
            if pending:
                pipe.execute()
        except Exception as exc:
            raise self._error("Writing to", exc) from exc

    def drop(self, namespace: str) -> None:
        pattern = f"{self.prefix}{namespace}:*"
        try:
            batch: list[bytes] = []
            for name in self._client.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)
        except Exception as exc:
            raise self._error("Deleting from", exc) from exc

    def close(self) -> None:
        self._client.close()

    def _error(self, doing: str, exc: Exception) -> StorageError:
        return StorageError(
            f"{doing} the Redis online store at {self.location} failed: {exc}. Check that Redis "
            f"is running and that LOOPLINE_ONLINE_STORE points at it."
        )
