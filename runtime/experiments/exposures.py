"""The exposure log: one JSON line per assignment (docs/experiments.md "Exposure log").

    log = ExposureLog("exposures.jsonl")            # or ExposureLog(callable): called per record
    log.write_all(assignments, ts=now, request_id="r1", config_version=assigner.config_version,
                  routed_assignment=deciding, shard="default")
    for record in read_exposures("exposures.jsonl"): ...

Records have exactly the documented fields in the documented order (:data:`FIELDS`). Times are
UTC ISO-8601 with ``Z``: ``ts`` with milliseconds (``2024-07-01T08:00:00.123Z``), ``slice_start``
to the second (``2024-07-01T08:00:00Z``, like the config's ``start``/``end``).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence

from mlc.runtime.experiments.assigner import Assignment

FIELDS = ("ts", "request_id", "config_version", "kind", "experiment", "layer", "unit", "unit_id", "bucket",
          "variant", "model", "version", "alias", "routed", "shard", "region", "slice_start", "slice_index",
          "burn_in")


def utc_text(moment: datetime, milliseconds: bool = True) -> str:
    """``2024-07-01T08:00:00.123Z`` (or without the milliseconds); naive times are UTC."""
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    if milliseconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def exposure_record(assignment: Assignment, *, ts: datetime, request_id: str | None, config_version: str,
                    routed: bool, shard: str | None) -> dict[str, Any]:
    """The log record of one assignment, fields in the documented order."""
    a = assignment
    slice_start = utc_text(a.slice_start, milliseconds=False) if a.slice_start is not None else None
    values = (utc_text(ts), request_id, config_version, a.kind, a.experiment, a.layer, a.unit, a.unit_id, a.bucket,
              a.variant, a.model, a.version, a.alias, bool(routed), shard, a.region, slice_start, a.slice_index,
              a.burn_in)
    return dict(zip(FIELDS, values))


def to_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=False, separators=(",", ":"), ensure_ascii=False) + "\n"


class ExposureLog:
    """Appends records to a file (UTF-8, one JSON object per line, flushed per request) or hands
    each record to a callable sink. Thread-safe: the lines of one ``write_all`` are written
    together, under a lock."""

    def __init__(self, target: str | Callable[[dict[str, Any]], Any]):
        self._lock = threading.Lock()
        self._sink = target if callable(target) else None
        self._file = None if callable(target) else open(target, "a", encoding="utf-8", newline="\n")

    def write_all(self, assignments: Sequence[Assignment], *, ts: datetime, request_id: str | None,
                  config_version: str, routed_assignment: Assignment | None, shard: str | None) -> None:
        records = [exposure_record(a, ts=ts, request_id=request_id, config_version=config_version,
                                   routed=routed_assignment is not None and a == routed_assignment, shard=shard)
                   for a in assignments]
        if not records:
            return
        with self._lock:
            if self._file is None and self._sink is None:
                raise ValueError("the exposure log is closed")
            if self._sink is not None:
                for record in records:
                    self._sink(record)
                return
            self._file.write("".join(to_line(r) for r in records))
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
            self._file = self._sink = None

    def __enter__(self) -> "ExposureLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_exposures(path: str) -> Iterator[dict[str, Any]]:
    """The records of an exposure log; a line that is not a JSON object (a torn write, a stray
    edit) raises ``ValueError("<path>:<line>: ...")``. Blank lines are skipped."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            yield _record(raw, path, number)


def _record(raw: bytes, path: str, number: int) -> dict[str, Any]:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}:{number}: not UTF-8 ({err.reason} at byte {err.start})") from None
    except ValueError as err:
        raise ValueError(f"{path}:{number}: not a JSON object: {err}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    return record
