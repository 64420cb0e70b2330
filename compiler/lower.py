"""Lowering: validated spec + typed expressions -> the frozen IR.

Runs only after every check passed, so it may assume references resolve. It is deterministic,
and canonical where order carries no meaning, so moving definitions around the spec (or between
included files) changes no byte of the build: sources, entities, feature groups, inputs, a
group's aggregations, a source's columns, models, shards and shard partitions are sorted by
name, windows by length, null-value lists and preferred batch sizes are sorted sets, derived
features are in topological order with ties broken by name, maps become sorted key/value
tuples. Declaration order means something only where the spec says so (docs/spec.md
"Order"): inside `experiments` (layers, experiments, variants, switchbacks: bucket ranges and
routing precedence) and in lists (model inputs, keys, `deployment.models` and a shard's
`models`, whose first entry is served by default; without a list, the first model by name).
"""

from __future__ import annotations

import os
import posixpath
from datetime import datetime, timezone
from typing import Any, Iterable

from mlc.core import ir as I
from mlc.core.ir import ANALYZERS
from mlc.compiler.facts import served_models
from mlc.compiler.expressions import TypedExpressions
from mlc.core.tiles import tile_seconds
from mlc.core.names import canonical_timestamp, duration_seconds, parse_timestamp
from mlc.schemas import spec as S
from mlc.compiler.source_checks import column_format, input_rule, input_rules
from mlc.dsl import parse_dtype, to_json, to_source
from mlc.dsl.resolve import topological
from mlc.dsl.catalogue import lookup
from mlc.compiler.cardinality import id_space

DENSE_TENSOR = "float32"
SPARSE_TENSOR = "int64"


def lower(spec: S.Spec, typed: TypedExpressions, declared_in: dict[str, str], spec_file: str) -> I.IR:
    """``declared_in`` maps a source name to the file that declared it (for relative paths)."""
    order = derived_order(typed)
    derived = _derived(typed, order)
    return I.IR(
        mldl_version=I.MLDL_VERSION,
        name=spec.name,
        entities=tuple(_entity(spec, name, e) for name, e in sorted(spec.entities.items())),
        sources=tuple(_source(name, s, declared_in.get(name, spec_file), spec_file)
                      for name, s in sorted(spec.sources.items())),
        feature_groups=tuple(_group(spec, typed, name, g) for name, g in sorted(spec.feature_groups.items())),
        inputs=_inputs(spec, typed, derived),
        derived=derived,
        analyzers=_analyzers(typed, order),
        models=tuple(_model(spec, typed, derived, name, m) for name, m in sorted(spec.models.items())),
        deployment=_deployment(spec),
        layers=tuple(_layer(name, layer) for name, layer in spec.experiments.layers.items()),
        experiments=tuple(_experiments(spec, typed)),
        switchbacks=tuple(_switchback(spec, typed, name, sb) for name, sb in spec.experiments.switchbacks.items()),
    )


def _pairs(mapping: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in mapping.items() if v is not None))


# ------------------------------------------------------------- data sections


def relocate(path: str, declaring_file: str, spec_file: str) -> str:
    """A data path written in ``declaring_file``, re-expressed relative to the top spec's folder."""
    if "://" in path or os.path.isabs(path):
        return path
    base = os.path.dirname(declaring_file)
    target = os.path.normpath(os.path.join(base, path))
    relative = os.path.relpath(target, os.path.dirname(spec_file) or ".")
    return relative.replace(os.sep, posixpath.sep)


def _source(name: str, source: S.Source, declaring_file: str, spec_file: str) -> I.SourceIR:
    options = source.model_dump(exclude={"kind", "path", "table", "event_time", "columns", "description",
                                         "null_values", "timestamp_format", "stream"})
    location = source.table if isinstance(source, S.TableSource) else relocate(source.path, declaring_file, spec_file)
    columns, data_names, formats = None, {}, {}
    if source.columns is not None:
        entries = {col: S.column_spec(entry) for col, entry in source.columns.items()}
        columns = tuple(I.Column(col, _canonical_dtype(entry.dtype)) for col, entry in sorted(entries.items()))
        data_names = {col: entry.from_ for col, entry in entries.items() if entry.from_ not in (None, col)}
        formats = {col: column_format(source, col) for col in entries}
    return I.SourceIR(name, source.kind, location, source.event_time, columns, _pairs(options),
                      data_names=_pairs(data_names), formats=_pairs(formats), null_values=null_value_set(source.null_values),
                      stream=_stream(source, declaring_file, spec_file))


