"""Request validation: a request's JSON (context + items) -> validated rows, or one
:class:`~mlc.runtime.serving.errors.RequestError` listing every field error (HTTP 400).

The request's shape, every field known (a preprocess input, or an entity key of a feature group,
:func:`request_fields`), of its input's dtype, and every ``required`` input present in every row;
ALL errors are collected. Item rows are the context merged with the item's fields (the item
wins). A missing optional field is null; an input's ``default`` is applied by the generated
preprocessing module, offline and online alike (docs/spec.md), so routing and experiments see
the request's values as sent. Limits: at most ``max_items`` items, and every string (a field
value, ``model``, ``request_id``) at most ``max_field_bytes`` bytes of UTF-8 (64 KiB by
default); field names are shortened in error messages. Numbers must be finite
(docs/semantics.md, "NaN and infinities in inputs"); an ``int64`` outside int64 and a
``timestamp`` outside the years 0001-9999 are field errors. Inputs read from a training source's
column are read like that source reads them (docs/semantics.md, "Reading sources"): a string in
the source's ``null_values`` is null, and a timestamp input of a formatted column takes text (or
an integer, read as its text) in that column's datetime format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from mlc.core.ir import IR, InputIR
from mlc.runtime.features.timestamp_formats import parse
from mlc.runtime.numpy_ops.vec import EPOCH
from mlc.runtime.serving.errors import RequestError

MAX_ITEMS = 1000
MAX_FIELD_ERRORS = 50
MAX_FIELD_BYTES = 64 * 1024        # per string in a request (field value, model, request_id)
SHOWN_CHARS = 80                    # of a field name or value quoted in an error message
REQUEST_KEYS = ("model", "context", "items", "request_id")
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# timestamps: Spark's range (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z), in microseconds
TIMESTAMP_MIN, TIMESTAMP_MAX = -62_135_596_800_000_000, 253_402_300_799_999_999
_MISSING = object()
_INVALID = object()     # a mistyped value: reported once, not as missing too


@dataclass
class Rows:
    """A validated request: one value list per field (defaults applied), ``n`` rows."""
    model: str | None
    columns: dict[str, list[Any]]
    n: int
    request_id: str | None = None


def request_fields(ir: IR) -> dict[str, str]:
    """Every request field and its dtype: the preprocess inputs, then the entity keys of the
    feature groups the models read."""
    fields: dict[str, str] = {i.name: i.dtype for i in ir.inputs}
    for model in ir.models:
        for group in model.feature_groups:
            for key in ir.group(group).keys:
                fields.setdefault(key.name, key.dtype)
    return fields


def validate_request(request: Any, fields: Mapping[str, str], inputs: Mapping[str, InputIR], *,
                     max_items: int = MAX_ITEMS, max_field_bytes: int = MAX_FIELD_BYTES) -> Rows:
    """The request's rows as columns, or a RequestError listing every field error."""
    errors: dict[str, str] = {}
    if not isinstance(request, Mapping):
        raise RequestError("the request must be a JSON object with `context` and `items`",
                           {"request": f"expected an object, got {_kind(request)}"})
    for key in request:
        if key not in REQUEST_KEYS:
            errors[_shown_name(key)] = f"unknown request key (expected {', '.join(REQUEST_KEYS)})"
    model = request.get("model")
    if model is not None and not isinstance(model, str):
        errors["model"] = f"expected a model name (string), got {_kind(model)}"
    elif model is not None and _too_long(model, "model", errors, max_field_bytes):
        model = None
    request_id = request.get("request_id")
    if request_id is not None and not isinstance(request_id, str):
        errors["request_id"] = f"expected a string, got {_kind(request_id)}"
    elif request_id is not None:
        _too_long(request_id, "request_id", errors, max_field_bytes)
    context = request.get("context", {})
    if context is None:
        context = {}
    if not isinstance(context, Mapping):
        errors["context"] = f"expected an object of fields, got {_kind(context)}"
        context = {}
    items = request.get("items", _MISSING)
    if items is _MISSING or items is None:
        items = [{}]                    # one row: the context alone
    elif not isinstance(items, list):
        errors["items"] = f"expected a list of objects, got {_kind(items)}"
        items = []
    elif not items:
        errors["items"] = "at least one item is needed"
    elif len(items) > max_items:
        errors["items"] = f"{len(items)} items; at most {max_items} per request"
        items = []
    bad_items = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            errors[f"items[{i}]"] = f"expected an object of fields, got {_kind(item)}"
            bad_items.add(i)
    items = [item if isinstance(item, Mapping) else {} for item in items]

    converted_context = {}
    for name, value in context.items():
        value = _convert(f"context.{_shown_name(name)}", name, value, errors, fields, inputs, max_field_bytes)
        if value is not _MISSING:
            converted_context[name] = value
    n = len(items)
    columns: dict[str, list[Any]] = {}
    item_values: dict[str, dict[int, Any]] = {}
    for i, item in enumerate(items):
        for name, value in item.items():
            value = _convert(f"items[{i}].{_shown_name(name)}", name, value, errors, fields, inputs,
                             max_field_bytes)
            if value is not _MISSING:
                item_values.setdefault(name, {})[i] = value
    for name, dtype in fields.items():
        base = converted_context.get(name)
        given = item_values.get(name)
        column = [base] * n
        if given:
            for i, value in given.items():
                column[i] = value
        spec = inputs.get(name)
        if spec is not None and any(v is None for v in column):
            if spec.required:
                missing = [i for i, v in enumerate(column) if v is None and i not in bad_items]
                if missing and len(missing) == n:
                    errors[name] = "required field missing (give it in `context` or in every item)"
                elif missing:
                    shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
                    errors[name] = f"required field missing in item(s) {shown}"
        columns[name] = column
    if errors:
        raise RequestError(f"invalid request: {len(errors)} field error(s)", _capped(errors))
    return Rows(model, columns, n, request_id)


