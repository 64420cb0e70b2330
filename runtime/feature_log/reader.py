"""Reading feature logs back (``mlc consistency``, log-and-wait training sets).

    read = read_logs(".mlc/delivery/logs/features", app="delivery", spec_hash=features_fingerprint(ir))
    read.records            # the accepted records (dicts, format version 1), oldest file first
    read.summary.skipped    # Counter: reason -> lines skipped
    read.summary.hashes     # Counter: spec hash -> records seen (accepted or not)

A path is a file or a folder; a folder's logs are read in rotation order (``features.N.jsonl`` ...
``features.1.jsonl``, then ``features.jsonl``; other ``*.jsonl`` files by name first). Nothing
raises on a bad line: each is skipped and counted under one reason:

==========================  ==================================================================
reason                      the line
==========================  ==================================================================
``truncated``               the last line of a file, cut short (no newline, not JSON): a
                            writer killed mid-line, or a copy taken while it wrote
``torn``                    the first line of a file, not JSON: the tail of a line cut by an
                            outside rotation (``copytruncate``)
``not_json``                any other line that is not JSON (or not UTF-8)
``not_a_feature_log``       JSON, but not a feature-log record (an exposure record, a log
                            line on a shared stdout ...)
``unsupported_version``     a feature-log record of a format version this mlc cannot read
``other_app``               a record of another application (``app``)
``other_spec_version``      a record served under another spec hash (``--any-spec-version``
                            accepts them)
``malformed``               a record whose fields are missing or inconsistent (``n`` rows but
                            columns of another length ...)
==========================  ==================================================================
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from mlc.runtime.feature_log.format import FORMAT, VERSION

SKIP_REASONS = ("truncated", "torn", "not_json", "not_a_feature_log", "unsupported_version", "other_app",
                "other_spec_version", "malformed")
_ROTATED = re.compile(r"^(?P<stem>.+)\.(?P<index>\d+)\.jsonl$")


@dataclass
class LogSummary:
    files: list[str] = field(default_factory=list)
    lines: int = 0
    accepted: int = 0
    skipped: Counter = field(default_factory=Counter)
    hashes: Counter = field(default_factory=Counter)       # spec hash -> records (any app version)
    first_skipped: dict[str, str] = field(default_factory=dict)   # reason -> "file:line"

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self.first_skipped.setdefault(reason, where)

    def to_json(self) -> dict[str, Any]:
        return {"files": list(self.files), "lines": self.lines, "accepted": self.accepted,
                "skipped": {r: self.skipped[r] for r in SKIP_REASONS if self.skipped[r]},
                "first_skipped": dict(sorted(self.first_skipped.items())),
                "spec_hashes": dict(sorted(self.hashes.items()))}


@dataclass
class LogRead:
    records: list[dict[str, Any]]
    summary: LogSummary


class LogPathError(ValueError):
    """The path holds no log file (missing, or a folder without ``*.jsonl``)."""


def log_files(path: str) -> list[str]:
    """The log files of ``path`` in the order they were written (oldest first)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise LogPathError(f"feature log not found: {path}")
    names = [n for n in os.listdir(path) if n.endswith(".jsonl") and os.path.isfile(os.path.join(path, n))]
    if not names:
        raise LogPathError(f"no feature log (*.jsonl) in {path}")

    def order(name: str) -> tuple:
        match = _ROTATED.match(name)
        if match:                                        # features.3.jsonl before features.1.jsonl
            return (match.group("stem"), 0, -int(match.group("index")), name)
        return (name[:-len(".jsonl")], 1, 0, name)

    return [os.path.join(path, n) for n in sorted(names, key=order)]


def read_logs(path: str, *, app: str, spec_hash: str | None, any_spec_version: bool = False) -> LogRead:
    """The records of ``app`` served under ``spec_hash`` (every hash with ``any_spec_version``)."""
    summary = LogSummary(files=log_files(path))
    records = []
    for file in summary.files:
        for where, record, reason in _lines(file):
            summary.lines += 1
            if reason is None:
                reason = _refused(record, app, spec_hash, any_spec_version, summary)
            if reason is not None:
                summary.skip(reason, where)
                continue
            summary.accepted += 1
            records.append(record)
    return LogRead(records, summary)


def _lines(file: str) -> Iterator[tuple[str, Any, str | None]]:
    with open(file, "rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    ends_clean = data.endswith(b"\n")
    if ends_clean:
        lines.pop()
    last = len(lines) - 1
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        where = f"{os.path.basename(file)}:{index + 1}"
        try:
            yield where, json.loads(raw.decode("utf-8")), None
        except (UnicodeDecodeError, ValueError):
            if index == last and not ends_clean:
                yield where, None, "truncated"
            elif index == 0:
                yield where, None, "torn"
            else:
                yield where, None, "not_json"


def _refused(record: Any, app: str, spec_hash: str | None, any_version: bool, summary: LogSummary) -> str | None:
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return "not_a_feature_log"
    if record.get("version") != VERSION:
        return "unsupported_version"
    if record.get("app") != app:
        return "other_app"
    summary.hashes[str(record.get("spec_hash"))] += 1
    if not any_version and spec_hash is not None and record.get("spec_hash") != spec_hash:
        return "other_spec_version"
    return None if _well_formed(record) else "malformed"


def _well_formed(record: Mapping[str, Any]) -> bool:
    n = record.get("n")
    request = record.get("request")
    if not isinstance(n, int) or n < 1 or not isinstance(request, dict) or not isinstance(record.get("time_us"), int):
        return False
    context, items = request.get("context", {}), request.get("items")
    if not isinstance(context, dict):
        return False
    if items is not None and (not isinstance(items, list) or len(items) != n
                              or not all(isinstance(i, dict) for i in items)):
        return False
    if items is None and n != 1:
        return False
    columns = list((record.get("features") or {}).values()) + [record.get("scores")]
    groups = record.get("groups")
    if not isinstance(groups, dict) or not isinstance(record.get("features"), dict):
        return False
    for group in groups.values():
        if not isinstance(group, dict) or not isinstance(group.get("values"), dict):
            return False
        columns += [group.get("found")] + list(group["values"].values())
    return all(isinstance(c, list) and len(c) == n for c in columns)
