"""What a streaming job reports: a status file for `mlc status`, and per-group freshness records
in the online store for the gateway's Prometheus metrics.

State folder of one streaming job (``--state-dir``; locally ``.mlc/<app>/stream/``)::

    checkpoints/<source>/      Spark's checkpoint (offsets and commits) of the source's query
    progress/<source>/<id>.json  what micro-batch <id> saw: the watermark it used, its counts
    dead_letter/<source>/      quarantined events (`on_bad_rows: quarantine`), JSON lines
    status.json                the summary below, rewritten atomically after every micro-batch

``status.json`` (version 1)::

    {"version": 1, "app": "delivery_eta", "started_at_us": 1717...,   # the job's latest start
     "sources": {"orders": {"batches": 12, "events": 1000, "applied": 990, "late": 3,
                            "bad": {"not_json": 1, "missing_key": 2, "wrong_type": 3, "future": 1},
                            "quarantined": 7, "watermark_us": 1717..., "max_event_us": 1717...,
                            "last_batch_id": 11, "updated_at_us": 1717...}},
     "groups": {"rider_load": {"source": "orders", "records": 40, "last_event_us": 1717...,
                               "visible_at_us": 1717..., "freshness_p50_s": 0.8,
                               "freshness_p99_s": 1.4}}}

Freshness of an event is the time from its event time to the moment its tile was written to the
store (visible to ``get_features``); p50/p99 are over the events of the latest micro-batch that
had any. The same per-group numbers are written to the online store under
``{namespace}:__mlc_stream__:{group}`` (JSON) so the gateway, which has no access to the job's
folder on Kubernetes, exports them as Prometheus metrics (:func:`read_freshness`).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Iterable, Mapping

STATUS_FILE = "status.json"
STATUS_VERSION = 1
BAD_REASONS = ("not_json", "missing_key", "wrong_type", "future")


def status_path(state_dir: str) -> str:
    return os.path.join(state_dir, STATUS_FILE)


def checkpoint_dir(state_dir: str, source: str) -> str:
    return os.path.join(state_dir, "checkpoints", source)


def progress_dir(state_dir: str, source: str) -> str:
    return os.path.join(state_dir, "progress", source)


def dead_letter_dir(state_dir: str, source: str) -> str:
    return os.path.join(state_dir, "dead_letter", source)


def write_json_atomic(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file in the same folder."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True, indent=1)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_status(state_dir: str) -> dict | None:
    """The job's ``status.json``, or None when no job has written one (or it cannot be read)."""
    try:
        with open(status_path(state_dir), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == STATUS_VERSION else None


def empty_status(app: str) -> dict:
    return {"version": STATUS_VERSION, "app": app, "sources": {}, "groups": {}}


def freshness_key(namespace: str, group: str) -> str:
    return f"{namespace}:__mlc_stream__:{group}"


def write_freshness(store: Any, namespace: str, groups: Mapping[str, Mapping[str, Any]]) -> None:
    """Per-group freshness (the ``groups`` entries of the status) into the store, one put."""
    items = [(freshness_key(namespace, name), json.dumps(dict(entry), sort_keys=True).encode("utf-8"))
             for name, entry in sorted(groups.items())]
    if items:
        store.put_many(items)


def read_freshness(store: Any, namespace: str, groups: Iterable[str]) -> dict[str, dict]:
    """Group -> its freshness entry, for the groups a streaming job has written (others absent).
    A store failure or an unreadable entry gives no entry, never an exception."""
    names = list(groups)
    try:
        blobs = store.get_many([freshness_key(namespace, g) for g in names])
    except Exception:  # noqa: BLE001 - metrics never fail a scrape
        return {}
    out = {}
    for name, blob in zip(names, blobs):
        if blob is None:
            continue
        try:
            entry = json.loads(bytes(blob).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(entry, dict):
            out[name] = entry
    return out
