"""The user-facing spec: pydantic v2 models, strict, unknown keys rejected.

These types describe what the user WROTE. Resolved, typed meaning lives in the compiler's
IR (``mlc.core.ir``). Every ``kind:``/``type:`` is a discriminated union so that an error
names the branch the user chose instead of listing every branch's failures.

Checks that need more than one field (references between sections, windows, identifiers,
traffic sums ...) are done by ``mlc.compiler.checks`` with their own error codes.

Every value is bounded here so that nothing downstream can be handed what it cannot hold:
numbers are finite and within the range their consumer takes (int64 for data values, int32 for
Triton and Kubernetes counts, the seed ranges of NumPy and TensorFlow; see "Limits" in
docs/spec.md), and strings that are not free text or expressions hold no control character
(``Line``; descriptions, ``Text``, may hold tabs and line breaks).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError

# ------------------------------------------------------------------- limits

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 2**24
MAX_WORKERS = 1024
MAX_SLOTS_PER_WORKER = 256
MAX_LAYER_WIDTH = 65_536          # hidden units, embedding and factor dimensions
MAX_CROSS_LAYERS = 64
MAX_GPUS = 64                     # per pod
MAX_REPLICAS = 1000               # the HPA scales to 3x: stays far inside Kubernetes' int32
MAX_INSTANCES = 256               # Triton model instances per replica
MAX_VERSIONS_KEPT = 100
MAX_QUEUE_DELAY_US = 60_000_000   # one minute
MAX_DURATION_DIGITS = 6           # `999999w` at most: every duration in seconds fits int64

# One line of text: no C0/C1 control character, DEL or Unicode line/paragraph separator.
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
# Free text (descriptions): tabs and line breaks allowed, other C0 controls and DEL not.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# Kubernetes rules, published in the JSON Schema for editors and enforced (with hints) by
# mlc.compiler.checks: a DNS-1123 label, and a resource quantity (without sign: never negative).
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_MAX = 63
QUANTITY_PATTERN = r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$"


def _int64_or_finite(value: object) -> object:
    """One clear error for a data value (default, partition) out of int64 or not finite, instead
    of one failure per member of its union."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise PydanticCustomError("int64_range", "Input should fit in int64", {"min": INT64_MIN, "max": INT64_MAX})
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    return value


def _int_range(low: int, high: int) -> object:
    return Annotated[int, Field(ge=low, le=high)]


Line = Annotated[str, Field(pattern=LINE_PATTERN)]
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Scalar = Annotated[Union[bool, Int64, FiniteFloat, str, None], BeforeValidator(_int64_or_finite)]
PartitionValue = Annotated[Union[str, Int64], BeforeValidator(_int64_or_finite)]
Expression = Annotated[str, Field(description="An mlc expression (see docs/functions.md).")]
Duration = Annotated[str, Field(pattern=rf"^[0-9]{{1,{MAX_DURATION_DIGITS}}}(s|m|h|d|w)$",
                                description="A duration: a positive integer and a unit s, m, h, d or w, e.g. `30m`, `7d`.")]
DTypeName = Annotated[Line, Field(description="bool, int64, float64, string, timestamp or list<T>.",
                                  examples=["int64", "float64", "string", "timestamp", "list<string>"])]
Timestamp = Annotated[Line, Field(description="An ISO-8601 UTC timestamp, e.g. `2024-06-01T00:00:00Z`.")]
Namespace = Annotated[Line, Field(description="A Kubernetes namespace: a DNS-1123 label.",
                                  json_schema_extra={"pattern": DNS_LABEL_PATTERN, "maxLength": DNS_LABEL_MAX})]
