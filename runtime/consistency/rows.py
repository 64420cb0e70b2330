"""Logged records -> typed rows, one per item (``mlc consistency``).

Each raw request field is read the way the OFFLINE reader reads the training source's column:

- ``None`` stays null;
- a string in the input's ``null_values`` (``''`` for CSV) is null offline, flagged
  ``NULL_TEXT`` (the gateway of this spec reads it as null too; one that did not -- ``''`` kept
  as a string -- shows as ``null_vs_empty`` when the feature it feeds differs);
- a value whose JSON type does not fit the dtype (``"7"`` for ``int64``, a number for a
  ``string``) is null offline, flagged ``TYPE``;
- timestamps as the gateway accepts them: ISO-8601 text (naive = UTC) or integer unix seconds;
  an input of a formatted column in its datetime format
  (:func:`mlc.runtime.features.timestamp_formats.parse`), as integer microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from mlc.core.ir import IR
from mlc.runtime.feature_log.format import NON_FINITE, read_value, request_rows
from mlc.runtime.features.timestamp_formats import parse as parse_formatted

NULL_TEXT = "null_text"
TYPE = "type"
INVALID = object()
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
INT64 = (-(2 ** 63), 2 ** 63 - 1)


@dataclass
class Row:
    """One logged row (an item of a request) with its raw fields read as offline."""
    index: int
    request_id: str
    item: int
    time_us: int
    model: str
    spec_hash: str
    degraded: bool
    values: dict[str, Any]                  # request field -> typed value (None: null)
    flags: dict[str, str]                   # request field -> NULL_TEXT | TYPE
    found: dict[str, bool]                  # group -> record found online
    as_of: dict[str, int | None]            # group -> materialisation time (micros) or None
    outputs: dict[str, Any]                 # `group.output` -> logged value
    features: dict[str, Any]                # signature input -> logged value
    shard: str = ""                         # the shard that served it


@dataclass
class Rows:
    rows: list[Row] = field(default_factory=list)
    requests: int = 0
    capped: int = 0                         # requests left out past max_requests
    unknown_model: int = 0                  # requests of a model the spec does not have
    served_under: dict[str, int] = field(default_factory=dict)   # spec hash -> requests compared


# ------------------------------------------------------------------------------ raw values


def micros_of(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def timestamp_value(value: Any, fmt: str | None = None) -> Any:
    """Microseconds of a request timestamp, or INVALID."""
    if isinstance(value, bool):
        return INVALID
    if fmt:
        if not isinstance(value, (int, str)):
            return INVALID
        micros = parse_formatted(value, fmt)
        return INVALID if micros is None else micros
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value * 1_000_000
    if isinstance(value, str):
        try:
            return micros_of(datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00")))
        except (ValueError, OverflowError):
            return INVALID
    return INVALID


def typed_value(value: Any, dtype: str, fmt: str | None = None) -> Any:
    """A non-null JSON value as the dtype's Python value, or INVALID when its type does not fit."""
    if dtype == "string":
        return value if isinstance(value, str) else INVALID
    if dtype == "bool":
        return value if isinstance(value, bool) else INVALID
    if dtype == "int64":
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool) and INT64[0] <= value <= INT64[1]
        return value if ok else INVALID
    if dtype == "float64":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else INVALID
    if dtype == "timestamp":
        return timestamp_value(value, fmt)
    return INVALID


def offline_value(value: Any, dtype: str, null_values: Sequence[str] = (), fmt: str | None = None) -> tuple[Any, str | None]:
    """``(value as the offline reader reads it, flag)``; see the module docstring."""
    if value is None:
        return None, None
    if isinstance(value, str) and value in null_values:
        return None, NULL_TEXT
    typed = typed_value(value, dtype, fmt)
    return (None, TYPE) if typed is INVALID else (typed, None)


def fits(value: Any, dtype: str) -> bool:
    """Whether a LOGGED value's JSON type fits ``dtype`` (null fits every dtype)."""
    if value is None:
        return True
    if dtype == "float64":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or \
            (isinstance(value, str) and value in NON_FINITE)
    if dtype in ("int64", "timestamp"):
        return isinstance(value, int) and not isinstance(value, bool)
    if dtype == "string":
        return isinstance(value, str)
    if dtype == "bool":
        return isinstance(value, bool)
    return False


# ------------------------------------------------------------------------------ records


def field_reader(ir: IR, fields: Mapping[str, str]) -> Any:
    """``read(raw_row) -> (values, flags)`` for the request ``fields`` (name -> dtype)."""
    inputs = {i.name: i for i in ir.inputs}
    plan = [(name, dtype, tuple(inputs[name].null_values) if name in inputs else (),
             inputs[name].format if name in inputs else None) for name, dtype in sorted(fields.items())]

    def read(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        values, flags = {}, {}
        for name, dtype, nulls, fmt in plan:
            values[name], flag = offline_value(raw.get(name), dtype, nulls, fmt)
            if flag is not None:
                flags[name] = flag
        return values, flags

    return read


def record_rows(record: Mapping[str, Any], read: Any, first_index: int) -> list[Row]:
    groups = record.get("groups") or {}
    features = record.get("features") or {}
    out = []
    for item, raw in enumerate(request_rows(record)):
        values, flags = read(raw)
        outputs = {f"{g}.{o}": read_value(column[item]) for g, entry in groups.items()
                   for o, column in (entry.get("values") or {}).items()}
        out.append(Row(
            index=first_index + item, request_id=str(record.get("request_id")), item=item,
            time_us=int(record["time_us"]), model=str(record.get("model")), spec_hash=str(record.get("spec_hash")),
            degraded=bool(record.get("degraded")), values=values, flags=flags,
            found={g: bool(entry["found"][item]) for g, entry in groups.items()},
            as_of={g: entry.get("as_of_us") if isinstance(entry.get("as_of_us"), int) else None
                   for g, entry in groups.items()},
            outputs=outputs, features={name: read_value(column[item]) for name, column in features.items()},
            shard=str(record.get("shard") or "")))
    return out


def logged_rows(ir: IR, records: Sequence[Mapping[str, Any]], fields: Mapping[str, str],
                max_requests: int) -> Rows:
    """The rows of at most ``max_requests`` records of a model of ``ir`` (the first ones, in log order)."""
    read = field_reader(ir, fields)
    models = {m.name for m in ir.models}
    result = Rows()
    for record in records:
        if record.get("model") not in models:
            result.unknown_model += 1
            continue
        if result.requests >= max_requests:
            result.capped += 1
            continue
        result.requests += 1
        spec_hash = str(record.get("spec_hash"))
        result.served_under[spec_hash] = result.served_under.get(spec_hash, 0) + 1
        result.rows += record_rows(record, read, len(result.rows))
    return result
