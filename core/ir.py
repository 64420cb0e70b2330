"""The IR: one frozen, typed, resolved description of an mlc application.

Separate from the user-facing schema types (``mlc.schemas.spec``): names are resolved,
expressions are typechecked and serialised (``mlc.dsl.serialize.to_json``), defaults are
filled in, durations are seconds, experiment traffic is bucket ranges. Every collection is a
tuple in a deterministic order (by name where order carries no meaning, declaration order where
it does, topological order for derived features; see ``mlc.compiler.lower``), so that
``mldl.json`` is byte-stable and independent of how the spec is laid out. Descriptions are
documentation: they stay in the spec (where the console and the docs read them, with their
file:line) and are not part of the IR, so editing one changes no byte of the build.

Expressions are stored as their JSON trees (plain dicts). They are frozen by convention:
nothing mutates an IR after lowering.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

MLDL_VERSION = "1.0"
BUCKETS = 10_000  # experiment hash space per layer


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str


@dataclass(frozen=True)
class StreamIR:
    """The live side of a source (``stream:``): the same events, arriving as they happen. Every
    feature group on the source is then real-time (tiled, see ``FeatureGroupIR.tiles``)."""
    kind: str                      # `files` (new JSON-lines files in a folder) or `kafka`
    location: str                  # files: folder relative to the spec directory; kafka: topic
    format: str                    # how an event is written: `json` (an object per line/message) or `csv`
    lateness_seconds: int          # allowed lateness: events older than (latest seen - this) are dropped, counted
    trigger_seconds: int           # micro-batch interval
    max_future_seconds: int        # events stamped further ahead of the job's clock are bad
    on_bad_rows: str               # `drop` (count) or `quarantine` (count, and keep in a dead-letter folder)
    # kafka: bootstrap_servers, starting_offsets, ...; csv: the value's columns in order (`csv_columns`)
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class SourceIR:
    name: str
    kind: str
    location: str                  # path relative to the spec directory, or `db.table`
    event_time: str | None         # None: the source has no event time (no feature group reads it)
    columns: tuple[Column, ...] | None
    options: tuple[tuple[str, Any], ...]   # kind-specific settings, sorted by key
    # column -> its name in the data, only for columns declared with `from` (sorted by column)
    data_names: tuple[tuple[str, str], ...] = ()
    # timestamp column -> datetime format (`format`, or a CSV source's `timestamp_format`), sorted
    formats: tuple[tuple[str, str], ...] = ()
    # texts read as null (offline, and online for the inputs the source feeds); None in an mldl.json
    # older than this field: the kind's default ([''] for CSV, none otherwise)
    null_values: tuple[str, ...] | None = None
    stream: StreamIR | None = None  # the live side (`stream:`), None for a batch-only source


@dataclass(frozen=True)
class EntityIR:
    name: str
    keys: tuple[Column, ...]


@dataclass(frozen=True)
class WindowIR:
    name: str       # as written: `7d`
    seconds: int


@dataclass(frozen=True)
class AggregationIR:
    name: str
    function: str                  # count, sum, avg, min, max, last, approx_count_distinct
    argument: dict | None          # expression over source columns; None for count()
    dtype: str                     # dtype of the aggregated value
    expression: str                # canonical source text


def output_name(aggregation: str, window: str) -> str:
    """A feature group's output: ``<aggregation>_<window>`` (``orders_7d``), one per pair."""
    return f"{aggregation}_{window}"


@dataclass(frozen=True)
class FeatureGroupIR:
    name: str
    entity: str
    source: str
    keys: tuple[Column, ...]
    windows: tuple[WindowIR, ...]
    filter: dict | None
    filter_source: str | None
    aggregations: tuple[AggregationIR, ...]
    outputs: tuple[Column, ...]    # `<feature>_<window>`, in aggregation-major order
    ttl_seconds: int | None
    online: bool
    # output -> value when the aggregation has none (entity/event missing, store down); only
    # outputs with a non-null default, in `outputs` order; timestamps as unix microseconds
    defaults: tuple[tuple[str, Any], ...] = ()
    # real-time groups (source with `stream:`): window name -> tile (hop) seconds. A window's tail
    # moves in whole tiles: at T it holds events with floor(T - w, tile) <= t < T, offline and
    # online alike (runtime/README.md, "Real-time feature groups"). Empty for batch groups.
    tiles: tuple[tuple[str, int], ...] = ()

    @property
    def realtime(self) -> bool:
        return bool(self.tiles)

    def tile_of(self, window: str) -> int:
        return dict(self.tiles)[window]