Quantity = Annotated[Line, Field(json_schema_extra={"pattern": QUANTITY_PATTERN})]
Image = Annotated[Line, Field(description="A container image reference: [registry[:port]/]path[:tag][@digest].")]
Epochs = _int_range(1, MAX_EPOCHS)
BatchSize = _int_range(1, MAX_BATCH_SIZE)
Workers = _int_range(1, MAX_WORKERS)
SlotsPerWorker = _int_range(1, MAX_SLOTS_PER_WORKER)
LayerWidth = _int_range(1, MAX_LAYER_WIDTH)
CrossLayers = _int_range(1, MAX_CROSS_LAYERS)
Gpus = _int_range(0, MAX_GPUS)
Replicas = _int_range(1, MAX_REPLICAS)
Instances = _int_range(1, MAX_INSTANCES)
VersionsKept = _int_range(1, MAX_VERSIONS_KEPT)
MaxBatchSize = _int_range(0, INT32_MAX)
PreferredBatchSize = _int_range(1, INT32_MAX)
QueueDelayUs = _int_range(0, MAX_QUEUE_DELAY_US)
Version = _int_range(1, INT64_MAX)
TrainingSeed = _int_range(0, UINT32_MAX)
SwitchbackSeed = _int_range(0, INT64_MAX)
Percent = Annotated[FiniteFloat, Field(ge=0, le=100, description="A percentage, 0 to 100.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# ------------------------------------------------------------------- sources


MAX_NULL_VALUES = 64
NullValue = Annotated[str, Field(pattern=LINE_PATTERN, max_length=256)]


class SourceColumn(Strict):
    """A declared column written as a mapping: its dtype and how it is read."""

    dtype: DTypeName
    format: Optional[Annotated[Line, Field(min_length=1, max_length=256)]] = Field(
        default=None, description="timestamp columns: how the data writes them, a Spark datetime pattern "
                                  "(`yyMMddHH`, `yyyy-MM-dd HH:mm:ss`; see docs/spec.md for the letters); "
                                  "integers are read as their decimal text. ISO-8601 or unix seconds when absent.")
    from_: Optional[Annotated[Line, Field(min_length=1, max_length=256)]] = Field(
        default=None, alias="from", description="The column's name in the data when it differs from the spec "
                                                "name (`I1`, `device-ip`); the reader renames it.")
    description: Optional[Text] = None


def _dtype_or_object(value: object) -> str:
    return "object" if isinstance(value, (dict, BaseModel)) else "str"


ColumnEntry = Annotated[
    Union[Annotated[DTypeName, Tag("str")], Annotated[SourceColumn, Tag("object")]],
    Discriminator(_dtype_or_object),
]


class StreamBase(Strict):
    allowed_lateness: Duration = Field(
        default="5m", description="Events later than this behind the latest event seen are dropped and counted "
                                  "(the watermark).")
    trigger: Duration = Field(default="1s", description="Micro-batch interval of the streaming job.")
    max_future: Duration = Field(
        default="1h", description="An event stamped further ahead of the job's clock is a bad event.")
    on_bad_rows: Literal["drop", "quarantine"] = Field(
        default="drop", description="Events that are not JSON/CSV, miss a key or the event time, hold a value of "
                                    "the wrong type or a far-future time: dropped and counted, or also written "
                                    "to a dead-letter folder (`quarantine`). They never stop the stream.")
    description: Optional[Text] = None


class FileStream(StreamBase):
    kind: Literal["files"]
    path: Line = Field(description="Folder where new JSON-lines files appear (relative to the declaring file); "
                                   "`mlc events push` writes there.")


class KafkaStream(StreamBase):
    kind: Literal["kafka"]
    topic: Annotated[Line, Field(min_length=1, max_length=249)]
    bootstrap_servers: Annotated[Line, Field(min_length=1)] = Field(
        description="`host:port[,host:port...]` of the Kafka brokers.")
    starting_offsets: Literal["earliest", "latest"] = "latest"
    format: Literal["json", "csv"] = Field(
        default="json", description="How a message's value is written: a JSON object, or one CSV line with the "
                                    "source's declared columns in the order they are declared.")


Stream = Annotated[Union[FileStream, KafkaStream], Field(discriminator="kind")]


class SourceBase(Strict):
    stream: Optional[Stream] = Field(
        default=None, description="The live side of the source: the same events as they happen (a folder of "
                                  "JSON-lines files, or a Kafka topic). Every feature group on the source is then "
                                  "computed by the batch job AND a streaming job, and served exactly at request "
                                  "time.")
    event_time: Optional[Line] = Field(
        default=None, description="Column holding the event time (UTC). Without it the source has no time: "
                                  "no feature group can aggregate it, training uses its rows as they are and "
                                  "validation splits by file order, at random or by a key's hash.")
    columns: Optional[dict[str, ColumnEntry]] = Field(
        default=None, description="Declared schema: column name -> dtype, or {dtype, format, from}. Checked "
                                  "against the data.")
    null_values: list[NullValue] = Field(
        default=[], max_length=MAX_NULL_VALUES,
        description="Texts read as null, offline in the data and online in requests for the inputs this "
                    "source feeds. CSV: [''] by default (Spark reads an empty field as null).")
    description: Optional[Text] = None

    def column_dtypes(self) -> Optional[dict[str, str]]:
        """Declared column (spec name) -> dtype, or None when no columns are declared."""
        if self.columns is None:
            return None
        return {name: column_spec(entry).dtype for name, entry in self.columns.items()}

    def column(self, name: str) -> "SourceColumn":
        return column_spec(self.columns[name])


def column_spec(entry: object) -> SourceColumn:
    """A column entry as a SourceColumn (a bare dtype string becomes ``{dtype: ...}``)."""
    return entry if isinstance(entry, SourceColumn) else SourceColumn(dtype=entry)


class ParquetSource(SourceBase):
    kind: Literal["parquet"]
    path: Line


class CsvSource(SourceBase):
    kind: Literal["csv"]
    path: Line
    header: bool = True
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    on_bad_rows: Literal["fail", "drop"] = "fail"
    timestamp_format: Optional[Annotated[Line, Field(min_length=1, max_length=256)]] = Field(
        default=None, description="Datetime pattern of every timestamp column without its own `format`; "
                                  "ISO-8601 or unix seconds when absent.")
    null_values: list[NullValue] = Field(
        default=[""], max_length=MAX_NULL_VALUES,
        description="Texts read as null, offline in the data and online in requests for the inputs this "
                    "source feeds. Must include '' (Spark's CSV reader reads an empty field as null).")


class JsonSource(SourceBase):
    kind: Literal["json"]
    path: Line
    on_bad_rows: Literal["fail", "drop"] = "fail"


class TableSource(SourceBase):
    kind: Literal["table"]
    table: Line = Field(description="Catalog (Hive) table, `database.table`.")


Source = Annotated[Union[ParquetSource, CsvSource, JsonSource, TableSource], Field(discriminator="kind")]


# ------------------------------------------------------ entities and features


class Entity(Strict):
    keys: list[Line] = Field(min_length=1, description="Join key columns identifying the entity.")
    description: Optional[Text] = None


class FeatureGroup(Strict):
    entity: Line
    source: Line
    windows: list[Duration] = Field(min_length=1)
    features: dict[str, Expression] = Field(
        min_length=1, description="Output name -> aggregation, e.g. `count()`, `avg(amount)`.")
    filter: Optional[Expression] = None
    ttl: Optional[Duration] = Field(default=None, description="How long an online record stays valid.")
    online: bool = True
    defaults: dict[str, Scalar] = Field(
        default_factory=dict,
        description="Feature name (all its windows) or output name (`<feature>_<window>`) -> the value used "
                    "when the aggregation has none: no event in the window, an entity missing from the "
                    "online store, or the store unreachable. Offline and online alike. `count()` and "
                    "`approx_count_distinct()` default to 0, everything else to null.")
    description: Optional[Text] = None


# ---------------------------------------------------------------- preprocess


class Input(Strict):
    dtype: DTypeName
    default: Scalar = None
    required: bool = False
    description: Optional[Text] = None


class DerivedFeature(Strict):
    expr: Expression
    description: Optional[Text] = None


def _expression_or_object(value: object) -> str:
    return "object" if isinstance(value, (dict, BaseModel)) else "expression"


DerivedFeatureEntry = Annotated[
    Union[Annotated[Expression, Tag("expression")], Annotated[DerivedFeature, Tag("object")]],
    Discriminator(_expression_or_object),
]


class Preprocess(Strict):
    inputs: dict[str, Input] = Field(default_factory=dict)
    features: dict[str, DerivedFeatureEntry] = Field(
        default_factory=dict, description="Derived feature name -> expression (or {expr, description}).")


# -------------------------------------------------------------------- models


class ModelInputs(Strict):
    dense: list[Line] = Field(default_factory=list)
    sparse: list[Line] = Field(default_factory=list)


class Optimizer(Strict):
    name: Literal["adam", "adagrad", "sgd", "ftrl", "rmsprop"] = "adam"
    learning_rate: FiniteFloat = Field(default=0.001, gt=0)


SplitFraction = Annotated[FiniteFloat, Field(gt=0, lt=1)]
SplitSeed = _int_range(0, INT64_MAX)


class TimeValidation(Strict):
    kind: Literal["time"] = Field(default="time", description="By event time (the default). On a source "
                                  "without `event_time`, `last_fraction` without `kind` splits by file order.")
    split_at: Optional[Timestamp] = Field(default=None, description="Events at or after this time validate.")
    last_fraction: Optional[SplitFraction] = Field(default=None,
                                                   description="The latest fraction of events (by time) validates.")


class OrderValidation(Strict):
    kind: Literal["order"]
    last_fraction: SplitFraction = Field(description="The last fraction of rows in file order validates.")


class RandomValidation(Strict):
    kind: Literal["random"]
    fraction: SplitFraction = Field(description="Share of rows that validate, drawn by a hash of `seed` and "
                                                "the row's position in file order (reproducible).")
    seed: SplitSeed = 0


class HashValidation(Strict):
    kind: Literal["hash"]
    fraction: SplitFraction = Field(description="Share of `key` values whose rows validate.")
    key: Line = Field(description="Column of the training source; all rows of one value fall on one side "
                                  "(xxhash64 of its text, as `hash_bucket`).")


def _validation_kind(value: object) -> str:
    if isinstance(value, dict):
        kind = value.get("kind", "time")
        return kind if isinstance(kind, str) else repr(kind)
    return getattr(value, "kind", "time")


Validation = Annotated[
    Union[Annotated[TimeValidation, Tag("time")], Annotated[OrderValidation, Tag("order")],
          Annotated[RandomValidation, Tag("random")], Annotated[HashValidation, Tag("hash")]],
    Discriminator(_validation_kind),
]


class EarlyStopping(Strict):
    metric: Literal["auc", "logloss", "mae", "rmse", "loss"]
    patience: Epochs = 2
    min_delta: FiniteFloat = Field(default=0.0, ge=0)


class WarmStart(Strict):
    enabled: bool = True
    source: Literal["checkpoint", "version"] = "checkpoint"


class Distributed(Strict):
    engine: Literal["none", "horovod"] = "none"
    workers: Workers = 1
    slots_per_worker: SlotsPerWorker = 1


class Training(Strict):
    source: Line = Field(description="Source of label events; preprocess inputs are read from its columns.")
    epochs: Epochs = 1
    batch_size: BatchSize = 256
    optimizer: Optimizer = Field(default_factory=Optimizer)
    validation: Optional[Validation] = None
    early_stopping: Optional[EarlyStopping] = None
    warm_start: Optional[WarmStart] = None
    distributed: Distributed = Field(default_factory=Distributed)
    seed: TrainingSeed = Field(default=42, description="Seeds Python, NumPy (32 bits) and TensorFlow.")


Activation = Literal["relu", "gelu", "tanh", "sigmoid"]
HiddenUnits = Annotated[list[LayerWidth], Field(min_length=1)]
Dropout = Annotated[FiniteFloat, Field(ge=0, lt=1)]


class LrParams(Strict):
    l2: FiniteFloat = Field(default=0.0, ge=0)


class FmParams(Strict):
    factor_dim: LayerWidth = 8
    l2: FiniteFloat = Field(default=0.0, ge=0)


class DnnParams(Strict):
    embedding_dim: LayerWidth = 8
    hidden_units: HiddenUnits = [256, 128]
    activation: Activation = "relu"
    dropout: Dropout = 0.0
    batch_norm: bool = False


class WideDeepParams(DnnParams):
    wide: Optional[list[Line]] = Field(default=None, description="Inputs of the wide part; all sparse inputs by default.")


class DeepFmParams(DnnParams):
    pass


class DcnParams(DnnParams):
    cross_layers: CrossLayers = 3


class ModelBase(Strict):
    task: Literal["classification", "regression"]
    label: Line = Field(description="Label column of the training source.")
    inputs: ModelInputs
    training: Training
    description: Optional[Text] = None


class LrModel(ModelBase):
    type: Literal["lr"]
    hyperparameters: LrParams = Field(default_factory=LrParams)


class FmModel(ModelBase):
    type: Literal["fm"]
    hyperparameters: FmParams = Field(default_factory=FmParams)


class DnnModel(ModelBase):
    type: Literal["dnn"]
    hyperparameters: DnnParams = Field(default_factory=DnnParams)


class WideDeepModel(ModelBase):
    type: Literal["wide_deep"]
    hyperparameters: WideDeepParams = Field(default_factory=WideDeepParams)


class DeepFmModel(ModelBase):
    type: Literal["deepfm"]
    hyperparameters: DeepFmParams = Field(default_factory=DeepFmParams)


class DcnModel(ModelBase):
    type: Literal["dcn"]
    hyperparameters: DcnParams = Field(default_factory=DcnParams)


Model = Annotated[Union[LrModel, FmModel, DnnModel, WideDeepModel, DeepFmModel, DcnModel],
                  Field(discriminator="type")]


# ---------------------------------------------------------------- deployment


class ResourceAmounts(Strict):
    cpu: Optional[Quantity] = Field(default=None, examples=["500m", "2"])
    memory: Optional[Quantity] = Field(default=None, examples=["512Mi", "4Gi"])
    gpu: Optional[Gpus] = None


class Resources(Strict):
    requests: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="500m", memory="1Gi"))
    limits: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="2", memory="4Gi"))


