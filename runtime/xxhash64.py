"""Hashing and bucketing rules shared by both executors (no executor import here: importing an
executor's implementation module registers its functions, see ``numpy_ops.core``).

- ``xxh64_intdigest``: pure-Python XXH64 (the reference algorithm,
  https://github.com/Cyan4973/xxHash), used when the ``xxhash`` package is not installed. Same
  result as ``xxhash.xxh64_intdigest(data, seed)`` (unsigned 64-bit); slow (microseconds per short
  string) but exact; tests/runtime/test_numpy_text_time_hash.py checks it against the package.
- ``xxhash64_signed``: Spark's ``xxhash64`` (seed 42) of bytes, as a signed int64.
- ``bucket_count``, ``bucket_mode``, ``check_boundaries``: constant checks and the comparison
  mode of ``bucketize``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

SEED = 42  # Spark's xxhash64 seed
CROSS_SEPARATOR = "\u0001"

MASK = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * P2) & MASK
    return (_rotl(acc, 31) * P1) & MASK


def _merge(acc: int, value: int) -> int:
    acc ^= _round(0, value)
    return (acc * P1 + P4) & MASK


def xxh64_intdigest(data: bytes, seed: int = 0) -> int:
    seed &= MASK
    n = len(data)
    i = 0
    if n >= 32:
        v1, v2, v3, v4 = (seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK
        while i + 32 <= n:
            v1 = _round(v1, int.from_bytes(data[i:i + 8], "little"))
            v2 = _round(v2, int.from_bytes(data[i + 8:i + 16], "little"))
            v3 = _round(v3, int.from_bytes(data[i + 16:i + 24], "little"))
            v4 = _round(v4, int.from_bytes(data[i + 24:i + 32], "little"))
            i += 32
        acc = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & MASK
        for v in (v1, v2, v3, v4):
            acc = _merge(acc, v)
    else:
        acc = (seed + P5) & MASK
    acc = (acc + n) & MASK
    while i + 8 <= n:
        acc ^= _round(0, int.from_bytes(data[i:i + 8], "little"))
        acc = (_rotl(acc, 27) * P1 + P4) & MASK
        i += 8
    if i + 4 <= n:
        acc ^= (int.from_bytes(data[i:i + 4], "little") * P1) & MASK
        acc = (_rotl(acc, 23) * P2 + P3) & MASK
        i += 4
    while i < n:
        acc ^= (data[i] * P5) & MASK
        acc = (_rotl(acc, 11) * P1) & MASK
        i += 1
    acc ^= acc >> 33
    acc = (acc * P2) & MASK
    acc ^= acc >> 29
    acc = (acc * P3) & MASK
    acc ^= acc >> 32
    return acc


def xxh64() -> Callable[..., int]:
    """``xxhash.xxh64_intdigest`` when installed, else the pure implementation above."""
    try:
        from xxhash import xxh64_intdigest as fast
    except ModuleNotFoundError:  # pragma: no cover
        return xxh64_intdigest
    return fast


def xxhash64_signed(data: bytes) -> int:
    """Spark's ``xxhash64`` of these bytes (seed 42), as a signed int64."""
    value = xxh64()(data, seed=SEED)
    return value - (1 << 64) if value >= (1 << 63) else value


def bucket_count(n: Any) -> int:
    if isinstance(n, bool) or not hasattr(n, "__index__") or n <= 0:
        raise ValueError(f"bucket count must be a positive integer, got {n!r}")
    return int(n)


def check_boundaries(boundaries: Sequence) -> None:
    for b in boundaries:
        if b is None or isinstance(b, bool) or (isinstance(b, float) and math.isnan(b)):
            raise ValueError(f"bucket boundaries must be numbers (not null/NaN), got {list(boundaries)!r}")
    if any(not b > a for a, b in zip(boundaries, boundaries[1:])):
        raise ValueError(f"bucket boundaries must be sorted strictly ascending, got {list(boundaries)!r}")


def bucket_mode(x_dtype: str, boundaries: Sequence) -> str:
    """``int`` when an int64 ``x`` meets all-integer boundaries (exact comparison), else ``float``
    (x and boundaries converted to float64, as Spark compares a long with a double)."""
    check_boundaries(boundaries)
    ints = all(hasattr(b, "__index__") and not isinstance(b, bool) and -(2**63) <= b < 2**63 for b in boundaries)
    return "int" if x_dtype in ("int64", "bool") and ints else "float"
