"""Analyzer application in the NumPy executor, with constants fitted by ``mlc.runtime.features.fit``.

- standardize ``{"mean", "std"}``: ``(x - mean) / std`` in float64; 0.0 (non-null x) when std is 0.
- min_max_scale ``{"min", "max"}``: ``(x - min) / (max - min)``, the range computed once in
  float64; 0.0 (non-null x) when max equals min. Not clipped.
- quantile_bucketize ``{"boundaries"}``: ``bucketize`` with those (float) boundaries.
- vocabulary ``{"vocabulary": [v1, v2, ...]}``: id of x = position + 1; null -> 0; unknown -> 0,
  or with ``oov_buckets = k > 0``: ``len(vocabulary) + 1 + pmod(xxhash64(string form), k)``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from mlc.runtime.numpy_ops.core import implements
from mlc.runtime.numpy_ops.hashing import bucketize_vec, hash_strings
from mlc.runtime.numpy_ops.strings import string_form
from mlc.runtime.numpy_ops.vec import Vec
from mlc.runtime.features.fit import min_max_range, quantile_boundaries, vocabulary_keys, vocabulary_params


def _floats(x: Vec) -> np.ndarray:
    return x.data.astype(np.float64)


def _scaled(x: Vec, offset: float, scale: float) -> Vec:
    if scale == 0.0:
        out = np.zeros(len(x), dtype=np.float64)
    else:
        with np.errstate(all="ignore"):
            out = (_floats(x) - offset) / scale
        out[~x.valid] = 0.0
    return Vec(out, x.valid.copy(), "float64")


@implements("apply_standardize")
def apply_standardize(ops, dtype, x: Vec, fitted: Mapping[str, Any], *params) -> Vec:
    return _scaled(x, float(fitted["mean"]), float(fitted["std"]))


@implements("apply_min_max_scale")
def apply_min_max_scale(ops, dtype, x: Vec, fitted: Mapping[str, Any], *params) -> Vec:
    low, span = min_max_range(fitted)
    return _scaled(x, low, span)


@implements("apply_quantile_bucketize")
def apply_quantile_bucketize(ops, dtype, x: Vec, fitted: Mapping[str, Any], *params) -> Vec:
    return bucketize_vec(Vec(_floats(x), x.valid, "float64"), quantile_boundaries(fitted))


_CACHE: dict[int, tuple[Any, dict[str, int]]] = {}


def _lookup_table(fitted: Mapping[str, Any]) -> dict[str, int]:
    cached = _CACHE.get(id(fitted))
    if cached is not None and cached[0] is fitted:
        return cached[1]
    table = {key: i + 1 for i, key in enumerate(vocabulary_keys(fitted))}
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[id(fitted)] = (fitted, table)
    return table


@implements("apply_vocabulary")
def apply_vocabulary(ops, dtype, x: Vec, fitted: Mapping[str, Any], *params) -> Vec:
    _, _, oov = vocabulary_params(params)
    table = _lookup_table(fitted)
    form = string_form(ops, x)
    ids = np.zeros(len(x), dtype=np.int64)
    unknown = np.zeros(len(x), dtype=bool)
    data = form.data
    get = table.get
    for i in np.flatnonzero(form.valid).tolist():
        found = get(data[i])
        if found is None:
            unknown[i] = True
        else:
            ids[i] = found
    if oov and unknown.any():
        hashes = hash_strings(data, unknown)
        ids[unknown] = len(table) + 1 + np.mod(hashes[unknown], np.int64(oov))
    return Vec(ids, np.ones(len(x), dtype=bool), "int64")