class DynamicBatching(Strict):
    preferred_batch_sizes: list[PreferredBatchSize] = Field(default_factory=list)
    max_queue_delay_us: QueueDelayUs = 100


class InstanceGroup(Strict):
    count: Instances = 1
    kind: Literal["cpu", "gpu"] = "cpu"


class Serving(Strict):
    platform: Literal["onnxruntime_onnx", "tensorflow_savedmodel", "python"] = "onnxruntime_onnx"
    max_batch_size: MaxBatchSize = 256
    dynamic_batching: Optional[DynamicBatching] = None
    instance_group: InstanceGroup = Field(default_factory=InstanceGroup)
    versions_kept: VersionsKept = Field(default=2, description="Triton version_policy: latest N versions.")


class Images(Strict):
    serving: Image = "nvcr.io/nvidia/tritonserver:24.08-py3"
    training: Image = "horovod/horovod:0.28.1"
    spark: Image = "apache/spark:3.5.1-python3"
    gateway: Image = "python:3.11-slim"


class Shard(Strict):
    partitions: list[PartitionValue] = Field(
        default_factory=list, description="Values of the partition key routed to this shard. Only the `default` "
                                          "shard may list none (`[]` or left out): it takes every unlisted value.")
    models: Optional[list[Line]] = Field(default=None, description="Models served by this shard; the deployment's by default.")
    replicas: Optional[Replicas] = None
    resources: Optional[Resources] = None


