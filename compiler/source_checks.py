"""Checks of what sources promise the rest of a spec: event time (E5040), datetime formats
(E5041), null values (E5042) and that every model's inputs are columns of its training source
(E5043). Also the per-input reading rules the IR records (``input_rule``), so that the checks and
the lowering agree.

What a model reads from its training source (``model_reads``): every preprocess input in the
closure of its dense and sparse inputs, the entity keys of the feature groups it uses (the
point-in-time join matches them), and the partition key when a shard serves it (training sets
are split by it).
"""

from __future__ import annotations

from typing import Any, Iterable

from mlc.compiler.reporter import Reporter
from mlc.core.ir import feature_closure
from mlc.core.suggest import did_you_mean
from mlc.schemas import spec as S
from mlc.dsl import parse_dtype, to_json
from mlc.compiler.facts import served_models
from mlc.core.datetime_format import FormatError, compile_format


def check_source_data(spec: S.Spec, typed: Any, report: Reporter) -> None:
    refs = feature_refs(typed)
    _check_formats(spec, report)
    _check_null_values(spec, report)
    _check_event_time_users(spec, refs, report)
    _check_streams(spec, typed, report)
    _check_model_columns(spec, refs, report)
    _check_input_rules(spec, refs, report)


# ------------------------------------------------------------------ closures