def _stream(source: S.SourceBase, declaring_file: str, spec_file: str) -> I.StreamIR | None:
    """The source's live side; a CSV-encoded stream keeps the declared column order."""
    stream = source.stream
    if stream is None:
        return None
    if isinstance(stream, S.KafkaStream):
        location, fmt = stream.topic, stream.format
        options = {"bootstrap_servers": stream.bootstrap_servers, "starting_offsets": stream.starting_offsets}
        if fmt == "csv":
            options["csv_columns"] = list(source.columns or {})
    else:
        location, fmt, options = relocate(stream.path, declaring_file, spec_file), "json", {}
    return I.StreamIR(stream.kind, location, fmt, duration_seconds(stream.allowed_lateness),
                      duration_seconds(stream.trigger), duration_seconds(stream.max_future), stream.on_bad_rows,
                      _pairs(options))


def null_value_set(texts: Iterable[str]) -> tuple[str, ...]:
    """Texts read as null: a set, so sorted and without repeats."""
    return tuple(sorted(set(texts)))


def _inputs(spec: S.Spec, typed: TypedExpressions, derived: tuple[I.DerivedIR, ...]) -> tuple[I.InputIR, ...]:
    """Inputs by name; each with the null values and datetime format of the training-source
    columns that feed it (the checks refused inputs fed with different rules)."""
    rules = input_rules(spec, I.derived_depends_on(derived))
    out = []
    for name, item in sorted(spec.preprocess.inputs.items()):
        null_values, fmt = input_rule(rules, name)
        out.append(I.InputIR(name, typed.input_dtypes[name], item.default, item.required, null_values, fmt))
    return tuple(out)


def _canonical_dtype(text: str) -> str:
    return str(parse_dtype(text))


def _entity(spec: S.Spec, name: str, entity: S.Entity) -> I.EntityIR:
    return I.EntityIR(name, tuple(I.Column(key, _key_dtype(spec, name, key)) for key in entity.keys))


def _key_dtype(spec: S.Spec, entity: str, key: str) -> str:
    if key in spec.preprocess.inputs:
        return _canonical_dtype(spec.preprocess.inputs[key].dtype)
    for group in spec.feature_groups.values():
        columns = spec.sources[group.source].column_dtypes() or {}
        if group.entity == entity and key in columns:
            return _canonical_dtype(columns[key])
    return "string"


def _group(spec: S.Spec, typed: TypedExpressions, name: str, group: S.FeatureGroup) -> I.FeatureGroupIR:
    columns = spec.sources[group.source].column_dtypes() or {}
    keys = tuple(I.Column(k, _canonical_dtype(columns[k])) for k in spec.entities[group.entity].keys)
    aggregations = []
    for feature in sorted(group.features):
        tree = typed.aggregations[(name, feature)]
        call = to_json(tree)
        argument = call["args"][0] if call.get("args") else None
        aggregations.append(I.AggregationIR(feature, call["function"], argument, str(tree.dtype), to_source(tree)))
    windows = tuple(sorted((I.WindowIR(w, duration_seconds(w)) for w in group.windows), key=lambda w: (w.seconds, w.name)))
    outputs = tuple(I.Column(I.output_name(a.name, w.name), a.dtype) for a in aggregations for w in windows)
    filter_tree = typed.filters.get(name)
    return I.FeatureGroupIR(
        name=name, entity=group.entity, source=group.source, keys=keys, windows=windows,
        filter=to_json(filter_tree) if filter_tree is not None else None,
        filter_source=to_source(filter_tree) if filter_tree is not None else None,
        aggregations=tuple(aggregations), outputs=outputs,
        ttl_seconds=duration_seconds(group.ttl) if group.ttl else None, online=group.online,
        defaults=_group_defaults(group, aggregations, windows),
        tiles=tuple((w.name, tile_seconds(w.seconds)) for w in windows) if spec.sources[group.source].stream else (),
    )


