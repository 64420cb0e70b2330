"""Per feature comparison of logged (online) and recomputed (offline) values, and the likely
cause of each mismatch. Pure Python (no Spark).

Cause classes (fixed names, docs/consistency.md):

- group outputs: ``type`` (the logged value's JSON type does not fit the output's dtype, or a key
  field of the row had a value of the wrong type), ``store_outage`` (record not found while the
  request was degraded: the store failed, defaults used), ``missing_record`` (not found, the store
  answering: never materialised, deleted or expired; defaults used), ``stale_record`` (found, and
  equal to the offline value at the logged ``as_of_us``, before the request time), ``offline_lag``
  (a real-time group's record, not stale: the stream delivered events the offline source does not
  have, or not yet), ``value``;
- model inputs: ``null_vs_empty`` (a raw input it reads was a null text of the source, such as
  ``''``, that the offline reader reads as null), ``type`` (a raw input it reads had a JSON type
  not fitting its dtype), else the cause of a mismatched group output it reads on that row, else
  ``value``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from mlc.core.ir import IR, derived_depends_on, feature_closure
from mlc.runtime.consistency.report import Example, FeatureResult
from mlc.runtime.consistency.rows import NULL_TEXT, TYPE, Row, fits
from mlc.runtime.features.parity_check import ulps_apart

ULPS = 4
RELATIVE = 1e-9
NUMERIC = ("int64", "float64", "timestamp")


@dataclass(frozen=True)
class Feature:
    """A compared feature: a group output (``group`` set) or a model signature input."""
    name: str
    kind: str                        # group_output | model_input
    dtype: str
    group: str | None = None
    keys: tuple[str, ...] = ()       # group outputs: the group's key fields
    realtime: bool = False           # group outputs: of a real-time group
    inputs: tuple[str, ...] = ()     # model inputs: the raw request fields it reads, transitively
    outputs: tuple[str, ...] = ()    # model inputs: the `group.output`s it reads, transitively


# ------------------------------------------------------------------------------ values


def equal(logged: Any, offline: Any, dtype: str) -> bool:
    """Nulls equal only nulls; floats within ``ULPS`` ulps or ``RELATIVE``; others exactly."""
    if logged is None or offline is None:
        return logged is None and offline is None
    if dtype == "float64":
        if not _number(logged) or not _number(offline):
            return False
        a, b = float(logged), float(offline)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if a == b:
            return True
        if math.isinf(a) or math.isinf(b):
            return False
        return ulps_apart(a, b) <= ULPS or abs(a - b) <= RELATIVE * max(abs(a), abs(b))
    if dtype in ("int64", "timestamp"):
        return _number(logged) and _number(offline) and logged == offline and not isinstance(logged, float)
    return type(logged) is type(offline) and logged == offline


def abs_difference(logged: Any, offline: Any, dtype: str) -> float | None:
    if dtype not in NUMERIC or not _number(logged) or not _number(offline):
        return None
    diff = abs(float(logged) - float(offline))
    return diff if math.isfinite(diff) else None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ------------------------------------------------------------------------------ features


def features_of(ir: IR, module: Any, rows: Sequence[Row]) -> list[Feature]:
    """Every output of the logged models' groups and every signature input of those models."""
    models = sorted({r.model for r in rows})
    depends = derived_depends_on(ir.derived)
    inputs = {i.name for i in ir.inputs} | {k.name for g in ir.feature_groups for k in g.keys}
    out: dict[str, Feature] = {}
    for name in models:
        model = ir.model(name)
        for group in (ir.group(g) for g in model.feature_groups):
            keys = tuple(k.name for k in group.keys)
            for o in group.outputs:
                full = f"{group.name}.{o.name}"
                out[full] = Feature(full, "group_output", o.dtype, group.name, keys, realtime=group.realtime)
        for tensor in model.signature_inputs:
            closure = feature_closure([tensor.name], depends)
            dtype = module.FEATURES.get(tensor.name) or module.INPUTS.get(tensor.name) or "float64"
            out.setdefault(tensor.name, Feature(
                tensor.name, "model_input", dtype, inputs=tuple(n for n in closure if n in inputs),
                outputs=tuple(n for n in closure if "." in n)))
    return [out[name] for name in sorted(out)]


def stale_candidates(features: Sequence[Feature], rows: Sequence[Row],
                     offline: Mapping[int, Mapping[str, Any]]) -> dict[str, list[Row]]:
    """Group -> rows with a mismatched output whose record was found and materialised before
    the request: what :func:`mlc.runtime.consistency.recompute.recompute_stale` recomputes."""
    out: dict[str, dict[int, Row]] = {}
    for feature in features:
        if feature.group is None:
            continue
        for row in rows:
            if feature.name not in row.outputs or not row.found.get(feature.group):
                continue
            as_of = row.as_of.get(feature.group)
            if as_of is None or as_of >= row.time_us:
                continue
            if not equal(row.outputs[feature.name], offline.get(row.index, {}).get(feature.name), feature.dtype):
                out.setdefault(feature.group, {})[row.index] = row
    return {g: [rows_[i] for i in sorted(rows_)] for g, rows_ in sorted(out.items())}


def output_cause(feature: Feature, row: Row, stale: Mapping[tuple[str, int], Mapping[str, Any]]) -> str:
    logged = row.outputs.get(feature.name)
    if not fits(logged, feature.dtype) or any(row.flags.get(k) == TYPE for k in feature.keys):
        return "type"
    if not row.found.get(feature.group):
        return "store_outage" if row.degraded else "missing_record"
    earlier = stale.get((feature.group, row.index))
    if earlier is not None and equal(logged, earlier.get(feature.name), feature.dtype):
        return "stale_record"
    return "offline_lag" if feature.realtime else "value"


def input_cause(feature: Feature, row: Row, output_causes: Mapping[str, str]) -> str:
    flags = {row.flags.get(name) for name in feature.inputs}
    if NULL_TEXT in flags:
        return "null_vs_empty"
    if TYPE in flags:
        return "type"
    for name in feature.outputs:
        if name in output_causes:
            return output_causes[name]
    return "value"


def compare(features: Sequence[Feature], rows: Sequence[Row], offline: Mapping[int, Mapping[str, Any]],
            stale: Mapping[tuple[str, int], Mapping[str, Any]], examples: int = 5) -> list[FeatureResult]:
    """One result per feature (in ``features`` order): group outputs first per row, so a model
    input's cause can name the mismatched group output it reads."""
    results = {f.name: FeatureResult(f.name, f.kind, f.dtype) for f in features}
    ordered = [f for f in features if f.kind == "group_output"] + [f for f in features if f.kind != "group_output"]
    for row in rows:
        recomputed = offline.get(row.index, {})
        output_causes: dict[str, str] = {}
        for feature in ordered:
            logged_values = row.outputs if feature.kind == "group_output" else row.features
            if feature.name not in logged_values:
                continue
            logged, value = logged_values[feature.name], recomputed.get(feature.name)
            result = results[feature.name]
            result.compared += 1
            if equal(logged, value, feature.dtype):
                continue
            if feature.kind == "group_output":
                cause = output_cause(feature, row, stale)
                output_causes[feature.name] = cause
            else:
                cause = input_cause(feature, row, output_causes)
            result.add(cause, abs_difference(logged, value, feature.dtype),
                       Example(row.request_id, row.item, logged, value, cause), examples)
    return [results[f.name] for f in features]
