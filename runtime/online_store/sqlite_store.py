"""SQLite backend of the online store (single host; stdlib ``sqlite3``).

Table ``online_features(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER)``,
``expires_at`` in epoch milliseconds (NULL = never). The database runs in WAL mode so that
readers never block on the writer. ``timeout`` (seconds) is both the busy timeout for locks
(``sqlite3.connect(timeout=...)``, SQLite's busy handler) and a deadline for each statement,
enforced by a progress handler that interrupts a query running past it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Callable, Iterable, Sequence

from mlc.runtime.online_store.store import StoreError, StoreTimeout

TABLE = "online_features"
# Host parameters per statement: SQLite's historic SQLITE_MAX_VARIABLE_NUMBER is 999 (one is
# used by the clock), so key lists longer than this are read in several statements.
CHUNK = 900


class SqliteStore:
    def __init__(self, path: str, timeout: float = 0.05, clock: Callable[[], float] = time.time):
        self.path, self.timeout, self._clock = path, timeout, clock
        self._lock = threading.Lock()
        self._deadline = float("inf")
        try:
            self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} "
                               "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER)")
        except sqlite3.Error as err:
            raise StoreError(f"cannot open SQLite online store `{path}`: {err}") from err
        self._conn.set_progress_handler(self._past_deadline, 1000)

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _fail(self, err: sqlite3.Error, what: str) -> StoreError:
        if isinstance(err, sqlite3.OperationalError) and ("interrupted" in str(err) or "locked" in str(err)):
            return StoreTimeout(f"SQLite online store `{self.path}`: {what} timed out after {self.timeout}s ({err})")
        return StoreError(f"SQLite online store `{self.path}`: {what} failed: {err}")

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        unique = list(dict.fromkeys(keys))
        found: dict[str, bytes] = {}
        now = self._now_ms()
        with self._lock:
            self._deadline = time.monotonic() + self.timeout
            try:
                for start in range(0, len(unique), CHUNK):
                    chunk = unique[start:start + CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = self._conn.execute(
                        f"SELECT key, value FROM {TABLE} WHERE key IN ({marks}) "
                        "AND (expires_at IS NULL OR expires_at > ?)", (*chunk, now)).fetchall()
                    found.update(rows)
            except sqlite3.Error as err:
                raise self._fail(err, "read") from err
            finally:
                self._deadline = float("inf")
        return [found.get(k) for k in keys]

    def put_many(self, items: Iterable[tuple[str, bytes]], ttl_seconds: int | None = None) -> None:
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive or None, got {ttl_seconds}")
        expires = None if ttl_seconds is None else self._now_ms() + int(ttl_seconds * 1000)
        rows = [(k, sqlite3.Binary(v), expires) for k, v in items]
        with self._lock:
            self._deadline = time.monotonic() + self.timeout
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(
                        f"INSERT INTO {TABLE} (key, value, expires_at) VALUES (?, ?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                        rows)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as err:
                raise self._fail(err, "write") from err
            finally:
                self._deadline = float("inf")

    def purge_expired(self) -> int:
        """Delete expired rows (reads already skip them); returns how many."""
        with self._lock:
            try:
                return self._conn.execute(f"DELETE FROM {TABLE} WHERE expires_at <= ?", (self._now_ms(),)).rowcount
            except sqlite3.Error as err:
                raise self._fail(err, "purge") from err

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "SqliteStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
