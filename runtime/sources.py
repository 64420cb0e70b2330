"""Read a spec source into a Spark DataFrame with its declared column types.

- CSV with a header: columns are matched BY NAME (a source may declare a subset of the file's
  columns), then cast to the declared dtypes. A declared column missing from the file is an
  error naming it. A value that does not parse as its dtype is a bad row: `on_bad_rows: fail`
  (default) stops with an error naming the column, the value and the line's other fields;
  `drop` removes such rows (``read_source`` records how many in ``LAST_DROPPED``).
- JSON lines: every declared column is read as text and then cast and checked exactly as for
  CSV (bad values fail or are dropped and counted, the error names the column and value); a
  line that is not a JSON object is a bad row too. A declared column that occurs in no line is
  an error naming it.
- Parquet and catalog (Hive) tables: the data's own column types are checked against the
  declared dtypes (``TYPE_FITS``); a missing column or one of an incompatible type is an error
  naming it, then the declared columns are selected by name and cast.
CSV and JSON timestamps are ISO-8601 text (or the source's `timestamp_format`, CSV only) or unix
seconds, read as UTC.
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
        return _checked_select(spark.table(_get(source, "location")), source)
    path = source_path(source, spec_dir, override)
    if kind == "csv":
        raw = (spark.read.option("header", str(options.get("header", True)).lower())
               .option("sep", options.get("delimiter", ",")).csv(path))
        return _typed_csv(raw, source, options)
    if kind == "json":
        return _typed_json(spark, path, source, options)
    return _checked_select(spark.read.parquet(path), source)


def _missing(raw: Any, source: Any) -> None:
    _missing_names(raw.columns, source)


def _missing_names(columns: Any, source: Any) -> None:
    from mlc.compiler.suggest import did_you_mean

    for name, _ in _declared(source):
        if name not in columns:
            hint = did_you_mean(name, sorted(columns), "columns in the data") or ""
            raise SourceError(f"source `{_get(source, 'name')}`: declared column `{name}` is not in the data. {hint}".strip())


# Spark types a declared dtype accepts (the value is then cast to the dtype exactly).
TYPE_FITS = {
    "bool": ("boolean",),
    "int64": ("tinyint", "smallint", "int", "bigint"),
    "float64": ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal"),
    "string": ("string", "varchar", "char"),
    "timestamp": ("timestamp", "timestamp_ntz", "date"),
}


def _checked_select(raw: Any, source: Any) -> Any:
    """Declared columns by name, after checking the data's types fit the declared dtypes."""
    from pyspark.sql import functions as F

    declared = _declared(source)
    if not declared:
        return raw
    _missing(raw, source)
    types = {f.name: f.dataType.simpleString() for f in raw.schema.fields}
    for name, dtype in declared:
        actual = types[name]
        if dtype in TYPE_FITS and actual.split("(")[0] not in TYPE_FITS[dtype]:
            raise SourceError(f"source `{_get(source, 'name')}`: column `{name}` is {actual} in the data, "
                              f"but the spec declares {dtype}")
    return raw.select(*[F.col(f"`{n}`").cast(SPARK_SQL_TYPES[t]).alias(n) for n, t in declared])


def _typed_json(spark: Any, path: str, source: Any, options: dict) -> Any:
    """JSON lines: each line parsed with every declared column as TEXT (``from_json``), then
    cast and checked exactly like CSV (so bad values are reported the same way). A line that is
    not a JSON object is a bad row too. One extra aggregation finds unparseable lines and which
    declared columns occur at all."""
    from pyspark.sql import functions as F

    declared = _declared(source)
    if not declared:
        return spark.read.json(path)
    lines = spark.read.text(path).where(F.trim(F.col("value")) != "")
    keys = F.json_object_keys(F.col("value"))
    malformed = keys.isNull()
    stats = lines.agg(F.count(F.when(malformed, 1)).alias("malformed"),
                      *[F.max(F.coalesce(F.array_contains(keys, n), F.lit(False))).alias(f"p{i}")
                        for i, (n, _) in enumerate(declared)]).first()
    if not all(stats[f"p{i}"] for i in range(len(declared))):
        (names,) = lines.where(~malformed).agg(F.array_distinct(F.flatten(F.collect_set(keys)))).first()
        _missing_names(names or [], source)
    name = _get(source, "name")
    if stats["malformed"]:
        if options.get("on_bad_rows") != "drop":
            (line,) = lines.where(malformed).select("value").limit(1).first()
            shown = line if len(line) <= 200 else line[:200] + "..."
            raise SourceError(f"source `{name}`: a line is not a JSON object: {shown} "
                              "(set `on_bad_rows: drop` to skip such rows)")
        lines = lines.where(~malformed)
    schema = ", ".join(f"`{n.replace('`', '``')}`: string" for n, _ in declared)
    parsed = lines.select(F.from_json(F.col("value"), f"struct<{schema}>").alias("__mlc_json"))
    raw = parsed.select(*[F.col("__mlc_json").getField(n).alias(n) for n, _ in declared])
    typed = _typed_csv(raw, source, options)
    if options.get("on_bad_rows") == "drop":
        LAST_DROPPED[name] = LAST_DROPPED.get(name, 0) + int(stats["malformed"])
    return typed


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
    bad = F.lit(False)
    for i, (name, dtype) in enumerate(declared):
        if dtype == "string":
            continue                                        # text always parses
        failed = F.col(f"__raw_{i}").isNotNull() & (F.trim(F.col(f"__raw_{i}")) != "") & F.col(f"`{name}`").isNull()
        bad = bad | failed
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
