"""Hashing and bucketing in the NumPy executor: hash_bucket, cross, bucketize.

``hash_bucket(x, n) = pmod(xxhash64(utf8(string_form(x)), seed=42), n)``, bit for bit what
Spark's native ``pmod(xxhash64(cast(x as string)), n)`` gives (Spark's ``xxhash64`` of a string
is the standard XXH64 of its UTF-8 bytes; seed 42 is Spark's default). ``cross`` hashes the
string forms joined with U+0001. A null (any null, for ``cross``) gives bucket 0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mlc.runtime.numpy_ops.core import implements
from mlc.runtime.numpy_ops.strings import string_form
from mlc.runtime.numpy_ops.vec import Vec
from mlc.runtime.xxhash64 import CROSS_SEPARATOR, SEED, bucket_count, bucket_mode, xxh64, xxhash64_signed  # noqa: F401

def hash_strings(strings: Sequence[str], valid: np.ndarray) -> np.ndarray:
    """Signed int64 xxhash64 (seed 42) of the UTF-8 bytes of each valid string (0 elsewhere)."""
    h = xxh64()
    items = strings.tolist() if isinstance(strings, np.ndarray) else list(strings)
    if not valid.all():
        items = [s if ok else "" for s, ok in zip(items, valid.tolist())]
    # Java encodes a lone surrogate as '?': errors="replace" does the same
    digests = [h(s.encode("utf-8", "replace"), SEED) for s in items]
    out = np.array(digests, dtype=np.uint64) if digests else np.zeros(0, dtype=np.uint64)
    out[~valid] = 0
    return out.view(np.int64)


def pmod_buckets(hashes: np.ndarray, n: int, valid: np.ndarray) -> Vec:
    n = bucket_count(n)
    # numpy's integer % is floor-mod: non-negative for n > 0, as Spark's pmod
    buckets = np.where(valid, np.mod(hashes, np.int64(n)), 0).astype(np.int64)
    return Vec(buckets, np.ones(len(buckets), dtype=bool), "int64")


@implements("hash_bucket")
def hash_bucket(ops, dtype, x: Vec, n: int) -> Vec:
    form = string_form(ops, x)
    return pmod_buckets(hash_strings(form.data, form.valid), n, form.valid)


@implements("cross")
def cross(ops, dtype, *args) -> Vec:
    *values, n = args
    forms = [string_form(ops, v) for v in values]
    valid = np.logical_and.reduce([f.valid for f in forms])
    joined = [CROSS_SEPARATOR.join(parts) for parts in zip(*(f.data.tolist() for f in forms))]
    return pmod_buckets(hash_strings(joined, valid), n, valid)


# --- bucketize ---------------------------------------------------------------------------------


def bucketize_vec(x: Vec, boundaries: Sequence) -> Vec:
    """Number of boundaries ``<= x``; null for null or NaN ``x``."""
    if bucket_mode(x.dtype, boundaries) == "int":
        values = x.data.astype(np.int64)
        bounds = np.array([int(b) for b in boundaries], dtype=np.int64)
        invalid = ~x.valid
    else:
        values = x.data.astype(np.float64)
        bounds = np.array([float(b) for b in boundaries], dtype=np.float64)
        invalid = ~x.valid | np.isnan(values)
    index = np.searchsorted(bounds, values, side="right").astype(np.int64)
    index[invalid] = 0
    return Vec(index, ~invalid, "int64")


@implements("bucketize")
def bucketize(ops, dtype, x: Vec, boundaries: Sequence) -> Vec:
    return bucketize_vec(x, boundaries)
