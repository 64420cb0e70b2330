"""The feature log's record, version 1 (docs/feature-log.md is the reference).

One JSON object per line, per sampled request::

    {"format": "mlc.feature_log", "version": 1, "app": "delivery", "spec_hash": "69adb3184a45eec7",
     "request_id": "...", "time_us": 1767225600000000, "time": "2026-01-01T00:00:00.000000Z",
     "model": "eta", "version_served": 3, "shard": "north", "degraded": false, "store_errors": 0,
     "experiments": [...], "n": 2,
     "request": {"context": {...}, "items": [{...}, {...}]},
     "groups": {"rider_load": {"as_of_us": 1767225000000000, "realtime": false,
                               "found": [true, false], "values": {"orders_1h": [3, 0], ...}}},
     "features": {"distance_log": [0.91, 1.6], ...},
     "scores": [23.1, 31.7]}

Columns hold one value per row (``n`` rows: the items, or the context alone). Values: JSON
numbers, strings, booleans or ``null``; ``timestamp`` values as integer unix microseconds;
non-finite floats as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no NaN).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

FORMAT = "mlc.feature_log"
VERSION = 1
PAUSE_AFTER = ("request", "groups", "features")     # the big parts of a record (see encode)
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@dataclass
class Capture:
    """What the predictor hands the log for one request: references only (the record is built
    in the writer thread, never on the request's path)."""
    request: Mapping[str, Any]
    request_id: str | None
    n: int
    time_us: int
    model: str
    version: int | None
    shard: str
    degraded: bool
    store_errors: int
    experiments: Sequence[Mapping[str, Any]]
    group_columns: Mapping[str, Any]          # `group.output` -> Vec (mlc.runtime.online_store.Retrieval)
    found: Mapping[str, Any]                  # group -> bool array
    features: Mapping[str, Any]               # model signature input -> Vec, or None (nulls)
    scores: Any
    groups: Sequence[Any] = field(default_factory=tuple)   # the FeatureGroupIRs the model reads


def json_value(value: Any) -> Any:
    """A plain value as the log writes it (floats: non-finite as text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def vec_values(vec: Any, n: int, nan_as_null: bool = False) -> Any:
    """A column (an ``mlc.runtime.numpy_ops.Vec``, or None for all-null) as the log writes it: the
    NumPy array itself when it has no null and no non-finite float (:func:`encode` writes arrays
    directly), else an object array with ``None`` and the non-finite texts (vectorised: the writer
    thread holds the GIL as briefly as it can). ``nan_as_null`` (an encoder that writes NaN as
    ``null``, as orjson does): a float column whose nulls are its only non-finite values becomes a
    float array with NaN at the nulls, several times cheaper to write than an object array."""
    import numpy as np

    if vec is None:
        return [None] * n
    data, valid = vec.data, vec.valid
    kind = data.dtype.kind
    nulls = not valid.all()
    finite = np.isfinite(data) if kind == "f" else None
    if kind in "iub" and not nulls:
        return data
    if finite is not None:
        finite_valid = finite | ~valid
        if finite_valid.all():
            if not nulls:
                return data
            if nan_as_null:
                out = data.copy()
                out[~valid] = np.nan
                return out
    out = data.astype(object)
    if finite is not None and not finite.all():
        out[np.isnan(data)] = "NaN"
        out[np.isposinf(data)] = "Infinity"
        out[np.isneginf(data)] = "-Infinity"
    if nulls:
        out[~valid] = None
    return out


def encode(record: Mapping[str, Any], pause: Callable[[], None] | None = None) -> bytes:
    """One JSON line (``\n`` included), strict and compact JSON. With ``orjson`` (the ``serve``
    extra) NumPy arrays are written natively, several times faster than the standard library;
    without it, ``json`` with arrays as lists writes the same document. The record is encoded
    part by part, calling ``pause()`` after the big parts (``PAUSE_AFTER``): the writer thread
    passes ``time.sleep(0)`` so a request thread waiting for the GIL gets it within one part, not
    one whole record (a pause per group or column costs more in GIL hand-overs than it saves:
    bench/feature_logging.py)."""
    dumps = _dumps()
    parts = []
    for key, value in record.items():
        text = dumps(value)
        if pause is not None and key in PAUSE_AFTER:
            pause()
        parts.append(dumps(key) + b":" + text)
    return b"{" + b",".join(parts) + b"}\n"


def fast_encoder() -> bool:
    """Whether :func:`encode` uses orjson (which writes NaN in a float array as ``null``)."""
    import importlib

    try:
        importlib.import_module("orjson")
    except ImportError:
        return False
    return True


def _dumps() -> Callable[[Any], bytes]:
    try:
        import orjson
    except ImportError:
        return lambda value: json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                                        default=_plain).encode("utf-8")
    option = orjson.OPT_SERIALIZE_NUMPY
    return lambda value: orjson.dumps(value, option=option, default=_plain)


def _plain(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):           # object arrays (orjson writes the others itself)
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write a {type(value).__name__} in a feature-log record")


def iso_time(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_record(capture: Capture, *, app: str, spec_hash: str, request_id: str,
                 as_of: Mapping[str, int | None], pause: Callable[[], None] | None = None,
                 nan_as_null: bool = False) -> dict[str, Any]:
    """The record of ``capture`` (arrays kept as arrays: :func:`encode` writes them);
    ``pause()`` is called after the groups (see :func:`encode`); ``nan_as_null``: see
    :func:`vec_values` (only for an encoder that writes NaN as null: ``fast_encoder()``)."""
    import numpy as np

    n = capture.n
    groups = {}
    for group in capture.groups:
        outputs = {o.name: vec_values(capture.group_columns.get(f"{group.name}.{o.name}"), n, nan_as_null) for o in group.outputs}
        found = capture.found.get(group.name)
        groups[group.name] = {"as_of_us": as_of.get(group.name), "realtime": bool(group.realtime),
                              "found": [False] * n if found is None else np.asarray(found, dtype=bool),
                              "values": outputs}
    if pause is not None:
        pause()
    request = {"context": capture.request.get("context") or {}}
    if capture.request.get("items") is not None:
        request["items"] = capture.request.get("items")
    return {
        "format": FORMAT, "version": VERSION, "app": app, "spec_hash": spec_hash,
        "request_id": request_id, "time_us": int(capture.time_us), "time": iso_time(capture.time_us),
        "model": capture.model, "version_served": capture.version, "shard": capture.shard,
        "degraded": bool(capture.degraded), "store_errors": int(capture.store_errors),
        "experiments": list(capture.experiments), "n": n, "request": request, "groups": groups,
        "features": {name: vec_values(vec, n, nan_as_null) for name, vec in capture.features.items()},
        "scores": _scores(capture.scores),
    }


def _scores(scores: Any) -> Any:
    import numpy as np

    array = np.asarray(scores, dtype=np.float64).reshape(-1)
    return array if np.isfinite(array).all() else [json_value(float(s)) for s in array.tolist()]


def read_value(value: Any) -> Any:
    """A logged value back as Python (the non-finite float texts become floats)."""
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    return value


def request_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's raw rows as the gateway built them: each item merged over the context (the
    item wins); without items, the context alone."""
    request = record.get("request") or {}
    context = request.get("context") or {}
    items = request.get("items")
    if items is None:
        return [dict(context)]
    return [{**context, **item} for item in items]
