"""The gateway's feature log: a sample of requests, written off the request path.

    log = FeatureLog(RotatingFiles(".mlc/delivery/logs/features"), app="delivery",
                     spec_hash=features_fingerprint(ir), sample_rate=0.1)
    if log.sampled():
        log.submit(capture)        # never blocks: a full queue drops the record (counted)
    log.close()                    # writes what is queued (bounded), then stops the thread

The request thread only draws the sample and puts references on a bounded queue; the writer
thread builds the JSON line (:func:`mlc.runtime.feature_log.format.build_record`) and writes it.
A full queue, or a sink that fails, drops records and counts them (``stats``; the gateway's
``mlc_feature_log_records_total{outcome}``): logging never slows or fails a request.

Sinks: :class:`RotatingFiles` (a folder: ``features.jsonl``, rotated to ``features.1.jsonl`` ...
at ``max_bytes``, at most ``max_files`` files, whole lines only) and :class:`Stdout` (one JSON line
per record on stdout, the Kubernetes convention; log lines go to stderr).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import sys
import threading
import time
import uuid
from typing import Any, Callable, Mapping, Sequence

from mlc.runtime.online_store.retrieval import boundary_key
from mlc.runtime.feature_log.format import Capture, build_record, encode, fast_encoder

log = logging.getLogger("mlc.feature_log")

DEFAULT_QUEUE = 1024                   # records waiting for the writer; past it they are dropped
DEFAULT_MAX_BYTES = 64 * 1024 * 1024   # per file
DEFAULT_MAX_FILES = 5                  # features.jsonl + 4 rotated
WATERMARK_REFRESH_S = 10.0             # how often the writer re-reads the groups' materialisation times
STDOUT_LOCK = threading.Lock()         # one line at a time on stdout (shared with the exposure log)
_STOP = object()


class RotatingFiles:
    """JSON lines in ``folder/features.jsonl``; when the next line would pass ``max_bytes`` the file
    becomes ``features.1.jsonl`` (older ones shift up, the oldest beyond ``max_files`` is deleted).
    Only whole lines are written, so a rotation never cuts a record."""

    def __init__(self, folder: str, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES):
        if max_bytes < 1024 or max_files < 1:
            raise ValueError("a feature log needs max_bytes >= 1024 and max_files >= 1")
        self.folder, self.max_bytes, self.max_files = folder, max_bytes, max_files
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, "features.jsonl")
        self._file = open(self.path, "ab")
        self._size = self._file.tell()

    def write(self, line: bytes) -> None:
        if self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += len(line)

    def flush(self) -> None:
        self._file.flush()

    def _rotate(self) -> None:
        self._file.close()
        name = lambda i: os.path.join(self.folder, f"features.{i}.jsonl")  # noqa: E731
        if self.max_files == 1:
            os.remove(self.path)
        else:
            oldest = name(self.max_files - 1)
            if os.path.exists(oldest):
                os.remove(oldest)
            for i in range(self.max_files - 2, 0, -1):
                if os.path.exists(name(i)):
                    os.replace(name(i), name(i + 1))
            os.replace(self.path, name(1))
        self._file = open(self.path, "ab")
        self._size = 0

    def close(self) -> None:
        self._file.close()


class Stdout:
    """One JSON line per record on stdout (Kubernetes: the container log)."""

    def __init__(self, stream: Any = None):
        self.stream = stream

    def write(self, line: bytes) -> None:
        stream = self.stream or sys.stdout
        with STDOUT_LOCK:
            stream.write(line.decode("utf-8"))

    def flush(self) -> None:
        with STDOUT_LOCK:
            (self.stream or sys.stdout).flush()

    def close(self) -> None:
        self.flush()


class FeatureLog:
    """See the module docstring. ``store``/``namespace``/``groups``: where the writer reads each
    group's materialisation time (its watermark: the ``as_of_us`` of the record) every
    ``WATERMARK_REFRESH_S``; ``on_outcome(outcome)`` is called per record with ``written``,
    ``dropped`` (queue full) or ``failed`` (the sink failed)."""

    def __init__(self, sink: Any, *, app: str, spec_hash: str, sample_rate: float, queue_size: int = DEFAULT_QUEUE,
                 store: Any = None, namespace: str | None = None, groups: Sequence[str] = (),
                 on_outcome: Callable[[str], None] | None = None, rng: Callable[[], float] = random.random):
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample rate {sample_rate} is not in [0, 1]")
        self.sink, self.app, self.spec_hash, self.sample_rate = sink, app, spec_hash, float(sample_rate)
        self.store, self.namespace, self.groups = store, namespace or app, list(groups)
        self.on_outcome, self.rng = on_outcome, rng
        self.stats = {"written": 0, "dropped": 0, "failed": 0}
        self.busy_seconds = 0.0        # the writer thread's time building and writing records
        self._nan_as_null = fast_encoder()
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._as_of: dict[str, int | None] = {}
        self._as_of_read = -float("inf")
        self._thread = threading.Thread(target=self._run, name="mlc-feature-log", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ request thread

    def sampled(self) -> bool:
        rate = self.sample_rate
        return rate >= 1.0 or (rate > 0.0 and self.rng() < rate)

    def submit(self, capture: Capture) -> bool:
        """Queue ``capture`` for writing; ``False`` (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(capture)
        except queue.Full:
            self._outcome("dropped")
            return False
        return True

    def pending(self) -> int:
        """Records queued and not yet written (approximate, as any queue size)."""
        return self._queue.qsize()

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            self._write(item)
            if self._queue.empty():
                self._flush()
        self._flush()

    def _write(self, capture: Capture) -> None:
        began = time.perf_counter()
        try:
            record = build_record(capture, app=self.app, spec_hash=self.spec_hash,
                                  request_id=capture.request_id or uuid.uuid4().hex, as_of=self._watermarks(),
                                  pause=_yield, nan_as_null=self._nan_as_null)
            self.sink.write(encode(record, _yield))
        except Exception as err:  # a bad sink or value costs the record, never the writer thread
            log.warning("feature log record not written: %s", err)
            self._outcome("failed")
            return
        finally:
            self.busy_seconds += time.perf_counter() - began
        self._outcome("written")

    def _flush(self) -> None:
        try:
            self.sink.flush()
        except Exception as err:
            log.warning("feature log flush failed: %s", err)

    def _watermarks(self) -> Mapping[str, int | None]:
        now = time.monotonic()
        if self.store is None or not self.groups or now - self._as_of_read < WATERMARK_REFRESH_S:
            return self._as_of
        self._as_of_read = now
        keys = [boundary_key(self.namespace, g) for g in self.groups]    # where materialize records as_of
        try:
            raw = self.store.get_many(keys)
            self._as_of = {g: _micros(v) for g, v in zip(self.groups, raw)}
        except Exception as err:  # unknown materialisation times: null in the records
            log.warning("feature log: materialisation times not read: %s", err)
            self._as_of = {}
        return self._as_of

    def _outcome(self, outcome: str) -> None:
        self.stats[outcome] += 1
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:
                pass

    # ------------------------------------------------------------------ lifecycle

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), stop the writer, close the sink."""
        if not self._thread.is_alive():
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._queue.put(_STOP, timeout=max(0.01, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    break
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()) + 0.5)
        if not self._thread.is_alive():
            self.sink.close()


def _yield() -> None:
    """Release the GIL for a moment: a request thread waiting for it runs now, not after the
    interpreter's switch interval (5 ms) of the writer's work."""
    time.sleep(0)


def _micros(raw: Any) -> int | None:
    if raw is None:
        return None
    try:
        return int(bytes(raw).decode())
    except (ValueError, UnicodeDecodeError):
        return None