@dataclass(frozen=True)
class InputIR:
    name: str
    dtype: str
    default: Any
    required: bool
    # request texts read as null: the `null_values` of the training sources whose column feeds it
    null_values: tuple[str, ...] = ()
    # timestamp inputs fed by a formatted column: the datetime format request values are read with
    format: str | None = None


# the catalogue functions that need constants fitted offline (`mlc fit`): one AnalyzerIR per call
ANALYZERS = ("standardize", "min_max_scale", "vocabulary", "quantile_bucketize")


@dataclass(frozen=True)
class AnalyzerIR:
    id: str                        # `<feature>:<function>:<ordinal>`
    function: str                  # standardize, min_max_scale, vocabulary, quantile_bucketize
    feature: str
    argument: dict                 # expression analysed (offline, over the training set)
    params: tuple[tuple[str, Any], ...]
    fitted: tuple[tuple[str, Any], ...] | None = None   # constants from `mlc fit`; None until fitted


@dataclass(frozen=True)
class DerivedIR:
    name: str
    dtype: str
    expression: str                # canonical source text
    tree: dict                     # typed expression tree
    depends_on: tuple[str, ...]    # inputs, group outputs (`group.output`) and derived features
    analyzers: tuple[str, ...]     # analyzer ids used by this feature


def feature_closure(names: Iterable[str], depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """Every name the given features read, transitively, themselves included: derived features,
    preprocess inputs and ``group.output`` names, in discovery (breadth-first) order.
    ``depends_on``: derived feature -> what it reads (``DerivedIR.depends_on``; names absent from
    it read nothing). The one implementation the compiler, backends, runtime and review share."""
    seen: dict[str, None] = {}
    queue = list(names)
    while queue:
        name = queue.pop(0)
        if name not in seen:
            seen[name] = None
            queue.extend(depends_on.get(name) or ())
    return list(seen)


def derived_depends_on(derived: Iterable[DerivedIR]) -> dict[str, tuple[str, ...]]:
    """Derived feature -> its ``depends_on``, the mapping :func:`feature_closure` walks."""
    return {d.name: d.depends_on for d in derived}


@dataclass(frozen=True)
class TrainingIR:
    source: str
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    validation: tuple[tuple[str, Any], ...]
    early_stopping: tuple[tuple[str, Any], ...]
    warm_start: tuple[tuple[str, Any], ...]
    engine: str
    workers: int
    slots_per_worker: int
    seed: int


@dataclass(frozen=True)
class SparseIR:
    name: str
    dtype: str
    buckets: int                   # ids are 0..buckets-1; a null id becomes `buckets`


@dataclass(frozen=True)
class TensorIR:
    name: str
    dtype: str
    shape: tuple[int, ...]         # -1 is the batch dimension


@dataclass(frozen=True)
class ModelIR:
    name: str
    type: str
    task: str
    label: Column
    dense: tuple[Column, ...]
    sparse: tuple[SparseIR, ...]
    hyperparameters: tuple[tuple[str, Any], ...]
    training: TrainingIR
    signature_inputs: tuple[TensorIR, ...]
    signature_outputs: tuple[TensorIR, ...]
    raw_inputs: tuple[str, ...]    # request fields needed to compute the model's inputs
    feature_groups: tuple[str, ...]


@dataclass(frozen=True)
class ShardIR:
    name: str
    partitions: tuple[str, ...]
    is_default: bool
    models: tuple[str, ...]
    replicas: int
    resources: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class FeatureLogIR:
    sample_rate: float = 0.0       # share of requests logged; 0: off
    max_file_bytes: int = 64 * 1024 * 1024
    max_files: int = 5
    queue_size: int = 1024


@dataclass(frozen=True)
class DeploymentIR:
    namespace: str
    platform: str
    max_batch_size: int
    dynamic_batching: tuple[tuple[str, Any], ...] | None
    instance_count: int
    instance_kind: str
    versions_kept: int
    images: tuple[tuple[str, str], ...]
    partition_key: str | None
    shards: tuple[ShardIR, ...]    # one implicit `main` shard when the spec has no sharding
    feature_log: FeatureLogIR = FeatureLogIR()


@dataclass(frozen=True)
class VariantIR:
    name: str
    model: str
    version: int | None
    alias: str | None
    weight: float
    buckets: tuple[int, int]       # [start, end) in the experiment's own variant hash space


@dataclass(frozen=True)
class ExperimentIR:
    name: str
    layer: str
    unit: str
    salt: str
    traffic: float
    buckets: tuple[int, int]       # active range [start, end) of the layer's 10,000 buckets
    reserved: tuple[int, int]      # reservation [offset, offset + reserve): the active range may grow up to it
    holdout: float
    control: str                   # the variant the others are compared to
    targeting: dict | None
    targeting_source: str | None
    variants: tuple[VariantIR, ...]


@dataclass(frozen=True)
class LayerIR:
    name: str
    salt: str
    experiments: tuple[str, ...]


@dataclass(frozen=True)
class SwitchbackIR:
    name: str
    unit: str
    slice_seconds: int
    burn_in_seconds: int
    seed: int
    timezone: str
    regions: tuple[tuple[str, str], ...]
    start: str | None
    end: str | None
    control: str
    targeting: dict | None
    targeting_source: str | None
    tickets: tuple[int, ...]       # per variant: the weights as the smallest integers with the same ratio
    variants: tuple[VariantIR, ...]


@dataclass(frozen=True)
class IR:
    mldl_version: str
    name: str
    entities: tuple[EntityIR, ...]
    sources: tuple[SourceIR, ...]
    feature_groups: tuple[FeatureGroupIR, ...]
    inputs: tuple[InputIR, ...]
    derived: tuple[DerivedIR, ...]
    analyzers: tuple[AnalyzerIR, ...]
    models: tuple[ModelIR, ...]
    deployment: DeploymentIR
    layers: tuple[LayerIR, ...]
    experiments: tuple[ExperimentIR, ...]
    switchbacks: tuple[SwitchbackIR, ...]

    def model(self, name: str) -> ModelIR:
        return next(m for m in self.models if m.name == name)

    def default_model(self) -> ModelIR | None:
        """The model a request that names none gets: the first model of the default shard
        (``deployment.models`` as listed, else the first by name); ``None`` without models."""
        shards = self.deployment.shards
        shard = next((s for s in shards if s.is_default), shards[0] if shards else None)
        names = list(shard.models) if shard is not None and shard.models else [m.name for m in self.models]
        return self.model(names[0]) if names else None

    def group(self, name: str) -> FeatureGroupIR:
        return next(g for g in self.feature_groups if g.name == name)


def to_jsonable(value: Any) -> Any:
    """Plain JSON data of an IR value: dataclasses become objects in field order; fields
    declared as ``tuple[tuple[str, ...], ...]`` (sorted key/value pairs) become objects."""
    if dataclasses.is_dataclass(value):
        return {f.name: _field_json(f, getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def _field_json(field: dataclasses.Field, value: Any) -> Any:
    if value is not None and str(field.type).startswith("tuple[tuple[str,"):
        return {k: to_jsonable(v) for k, v in value}
    return to_jsonable(value)


# ------------------------------------------------------------------------- reading mldl.json


def ir_from_json(data: Mapping[str, Any]) -> IR:
    """The IR dataclasses from a parsed ``mldl.json`` (the inverse of :func:`to_jsonable`): typed
    by the dataclass annotations; key/value-pair fields, stored as JSON objects, become pairs
    again. Keys the IR no longer has (an older ``mldl.json``) are ignored."""
    return _build(IR, data)


def load_ir(mldl_path: str) -> IR:
    """The IR of an ``mldl.json`` file."""
    with open(mldl_path, encoding="utf-8") as fh:
        return ir_from_json(json.load(fh))


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(args[0], value) if args else value
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, globals())
        kwargs = {f.name: _build(hints[f.name], value[f.name]) for f in dataclasses.fields(tp) if f.name in value}
        return tp(**kwargs)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            inner = args[0]
            if typing.get_origin(inner) is tuple and isinstance(value, dict):
                return tuple((k, _freeze(v)) for k, v in value.items())   # key/value pairs
            return tuple(_build(inner, v) for v in value)
        return tuple(_build(a, v) for a, v in zip(args, value))
    return value


def _freeze(value: Any) -> Any:
    """Nested pairs (``resources.limits``: serialised as ``[[key, value], ...]``) back to tuples of
    pairs; any other list stays a list."""
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    if (isinstance(value, list) and value
            and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) for v in value)):
        return tuple((k, _freeze(v)) for k, v in value)
    return value