class Shards(Strict):
    partition_key: Line = Field(description="Request input whose value picks the shard, e.g. `city`.")
    default: Optional[Line] = Field(default=None, description="Shard receiving values not in any partition list.")
    shards: dict[str, Shard] = Field(min_length=1)


class FeatureLog(Strict):
    sample_rate: Annotated[FiniteFloat, Field(ge=0, le=1)] = Field(
        default=0.0, description="Share of requests the gateway logs with what it used (raw fields, feature-group "
                                 "values, model inputs, score) for `mlc consistency` and log-and-wait training "
                                 "sets, 0 to 1; 0 disables.")
    max_file_mb: Annotated[int, Field(ge=1, le=4096)] = Field(
        default=64, description="Local log files are rotated at this size (MiB).")
    max_files: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=5, description="Local log files kept (the current one and the rotated ones).")
    queue: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=1024, description="Records waiting to be written; past it records are dropped (and counted), "
                                  "never the request.")


class Deployment(Strict):
    namespace: Namespace = "default"
    models: Optional[list[Line]] = Field(default=None, description="Models to serve; all models by default.")
    replicas: Replicas = 1
    resources: Resources = Field(default_factory=Resources)
    serving: Serving = Field(default_factory=Serving)
    images: Images = Field(default_factory=Images)
    sharding: Optional[Shards] = None
    feature_log: FeatureLog = Field(default_factory=FeatureLog,
                                    description="The gateway's feature log (docs/feature-log.md).")


