"""The online key-value store interface shared by every backend.

A backend only moves opaque bytes: keys and records are built by :mod:`.retrieval` and
:mod:`.codec`. The contract is deliberately small so that a network store is a thin adapter:

* ``get_many(keys) -> list[bytes | None]``: values in ``keys`` order, ``None`` for a missing
  or expired key, in ONE round trip (SQLite: one ``SELECT ... IN``; Redis: one ``MGET``).
* ``put_many(items, ttl_seconds)``: upsert of ``(key, value)`` pairs, atomic where the backend
  allows and pipelined otherwise (Redis: one ``MULTI``/pipeline of ``SET key value EX ttl``);
  idempotent; ``ttl_seconds=None`` keeps records until overwritten.
* ``close()``.

Failures of the backend (I/O, lock or read timeouts, a closed connection) raise
:class:`StoreError` (:class:`StoreTimeout` for timeouts). ``timeout`` bounds every call, whatever
the backend does (SQLite: a deadline per call, :mod:`.sqlite_store`; Redis: socket timeouts).

Readers and writers: :func:`open_store` with ``create=False`` (the gateway, ``mlc serve``,
``mlc features get``) opens an existing store only -- a mistyped ``sqlite:PATH`` is an error
naming the path, not a new empty store served as if it held features; ``create=True`` (the
default, for writers such as ``mlc materialize``) creates a missing SQLite file.

Messages never show a URL's password (:func:`mlc.runtime.urls.redact_url`).
"""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence, runtime_checkable

from mlc.runtime.urls import redact_url
from mlc.core.errors import MlcError


class StoreError(MlcError, RuntimeError):
    """The online store failed (connection, I/O, corruption)."""
    code = "E7005"


class StoreTimeout(StoreError):
    """The online store did not answer within its timeout."""


class StoreNotFound(StoreError):
    """The store to read does not exist (``create=False``: a missing SQLite file, or a file
    that is not an mlc online store)."""
    code = "E7230"


@runtime_checkable
class OnlineStore(Protocol):
    def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    def put_many(self, items: Iterable[tuple[str, bytes]], ttl_seconds: int | None = None) -> None: ...

    def close(self) -> None: ...


def open_store(url: str, timeout: float = 0.05, *, create: bool = False) -> OnlineStore:
    """A store from its URL: ``sqlite:PATH`` (``sqlite:///abs/path`` also accepted) or
    ``redis://HOST:PORT/DB`` (``rediss://`` for TLS; needs ``pip install 'mlc[serve]'``).
    ``timeout`` (seconds) bounds every call. By default the store must exist (SQLite: opened
    read-only; a missing file is a :class:`StoreNotFound` with the path and a hint), so that a
    mistyped URL never serves an empty store; only writers (``mlc materialize``) pass
    ``create=True``."""
    if url.startswith("sqlite:"):
        from mlc.runtime.online_store.sqlite_store import SqliteStore

        path = url[len("sqlite:"):]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise StoreError(f"online store URL `{url}` has no path: use sqlite:PATH")
        return SqliteStore(path, timeout=timeout, create=create)
    if url.startswith(("redis://", "rediss://")):
        from mlc.runtime.online_store.redis_store import RedisStore

        return RedisStore(url, timeout=timeout)
    raise StoreError(f"unknown online store URL `{redact_url(url)}`: expected sqlite:PATH or redis://HOST:PORT/DB")
