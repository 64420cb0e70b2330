"""Events of a stream, decoded with the source's declared columns; bad events marked, never fatal.

Input: a DataFrame with a string column ``value`` (a line of a JSON-lines file, or a Kafka
message's value cast to text). Output: the declared columns typed exactly as the batch reader
types them (``mlc.runtime.features.sources.parse_text_columns``: null values, formats, ISO-8601
or unix seconds), plus ``__mlc_value`` (the raw text) and ``__mlc_bad`` (null for a good event,
else the reason, one of ``status.BAD_REASONS``):

* ``not_json``: not a JSON object (a CSV message that has fewer fields than declared columns);
* ``missing_key``: the event time, or a key column of a feature group on the source, is absent
  or null;
* ``wrong_type``: a value that does not parse as its declared dtype (or format);
* ``future``: an event time more than ``max_future`` ahead of the job's clock.

``kafka_options`` gives the options of ``spark.readStream.format("kafka")`` for a Kafka stream;
``kafka_values`` turns Kafka's ``key, value, topic, partition, offset, timestamp`` rows into the
``value`` text this module decodes.
"""

from __future__ import annotations

from typing import Any

from mlc.core.ir import IR, SourceIR
from mlc.runtime.features.sources import declared_data_names, parse_text_columns

VALUE, BAD, MAP = "__mlc_value", "__mlc_bad", "__mlc_map"
# Spark's default refuses a map with a repeated key, failing the whole micro-batch: never for one event
SESSION_CONF = (("spark.sql.mapKeyDedupPolicy", "LAST_WIN"),)
MICROS = 1_000_000


def kafka_options(source: SourceIR) -> dict[str, str]:
    """``readStream.format("kafka").options(**...)`` of a Kafka stream."""
    stream = source.stream
    options = dict(stream.options)
    return {"kafka.bootstrap.servers": str(options["bootstrap_servers"]), "subscribe": stream.location,
            "startingOffsets": str(options.get("starting_offsets", "latest")), "failOnDataLoss": "false"}


def kafka_values(kafka_df: Any) -> Any:
    """Kafka rows -> ``value`` text (UTF-8; undecodable bytes become U+FFFD, then fail to parse)."""
    from pyspark.sql import functions as F

    return kafka_df.select(F.col("value").cast("string").alias("value"))


def required_columns(ir: IR, source: SourceIR) -> list[str]:
    """Columns an event must carry: the event time and every key of the groups on the source."""
    names = [source.event_time]
    for group in ir.feature_groups:
        if group.source == source.name:
            names += [k.name for k in group.keys if k.name not in names]
    return names


def _data_name(source: SourceIR, column: str) -> str:
    return dict(source.data_names).get(column, column)


def _texts(values: Any, source: SourceIR) -> tuple[Any, Any, Any]:
    """(text columns by data name, malformed Column, present(name) function) for the format."""
    from pyspark.sql import functions as F

    names = declared_data_names(source)
    value = F.col("value")
    if source.stream.format == "csv":
        order = list(dict(source.stream.options).get("csv_columns") or [c.name for c in source.columns])
        data_order = [_data_name(source, c) for c in order]
        schema = ", ".join(f"`{n.replace('`', '``')}` STRING" for n in data_order)
        parsed = F.from_csv(value, schema, {"mode": "PERMISSIVE"})
        df = values.select(value.alias(VALUE), parsed.alias("__mlc_parsed"))
        df = df.select(VALUE, *[F.col("__mlc_parsed").getField(n).alias(n) for n in names])
        # a line with fewer fields than declared columns (quoted commas only make it longer)
        malformed = F.size(F.split(F.col(VALUE), ",")) < len(data_order)
        return df, malformed, lambda n: F.col(f"`{n}`").isNotNull()
    # ONE parse per event: the object as a map of texts (numbers and booleans as written, null
    # values null, a line that is not an object null); a repeated key keeps its first value
    parsed = F.from_json(value, "map<string,string>")
    df = values.select(value.alias(VALUE), parsed.alias(MAP))
    df = df.select(VALUE, MAP, *[F.col(MAP).getItem(n).alias(n) for n in names])
    malformed = F.col(MAP).isNull()
    return df, malformed, lambda n: F.coalesce(F.map_contains_key(F.col(MAP), n), F.lit(False))


def decode(values: Any, ir: IR, source: SourceIR, now_us: int) -> Any:
    """Typed events with ``__mlc_value`` and ``__mlc_bad`` (see the module docstring)."""
    from pyspark.sql import functions as F

    for key, value in SESSION_CONF:
        values.sparkSession.conf.set(key, value)
    values = values.where(F.trim(F.col("value")) != "")
    texts, malformed, present = _texts(values, source)
    typed, failed = parse_text_columns(texts, source)
    missing = F.lit(False)
    for column in required_columns(ir, source):
        missing = missing | ~present(_data_name(source, column)) | F.col(f"`{column}`").isNull()
    t = F.unix_micros(F.col(f"`{source.event_time}`")) if _is_timestamp(source) else \
        F.col(f"`{source.event_time}`").cast("bigint") * F.lit(MICROS)
    future = t > F.lit(now_us + source.stream.max_future_seconds * MICROS)
    reason = (F.when(malformed, F.lit("not_json")).when(failed, F.lit("wrong_type"))
              .when(missing, F.lit("missing_key")).when(future, F.lit("future")))
    columns = [c.name for c in source.columns]
    return typed.select(F.col(VALUE), reason.alias(BAD), *[F.col(f"`{c}`") for c in columns])


def _is_timestamp(source: SourceIR) -> bool:
    return dict((c.name, c.dtype) for c in source.columns)[source.event_time] == "timestamp"
