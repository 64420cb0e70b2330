"""Appending events to a ``files`` stream (``mlc events push``): ONE new JSON-lines file per
push, appearing whole in the stream folder.

The file is written as ``.tmp-*`` in the stream folder itself (same file system), flushed to
disk, then renamed (``os.replace``) to ``events-<time ns>-<pid>-<n>.jsonl``: Spark's file source
ignores names starting with ``.`` or ``_``, so a micro-batch never reads half a file, and the
names sort in push order (nanoseconds since the epoch, strictly increasing within a process).

Nothing is validated here: the streaming job counts (and may quarantine) bad events;
:func:`not_objects` says how many lines are not JSON objects, for a warning.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from typing import Any, Iterable, Mapping

PREFIX, SUFFIX = "events-", ".jsonl"
_sequence = itertools.count()
_last_ns = 0


def stream_folder(ir: Any, source: str, spec_dir: str, inputs: Mapping[str, str] | None = None) -> str:
    """The absolute folder of the ``files`` stream of ``source`` (``StreamIR.location`` is relative
    to the spec's folder; ``inputs`` may override it), for the job and `mlc events push` alike."""
    found = next(s for s in ir.sources if s.name == source)
    location = (inputs or {}).get(source) or found.stream.location
    return os.path.normpath(os.path.abspath(location if os.path.isabs(location) else os.path.join(spec_dir, location)))


def event_lines(lines: Iterable[str]) -> list[str]:
    """The non-blank lines, without their line ends."""
    return [line.rstrip("\r\n") for line in lines if line.strip()]


def not_objects(lines: Iterable[str]) -> int:
    """How many of ``lines`` are not a JSON object."""
    bad = 0
    for line in lines:
        try:
            bad += not isinstance(json.loads(line), dict)
        except ValueError:
            bad += 1
    return bad


def event_file_name() -> str:
    """``events-<ns>-<pid>-<n>.jsonl``; the time part strictly increases within this process."""
    global _last_ns
    now = max(time.time_ns(), _last_ns + 1)
    _last_ns = now
    return f"{PREFIX}{now:020d}-{os.getpid()}-{next(_sequence)}{SUFFIX}"


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def push_lines(folder: str, lines: Iterable[str]) -> str:
    """Write ``lines`` (one event each, line ends optional) as one new file in ``folder``
    (created when missing), atomically; its path."""
    os.makedirs(folder, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=folder)
    try:
        os.chmod(temporary, 0o666 & ~_umask())              # as open() would create it (mkstemp: 0600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for line in lines:
                out.write(line.rstrip("\r\n") + "\n")
            out.flush()
            os.fsync(out.fileno())
        path = os.path.join(folder, event_file_name())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return path