# --------------------------------------------------------------- experiments


class ModelRef(Strict):
    model: Line
    version: Optional[Version] = None
    alias: Optional[Line] = None


class Variant(ModelRef):
    weight: Percent


class Experiment(Strict):
    unit: Line = Field(description="Request input identifying the randomisation unit, e.g. `user_id`.")
    traffic: Percent = Field(description="Share of the layer's units in this experiment, in percent.")
    reserve: Optional[Percent] = Field(
        default=None, description="Share of the layer reserved for this experiment to ramp up to, in percent "
                                  "(default: `traffic`). Raising `traffic` within `reserve` moves no unit.")
    offset: Optional[Percent] = Field(
        default=None, description="Start of the reservation in the layer, in percent (default: right after the "
                                  "previous experiment's reservation). Pin it to keep units in place.")
    holdout: Percent = 0.0
    control: Optional[Line] = Field(default=None, description="The variant the others are compared to (default: the first).")
    targeting: Optional[Expression] = None
    variants: dict[str, Variant] = Field(min_length=1)
    description: Optional[Text] = None


class Layer(Strict):
    salt: Optional[Line] = Field(default=None, description="Hash salt of the layer; the layer name by default.")
    experiments: dict[str, Experiment] = Field(default_factory=dict)
    description: Optional[Text] = None


