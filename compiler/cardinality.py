"""How many ids a sparse model input can take, read off its expression tree.

Embedding tables need their size at compile time. A sparse input's id space is known when its
expression ends in a bucketing function (``hash_bucket``/``cross``/``quantile_bucketize``: n ids;
``bucketize``: one more than its boundaries; ``vocabulary``: top_k + 1 + oov_buckets, id 0 being out
of vocabulary), a calendar part (``hour``: 24, ``day_of_week``: 8, ``day_of_month``: 32), a small
non-negative constant, an ``if``/``coalesce`` of such, or int64 arithmetic whose range is known and
non-negative (:func:`value_range`): ``abs(x) % 100`` (100 ids), ``(x % 100 + 100) % 100``,
``hour(t) // 6`` (4), ``clip(x, 0, 999) // 10`` (100), ``bucketize(..) * 24 + hour(t)``. Anything
else (a raw int64 input, ``x % 100`` of an input that may be negative, ``abs(x)``) has no known size
and is rejected by the checks (E5030).

Ranges (``[lo, hi]``, int64; a row whose value is null never counts): constants ``[v, v]``; the
functions above ``[0, n - 1]``; a referenced derived feature with a known id space ``[0, n - 1]``;
``-a``, ``abs(a)``, ``a + b``, ``a - b``, ``a * b`` by interval arithmetic (an int64 result outside
int64 is null, so bounds are clamped to int64); ``a % n`` and ``a // n`` for a constant ``n != 0``
(truncated, so the sign of ``a`` decides: ``a % n`` is in ``[-(|n|-1), |n|-1]`` narrowed to
``[0, ..]`` when ``a >= 0``, and to ``a``'s own range when that is smaller); ``clip(x, lo, hi)`` with
constant bounds ``[min(lo, hi), hi]``; ``least``/``greatest``/``if``/``coalesce`` the union of their
arguments' ranges (null constants skipped). An arithmetic id space is capped at ``MAX_ARITHMETIC_IDS``.

A null id at training and serving time is mapped to the extra id ``buckets`` (see docs/spec.md),
so embedding tables have ``buckets + 1`` rows.
"""

from __future__ import annotations

from typing import Callable

_FIXED = {"hour": 24, "day_of_week": 8, "day_of_month": 32}
_FROM_LAST_ARG = {"hash_bucket", "cross", "quantile_bucketize"}
MAX_CONSTANT_ID = 1 << 20
MAX_ARITHMETIC_IDS = 1 << 31          # an embedding table indexed by int32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Range = tuple[int, int]


def id_space(tree: dict, lookup: Callable[[str], int | None]) -> int | None:
    """Number of ids (max id + 1) an int64 expression tree can produce, or None if unknown.
    ``lookup`` gives the id space of a referenced derived feature."""
    known = _declared_space(tree, lookup)
    if known is not None or tree.get("kind") == "constant":
        return known
    bounds = value_range(tree, lookup)
    if bounds is None or bounds[0] < 0 or bounds[1] >= MAX_ARITHMETIC_IDS:
        return None
    return bounds[1] + 1


def _declared_space(tree: dict, lookup: Callable[[str], int | None]) -> int | None:
    """The id spaces functions declare (bucket counts, calendar parts, small constants)."""
    kind = tree.get("kind")
    if kind == "constant":
        value = tree.get("value")
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_CONSTANT_ID:
            return value + 1
        return None
    if kind == "ref":
        return lookup(tree["name"])
    if kind != "call":
        return None
    function, args = tree["function"], tree.get("args", [])
    if function in _FIXED:
        return _FIXED[function]
    if function in _FROM_LAST_ARG and args and args[-1].get("kind") == "constant":
        return int(args[-1]["value"])
    if function == "bucketize" and len(args) == 2 and args[1].get("kind") == "constant":
        return len(args[1]["value"]) + 1
    if function == "vocabulary" and len(args) >= 2 and all(a.get("kind") == "constant" for a in args[1:]):
        oov_buckets = int(args[3]["value"]) if len(args) > 3 else 0
        return int(args[1]["value"]) + 1 + oov_buckets
    if function in ("if", "coalesce"):
        branches = args[1:] if function == "if" else args
        sizes = [id_space(branch, lookup) for branch in branches if branch.get("value", 0) is not None]
        return max(sizes) if sizes and None not in sizes else None
    return None