ZERO_WHEN_EMPTY = ("count", "approx_count_distinct")


def _group_defaults(group: S.FeatureGroup, aggregations: list, windows: tuple) -> tuple[tuple[str, Any], ...]:
    """Every output's value when its aggregation has none: the spec's default for the output,
    else for its feature, else 0 for counts; outputs whose default is null are left out."""
    out = []
    for agg in aggregations:
        for w in windows:
            output = I.output_name(agg.name, w.name)
            value = group.defaults.get(output, group.defaults.get(agg.name))
            if value is None and agg.function in ZERO_WHEN_EMPTY:
                value = 0
            if value is not None:
                out.append((output, _typed_default(value, agg.dtype)))
    return tuple(out)


def _typed_default(value: Any, dtype: str) -> Any:
    if dtype == "float64":
        return float(value)
    if dtype == "timestamp":
        delta = parse_timestamp(value) - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return value


# ---------------------------------------------------------------- preprocess


def _walk(tree: dict) -> Iterable[dict]:
    yield tree
    for key in ("args", "items", "options"):
        for child in tree.get(key, ()):
            yield from _walk(child)
    for key in ("operand", "left", "right", "value"):
        child = tree.get(key)
        if isinstance(child, dict):
            yield from _walk(child)


def derived_order(typed: TypedExpressions) -> tuple[str, ...]:
    """Derived features in topological order, ties broken by name (not by where they are
    written: moving a definition in the spec changes no byte of the build)."""
    names = sorted(typed.derived.order)
    deps = {name: tuple(d for d in typed.derived.dependencies.get(name, ()) if d in typed.derived.order)
            for name in names}
    ordered, _ = topological(names, deps)
    return tuple(ordered)


def _derived(typed: TypedExpressions, order: tuple[str, ...]) -> tuple[I.DerivedIR, ...]:
    out = []
    for name in order:
        tree_typed = typed.derived.typed[name]
        tree = to_json(tree_typed)
        refs = []
        for node in _walk(tree):
            if node["kind"] == "ref" and node["name"] not in refs:
                refs.append(node["name"])
        analyzers = tuple(f"{name}:{node['function']}:{i}" for i, node in enumerate(_analyzer_nodes(tree)))
        out.append(I.DerivedIR(name, str(tree_typed.dtype), to_source(tree_typed), tree, tuple(refs), analyzers))
    return tuple(out)


def _analyzer_nodes(tree: dict) -> list[dict]:
    return [node for node in _walk(tree) if node["kind"] == "call" and node["function"] in ANALYZERS]


def _analyzers(typed: TypedExpressions, order: tuple[str, ...]) -> tuple[I.AnalyzerIR, ...]:
    """One analyzer slot per analyzer call; its constant arguments are named as in the catalogue.
    The fitted constants are added when the analyzers are fitted on the training set."""
    out = []
    for name in order:
        tree = to_json(typed.derived.typed[name])
        for i, node in enumerate(_analyzer_nodes(tree)):
            param_names = [p.name for p in lookup(node["function"]).params]
            params = {param: arg.get("value") for param, arg in zip(param_names[1:], node["args"][1:])}
            out.append(I.AnalyzerIR(f"{name}:{node['function']}:{i}", node["function"], name, node["args"][0], _pairs(params)))
    return tuple(out)


# -------------------------------------------------------------------- models



def sparse_buckets(typed: TypedExpressions, feature: str) -> int | None:
    """Id space of a derived feature used as a sparse input (None when unknown)."""
    resolution = typed.derived
    if resolution is None or feature not in resolution.typed or feature not in resolution.order:
        return None
    return id_space(to_json(resolution.typed[feature]), lambda name: sparse_buckets(typed, name))


