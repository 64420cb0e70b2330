"""How many ids a sparse model input can take, read off its expression tree.

Embedding tables need their size at compile time. A sparse input's id space is known when its
expression ends in a bucketing function (``hash_bucket``/``cross``/``quantile_bucketize``: n ids;
``bucketize``: one more than its boundaries; ``vocabulary``: top_k + 1 + oov_buckets, id 0 being out
of vocabulary), a calendar part (``hour``: 24, ``day_of_week``: 8, ``day_of_month``: 32), a small
non-negative constant, or an ``if``/``coalesce`` of such. Anything else (a raw int64 input, an
arithmetic result) has no known size and is rejected by the checks (E5030).

A null id at training and serving time is mapped to the extra id ``buckets`` (see docs/spec.md),
so embedding tables have ``buckets + 1`` rows.
"""

from __future__ import annotations

from typing import Callable

_FIXED = {"hour": 24, "day_of_week": 8, "day_of_month": 32}
_FROM_LAST_ARG = {"hash_bucket", "cross", "quantile_bucketize"}
MAX_CONSTANT_ID = 1 << 20


def id_space(tree: dict, lookup: Callable[[str], int | None]) -> int | None:
    """Number of ids (max id + 1) an int64 expression tree can produce, or None if unknown.
    ``lookup`` gives the id space of a referenced derived feature."""
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