# ----------------------------------------------------------------------------- value ranges


def value_range(tree: dict, lookup: Callable[[str], int | None]) -> Range | None:
    """``[lo, hi]`` containing every non-null value of an int64 tree, or None when unknown."""
    kind = tree.get("kind")
    if kind == "constant":
        value = tree.get("value")
        return (value, value) if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "unary" and tree.get("op") == "-":
        inner = value_range(tree["operand"], lookup)
        return None if inner is None else _clamped(-inner[1], -inner[0])
    if kind == "binary":
        return _binary_range(tree, lookup)
    if kind == "call":
        return _call_range(tree, lookup)
    space = _declared_space(tree, lookup)
    return None if space is None else (0, space - 1)


def _clamped(lo: int, hi: int) -> Range:
    return max(lo, INT64_MIN), min(hi, INT64_MAX)


def _binary_range(tree: dict, lookup: Callable[[str], int | None]) -> Range | None:
    op, right = tree.get("op"), tree["right"]
    left = value_range(tree["left"], lookup)
    if op in ("%", "//"):
        divisor = right.get("value") if right.get("kind") == "constant" else None
        if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor == 0:
            return None
        return _remainder_range(left, abs(divisor)) if op == "%" else _quotient_range(left, divisor)
    other = value_range(right, lookup)
    if left is None or other is None or op not in ("+", "-", "*"):
        return None
    if op == "+":
        return _clamped(left[0] + other[0], left[1] + other[1])
    if op == "-":
        return _clamped(left[0] - other[1], left[1] - other[0])
    products = [a * b for a in left for b in other]
    return _clamped(min(products), max(products))


def _remainder_range(left: Range | None, n: int) -> Range:
    """``a % n`` (``n = |divisor| >= 1``): truncated, so ``|a % n| <= n - 1`` with the sign of
    ``a``, and ``a`` itself when ``|a| < n``."""
    if left is None:
        return -(n - 1), n - 1
    lo, hi = left
    if lo >= 0:
        return (lo, hi) if hi < n else (0, n - 1)
    if hi <= 0:
        return (lo, hi) if lo > -n else (-(n - 1), 0)
    return max(lo, -(n - 1)), min(hi, n - 1)


def _quotient_range(left: Range | None, divisor: int) -> Range:
    """``a // n`` truncates toward zero, monotonic in ``a`` (decreasing for ``n < 0``)."""
    lo, hi = left if left is not None else (INT64_MIN, INT64_MAX)

    def trunc(a: int) -> int:
        q = abs(a) // abs(divisor)
        return q if (a < 0) == (divisor < 0) else -q

    ends = (trunc(lo), trunc(hi))
    return _clamped(min(ends), max(ends))


def _is_null(tree: dict) -> bool:
    return tree.get("kind") == "constant" and tree.get("value") is None


def _call_range(tree: dict, lookup: Callable[[str], int | None]) -> Range | None:
    function, args = tree["function"], tree.get("args", [])
    if function == "abs" and args:
        inner = value_range(args[0], lookup)
        if inner is None:
            return 0, INT64_MAX                        # abs(-2**63) is null
        if inner[0] >= 0:
            return inner
        if inner[1] <= 0:
            return _clamped(-inner[1], -inner[0])
        return 0, min(max(-inner[0], inner[1]), INT64_MAX)
    if function == "clip" and len(args) == 3:
        bounds = [a.get("value") if a.get("kind") == "constant" else None for a in args[1:]]
        if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
            return min(bounds), bounds[1]
        return None
    if function in ("least", "greatest", "if", "coalesce"):
        values = args[1:] if function == "if" else args
        ranges = [value_range(a, lookup) for a in values if not _is_null(a)]
        if not ranges or None in ranges:
            return None
        return min(r[0] for r in ranges), max(r[1] for r in ranges)
    space = _declared_space(tree, lookup)
    return None if space is None else (0, space - 1)