def _model(spec: S.Spec, typed: TypedExpressions, derived: tuple[I.DerivedIR, ...], name: str, model: S.ModelBase) -> I.ModelIR:
    dtypes = typed.feature_dtypes()
    columns = spec.sources[model.training.source].column_dtypes() or {}
    dense = tuple(I.Column(f, str(dtypes[f])) for f in model.inputs.dense)
    sparse = tuple(I.SparseIR(f, str(dtypes[f]), sparse_buckets(typed, f)) for f in model.inputs.sparse)
    closure = I.feature_closure([c.name for c in dense + sparse], I.derived_depends_on(derived))
    raw_inputs = tuple(sorted(n for n in closure if n in spec.preprocess.inputs))
    groups = tuple(sorted({n.split(".", 1)[0] for n in closure if "." in n}))
    signature_inputs = tuple(I.TensorIR(c.name, DENSE_TENSOR, (-1, 1)) for c in dense) + \
        tuple(I.TensorIR(c.name, SPARSE_TENSOR, (-1, 1)) for c in sparse)
    output = "probability" if model.task == "classification" else "prediction"
    return I.ModelIR(
        name=name, type=model.type, task=model.task,
        label=I.Column(model.label, _canonical_dtype(columns.get(model.label, "float64"))),
        dense=dense, sparse=sparse,
        hyperparameters=_pairs(model.hyperparameters.model_dump()),
        training=_training(model.training, spec.sources[model.training.source].event_time is not None),
        signature_inputs=signature_inputs,
        signature_outputs=(I.TensorIR(output, DENSE_TENSOR, (-1, 1)),),
        raw_inputs=raw_inputs, feature_groups=groups,
    )


def _training(training: S.Training, has_event_time: bool) -> I.TrainingIR:
    validation = _validation(training.validation, has_event_time)
    return I.TrainingIR(
        source=training.source, epochs=training.epochs, batch_size=training.batch_size,
        optimizer=training.optimizer.name, learning_rate=training.optimizer.learning_rate,
        validation=_pairs(validation),
        early_stopping=_pairs(training.early_stopping.model_dump() if training.early_stopping else {}),
        warm_start=_pairs(training.warm_start.model_dump() if training.warm_start else {"enabled": False}),
        engine=training.distributed.engine, workers=training.distributed.workers,
        slots_per_worker=training.distributed.slots_per_worker, seed=training.seed,
    )


def _validation(validation: Any, has_event_time: bool) -> dict[str, Any]:
    """The split rule with its resolved `kind`: `last_fraction` without `kind` on a source without
    event time splits by file order (`order`)."""
    if validation is None:
        return {}
    rule = validation.model_dump()
    if rule.get("split_at"):
        rule["split_at"] = canonical_timestamp(rule["split_at"])
    if rule["kind"] == "time" and not has_event_time:
        rule["kind"] = "order"
    return rule


# ---------------------------------------------------------------- deployment


def _resources(resources: S.Resources) -> tuple[tuple[str, Any], ...]:
    return _pairs({part: _pairs(getattr(resources, part).model_dump()) for part in ("requests", "limits")})


def _deployment(spec: S.Spec) -> I.DeploymentIR:
    deployment = spec.deployment
    serving = deployment.serving
    served = tuple(served_models(spec))
    if deployment.sharding is None:
        shards = (I.ShardIR("main", (), True, served, deployment.replicas, _resources(deployment.resources)),)
        key = None
    else:
        key = deployment.sharding.partition_key
        shards = tuple(
            I.ShardIR(name, tuple(sorted(str(p) for p in shard.partitions)), name == deployment.sharding.default,
                      tuple(shard.models) if shard.models is not None else served,
                      shard.replicas or deployment.replicas, _resources(shard.resources or deployment.resources))
            for name, shard in sorted(deployment.sharding.shards.items())
        )
    batching = _batching(serving.dynamic_batching)
    return I.DeploymentIR(
        namespace=deployment.namespace, platform=serving.platform, max_batch_size=serving.max_batch_size,
        dynamic_batching=batching, instance_count=serving.instance_group.count,
        instance_kind=serving.instance_group.kind, versions_kept=serving.versions_kept,
        images=_pairs(deployment.images.model_dump()), partition_key=key, shards=shards,
        feature_log=I.FeatureLogIR(sample_rate=float(deployment.feature_log.sample_rate),
                                   max_file_bytes=deployment.feature_log.max_file_mb * 1024 * 1024,
                                   max_files=deployment.feature_log.max_files,
                                   queue_size=deployment.feature_log.queue),
    )


