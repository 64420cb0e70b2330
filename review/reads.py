"""What models and feature groups read, so that an impact names only the consumers a change touches.

    columns = model_columns(model, groups, partition_key)      # what training reads of its source
    reasons = source_reasons("orders", old_source, new_source, columns)
    outputs = output_definitions(group)                        # output -> what defines its values

Plain functions over ``mldl.json`` dicts (both sides of a review), pure and deterministic.

Decisions:

- A consumer of a source reads its *source-wide* settings (kind, location, options, event time,
  null values: they decide which rows exist and how every text is read) and the *columns* it
  names. Columns are matched by name (docs/spec.md), so a column's place in `columns:` means
  nothing; a column is changed when it was added, removed, or its dtype, data name (`from`) or
  datetime format changed.
- With `on_bad_rows: drop` (on either side) a row whose value does not parse in *any* declared
  column is dropped, so then every column counts as read.
- A model reads from its training source: the request fields it uses (``raw_inputs``, read from
  the columns of the same name), its label, the source's event time, the validation split's
  key, the partition key (each shard trains on its partitions) and the keys of the feature
  groups it joins.
- A feature group reads its keys, the source's event time, its filter's columns and the
  arguments of its aggregations (of the outputs asked about, when given).
- An output's values are defined by its aggregation (function, argument, dtype), its window
  (length) and its default; and by the group's entity, keys, filter and source reads.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from mlc.core.ir import output_name

SOURCE_WIDE = ("kind", "location", "event_time", "options", "null_values")
GROUP_WIDE = ("entity", "source", "keys", "filter")


def refs(tree: Any) -> set[str]:
    """Names referenced (``kind: ref``) anywhere in an expression tree."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("kind") == "ref" and isinstance(node.get("name"), str):
                found.add(node["name"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def model_columns(model: dict, groups: dict[str, dict], partition_key: str | None, event_time: str | None) -> set[str]:
    """Columns of its training source that training ``model`` reads."""
    columns = set(model.get("raw_inputs") or [])
    label = model.get("label")
    if isinstance(label, dict) and label.get("name"):
        columns.add(label["name"])
    key = ((model.get("training") or {}).get("validation") or {}).get("key")
    columns |= {name for name in (key, partition_key, event_time) if name}
    for group in model.get("feature_groups") or []:
        columns |= {k["name"] for k in (groups.get(group) or {}).get("keys") or []}
    return columns


def group_columns(group: dict, event_time: str | None, outputs: Iterable[str] | None = None) -> set[str]:
    """Columns of its source that ``group`` reads (for ``outputs`` only, when given)."""
    columns = {k["name"] for k in group.get("keys") or []} | refs(group.get("filter"))
    if event_time:
        columns.add(event_time)
    wanted = None if outputs is None else set(outputs)
    for aggregation in group.get("aggregations") or []:
        names = {output_name(aggregation['name'], w['name']) for w in group.get("windows") or []}
        if wanted is None or names & wanted:
            columns |= refs(aggregation.get("argument"))
    return columns


def output_definitions(group: dict | None) -> dict[str, tuple]:
    """Output name -> (function, argument, dtype, window seconds, default): what its values are
    made of, besides the group-wide fields (:data:`GROUP_WIDE`)."""
    if not group:
        return {}
    defaults = as_map(group.get("defaults"))
    out = {}
    for aggregation in group.get("aggregations") or []:
        for window in group.get("windows") or []:
            name = output_name(aggregation['name'], window['name'])
            out[name] = (aggregation.get("function"), _canonical(aggregation.get("argument")), aggregation.get("dtype"),
                         window.get("seconds"), _canonical(defaults.get(name)))
    return out


def reads_everything(old: dict | None, new: dict | None) -> bool:
    """A source dropping rows that fail to parse in any column (``on_bad_rows: drop``)."""
    return any(((side or {}).get("options") or {}).get("on_bad_rows") == "drop" for side in (old, new))


def source_reasons(name: str, old: dict | None, new: dict | None, columns: set[str]) -> list[str]:
    """Why a consumer reading ``columns`` of source ``name`` sees other data; empty when the
    change is elsewhere in the source."""
    if old is None or new is None:
        return [] if old is new else [f"source `{name}` {'added' if old is None else 'removed'}"]
    changed = [f"{field} {_short(old.get(field))} -> {_short(new.get(field))}"
               for field in SOURCE_WIDE if _canonical(old.get(field)) != _canonical(new.get(field))]
    before, after = column_definitions(old), column_definitions(new)
    read = set(before) | set(after) if reads_everything(old, new) else columns
    moved = sorted(c for c in read if before.get(c) != after.get(c))
    if moved:
        shown = ", ".join(f"`{c}`" for c in moved[:5]) + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
        changed.append(f"column{'s' if len(moved) > 1 else ''} {shown} changed")
    return [f"source `{name}`: {'; '.join(changed)}"] if changed else []


def column_definitions(source: dict) -> dict[str, tuple]:
    """Column -> (dtype, data name, datetime format)."""
    names, formats = as_map(source.get("data_names")), as_map(source.get("formats"))
    return {c["name"]: (c.get("dtype"), names.get(c["name"], c["name"]), formats.get(c["name"]))
            for c in source.get("columns") or []}


def as_map(value: Any) -> dict:
    """A key/value field as a dict, whether written as an object or as ``[key, value]`` pairs."""
    if isinstance(value, dict):
        return value
    return {k: v for k, v in value or []}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_canonical(v) if isinstance(v, str) else _short(v) for v in value) + "]"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
