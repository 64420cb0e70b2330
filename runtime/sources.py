"""Read a spec source into a Spark DataFrame with its declared column types.

Minimal reader used by `mlc fit` and `mlc check-parity`: csv (header, delimiter, declared
schema), parquet, json lines, catalog tables. CSV timestamps are ISO-8601 text (or the
source's `timestamp_format`).
"""

from __future__ import annotations

import os
from typing import Any

SPARK_SQL_TYPES = {"bool": "boolean", "int64": "bigint", "float64": "double", "string": "string", "timestamp": "timestamp"}


def source_path(source: Any, spec_dir: str, override: str | None = None) -> str:
    """The data location of a source (IR dict or dataclass), relative paths against the spec folder."""
    location = override or _get(source, "location")
    if "://" in location or os.path.isabs(location):
        return location
    return os.path.normpath(os.path.join(spec_dir, location))


def _get(source: Any, key: str) -> Any:
    return source[key] if isinstance(source, dict) else getattr(source, key)


def _schema_ddl(columns: Any) -> str | None:
    if not columns:
        return None
    return ", ".join(f"`{_get(c, 'name')}` {SPARK_SQL_TYPES[_get(c, 'dtype')]}" for c in columns)


def read_source(spark: Any, source: Any, spec_dir: str, override: str | None = None) -> Any:
    kind = _get(source, "kind")
    if override:
        kind = _kind_of_file(override, kind)
    options = dict(_get(source, "options") or ())
    schema = _schema_ddl(_get(source, "columns"))
    if kind == "table":
        return spark.table(_get(source, "location"))
    path = source_path(source, spec_dir, override)
    reader = spark.read
    if schema:
        reader = reader.schema(schema)
    if kind == "csv":
        reader = reader.option("header", str(options.get("header", True)).lower()) \
                       .option("sep", options.get("delimiter", ",")) \
                       .option("mode", "DROPMALFORMED" if options.get("on_bad_rows") == "drop" else "FAILFAST")
        if options.get("timestamp_format"):
            reader = reader.option("timestampFormat", options["timestamp_format"])
        return reader.csv(path)
    if kind == "json":
        return reader.json(path)
    return reader.parquet(path)


def _kind_of_file(path: str, default: str) -> str:
    for suffix, kind in ((".csv", "csv"), (".parquet", "parquet"), (".json", "json"), (".jsonl", "json")):
        if path.endswith(suffix):
            return kind
    return default
