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
CSV and JSON timestamps are ISO-8601 text or unix seconds, read as UTC; a column with a datetime
`format` (or a CSV source's `timestamp_format`) is read in that format, on every kind of source
(``mlc.runtime.features.timestamp_formats``: integers as their decimal text).

Column mapping: a column declared with `from` is selected by its data name and renamed to its
spec name; an error about a missing column names both. Null values: a source's `null_values`
(texts read as null; CSV: `''` always, as Spark's CSV reader does) are applied to the raw text of
every column of CSV and JSON sources, and to string columns of Parquet and tables. String values
are otherwise taken as written (never trimmed), as a request carries them online.
"""

from __future__ import annotations

import os
import re
from typing import Any
from mlc.core.errors import MlcError
from mlc.core.suggest import did_you_mean
from mlc.runtime.features.timestamp_formats import with_parsed

SPARK_SQL_TYPES = {"bool": "boolean", "int64": "bigint", "float64": "double", "string": "string", "timestamp": "timestamp"}
LAST_DROPPED: dict[str, int] = {}


class SourceError(MlcError):
    """The data does not match what the spec declares (message names the column)."""
    code = "E7003"


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


def _pairs_of(source: Any, key: str) -> dict[str, Any]:
    value = source.get(key) if isinstance(source, dict) else getattr(source, key, None)
    return dict(value.items() if isinstance(value, dict) else (value or ()))


def data_name(source: Any, column: str) -> str:
    """The name of a declared column in the data (`from`), else its own name."""
    return _pairs_of(source, "data_names").get(column, column)


def column_format(source: Any, column: str) -> str | None:
    """The datetime format of a timestamp column (an older mldl.json: the CSV `timestamp_format`)."""
    formats = _pairs_of(source, "formats")
    if formats:
        return formats.get(column)
    dtypes = dict(_declared(source))
    return _pairs_of(source, "options").get("timestamp_format") if dtypes.get(column) == "timestamp" else None


DEFAULT_NULL_VALUES = {"csv": ("",)}


def null_values(source: Any) -> tuple[str, ...]:
    """Texts read as null (an older mldl.json without them: the kind's default)."""
    value = source.get("null_values") if isinstance(source, dict) else getattr(source, "null_values", None)
    return tuple(value) if value is not None else DEFAULT_NULL_VALUES.get(_get(source, "kind"), ())


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _nulled(col: Any, texts: tuple[str, ...]) -> Any:
    from pyspark.sql import functions as F

    return F.when(col.isin(list(texts)), F.lit(None).cast("string")).otherwise(col) if texts else col


def read_source(spark: Any, source: Any, spec_dir: str, override: str | None = None) -> Any:
    kind = _get(source, "kind")
    if override:
        kind = kind_of_file(override, kind)
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
    for name, _ in _declared(source):
        data = data_name(source, name)
        if data not in columns:
            same = [c for c in columns if c.lower() == data.lower()]
            hint = (f"the data has `{same[0]}`: map it with `{name}: {{dtype: ..., from: {same[0]}}}`" if same
                    else did_you_mean(data, sorted(columns), "columns in the data") or "")
            what = f"`{name}`" if data == name else f"`{name}` (data column `{data}`, its `from`)"
            raise SourceError(f"source `{_get(source, 'name')}`: declared column {what} is not in the data. {hint}".strip())


# Spark types a declared dtype accepts (the value is then cast to the dtype exactly).
INTEGERS = ("tinyint", "smallint", "int", "bigint")
TYPE_FITS = {
    "bool": ("boolean",),
    "int64": INTEGERS,
    "float64": INTEGERS + ("float", "double", "decimal"),
    "string": ("string", "varchar", "char") + INTEGERS + ("decimal(*,0)",),   # ids: their decimal text
    "timestamp": ("timestamp", "timestamp_ntz", "date"),
}
FORMATTED_FITS = ("string", "varchar", "char") + INTEGERS     # a timestamp read in a `format`


def _fits(actual: str, dtype: str, formatted: bool) -> bool:
    allowed = FORMATTED_FITS if formatted else TYPE_FITS.get(dtype)
    if allowed is None:
        return True
    if actual.startswith("decimal(") and actual.endswith(",0)") and "decimal(*,0)" in allowed:
        return True
    return actual.split("(")[0] in allowed


def _checked_select(raw: Any, source: Any) -> Any:
    """Declared columns by their data name, after checking the data's types fit the declared
    dtypes; renamed to their spec names, null values of string columns nulled."""
    from pyspark.sql import functions as F

    declared = _declared(source)
    if not declared:
        return raw
    _missing(raw, source)
    types = {f.name: f.dataType.simpleString() for f in raw.schema.fields}
    texts = null_values(source)
    raws, out = [], []
    for i, (name, dtype) in enumerate(declared):
        data, fmt = data_name(source, name), column_format(source, name)
        actual = types[data]
        if not _fits(actual, dtype, fmt is not None):
            raise SourceError(f"source `{_get(source, 'name')}`: column {_both(name, data)} is {actual} in the data, "
                              f"but the spec declares {dtype}{_type_hint(actual, dtype)}")
        col = F.col(_quoted(data))
        text = _nulled(col.cast("string"), texts) if fmt is not None or dtype == "string" else None
        raws.append((text if fmt is not None else F.lit(None).cast("string")).alias(f"__raw_{i}"))
        if fmt is not None:
            out.append(F.col(f"__ts_{i}").alias(name))
        elif dtype == "string":
            out.append(text.alias(name))
        else:
            out.append(col.cast(SPARK_SQL_TYPES[dtype]).alias(name))
    if not any(column_format(source, n) for n, _ in declared):
        return raw.select(*out)
    staged = _with_formatted(raw.select("*", *raws), source)
    return _without_bad_rows(staged.select(*[f"__raw_{i}" for i in range(len(declared))], *out), source, {})


def _both(name: str, data: str) -> str:
    return f"`{name}`" if name == data else f"`{name}` (data column `{data}`)"


def _type_hint(actual: str, dtype: str) -> str:
    if dtype == "int64" and actual.startswith("decimal(20,0)"):
        return ("; it holds unsigned 64-bit integers, which int64 cannot: declare the column `string` and "
                "hash it with `hash_bucket(column, n)`")
    return ""


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
    data_names = list(dict.fromkeys(data_name(source, n) for n, _ in declared))
    stats = lines.agg(F.count(F.when(malformed, 1)).alias("malformed"),
                      *[F.max(F.coalesce(F.array_contains(keys, n), F.lit(False))).alias(f"p{i}")
                        for i, n in enumerate(data_names)]).first()
    if not all(stats[f"p{i}"] for i in range(len(data_names))):
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
    schema = ", ".join(f"{_quoted(n)}: string" for n in data_names)
    parsed = lines.select(F.from_json(F.col("value"), f"struct<{schema}>").alias("__mlc_json"))
    raw = parsed.select(*[F.col("__mlc_json").getField(n).alias(n) for n in data_names])
    typed = _typed_csv(raw, source, options)
    if options.get("on_bad_rows") == "drop":
        LAST_DROPPED[name] = LAST_DROPPED.get(name, 0) + int(stats["malformed"])
    return typed


def _typed_csv(raw: Any, source: Any, options: dict) -> Any:
    """Text columns (CSV, or JSON values as text) -> the declared columns: selected by data name,
    null values nulled, parsed as the declared dtype, renamed; values that do not parse are bad rows."""
    from pyspark.sql import functions as F

    declared = _declared(source)
    if not declared:
        return raw
    _missing(raw, source)
    texts = null_values(source)
    raws = [_nulled(F.col(_quoted(data_name(source, n))), texts).alias(f"__raw_{i}") for i, (n, _) in enumerate(declared)]
    staged = _with_formatted(raw.select(*raws), source)
    raw_names = [f"__raw_{i}" for i in range(len(declared))]
    typed = staged.select(*raw_names, *[_cast_text(F.col(f"__raw_{i}"), t, column_format(source, n), i).alias(n)
                                        for i, (n, t) in enumerate(declared)])
    return _without_bad_rows(typed, source, options)


def parse_text_columns(raw: Any, source: Any) -> tuple[Any, Any]:
    """For a stream: ``raw`` holds each declared column's text by its data name (null when absent)
    and any other columns, which are kept. Returns the DataFrame with the declared columns typed
    (spec names) and the Column that is true where a non-blank text did not parse."""
    from pyspark.sql import functions as F

    declared = _declared(source)
    texts = null_values(source)
    extra = [F.col(_quoted(c)) for c in raw.columns if c not in {data_name(source, n) for n, _ in declared}]
    raws = [_nulled(F.col(_quoted(data_name(source, n))), texts).alias(f"__raw_{i}") for i, (n, _) in enumerate(declared)]
    staged = _with_formatted(raw.select(*extra, *raws), source)
    typed = staged.select(*extra, *[F.col(f"__raw_{i}") for i in range(len(declared))],
                          *[_cast_text(F.col(f"__raw_{i}"), t, column_format(source, n), i).alias(n)
                            for i, (n, t) in enumerate(declared)])
    failed = F.lit(False)
    for i, (name, dtype) in enumerate(declared):
        if dtype != "string":
            failed = failed | (F.col(f"__raw_{i}").isNotNull() & (F.trim(F.col(f"__raw_{i}")) != "")
                               & F.col(_quoted(name)).isNull())
    return typed, failed


def declared_data_names(source: Any) -> list[str]:
    """The data names of the declared columns, each once, in declaration order."""
    return list(dict.fromkeys(data_name(source, n) for n, _ in _declared(source)))


def _with_formatted(staged: Any, source: Any) -> Any:
    """``__ts_<i>``: the formatted timestamp columns read from their text ``__raw_<i>``."""
    items = [(f"__ts_{i}", f"__raw_{i}", column_format(source, n)) for i, (n, _) in enumerate(_declared(source))
             if column_format(source, n) is not None]
    return with_parsed(staged, items)


def _cast_text(col: Any, dtype: str, fmt: str | None, index: int) -> Any:
    from pyspark.sql import functions as F

    if dtype == "string":
        return col                                           # as written: requests are not trimmed either
    if fmt is not None:
        return F.col(f"__ts_{index}")
    col = F.trim(col)
    if dtype == "timestamp":
        # ISO-8601 text (a trailing Z is UTC), or unix seconds
        return F.when(col.rlike(r"^-?[0-9]+$"), F.timestamp_seconds(col.cast("bigint"))).otherwise(col.cast("timestamp"))
    return col.cast(SPARK_SQL_TYPES[dtype])


def _without_bad_rows(typed: Any, source: Any, options: dict) -> Any:
    """``typed`` has ``__raw_<i>`` (text) and the declared columns: a row whose non-blank text did not
    parse is bad -- dropped and counted, or the first one stops the read with its column and value."""
    from pyspark.sql import functions as F

    declared = _declared(source)
    bad = F.lit(False)
    for i, (name, dtype) in enumerate(declared):
        if dtype == "string":
            continue                                        # text always parses
        failed = F.col(f"__raw_{i}").isNotNull() & (F.trim(F.col(f"__raw_{i}")) != "") & F.col(_quoted(name)).isNull()
        bad = bad | failed
    name = _get(source, "name")
    if options.get("on_bad_rows") == "drop":
        kept = typed.where(~bad)
        LAST_DROPPED[name] = typed.count() - kept.count()
        return kept.select(*[_quoted(n) for n, _ in declared])
    first = typed.where(bad).limit(1).collect()
    if first:
        row = first[0]
        for i, (column, dtype) in enumerate(declared):
            value = row[f"__raw_{i}"]
            if value is not None and value.strip() != "" and row[column] is None:
                raise SourceError(bad_value_message(source, column, dtype, value))
    return typed.select(*[_quoted(n) for n, _ in declared])


INT_TEXT = re.compile(r"[ \t\n\r\f\x0b]*[+-]?[0-9]+[ \t\n\r\f\x0b]*")


def bad_value_message(source: Any, column: str, dtype: str, value: str) -> str:
    """What to say about a value of ``column`` that is not a ``dtype``."""
    where = f"source `{_get(source, 'name')}`: column {_both(column, data_name(source, column))}"
    skip = "(set `on_bad_rows: drop` to skip such rows)"
    if dtype == "int64" and INT_TEXT.fullmatch(value):
        return (f"{where} has `{value}`, which is outside int64 (-9223372036854775808 to 9223372036854775807): "
                f"ids this large (or unsigned 64-bit) are declared `string` and hashed, `hash_bucket({column}, n)` "
                f"{skip}")
    fmt = column_format(source, column)
    if fmt is not None:
        return f"{where} has `{value}`, which is not a timestamp in the format `{fmt}` {skip}"
    return f"{where} has `{value}`, which is not a {dtype} {skip}"


def kind_of_file(path: str, default: str) -> str:
    for suffix, kind in ((".csv", "csv"), (".parquet", "parquet"), (".json", "json"), (".jsonl", "json")):
        if path.endswith(suffix):
            return kind
    return default
