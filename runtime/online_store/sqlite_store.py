"""SQLite backend of the online store (single host; stdlib ``sqlite3``).

Table ``online_features(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER)``,
``expires_at`` in epoch milliseconds (NULL = never). The database runs in WAL mode so that
readers never block on the writer.

Opening: ``create=True`` (the writer, ``mlc materialize``) creates the file and the table;
``create=False`` (every reader: the gateway, ``mlc serve``, ``mlc features get``) opens an
EXISTING store read-only (``file:PATH?mode=ro``): a missing file or one without the table is a
:class:`StoreError` naming the path, never a silently created empty store.

Deadline: ``timeout`` (seconds) bounds every call, whatever SQLite does. Calls run on a small
pool of worker threads (``workers``, each with its own connection, busy timeout = ``timeout``)
and the caller waits at most ``timeout`` for the answer, waiting for a free worker included
(:mod:`.deadline`); past it the statement is interrupted and :class:`StoreTimeout` raised. This
matters because a reader that cannot take a WAL-index lock (another process holding the
``-shm`` locks: a crashed or stalled writer, a checkpoint, recovery) retries inside SQLite for
about 10 s and then fails with "locking protocol", ignoring the busy timeout, progress handlers
and ``interrupt()``: with one shared connection behind one lock, N concurrent requests took
10, 20 ... 10*N s. Now each answers (degraded) within ~``timeout``, and at most ``workers``
threads are held by the stuck calls.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import quote

from mlc.runtime.online_store.deadline import DeadlineExceeded, DeadlinePool
from mlc.runtime.online_store.store import StoreError, StoreNotFound, StoreTimeout

log = logging.getLogger(__name__)

TABLE = "online_features"
# Host parameters per statement: SQLite's historic SQLITE_MAX_VARIABLE_NUMBER is 999 (one is
# used by the clock), so key lists longer than this are read in several statements.
CHUNK = 900
WORKERS = 4
OPEN_TIMEOUT_S = 2.0          # the schema check at open (not a request: a little more patience)
_TIMEOUT_ERRORS = ("interrupted", "locked", "busy", "locking protocol")


class SqliteStore:
    def __init__(self, path: str, timeout: float = 0.05, clock: Callable[[], float] = time.time, *,
                 create: bool = True, workers: int = WORKERS):
        self.path, self.timeout, self._clock, self.create = path, timeout, clock, create
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._trace: Callable[[str], Any] | None = None
        self._inspection: sqlite3.Connection | None = None
        self._closed = False
        self._pool = DeadlinePool(workers, "mlc-sqlite-store", on_exit=self._close_thread_connection)
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        if self.create:
            conn = sqlite3.connect(self.path, timeout=max(self.timeout, 0.0), isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        uri = f"file:{quote(os.path.abspath(self.path))}?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=max(self.timeout, 0.0), isolation_level=None,
                               check_same_thread=False)

    def _thread_connection(self) -> sqlite3.Connection:
        """The calling worker's own connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            with self._connections_lock:
                self._connections.append(conn)
            self._local.conn, self._local.trace = conn, None
        if self._local.trace is not self._trace:
            conn.set_trace_callback(self._trace)
            self._local.trace = self._trace
        return conn

    def _close_thread_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._connections_lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            conn.close()

    def _prepare(self) -> None:
        """create: the file, WAL mode and the table; else: the file must exist and hold the table."""
        if not self.create and not os.path.isfile(self.path):
            raise StoreNotFound(f"no SQLite online store at `{self.path}` (the file does not exist): check the "
                             "path of --store, or create the store with `mlc materialize`")
        try:
            self._pool.call(self._schema, max(self.timeout, OPEN_TIMEOUT_S))
        except (DeadlineExceeded, sqlite3.OperationalError) as err:
            busy = isinstance(err, DeadlineExceeded) or any(word in str(err) for word in _TIMEOUT_ERRORS)
            if not busy:
                raise StoreError(f"cannot open SQLite online store `{self.path}`: {err}") from err
            if self.create:
                raise StoreTimeout(f"cannot open SQLite online store `{self.path}`: locked ({err})") from None
            # a reader of an existing file: serve degraded (and not ready) until the lock is gone
            log.warning("SQLite online store `%s` is locked at open (%s): reads degrade until it answers",
                        self.path, err)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open SQLite online store `{self.path}`: {err}") from err

    def _schema(self) -> None:
        conn = self._thread_connection()
        if self.create:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} "
                         "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER)")
            return
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone()
        if found is None:
            raise StoreNotFound(f"`{self.path}` is not an mlc online store (no table `{TABLE}`): check the path of "
                             "--store, or create the store with `mlc materialize`")

    @property
    def connection(self) -> sqlite3.Connection:
        """A connection of its own for inspection (tests, tools); reads and writes of the store
        use the workers' connections. Closed by :meth:`close`."""
        if self._closed:
            raise StoreError(f"SQLite online store `{self.path}` is closed")
        if self._inspection is None:
            self._inspection = self._connect()
        return self._inspection

    def set_trace_callback(self, callback: Callable[[str], Any] | None) -> None:
        """``callback(sql)`` for every statement the store's reads and writes run (None: off)."""
        self._trace = callback

    @property
    def threads(self) -> int:
        """Worker threads started so far (at most ``workers``)."""
        return self._pool.threads

    # ------------------------------------------------------------------ calls

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _fail(self, err: sqlite3.Error, what: str) -> StoreError:
        if isinstance(err, sqlite3.OperationalError) and any(word in str(err) for word in _TIMEOUT_ERRORS):
            return StoreTimeout(f"SQLite online store `{self.path}`: {what} timed out after {self.timeout}s ({err})")
        return StoreError(f"SQLite online store `{self.path}`: {what} failed: {err}")

    def _run(self, what: str, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """``fn(connection)`` on a worker within ``timeout``; sqlite3 errors as StoreError."""
        if self._closed:
            raise StoreError(f"SQLite online store `{self.path}`: {what} failed: the store is closed")
        running: dict[str, sqlite3.Connection] = {}

        def work() -> Any:
            running["conn"] = conn = self._thread_connection()
            return fn(conn)

        def interrupt() -> None:
            if "conn" in running:
                running["conn"].interrupt()

        try:
            return self._pool.call(work, self.timeout, on_timeout=interrupt)
        except DeadlineExceeded as err:
            raise StoreTimeout(f"SQLite online store `{self.path}`: {what} timed out after {self.timeout}s "
                               f"({err})") from None
        except sqlite3.Error as err:
            raise self._fail(err, what) from err

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        unique = list(dict.fromkeys(keys))
        if not unique:
            return []
        now = self._now_ms()

        def select(conn: sqlite3.Connection) -> dict[str, bytes]:
            found: dict[str, bytes] = {}
            for start in range(0, len(unique), CHUNK):
                chunk = unique[start:start + CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(conn.execute(f"SELECT key, value FROM {TABLE} WHERE key IN ({marks}) "
                                          "AND (expires_at IS NULL OR expires_at > ?)", (*chunk, now)).fetchall())
            return found

        found = self._run("read", select)
        return [found.get(k) for k in keys]

    def put_many(self, items: Iterable[tuple[str, bytes]], ttl_seconds: int | None = None) -> None:
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive or None, got {ttl_seconds}")
        expires = None if ttl_seconds is None else self._now_ms() + int(ttl_seconds * 1000)
        rows = [(k, sqlite3.Binary(v), expires) for k, v in items]

        def upsert(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    f"INSERT INTO {TABLE} (key, value, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at", rows)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        self._run("write", upsert)

    def purge_expired(self) -> int:
        """Delete expired rows (reads already skip them); returns how many."""
        now = self._now_ms()
        return self._run("purge", lambda conn: conn.execute(f"DELETE FROM {TABLE} WHERE expires_at <= ?",
                                                            (now,)).rowcount)

    def close(self) -> None:
        """Idempotent: no new calls; the workers close their connections (a worker stuck in a call
        closes its own when the call ends)."""
        self._closed = True
        self._pool.close()
        if self._inspection is not None:
            self._inspection.close()
            self._inspection = None

    def __enter__(self) -> "SqliteStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
