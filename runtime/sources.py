"""Read a spec source into a Spark DataFrame with its declared column types.

- CSV with a header: columns are matched BY NAME (a source may declare a subset of the file's
  columns), then cast to the declared dtypes. A declared column missing from the file is an
  error naming it. A value that does not parse as its dtype is a bad row: `on_bad_rows: fail`
  (default) stops with an error naming the column, the value and the line's other fields;
  `drop` removes such rows (``read_source`` records how many in ``LAST_DROPPED``).
- Parquet and JSON lines: declared columns are selected by name and cast; a missing one is an
  error naming it.
- Catalog tables: ``spark.table``.
CSV timestamps are ISO-8601 text (or the source's `timestamp_format`), read as UTC.
"""

from __future__ import annotations

import os
from typing import Any

SPARK_SQL_TYPES = {"bool": "boolean", "int64": "bigint", "float64": "double", "string": "string", "timestamp": "timestamp"}
LAST_DROPPED: dict[str, int] = {}


class SourceError(Exception):
    """The data does not match what the spec declares (message names the column)."""


def source_path(source: Any, spec_dir: str, override: str | None = None) -> str:
    """The data location of a source (IR dict or dataclass), relative paths against the spec folder."""
    location = override or _get(source, "location")
    if "://" in location or os.path.isabs(location):
        return location
    return os.path.normpath(os.path.join(spec_dir, location))


def _get(source: Any, key: str) -> Any:
    return source[key] if isinstance(source, dict) else getattr(source, key)


def _declared(source: Any) -> list[tuple[str, str]]:
    return [(_get(c, "name"), _get(c, "dtype")) for c in (_get(source, "columns") or ())]


def read_source(spark: Any, source: Any, spec_dir: str, override: str | None = None) -> Any:
    kind = _get(source, "kind")
    if override:
        kind = _kind_of_file(override, kind)
    options = dict(_get(source, "options") or ())
    if kind == "table":
        return spark.table(_get(source, "location"))
    path = source_path(source, spec_dir, override)
    if kind == "csv":
        raw = (spark.read.option("header", str(options.get("header", True)).lower())
               .option("sep", options.get("delimiter", ",")).csv(path))
        return _typed_csv(raw, source, options)
    raw = spark.read.json(path) if kind == "json" else spark.read.parquet(path)
    return _select_declared(raw, source)


def _missing(raw: Any, source: Any) -> None:
    from mlc.compiler.suggest import did_you_mean

    for name, _ in _declared(source):
        if name not in raw.columns:
            hint = did_you_mean(name, raw.columns, "columns in the data") or ""
            raise SourceError(f"source `{_get(source, 'name')}`: declared column `{name}` is not in the data. {hint}".strip())


def _select_declared(raw: Any, source: Any) -> Any:
    from pyspark.sql import functions as F

    declared = _declared(source)
    if not declared:
        return raw
    _missing(raw, source)
    return raw.select(*[F.col(f"`{n}`").cast(SPARK_SQL_TYPES[t]).alias(n) for n, t in declared])


def _typed_csv(raw: Any, source: Any, options: dict) -> Any:
    from pyspark.sql import functions as F

    declared = _declared(source)
    if not declared:
        return raw
    _missing(raw, source)
    fmt = options.get("timestamp_format")

    def cast(name: str, dtype: str) -> Any:
        col = F.trim(F.col(f"`{name}`"))
        if dtype == "timestamp" and fmt:
            return F.to_timestamp(col, fmt)
        if dtype == "timestamp":
            # ISO-8601 text (a trailing Z is UTC), or unix seconds
            return F.when(col.rlike(r"^-?[0-9]+$"), F.timestamp_seconds(col.cast("bigint"))).otherwise(col.cast("timestamp"))
        return col.cast(SPARK_SQL_TYPES[dtype])

    typed = raw.select(*[F.col(f"`{n}`").alias(f"__raw_{i}") for i, (n, _) in enumerate(declared)],
                       *[cast(n, t).alias(n) for n, t in declared])
    bad = None
    for i, (name, _) in enumerate(declared):
        failed = F.col(f"__raw_{i}").isNotNull() & (F.trim(F.col(f"__raw_{i}")) != "") & F.col(f"`{name}`").isNull()
        bad = failed if bad is None else bad | failed
    name = _get(source, "name")
    if options.get("on_bad_rows") == "drop":
        kept = typed.where(~bad)
        LAST_DROPPED[name] = typed.count() - kept.count()
        return kept.select(*[n for n, _ in declared])
    first = typed.where(bad).limit(1).collect()
    if first:
        row = first[0]
        for i, (column, dtype) in enumerate(declared):
            value = row[f"__raw_{i}"]
            if value is not None and value.strip() != "" and row[column] is None:
                raise SourceError(f"source `{name}`: column `{column}` has `{value}`, which is not a {dtype} "
                                  "(set `on_bad_rows: drop` to skip such rows)")
    return typed.select(*[n for n, _ in declared])


def _kind_of_file(path: str, default: str) -> str:
    for suffix, kind in ((".csv", "csv"), (".parquet", "parquet"), (".json", "json"), (".jsonl", "json")):
        if path.endswith(suffix):
            return kind
    return default