def _convert(where: str, name: Any, value: Any, errors: dict[str, str], fields: Mapping[str, str],
             inputs: Mapping[str, InputIR], max_field_bytes: int) -> Any:
    dtype = fields.get(name) if isinstance(name, str) else None
    if dtype is None:
        errors[where] = "unknown field"
        return _MISSING
    if value is None:
        return None
    if isinstance(value, str) and _too_long(value, where, errors, max_field_bytes):
        return _INVALID
    spec = inputs.get(name)
    if spec is not None and isinstance(value, str) and value in spec.null_values:
        return None                 # the training source reads this text as null too
    try:
        if spec is not None and spec.format and dtype == "timestamp":
            return _formatted(value, spec.format)
        return _typed(value, dtype)
    except ValueError as err:
        errors[where] = str(err)
        return _INVALID


def _too_long(text: str, where: str, errors: dict[str, str], max_field_bytes: int) -> bool:
    """Records an error when ``text`` is over ``max_field_bytes`` of UTF-8."""
    if len(text) * 4 <= max_field_bytes:       # cheap: UTF-8 takes at most 4 bytes a character
        return False
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= max_field_bytes:
        return False
    errors[where] = f"a string of {size} bytes; at most {max_field_bytes} bytes per field"
    return True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _typed(value: Any, dtype: str) -> Any:
    """A JSON value as the mlc dtype's Python value; ValueError says what was expected."""
    if dtype == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_kind(value)}")
        return value
    if dtype == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_kind(value)}")
        return value
    if dtype == "int64":
        if isinstance(value, float) and math.isinf(value):
            raise ValueError("integer out of the int64 range")      # an integer literal past float64 too
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_kind(value)}")
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError("integer out of the int64 range")
        return value
    if dtype == "float64":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {_kind(value)}")
        return _finite_float(value)
    if dtype == "timestamp":
        return _timestamp(value)
    raise ValueError(f"fields of dtype {dtype} are not supported")


def _timestamp(value: Any) -> int:
    """Microseconds since the epoch from an integer of unix seconds (as the sources read integer
    timestamps: CSV and JSON text of digits, Parquet integers) or ISO-8601 text (naive = UTC)."""
    if isinstance(value, bool):
        raise ValueError("expected a timestamp (ISO-8601 text or integer unix seconds), got a boolean")
    if isinstance(value, float) and math.isinf(value):
        raise ValueError("timestamp out of range (unix seconds of years 0001 to 9999)")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not TIMESTAMP_MIN <= value * 1_000_000 <= TIMESTAMP_MAX:
            raise ValueError("timestamp out of range (unix seconds of years 0001 to 9999)")
        return value * 1_000_000
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {_shown_value(value)}") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        delta = moment - EPOCH
        micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        if not TIMESTAMP_MIN <= micros <= TIMESTAMP_MAX:      # e.g. 0001-01-01T00:00:00+01:00
            raise ValueError("timestamp out of range (years 0001 to 9999 UTC)")
        return micros
    raise ValueError(f"expected a timestamp (ISO-8601 text or integer unix seconds), got {_kind(value)}")


def _formatted(value: Any, pattern: str) -> int:
    """A timestamp input fed by a formatted column: text, or an integer read as its text, in the
    column's datetime format (exactly as the offline reader reads it) -> microseconds."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected a timestamp in the format `{pattern}` (text or an integer), got {_kind(value)}")
    micros = parse(value, pattern)
    if micros is None:
        shown = _shown_value(value) if isinstance(value, str) else str(value)
        raise ValueError(f"not a timestamp in the format `{pattern}`: {shown}")
    return micros


def _finite_float(value: int | float) -> float:
    """A float64 field's value: finite only (NaN, ±Infinity and numbers past ±1.8e308 are errors)."""
    try:
        number = float(value)
    except OverflowError:                         # an int beyond ~1.8e308
        number = math.inf
    if math.isnan(number):
        raise ValueError("expected a finite number, got NaN (JSON has no NaN: send null for a missing value)")
    if math.isinf(number):
        raise ValueError("expected a finite number, got Infinity or a number beyond the float64 range (±1.8e308)")
    return number


def _shown_name(name: Any) -> str:
    """A field name for an error key, shortened when long (it comes from the client)."""
    text = str(name)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}...({len(text)} characters)"


def _shown_value(value: str) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}...({len(value)} characters)"


def _capped(errors: dict[str, str]) -> dict[str, str]:
    if len(errors) <= MAX_FIELD_ERRORS:
        return errors
    kept = dict(list(errors.items())[:MAX_FIELD_ERRORS])
    kept["..."] = f"{len(errors) - MAX_FIELD_ERRORS} more field error(s)"
    return kept