class SwitchbackVariant(ModelRef):
    weight: Optional[Percent] = None


class Switchback(Strict):
    unit: Line = Field(description="Request input naming the region (city, area ...).")
    slice: Duration = Field(description="Length of one time slice, e.g. `30m`.")
    variants: dict[str, SwitchbackVariant] = Field(min_length=2)
    seed: SwitchbackSeed = 0
    burn_in: Optional[Duration] = None
    timezone: Line = "UTC"
    regions: dict[str, Line] = Field(default_factory=dict, description="Region -> IANA timezone, overriding `timezone`.")
    start: Optional[Timestamp] = None
    end: Optional[Timestamp] = None
    targeting: Optional[Expression] = None
    control: Optional[Line] = Field(default=None, description="The variant the others are compared to (default: the first).")
    description: Optional[Text] = None


class Experiments(Strict):
    min_slice: Duration = Field(default="15m", description="Switchback slices shorter than this are refused (lint E5035).")
    layers: dict[str, Layer] = Field(default_factory=dict)
    switchbacks: dict[str, Switchback] = Field(default_factory=dict)


# ---------------------------------------------------------------------- spec


class Spec(Strict):
    """One mlc application."""

    version: Literal[1] = Field(description="Spec format version.")
    name: Line
    description: Optional[Text] = None
    entities: dict[str, Entity] = Field(default_factory=dict)
    sources: dict[str, Source] = Field(default_factory=dict)
    feature_groups: dict[str, FeatureGroup] = Field(default_factory=dict)
    preprocess: Preprocess = Field(default_factory=Preprocess)
    models: dict[str, Model] = Field(default_factory=dict)
    deployment: Deployment = Field(default_factory=Deployment)
    experiments: Experiments = Field(default_factory=Experiments)
