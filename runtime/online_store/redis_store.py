"""Redis backend of the online store (``redis-py``, installed by ``pip install 'mlc[serve]'``).

Records are plain Redis strings: ``get_many`` is ONE ``MGET`` (one round trip) and
``put_many`` is one non-transactional pipeline of ``SET key value [EX ttl]``. Expiry is Redis's
own (``EX``), so an expired key simply reads as missing. ``timeout`` (seconds) is both the
socket connect and the socket read/write timeout. Every redis-py failure is raised as
:class:`StoreError` (:class:`StoreTimeout` for timeouts). Messages show the URL without its
password (``shown``), and a password quoted by redis-py's own message is hidden too.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from mlc.runtime.online_store.store import StoreError, StoreTimeout
from mlc.runtime.urls import redact_text, redact_url


def _redis_module() -> Any:
    try:
        import redis
    except ImportError as err:
        raise StoreError("the Redis online store needs the `redis` package: pip install 'mlc[serve]'") from err
    return redis


class RedisStore:
    def __init__(self, url: str, timeout: float = 0.05):
        self.url, self.timeout = url, timeout
        self.shown = redact_url(url)
        self._redis = _redis_module()
        try:
            self._client = self._redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False)
        except (ValueError, self._redis.RedisError) as err:
            raise StoreError(f"invalid Redis online store URL `{self.shown}`: {redact_text(str(err), url)}") from None

    def __repr__(self) -> str:
        return f"RedisStore({self.shown!r}, timeout={self.timeout})"

    @property
    def client(self) -> Any:
        return self._client

    def _fail(self, err: Exception, what: str) -> StoreError:
        detail = redact_text(str(err), self.url)
        if isinstance(err, self._redis.TimeoutError):
            return StoreTimeout(f"Redis online store `{self.shown}`: {what} timed out after {self.timeout}s ({detail})")
        return StoreError(f"Redis online store `{self.shown}`: {what} failed: {detail}")

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        keys = list(keys)
        if not keys:
            return []
        try:
            values = self._client.mget(keys)
        except (self._redis.RedisError, OSError) as err:
            raise self._fail(err, "read") from None
        if len(values) != len(keys):
            raise StoreError(f"Redis online store `{self.shown}`: MGET returned {len(values)} values for {len(keys)} keys")
        return [None if v is None else bytes(v) for v in values]

    def put_many(self, items: Iterable[tuple[str, bytes]], ttl_seconds: int | None = None) -> None:
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive or None, got {ttl_seconds}")
        ex = px = None
        if ttl_seconds is not None:
            if float(ttl_seconds).is_integer():
                ex = int(ttl_seconds)
            else:
                px = max(1, int(math.ceil(ttl_seconds * 1000)))
        items = list(items)
        if not items:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(key, value, ex=ex, px=px)
            pipe.execute()
        except (self._redis.RedisError, OSError) as err:
            raise self._fail(err, "write") from None

    def close(self) -> None:
        try:
            self._client.close()
        except (self._redis.RedisError, OSError):
            pass

    def __enter__(self) -> "RedisStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
