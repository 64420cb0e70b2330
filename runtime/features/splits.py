"""Validation splits that need no event time: file order, random, and by a key's hash.

    df = with_positions(read_source(...))               # + POSITION: the row's place in file order
    train, validation, info = split(rows, rule)          # rule: the IR's `training.validation`

**File order.** A row's position is its 0-based index in the source read in file order: files
ordered by their path as Spark reports it (``input_file_name()``, a URI), then by the offset of
the file split the row was read from (``input_file_block_start()``), then by the row's order
inside that split (``monotonically_increasing_id()`` increases within a Spark partition). Neither
Spark's partition order (it sorts file splits by size) nor ``monotonically_increasing_id`` alone
is file order; and a position does not depend on how the files were split (cores, split size):
one aggregation counts the rows of every (file, split, partition) and a broadcast join adds each
block's offset. Rows dropped as bad rows are not counted. A source that is not read from files
(a view) has positions in Spark's partition order, which Spark does not promise to keep.

**Rules** (per training set, i.e. after sharding):

* ``order``: with ``n`` rows and ``m = ceil(n * last_fraction)``, the ``m`` rows with the largest
  positions validate (exact: positions are unique).
* ``random``: a row validates when ``unit(seed + '\\u0001' + position) < fraction``, where
  ``unit(text) = (XXH64(utf8(text), seed 42) as unsigned 64 bits >> 11) / 2**53``: Spark's native
  ``xxhash64`` (the project's hash, docs/semantics.md) of the decimal texts, as ``cross`` joins them.
  The same seed and data give the same split on any cluster.
* ``hash``: a row validates when ``unit(string form of key) < fraction`` (the text ``hash_bucket``
  hashes: strings as they are, integers in decimal); a null key trains. Every row of one key value
  falls on the same side, in every training set and online: :func:`key_validates`.
"""

from __future__ import annotations

import math
from typing import Any
from mlc.runtime.xxhash64 import SEED, xxh64

POSITION = "__mlc_position"
UNIT_BITS = 53
SEPARATOR = "\u0001"
_FILE, _BLOCK, _PART, _ID, _SHIFT = "__mlc_file", "__mlc_block", "__mlc_part", "__mlc_id", "__mlc_shift"


# ------------------------------------------------------------------------------------ Python


def unit_hash(text: str) -> int:
    """The top 53 bits of the unsigned XXH64 (seed 42) of ``text``: 0 <= value < 2**53."""
    return xxh64()(text.encode("utf-8"), seed=SEED) >> (64 - UNIT_BITS)


def key_text(value: Any) -> str | None:
    """The string form of a key value (`hash_bucket`'s): text as is, integers in decimal, bools
    `true`/`false`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def key_validates(value: Any, fraction: float) -> bool:
    """Whether rows with this key value are in validation under ``{kind: hash, fraction}``."""
    text = key_text(value)
    return text is not None and unit_hash(text) < fraction * 2.0 ** UNIT_BITS


def position_validates(position: int, seed: int, fraction: float) -> bool:
    """Whether the row at ``position`` (file order) is in validation under ``{kind: random}``."""
    return unit_hash(f"{seed}{SEPARATOR}{position}") < fraction * 2.0 ** UNIT_BITS


# ------------------------------------------------------------------------------------- Spark


def with_positions(df: Any) -> Any:
    """``df`` with ``POSITION`` (bigint): each row's 0-based index in file order (module doc).
    Call it on a source as read, before anything moves rows between partitions."""
    from pyspark.sql import functions as F

    marked = df.select("*", F.input_file_name().alias(_FILE), F.input_file_block_start().alias(_BLOCK),
                       F.monotonically_increasing_id().alias(_ID))
    marked = marked.withColumn(_PART, F.shiftright(F.col(_ID), 33))
    blocks = (marked.groupBy(_FILE, _BLOCK, _PART)
              .agg(F.min(_ID).alias("first"), F.count(F.lit(1)).alias("rows")).collect())
    shifts, running = [], 0
    for block in sorted(blocks, key=lambda b: (b[_FILE], b[_BLOCK], b[_PART])):
        shifts.append((block[_FILE], block[_BLOCK], block[_PART], running - block["first"]))
        running += block["rows"]
    schema = f"{_FILE} string, {_BLOCK} bigint, {_PART} bigint, {_SHIFT} bigint"
    table = df.sparkSession.createDataFrame(shifts, schema)
    joined = marked.join(F.broadcast(table), [_FILE, _BLOCK, _PART], "inner")
    return joined.select(*[F.col(f"`{c}`") for c in df.columns], (F.col(_ID) + F.col(_SHIFT)).alias(POSITION))


def unit_column(text: Any) -> Any:
    """Spark Column of :func:`unit_hash` over a string Column."""
    from pyspark.sql import functions as F

    return F.shiftrightunsigned(F.xxhash64(text), 64 - UNIT_BITS)


def needs_positions(rule: dict) -> bool:
    return rule.get("kind") in ("order", "random")


def split(df: Any, rule: dict) -> tuple[Any, Any, dict]:
    """(train, validation, what schema.json records) for an `order`, `random` or `hash` rule."""
    kind = rule["kind"]
    if kind == "order":
        return _by_order(df, float(rule["last_fraction"]))
    if kind == "random":
        return _by_unit(df, _random_text(int(rule.get("seed", 0))), float(rule["fraction"]),
                        {"kind": "random", "fraction": float(rule["fraction"]), "seed": int(rule.get("seed", 0)),
                         "position": "file order (mlc.runtime.features.splits)"})
    if kind == "hash":
        return _by_unit(df, _key_text(df, rule["key"]), float(rule["fraction"]),
                        {"kind": "hash", "fraction": float(rule["fraction"]), "key": rule["key"]})
    raise ValueError(f"unknown validation kind `{kind}`")


def _random_text(seed: int) -> Any:
    from pyspark.sql import functions as F

    return F.concat(F.lit(f"{seed}{SEPARATOR}"), F.col(POSITION).cast("string"))


def _key_text(df: Any, key: str) -> Any:
    from pyspark.sql import functions as F

    col = F.col(f"`{key}`")
    dtype = dict(df.dtypes)[key]
    if dtype == "boolean":
        return F.when(col, F.lit("true")).when(~col, F.lit("false"))
    return col.cast("string")


def _by_unit(df: Any, text: Any, fraction: float, info: dict) -> tuple[Any, Any, dict]:
    from pyspark.sql import functions as F

    validates = F.coalesce(unit_column(text) < F.lit(fraction * 2.0 ** UNIT_BITS), F.lit(False))
    return df.where(~validates), df.where(validates), info


def _by_order(df: Any, fraction: float) -> tuple[Any, Any, dict]:
    from pyspark.sql import functions as F

    info = {"kind": "order", "last_fraction": fraction, "order": "file path, file split, row (mlc.runtime.features.splits)"}
    n = df.count()
    m = math.ceil(n * fraction)
    if n == 0 or m == 0:
        return df, df.where(F.lit(False)), {**info, "cutoff_position": None}
    cutoff = df.select(F.col(POSITION)).orderBy(F.col(POSITION).desc()).limit(m).agg(F.min(POSITION)).collect()[0][0]
    position = F.col(POSITION)
    return df.where(position < F.lit(cutoff)), df.where(position >= F.lit(cutoff)), {**info, "cutoff_position": int(cutoff)}
