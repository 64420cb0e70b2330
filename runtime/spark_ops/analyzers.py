"""Analyzer application in the Spark executor (native expressions; see
``mlc.runtime.numpy_ops.analyzers`` for the shared definitions).

The vocabulary lookup is a literal ``array<map<string,bigint>>`` built by constant-folding
``from_json`` of one JSON string (one literal, not one expression per entry): entry ``v`` lives
in map number ``pmod(xxhash64(v), K)`` with ``K = ceil(len / 32)``, because Spark's map lookup is a
linear scan: a row costs one hash and a scan of ~32 keys, whatever the vocabulary size.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from mlc.runtime.features.fit import min_max_range, quantile_boundaries, vocabulary_keys, vocabulary_params
from mlc.runtime.spark_ops.core import SVal, implements
from mlc.runtime.spark_ops.hashing import bucketize_column
from mlc.runtime.spark_ops.strings import string_form
from mlc.runtime.xxhash64 import xxhash64_signed

KEYS_PER_MAP = 32


def _F():
    from pyspark.sql import functions as F

    return F


def _scaled(x: SVal, offset: float, scale: float) -> SVal:
    F = _F()
    if scale == 0.0:
        return SVal(F.when(x.col.isNotNull(), F.lit(0.0)), "float64")
    value = x.col.cast("double")
    return SVal((value - F.lit(float(offset))) / F.lit(float(scale)), "float64")


@implements("apply_standardize")
def apply_standardize(ops, dtype, x: SVal, fitted: Mapping[str, Any], *params) -> SVal:
    return _scaled(x, float(fitted["mean"]), float(fitted["std"]))


@implements("apply_min_max_scale")
def apply_min_max_scale(ops, dtype, x: SVal, fitted: Mapping[str, Any], *params) -> SVal:
    low, span = min_max_range(fitted)
    return _scaled(x, low, span)


@implements("apply_quantile_bucketize")
def apply_quantile_bucketize(ops, dtype, x: SVal, fitted: Mapping[str, Any], *params) -> SVal:
    return SVal(bucketize_column(SVal(x.col.cast("double"), "float64"), quantile_boundaries(fitted)), "int64")


def vocabulary_maps(keys: list[str]) -> tuple[int, str]:
    """``(K, json)``: the vocabulary split into K maps by ``pmod(xxhash64(key), K)``."""
    count = max(1, -(-len(keys) // KEYS_PER_MAP))
    maps: list[dict[str, int]] = [{} for _ in range(count)]
    for i, key in enumerate(keys):
        maps[xxhash64_signed(key.encode("utf-8", "replace")) % count][key] = i + 1
    return count, json.dumps(maps)


@implements("apply_vocabulary")
def apply_vocabulary(ops, dtype, x: SVal, fitted: Mapping[str, Any], *params) -> SVal:
    F = _F()
    _, _, oov = vocabulary_params(params)
    keys = vocabulary_keys(fitted)
    form = string_form(ops, x)
    zero = F.lit(0).cast("bigint")
    if keys:
        count, text = vocabulary_maps(keys)
        maps = F.from_json(F.lit(text), "array<map<string,bigint>>")
        slot = (F.pmod(F.xxhash64(form), F.lit(count).cast("bigint")) + 1).cast("int")
        found = F.element_at(F.element_at(maps, slot), form)
    else:
        found = F.lit(None).cast("bigint")
    if oov:
        missing = F.lit(len(keys) + 1).cast("bigint") + F.pmod(F.xxhash64(form), F.lit(oov).cast("bigint"))
    else:
        missing = zero
    return SVal(F.when(form.isNull(), zero).otherwise(F.coalesce(found, missing)), "int64")
