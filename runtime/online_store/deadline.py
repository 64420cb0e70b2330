"""Calls with a deadline that holds whatever the callee does.

A blocking call into a C library (SQLite's WAL lock retries run ~10 s and ignore the busy
timeout, the progress handler and ``interrupt()``) cannot be stopped from Python. So each call
runs on one of a few worker threads and the caller waits for it at most ``timeout`` seconds,
queueing included: when every worker is busy the caller waits for a free one only within its own
deadline, and a call past its deadline is abandoned (``on_timeout`` may cut it short; its result
is dropped). At most ``workers`` calls are ever in flight, so a stuck dependency holds at most
``workers`` threads, and callers fail fast instead of queueing behind it.

    pool = DeadlinePool(4, "mlc-sqlite")
    value = pool.call(lambda: slow(), timeout=0.05)     # DeadlineExceeded after ~50 ms
    pool.close()
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, TypeVar
from mlc.core.errors import MlcError

T = TypeVar("T")


class DeadlineExceeded(MlcError):
    """The call did not finish (or could not start) within its deadline."""


class _Call:
    """One call: run once by a worker unless abandoned first; ``lock`` orders the two."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.started = self.finished = self.abandoned = False
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        with self.lock:
            if self.abandoned:
                return
            self.started = True
        try:
            value, error = self.fn(), None
        except BaseException as err:  # handed to the caller
            value, error = None, err
        with self.lock:
            self.value, self.error, self.finished = value, error, True
        self.done.set()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class DeadlinePool:
    """``workers`` daemon threads (started on demand) running calls with a deadline."""

    def __init__(self, workers: int, name: str, on_exit: Callable[[], None] | None = None):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers, self.name, self._on_exit = workers, name, on_exit
        self._free = threading.Semaphore(workers)
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0
        self._closed = False

    def call(self, fn: Callable[[], T], timeout: float, on_timeout: Callable[[], None] | None = None) -> T:
        """``fn()`` on a worker, waited for at most ``timeout`` seconds in all. Past it:
        ``DeadlineExceeded``, after ``on_timeout()`` when the call had started (called at most
        once, while the call is still running -- e.g. to interrupt it)."""
        deadline = time.monotonic() + timeout
        if not self._free.acquire(timeout=max(timeout, 0.0)):
            raise DeadlineExceeded(f"all {self.workers} worker(s) busy for {max(timeout, 0.0):g}s")
        call = _Call(fn)
        if not self._submit(call):
            self._free.release()
            raise DeadlineExceeded("the pool is closed")
        if call.done.wait(max(deadline - time.monotonic(), 0.0)):
            return call.outcome()
        with call.lock:
            if call.finished:
                return call.outcome()
            call.abandoned = True
            if call.started and on_timeout is not None:
                on_timeout()
        raise DeadlineExceeded(f"no answer within {max(timeout, 0.0):g}s")

    def _submit(self, call: _Call) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._in_flight += 1
            if self._in_flight > len(self._threads):       # every started worker is busy
                thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._calls.put(call)
        return True

    def _work(self) -> None:
        try:
            while True:
                call = self._calls.get()
                if call is None:
                    return
                try:
                    call.run()
                finally:
                    with self._lock:
                        self._in_flight -= 1
                    self._free.release()
        finally:
            if self._on_exit is not None:
                self._on_exit()

    def close(self, wait: float = 2.0) -> None:
        """No new calls; idle workers exit at once, busy ones after their call. Waits at most
        ``wait`` seconds for them (a worker stuck in a call is left to finish on its own)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._calls.put(None)
        deadline = time.monotonic() + wait
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(deadline - time.monotonic(), 0.0))

    @property
    def threads(self) -> int:
        """Worker threads started so far (at most ``workers``)."""
        return len(self._threads)
