"""Requests made from a training source's raw rows, as a client sends them: the file's values
under the spec's names (``from:`` mapping), text columns as text (ids are never numbers), a
timestamp as ISO-8601 text or the file's own integer (formatted or unix seconds), an empty CSV
text field as '' (the source's ``null_values`` make it null on both sides), missing values left
out. Used by ``mlc run``'s sample request and by docs/serving.md's examples.

Reads csv, parquet and JSON-lines files with pyarrow, never Spark: a request needs a few rows.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

ROWS = 2000          # rows read from the file: enough to find a few of one partition value


def source_rows(source: Any, spec_dir: str, limit: int = ROWS) -> list[dict]:
    """The first ``limit`` rows of a file source, keyed by spec names; [] for a table source."""
    path = source.location if os.path.isabs(source.location) else os.path.join(spec_dir, source.location)
    data_names = dict(getattr(source, "data_names", None) or ())             # spec name -> data name
    if source.kind == "csv":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        text = {data_names.get(c.name, c.name): pa.string() for c in (source.columns or ()) if c.dtype == "string"}
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=text))
    elif source.kind == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    elif source.kind == "json":                   # JSON lines
        import pyarrow.json as pajson

        table = pajson.read_json(path)
    else:
        return []
    spec_names = {data: name for name, data in data_names.items()}
    return [{spec_names.get(k, k): v for k, v in row.items()} for row in table.slice(0, limit).to_pylist()]


def request_fields(ir: Any, model: Any) -> set[str]:
    """What a request for ``model`` carries: the preprocess inputs and its groups' entity keys."""
    fields = {i.name for i in ir.inputs}
    for group in model.feature_groups:
        fields.update(k.name for k in ir.group(group).keys)
    return fields


def request_rows(ir: Any, model: Any, spec_dir: str, items: int) -> list[dict]:
    """Up to ``items`` rows of ``model``'s training source as request items (JSON values, nulls
    left out); with sharding, rows of one partition value, so they route like real traffic."""
    source = next(s for s in ir.sources if s.name == model.training.source)
    wanted = request_fields(ir, model)
    rows = [{k: json_value(v) for k, v in row.items() if k in wanted and v is not None}
            for row in source_rows(source, spec_dir)]
    key = ir.deployment.partition_key
    if key and rows:
        rows = [r for r in rows if r.get(key) == rows[0].get(key)]
    return rows[:items]


def json_value(value: Any) -> Any:
    """A value pyarrow read, as JSON: timestamps as ISO-8601 UTC text."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat() + "Z"
    return value