def feature_refs(typed: Any) -> dict[str, tuple[str, ...]]:
    """Derived feature -> the names its expression references (inputs, `group.output`, derived)."""
    resolution = getattr(typed, "derived", None)
    if resolution is None:
        return {}
    return {name: tuple(dict.fromkeys(_refs(to_json(tree)))) for name, tree in resolution.typed.items()}


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if node.get("kind") == "ref" and isinstance(node.get("name"), str):
            yield node["name"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def closure(names: Iterable[str], refs: dict[str, tuple[str, ...]]) -> list[str]:
    """Every name the given features depend on, transitively, themselves included."""
    return feature_closure(names, refs)


def model_reads(spec: S.Spec, name: str, model: S.ModelBase, refs: dict[str, tuple[str, ...]]) -> dict[str, tuple]:
    """Preprocess input -> the spec path that makes the model read it from its training source."""
    out: dict[str, tuple] = {}
    for kind in ("dense", "sparse"):
        for i, feature in enumerate(getattr(model.inputs, kind)):
            path = ("models", name, "inputs", kind, i)
            for needed in closure([feature], refs):
                if needed in spec.preprocess.inputs:
                    out.setdefault(needed, path)
                group = spec.feature_groups.get(needed.split(".", 1)[0]) if "." in needed else None
                entity = spec.entities.get(group.entity) if group is not None else None
                for key in (entity.keys if entity is not None else ()):
                    out.setdefault(key, path)
    key = spec.deployment.sharding.partition_key if spec.deployment.sharding else None
    if key and key in spec.preprocess.inputs and _sharded(spec, name):
        out.setdefault(key, ("models", name, "training", "source"))
    return out


def _sharded(spec: S.Spec, model: str) -> bool:
    served = served_models(spec)
    return any(model in (shard.models if shard.models is not None else served)
               for shard in spec.deployment.sharding.shards.values())


def model_groups(spec: S.Spec, model: S.ModelBase, refs: dict[str, tuple[str, ...]]) -> list[str]:
    names = closure([*model.inputs.dense, *model.inputs.sparse], refs)
    return sorted({n.split(".", 1)[0] for n in names if "." in n and n.split(".", 1)[0] in spec.feature_groups})


# --------------------------------------------------------------------- rules


def column_format(source: S.SourceBase, column: str) -> str | None:
    """The datetime format a timestamp column is read with (its own, else a CSV source's
    `timestamp_format`), or None."""
    entry = S.column_spec(source.columns[column])
    if entry.dtype != "timestamp":
        return None
    return entry.format or getattr(source, "timestamp_format", None)


def input_rules(spec: S.Spec, refs: dict[str, tuple[str, ...]]) -> dict[str, dict[tuple, list[str]]]:
    """Preprocess input -> {(null values, format): training sources reading it with that rule};
    ``refs``: what each derived feature references (``feature_refs``)."""
    out: dict[str, dict[tuple, list[str]]] = {}
    for name, model in spec.models.items():
        source = spec.sources.get(model.training.source)
        if source is None or source.columns is None:
            continue
        for needed in model_reads(spec, name, model, refs):
            if needed in source.columns:
                rule = (tuple(sorted(set(source.null_values))), column_format(source, needed))
                readers = out.setdefault(needed, {}).setdefault(rule, [])
                if model.training.source not in readers:
                    readers.append(model.training.source)
    return out


def input_rule(rules: dict[str, dict[tuple, list[str]]], name: str) -> tuple[tuple[str, ...], str | None]:
    """The one rule of an input (checks refused several): (null values, format)."""
    found = rules.get(name) or {}
    return next(iter(found)) if len(found) == 1 else ((), None)


# -------------------------------------------------------------------- checks


def _check_formats(spec: S.Spec, report: Reporter) -> None:
    for name, source in spec.sources.items():
        fallback = getattr(source, "timestamp_format", None)
        if fallback is not None:
            _check_pattern(fallback, ("sources", name, "timestamp_format"), report)
        for column, entry in (source.columns or {}).items():
            entry = S.column_spec(entry)
            if entry.format is None:
                continue
            path = ("sources", name, "columns", column, "format")
            if entry.dtype != "timestamp":
                report.error("E5041", f"column `{column}` of source `{name}` is {entry.dtype}; only timestamp "
                             "columns have a format", path,
                             hint=f"declare it `{{dtype: timestamp, format: {entry.format}}}`: integers are read as "
                                  "their decimal text")
                continue
            _check_pattern(entry.format, path, report)


def _check_pattern(pattern: str, path: tuple, report: Reporter) -> None:
    try:
        compile_format(pattern)
    except FormatError as problem:
        report.expression_issue(path, "E5041", f"invalid datetime format `{pattern}`: {problem}",
                                problem.start, problem.end, "e.g. `yyMMddHH` or `yyyy-MM-dd HH:mm:ss`")


def _check_null_values(spec: S.Spec, report: Reporter) -> None:
    for name, source in spec.sources.items():
        if isinstance(source, S.CsvSource) and "" not in source.null_values:
            report.error("E5042", f"`null_values` of CSV source `{name}` must include '': Spark's CSV reader "
                         "reads an empty field as null", ("sources", name, "null_values"),
                         hint="add '' to the list (it is the default)")


def _check_event_time_users(spec: S.Spec, refs: dict[str, tuple[str, ...]], report: Reporter) -> None:
    for name, group in spec.feature_groups.items():
        source = spec.sources.get(group.source)
        if source is not None and source.event_time is None:
            report.error("E5040", f"feature group `{name}` aggregates windows of time, but source `{group.source}` "
                         "declares no `event_time`", ("feature_groups", name, "source"),
                         hint=f"add `event_time: COLUMN` to source `{group.source}`")
    for name, model in spec.models.items():
        source = spec.sources.get(model.training.source)
        if source is None or source.event_time is not None:
            continue
        groups = model_groups(spec, model, refs)
        if groups:
            shown = ", ".join(f"`{g}`" for g in groups)
            report.error("E5040", f"model `{name}` uses feature groups ({shown}), but its training source "
                         f"`{model.training.source}` declares no `event_time` to join their values as of",
                         ("models", name, "training", "source"),
                         hint=f"add `event_time: COLUMN` to source `{model.training.source}`")
        _check_time_split(name, model, report)


TILED_ON_NUMBERS = ("min", "max", "last")


def _check_streams(spec: S.Spec, typed: Any, report: Reporter) -> None:
    """A stream needs an event time; a real-time group's partials are numbers (and hashes)."""
    for name, source in spec.sources.items():
        if source.stream is not None and source.event_time is None:
            report.error("E5040", f"source `{name}` has a `stream`, but declares no `event_time` to window its "
                         "events by", ("sources", name, "stream"), hint=f"add `event_time: COLUMN` to source `{name}`")
    for name, group in spec.feature_groups.items():
        source = spec.sources.get(group.source)
        if source is None or source.stream is None:
            continue
        for feature in sorted(group.features):
            tree = typed.aggregations.get((name, feature)) if typed is not None else None
            if tree is None or getattr(tree, "function", None) not in TILED_ON_NUMBERS:
                continue
            if str(tree.dtype) == "string":
                report.error("E5047", f"feature `{feature}` of real-time group `{name}` takes `{tree.function}` of a "
                             "string: real-time windows are merged from numeric tile partials",
                             ("feature_groups", name, "features", feature),
                             hint="aggregate a number (or `approx_count_distinct` of the string), or move the "
                                  "feature to a group over a source without `stream`")


def _check_time_split(name: str, model: S.ModelBase, report: Reporter) -> None:
    validation = model.training.validation
    if not isinstance(validation, S.TimeValidation):
        return
    explicit = "kind" in validation.model_fields_set
    if validation.split_at is not None or explicit:
        what = "`split_at`" if validation.split_at is not None else "`kind: time`"
        report.error("E5040", f"{what} splits by event time, but training source `{model.training.source}` "
                     "declares no `event_time`", ("models", name, "training", "validation"), at_key=True,
                     hint="split by file order (`last_fraction: 0.1`), at random (`{kind: random, fraction: 0.1}`) "
                          "or by a key (`{kind: hash, fraction: 0.1, key: user_id}`)")


def _check_model_columns(spec: S.Spec, refs: dict[str, tuple[str, ...]], report: Reporter) -> None:
    for name, model in spec.models.items():
        source = spec.sources.get(model.training.source)
        if source is None or source.columns is None:
            continue
        reported = _keys_checked_by_groups(spec, model, refs)
        for needed, path in model_reads(spec, name, model, refs).items():
            if needed not in source.columns and needed not in reported:
                report.error("E5043", f"model `{name}` reads input `{needed}` from its training source "
                             f"`{model.training.source}`, which has no column `{needed}`", path,
                             hint=_missing_column_hint(source, needed))
            elif needed in source.columns and needed in spec.preprocess.inputs:
                _check_input_dtype(spec, name, model, source, needed, report)
        _check_hash_key(name, model, source, report)


def _check_input_dtype(spec: S.Spec, name: str, model: S.ModelBase, source: S.SourceBase, column: str,
                       report: Reporter) -> None:
    """E5046: a preprocess input is read from a training-source column of the same dtype; else the
    two executors would see different values (an int64 column hashed as a float64 request field)."""
    try:
        wanted, given = str(parse_dtype(spec.preprocess.inputs[column].dtype)), str(parse_dtype(source.column(column).dtype))
    except ValueError:                   # an unknown dtype is reported on its own (E5011)
        return
    if wanted != given:
        report.error("E5046", f"input `{column}` is {wanted}, but model `{name}` reads it from column `{column}` "
                     f"of training source `{model.training.source}`, which is {given}",
                     ("preprocess", "inputs", column, "dtype"),
                     hint=f"declare the input `{given}` (and convert in a derived feature, e.g. `to_float({column})`), "
                          "or the column as it should be read")


HASH_KEY_DTYPES = ("string", "int64", "bool")


def _check_hash_key(name: str, model: S.ModelBase, source: S.SourceBase, report: Reporter) -> None:
    validation = model.training.validation
    if not isinstance(validation, S.HashValidation):
        return
    path = ("models", name, "training", "validation", "key")
    if validation.key not in source.columns:
        report.error("E5003", f"hash split key `{validation.key}` is not a column of training source "
                     f"`{model.training.source}`", path, hint=did_you_mean(validation.key, source.columns, "columns"))
    elif source.column(validation.key).dtype not in HASH_KEY_DTYPES:
        report.error("E5044", f"hash split key `{validation.key}` is {source.column(validation.key).dtype}; it must be "
                     "a string, int64 or bool column", path,
                     hint="split by an id (user, item, session) so that all rows of one id fall on one side")


def _keys_checked_by_groups(spec: S.Spec, model: S.ModelBase, refs: dict[str, tuple[str, ...]]) -> set[str]:
    """Entity keys of the model's groups aggregated over its own training source: a missing one
    is already reported there (E5003)."""
    out = set()
    for group_name in model_groups(spec, model, refs):
        group = spec.feature_groups[group_name]
        entity = spec.entities.get(group.entity)
        if group.source == model.training.source and entity is not None:
            out.update(entity.keys)
    return out


def _missing_column_hint(source: S.SourceBase, needed: str) -> str:
    similar = did_you_mean(needed, source.columns, "columns")
    by_case = [c for c in source.columns if c.lower() == needed.lower()]
    if by_case:
        return (f"map the data column to the input's name: `{needed}: {{dtype: {source.column(by_case[0]).dtype}, "
                f"from: {by_case[0]}}}` under the source's `columns`")
    return similar or f"declare `{needed}` under the source's `columns` (with `from:` when the data names it otherwise)"


def _check_input_rules(spec: S.Spec, refs: dict[str, tuple[str, ...]], report: Reporter) -> None:
    for name, rules in input_rules(spec, refs).items():
        if len(rules) < 2:
            continue
        shown = "; ".join(f"{', '.join(f'`{s}`' for s in sources)}: null_values {list(nulls)}"
                          + (f", format `{fmt}`" if fmt else "")
                          for (nulls, fmt), sources in sorted(rules.items(), key=lambda item: sorted(item[1])))
        report.error("E5042", f"input `{name}` is read from training sources with different rules ({shown}); "
                     "a request cannot be read like both", ("preprocess", "inputs", name), at_key=True,
                     hint="give these sources the same `null_values` and the column the same `format`")