def _batching(batching: Any) -> tuple[tuple[str, Any], ...] | None:
    """Dynamic batching settings; the preferred batch sizes are a set (Triton tries each)."""
    if batching is None:
        return None
    settings = batching.model_dump()
    if settings.get("preferred_batch_sizes") is not None:
        settings["preferred_batch_sizes"] = sorted(set(settings["preferred_batch_sizes"]))
    return _pairs(settings)


# --------------------------------------------------------------- experiments


def _layer(name: str, layer: S.Layer) -> I.LayerIR:
    return I.LayerIR(name, layer.salt or name, tuple(layer.experiments))


def _buckets(percent: float) -> int:
    return int(round(percent * I.BUCKETS / 100))


def _variants(variants: dict[str, Any], holdout: float) -> tuple[I.VariantIR, ...]:
    """Variants split the experiment's own hash space by weight; the holdout is its tail."""
    space = I.BUCKETS - _buckets(holdout)
    weights = [v.weight if v.weight is not None else 100 / len(variants) for v in variants.values()]
    out, cumulative, start = [], 0.0, 0
    for (name, variant), weight in zip(variants.items(), weights):
        cumulative += weight
        end = int(round(space * cumulative / 100))
        out.append(I.VariantIR(name, variant.model, variant.version, variant.alias, weight, (start, end)))
        start = end
    return tuple(out)


def reservations(layer: S.Layer) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """Experiment name -> (reservation, active range), bucket ranges ``[start, end)``: the
    reservation is ``[offset, offset + reserve)``, pinned or right after the previous
    experiment's reservation; the active range is its first ``traffic`` buckets (docs/experiments.md)."""
    out, previous_end = {}, 0
    for name, experiment in layer.experiments.items():
        start = _buckets(experiment.offset) if experiment.offset is not None else previous_end
        reserve = experiment.reserve if experiment.reserve is not None else experiment.traffic
        reserved = (start, start + _buckets(reserve))
        out[name] = (reserved, (start, start + _buckets(experiment.traffic)))
        previous_end = reserved[1]
    return out


def tickets(weights: list[float | None]) -> tuple[int, ...]:
    """Switchback weights as the smallest integers with the same ratio (units of 0.01 %,
    divided by their gcd); equal weights when none are given."""
    import math

    if not weights or any(w is None for w in weights):
        return (1,) * len(weights)
    units = [int(round(w * 100)) for w in weights]
    divisor = math.gcd(*units) or 1
    return tuple(u // divisor for u in units)


def _experiments(spec: S.Spec, typed: TypedExpressions) -> Iterable[I.ExperimentIR]:
    for layer_name, layer in spec.experiments.layers.items():
        ranges = reservations(layer)
        for name, experiment in layer.experiments.items():
            reserved, active = ranges[name]
            targeting = typed.targeting.get(("experiments", "layers", layer_name, "experiments", name, "targeting"))
            yield I.ExperimentIR(
                name=name, layer=layer_name, unit=experiment.unit, salt=f"{layer.salt or layer_name}:{name}",
                traffic=experiment.traffic, buckets=active, reserved=reserved, holdout=experiment.holdout,
                control=experiment.control or next(iter(experiment.variants)),
                targeting=to_json(targeting) if targeting is not None else None,
                targeting_source=to_source(targeting) if targeting is not None else None,
                variants=_variants(experiment.variants, experiment.holdout),
            )


def _switchback(spec: S.Spec, typed: TypedExpressions, name: str, sb: S.Switchback) -> I.SwitchbackIR:
    targeting = typed.targeting.get(("experiments", "switchbacks", name, "targeting"))
    return I.SwitchbackIR(
        name=name, unit=sb.unit, slice_seconds=duration_seconds(sb.slice),
        burn_in_seconds=duration_seconds(sb.burn_in) if sb.burn_in else 0, seed=sb.seed,
        timezone=sb.timezone, regions=_pairs(sb.regions),
        start=canonical_timestamp(sb.start) if sb.start else None,
        end=canonical_timestamp(sb.end) if sb.end else None,
        control=sb.control or next(iter(sb.variants)),
        targeting=to_json(targeting) if targeting is not None else None,
        targeting_source=to_source(targeting) if targeting is not None else None,
        tickets=tickets([v.weight for v in sb.variants.values()]),
        variants=_variants(sb.variants, 0.0),
    )
