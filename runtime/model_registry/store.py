"""Storage backends of the model registry: SQLite (one file, the default) and Redis.

Both implement the same primitives, all scoped to one application (``app``), used by
:class:`mlc.runtime.model_registry.registry.Registry`:

``insert_version`` (atomic create-if-absent), ``versions``, ``get_version``, ``aliases``,
``history``, ``move_alias`` (atomic read-decide-write of one alias plus its history event),
``heartbeat``/``replicas``, ``put_state``/``get_state``, ``close``.

SQLite: WAL, ``busy_timeout``, ``BEGIN IMMEDIATE`` around every read-modify-write, a ``meta``
table holding ``schema_version``; one table per concept, every row keyed by ``app``.

Redis (keys under ``mlc:registry:<app>:``)::

    series                         sorted set (score 0, lexical) of "<model>:<shard>"
    versions:<model>:<shard>       hash  version -> ModelVersion JSON (HSETNX: versions never change)
    aliases:<model>:<shard>        hash  alias -> version
    history:<model>:<shard>        list  AliasEvent JSON, oldest first
    hb:<shard>:<replica>           string ReplicaReport JSON with PX expiry
    replicas                       set of "<shard>:<replica>" (index; cleaned lazily)
    state                          hash  key -> JSON document

``move_alias`` runs under ``WATCH aliases history`` and writes with ``MULTI``/``EXEC``,
retrying when another client changed them in between. Every connection failure is raised as
:class:`RegistryUnavailable` naming the URL without its password.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from mlc.runtime.model_registry.records import AliasEvent, ModelVersion, RegistryUnavailable, ReplicaReport
from mlc.runtime.urls import redact_url

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0
REDIS_TIMEOUT_S = 2.0
WATCH_RETRIES = 200

# decide(current, events of this alias oldest first) -> the version the alias must point at
Decide = Callable[[int | None, list[AliasEvent]], int]


def redact(url: str) -> str:
    """``url`` without its password (``redis://:***@host:6379/0``): :func:`mlc.runtime.urls.redact_url`."""
    return redact_url(url)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


# ----------------------------------------------------------------------------------- SQLite


_TABLES = (
    "CREATE TABLE IF NOT EXISTS versions (app TEXT NOT NULL, model TEXT NOT NULL, shard TEXT NOT NULL, "
    "version INTEGER NOT NULL, artifact TEXT NOT NULL, kind TEXT NOT NULL, parent INTEGER, spec_sha256 TEXT, "
    "mldl_sha256 TEXT, data_from TEXT, data_to TEXT, metrics TEXT NOT NULL, content_sha256 TEXT NOT NULL, "
    "registered_at TEXT NOT NULL, PRIMARY KEY (app, model, shard, version))",
    "CREATE TABLE IF NOT EXISTS aliases (app TEXT NOT NULL, model TEXT NOT NULL, shard TEXT NOT NULL, "
    "alias TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (app, model, shard, alias))",
    "CREATE TABLE IF NOT EXISTS alias_history (id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, "
    "model TEXT NOT NULL, shard TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, previous INTEGER, "
    "at TEXT NOT NULL, reason TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS alias_history_series ON alias_history (app, model, shard, id)",
    "CREATE TABLE IF NOT EXISTS heartbeats (app TEXT NOT NULL, shard TEXT NOT NULL, replica TEXT NOT NULL, "
    "address TEXT NOT NULL, loaded TEXT NOT NULL, at REAL NOT NULL, expires_at REAL NOT NULL, "
    "PRIMARY KEY (app, shard, replica))",
    "CREATE TABLE IF NOT EXISTS state (app TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
    "PRIMARY KEY (app, key))",
)
_VERSION_COLUMNS = ("app, model, shard, version, artifact, kind, parent, spec_sha256, mldl_sha256, data_from, "
                    "data_to, metrics, content_sha256, registered_at")


def _version_row(mv: ModelVersion) -> tuple:
    return (mv.app, mv.model, mv.shard, mv.version, mv.artifact, mv.kind, mv.parent, mv.spec_sha256, mv.mldl_sha256,
            mv.data_from, mv.data_to, _dumps(mv.metrics), mv.content_sha256, mv.registered_at)


def _version_of(row: tuple) -> ModelVersion:
    (app, model, shard, version, artifact, kind, parent, spec, mldl, data_from, data_to, metrics, content,
     registered_at) = row
    return ModelVersion(app, model, shard, int(version), artifact, kind, None if parent is None else int(parent),
                        spec, mldl, data_from, data_to, json.loads(metrics), content, registered_at)


def _event_of(row: tuple) -> AliasEvent:
    model, shard, alias, version, previous, at, reason = row
    return AliasEvent(model, shard, alias, int(version), None if previous is None else int(previous), at, reason)


class SqliteStore:
    def __init__(self, path: str, app: str):
        self.path, self.app, self.url = path, app, f"sqlite:{path}"
        self._lock = threading.RLock()
        try:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except (OSError, sqlite3.Error) as err:
            raise RegistryUnavailable(f"cannot open the model registry `{self.url}`: {err}",
                                      "check the path given by --registry or MLC_REGISTRY") from err

    def _migrate(self) -> None:
        with self._transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = int(row[0]) if row else 0
            if found > SCHEMA_VERSION:
                raise RegistryUnavailable(f"the model registry `{self.url}` has schema version {found}; this mlc "
                                          f"reads version {SCHEMA_VERSION}", "upgrade mlc")
            if found < SCHEMA_VERSION:
                for statement in _TABLES:
                    conn.execute(statement)
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` (the write lock up front, so read-decide-write cannot interleave
        with another writer) ... ``COMMIT``; rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as err:
            raise RegistryUnavailable(f"model registry `{self.url}`: {what} failed: {err}",
                                      "another process may hold the database locked") from err

    def _read(self, sql: str, params: tuple) -> list:
        with self._guard("read"), self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- versions
    def insert_version(self, mv: ModelVersion) -> ModelVersion | None:
        with self._guard("register"), self._transaction() as conn:
            row = conn.execute(f"SELECT {_VERSION_COLUMNS} FROM versions WHERE app=? AND model=? AND shard=? "
                               "AND version=?", (self.app, mv.model, mv.shard, mv.version)).fetchone()
            if row is not None:
                return _version_of(row)
            conn.execute(f"INSERT INTO versions ({_VERSION_COLUMNS}) VALUES ({','.join('?' * 14)})", _version_row(mv))
            return None

    def versions(self, model: str | None = None, shard: str | None = None) -> list[ModelVersion]:
        sql, params = f"SELECT {_VERSION_COLUMNS} FROM versions WHERE app=?", [self.app]
        if model is not None:
            sql, params = sql + " AND model=?", params + [model]
        if shard is not None:
            sql, params = sql + " AND shard=?", params + [shard]
        rows = self._read(sql + " ORDER BY model, shard, version", tuple(params))
        return [_version_of(r) for r in rows]

    def get_version(self, model: str, shard: str, version: int) -> ModelVersion | None:
        rows = self._read(f"SELECT {_VERSION_COLUMNS} FROM versions WHERE app=? AND model=? AND shard=? AND version=?",
                          (self.app, model, shard, version))
        return _version_of(rows[0]) if rows else None

    # -- aliases
    def aliases(self, model: str, shard: str) -> dict[str, int]:
        rows = self._read("SELECT alias, version FROM aliases WHERE app=? AND model=? AND shard=? ORDER BY alias",
                          (self.app, model, shard))
        return {alias: int(version) for alias, version in rows}

    def history(self, model: str, shard: str) -> list[AliasEvent]:
        rows = self._read("SELECT model, shard, alias, version, previous, at, reason FROM alias_history "
                          "WHERE app=? AND model=? AND shard=? ORDER BY id", (self.app, model, shard))
        return [_event_of(r) for r in rows]

    def move_alias(self, model: str, shard: str, alias: str, decide: Decide, at: str, reason: str) -> AliasEvent:
        with self._guard("moving an alias"), self._transaction() as conn:
            row = conn.execute("SELECT version FROM aliases WHERE app=? AND model=? AND shard=? AND alias=?",
                               (self.app, model, shard, alias)).fetchone()
            current = None if row is None else int(row[0])
            events = [_event_of(r) for r in conn.execute(
                "SELECT model, shard, alias, version, previous, at, reason FROM alias_history "
                "WHERE app=? AND model=? AND shard=? AND alias=? ORDER BY id", (self.app, model, shard, alias))]
            target = decide(current, events)
            if target == current and events:
                return events[-1]
            conn.execute("INSERT OR REPLACE INTO aliases (app, model, shard, alias, version) VALUES (?, ?, ?, ?, ?)",
                         (self.app, model, shard, alias, target))
            conn.execute("INSERT INTO alias_history (app, model, shard, alias, version, previous, at, reason) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (self.app, model, shard, alias, target, current, at, reason))
            return AliasEvent(model, shard, alias, target, current, at, reason)

    # -- heartbeats
    def heartbeat(self, report: ReplicaReport) -> None:
        loaded = _dumps({m: list(v) for m, v in report.loaded.items()})
        with self._guard("heartbeat"), self._transaction() as conn:
            conn.execute("DELETE FROM heartbeats WHERE app=? AND expires_at <= ?", (self.app, report.at))
            conn.execute("INSERT OR REPLACE INTO heartbeats (app, shard, replica, address, loaded, at, expires_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", (self.app, report.shard, report.replica, report.address,
                                                          loaded, report.at, report.expires_at))

    def replicas(self, now: float, shard: str | None = None) -> list[ReplicaReport]:
        sql, params = ("SELECT shard, replica, address, loaded, at, expires_at FROM heartbeats "
                       "WHERE app=? AND expires_at > ?"), [self.app, now]
        if shard is not None:
            sql, params = sql + " AND shard=?", params + [shard]
        rows = self._read(sql + " ORDER BY shard, replica", tuple(params))
        return [ReplicaReport.from_json({"shard": s, "replica": r, "address": a, "loaded": json.loads(l), "at": at,
                                         "expires_at": exp}) for s, r, a, l, at, exp in rows]

    # -- state
    def put_state(self, key: str, text: str) -> None:
        with self._guard("writing state"), self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO state (app, key, value) VALUES (?, ?, ?)", (self.app, key, text))

    def get_state(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM state WHERE app=? AND key=?", (self.app, key))
        return rows[0][0] if rows else None

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass


# ------------------------------------------------------------------------------------ Redis


class RedisStore:
    def __init__(self, url: str, app: str, timeout: float = REDIS_TIMEOUT_S):
        self.url, self.app, self.shown = url, app, redact(url)
        try:
            import redis
        except ImportError as err:
            raise RegistryUnavailable("a Redis model registry needs the `redis` package",
                                      "pip install 'mlc[serve]'") from err
        self._redis = redis
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                                retry_on_timeout=False, decode_responses=True)
        except (ValueError, redis.RedisError) as err:
            raise RegistryUnavailable(f"invalid Redis registry URL `{self.shown}`: {err}",
                                      "expected redis://HOST:PORT/DB") from None
        with self._guard("connecting"):
            self._client.ping()

    def _key(self, *parts: str) -> str:
        return ":".join(("mlc", "registry", self.app) + parts)

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        redis = self._redis
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError, OSError) as err:
            raise RegistryUnavailable(f"cannot reach the model registry at {self.shown} ({what}): "
                                      f"{str(err) or type(err).__name__}",
                                      "is Redis running there? check --registry or MLC_REGISTRY") from None
        except redis.RedisError as err:
            if isinstance(err, redis.WatchError):
                raise
            raise RegistryUnavailable(f"the model registry at {self.shown} failed ({what}): {err}") from None

    # -- versions
    def insert_version(self, mv: ModelVersion) -> ModelVersion | None:
        key = self._key("versions", mv.model, mv.shard)
        with self._guard("register"):
            pipe = self._client.pipeline(transaction=True)
            pipe.hsetnx(key, str(mv.version), _dumps(mv.to_json()))
            pipe.zadd(self._key("series"), {f"{mv.model}:{mv.shard}": 0})
            pipe.hget(key, str(mv.version))
            created, _, stored = pipe.execute()
        return None if created else ModelVersion.from_json(json.loads(stored))

    def _series(self) -> list[tuple[str, str]]:
        with self._guard("read"):
            members = self._client.zrange(self._key("series"), 0, -1)
        return sorted(tuple(m.split(":", 1)) for m in members)

    def versions(self, model: str | None = None, shard: str | None = None) -> list[ModelVersion]:
        series = [(m, s) for m, s in self._series()
                  if (model is None or m == model) and (shard is None or s == shard)]
        with self._guard("read"):
            pipe = self._client.pipeline(transaction=False)
            for m, s in series:
                pipe.hvals(self._key("versions", m, s))
            found = pipe.execute() if series else []
        out = [ModelVersion.from_json(json.loads(doc)) for docs in found for doc in docs]
        return sorted(out, key=lambda v: (v.model, v.shard, v.version))

    def get_version(self, model: str, shard: str, version: int) -> ModelVersion | None:
        with self._guard("read"):
            doc = self._client.hget(self._key("versions", model, shard), str(version))
        return None if doc is None else ModelVersion.from_json(json.loads(doc))

    # -- aliases
    def aliases(self, model: str, shard: str) -> dict[str, int]:
        with self._guard("read"):
            found = self._client.hgetall(self._key("aliases", model, shard))
        return {alias: int(found[alias]) for alias in sorted(found)}

    def history(self, model: str, shard: str) -> list[AliasEvent]:
        with self._guard("read"):
            docs = self._client.lrange(self._key("history", model, shard), 0, -1)
        return [AliasEvent.from_json(json.loads(d)) for d in docs]

    def move_alias(self, model: str, shard: str, alias: str, decide: Decide, at: str, reason: str) -> AliasEvent:
        aliases_key, history_key = self._key("aliases", model, shard), self._key("history", model, shard)
        for attempt in range(WATCH_RETRIES):
            with self._guard("moving an alias"), self._client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(aliases_key, history_key)
                    raw = pipe.hget(aliases_key, alias)
                    current = None if raw is None else int(raw)
                    docs = pipe.lrange(history_key, 0, -1)
                    events = [e for e in (AliasEvent.from_json(json.loads(d)) for d in docs) if e.alias == alias]
                    target = decide(current, events)
                    if target == current and events:
                        pipe.unwatch()
                        return events[-1]
                    event = AliasEvent(model, shard, alias, target, current, at, reason)
                    pipe.multi()
                    pipe.hset(aliases_key, alias, str(target))
                    pipe.rpush(history_key, _dumps(event.to_json()))
                    pipe.execute()
                    return event
                except self._redis.WatchError:
                    time.sleep(min(0.05, 0.001 * (attempt + 1)))
        raise RegistryUnavailable(f"the model registry at {self.shown}: alias `{alias}` of {model}@{shard} kept "
                                  f"changing under {WATCH_RETRIES} attempts to move it", "retry")

    # -- heartbeats
    def heartbeat(self, report: ReplicaReport) -> None:
        ttl_ms = max(1, int(math.ceil((report.expires_at - report.at) * 1000)))
        with self._guard("heartbeat"):
            pipe = self._client.pipeline(transaction=True)
            pipe.set(self._key("hb", report.shard, report.replica), _dumps(report.to_json()), px=ttl_ms)
            pipe.sadd(self._key("replicas"), f"{report.shard}:{report.replica}")
            pipe.execute()

    def replicas(self, now: float, shard: str | None = None) -> list[ReplicaReport]:
        index = self._key("replicas")
        with self._guard("read"):
            members = sorted(self._client.smembers(index))
            docs = self._client.mget([self._key("hb", m) for m in members]) if members else []
            gone = [m for m, d in zip(members, docs) if d is None]
            if gone:
                self._client.srem(index, *gone)      # lazily: the key expired, the index entry follows
        out = [ReplicaReport.from_json(json.loads(d)) for d in docs if d is not None]
        out = [r for r in out if r.expires_at > now and (shard is None or r.shard == shard)]
        return sorted(out, key=lambda r: (r.shard, r.replica))

    # -- state
    def put_state(self, key: str, text: str) -> None:
        with self._guard("writing state"):
            self._client.hset(self._key("state"), key, text)

    def get_state(self, key: str) -> str | None:
        with self._guard("read"):
            return self._client.hget(self._key("state"), key)

    def close(self) -> None:
        try:
            self._client.close()
        except (self._redis.RedisError, OSError):
            pass


def open_store(url: str, app: str) -> SqliteStore | RedisStore:
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise RegistryUnavailable(f"model registry URL `{url}` has no path", "use sqlite:PATH")
        return SqliteStore(path, app)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url, app)
    raise RegistryUnavailable(f"unknown model registry URL `{redact(url)}`",
                              "expected sqlite:PATH or redis://HOST:PORT/DB")
