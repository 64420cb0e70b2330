"""The user-facing spec: pydantic v2 models, strict, unknown keys rejected.

These types describe what the user WROTE. Resolved, typed meaning lives in the compiler's
IR (``mlc.compiler.ir``). Every ``kind:``/``type:`` is a discriminated union so that an error
names the branch the user chose instead of listing every branch's failures.

Checks that need more than one field (references between sections, windows, identifiers,
traffic sums ...) are done by ``mlc.compiler.checks`` with their own error codes.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

Scalar = Union[bool, int, float, str, None]
Expression = Annotated[str, Field(description="An mlc expression (see docs/functions.md).")]
Duration = Annotated[str, Field(pattern=r"^[0-9]+(s|m|h|d|w)$",
                                description="A duration: a positive integer and a unit s, m, h, d or w, e.g. `30m`, `7d`.")]
DTypeName = Annotated[str, Field(description="bool, int64, float64, string, timestamp or list<T>.",
                                 examples=["int64", "float64", "string", "timestamp", "list<string>"])]
Timestamp = Annotated[str, Field(description="An ISO-8601 UTC timestamp, e.g. `2024-06-01T00:00:00Z`.")]
PositiveInt = Annotated[int, Field(ge=1)]
Percent = Annotated[float, Field(ge=0, le=100, description="A percentage, 0 to 100.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# ------------------------------------------------------------------- sources


class SourceBase(Strict):
    event_time: str = Field(description="Column holding the event time (UTC).")
    columns: Optional[dict[str, DTypeName]] = Field(
        default=None, description="Declared schema: column name -> dtype. Checked against the data.")
    description: Optional[str] = None


class ParquetSource(SourceBase):
    kind: Literal["parquet"]
    path: str


class CsvSource(SourceBase):
    kind: Literal["csv"]
    path: str
    header: bool = True
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    on_bad_rows: Literal["fail", "drop"] = "fail"
    timestamp_format: Optional[str] = Field(
        default=None, description="Spark datetime pattern; ISO-8601 or unix seconds when absent.")


class JsonSource(SourceBase):
    kind: Literal["json"]
    path: str
    on_bad_rows: Literal["fail", "drop"] = "fail"


class TableSource(SourceBase):
    kind: Literal["table"]
    table: str = Field(description="Catalog (Hive) table, `database.table`.")


Source = Annotated[Union[ParquetSource, CsvSource, JsonSource, TableSource], Field(discriminator="kind")]


# ------------------------------------------------------ entities and features


class Entity(Strict):
    keys: list[str] = Field(min_length=1, description="Join key columns identifying the entity.")
    description: Optional[str] = None


class FeatureGroup(Strict):
    entity: str
    source: str
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
    description: Optional[str] = None


# ---------------------------------------------------------------- preprocess


class Input(Strict):
    dtype: DTypeName
    default: Scalar = None
    required: bool = False
    description: Optional[str] = None


class DerivedFeature(Strict):
    expr: Expression
    description: Optional[str] = None


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
    dense: list[str] = Field(default_factory=list)
    sparse: list[str] = Field(default_factory=list)


class Optimizer(Strict):
    name: Literal["adam", "adagrad", "sgd", "ftrl", "rmsprop"] = "adam"
    learning_rate: float = Field(default=0.001, gt=0)


class Validation(Strict):
    split_at: Optional[Timestamp] = Field(default=None, description="Events at or after this time validate.")
    last_fraction: Optional[float] = Field(default=None, gt=0, lt=1,
                                           description="The latest fraction of events (by time) validates.")


class EarlyStopping(Strict):
    metric: Literal["auc", "logloss", "mae", "rmse", "loss"]
    patience: PositiveInt = 2
    min_delta: float = Field(default=0.0, ge=0)


class WarmStart(Strict):
    enabled: bool = True
    source: Literal["checkpoint", "version"] = "checkpoint"


class Distributed(Strict):
    engine: Literal["none", "horovod"] = "none"
    workers: PositiveInt = 1
    slots_per_worker: PositiveInt = 1


class Training(Strict):
    source: str = Field(description="Source of label events; preprocess inputs are read from its columns.")
    epochs: PositiveInt = 1
    batch_size: PositiveInt = 256
    optimizer: Optimizer = Field(default_factory=Optimizer)
    validation: Optional[Validation] = None
    early_stopping: Optional[EarlyStopping] = None
    warm_start: Optional[WarmStart] = None
    distributed: Distributed = Field(default_factory=Distributed)
    seed: int = 42


Activation = Literal["relu", "gelu", "tanh", "sigmoid"]
HiddenUnits = Annotated[list[PositiveInt], Field(min_length=1)]
Dropout = Annotated[float, Field(ge=0, lt=1)]


class LrParams(Strict):
    l2: float = Field(default=0.0, ge=0)


class FmParams(Strict):
    factor_dim: PositiveInt = 8
    l2: float = Field(default=0.0, ge=0)


class DnnParams(Strict):
    embedding_dim: PositiveInt = 8
    hidden_units: HiddenUnits = [256, 128]
    activation: Activation = "relu"
    dropout: Dropout = 0.0
    batch_norm: bool = False


class WideDeepParams(DnnParams):
    wide: Optional[list[str]] = Field(default=None, description="Inputs of the wide part; all sparse inputs by default.")


class DeepFmParams(DnnParams):
    pass


class DcnParams(DnnParams):
    cross_layers: PositiveInt = 3


class ModelBase(Strict):
    task: Literal["classification", "regression"]
    label: str = Field(description="Label column of the training source.")
    inputs: ModelInputs
    training: Training
    description: Optional[str] = None


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
    cpu: Optional[str] = Field(default=None, examples=["500m", "2"])
    memory: Optional[str] = Field(default=None, examples=["512Mi", "4Gi"])
    gpu: Optional[Annotated[int, Field(ge=0)]] = None


class Resources(Strict):
    requests: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="500m", memory="1Gi"))
    limits: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="2", memory="4Gi"))


class DynamicBatching(Strict):
    preferred_batch_sizes: list[PositiveInt] = Field(default_factory=list)
    max_queue_delay_us: Annotated[int, Field(ge=0)] = 100


class InstanceGroup(Strict):
    count: PositiveInt = 1
    kind: Literal["cpu", "gpu"] = "cpu"


class Serving(Strict):
    platform: Literal["onnxruntime_onnx", "tensorflow_savedmodel", "python"] = "onnxruntime_onnx"
    max_batch_size: Annotated[int, Field(ge=0)] = 256
    dynamic_batching: Optional[DynamicBatching] = None
    instance_group: InstanceGroup = Field(default_factory=InstanceGroup)
    versions_kept: PositiveInt = Field(default=2, description="Triton version_policy: latest N versions.")


class Images(Strict):
    serving: str = "nvcr.io/nvidia/tritonserver:24.08-py3"
    training: str = "horovod/horovod:0.28.1"
    spark: str = "apache/spark:3.5.1-python3"
    gateway: str = "python:3.11-slim"


class Shard(Strict):
    partitions: list[Union[str, int]] = Field(description="Values of the partition key routed to this shard.")
    models: Optional[list[str]] = Field(default=None, description="Models served by this shard; the deployment's by default.")
    replicas: Optional[PositiveInt] = None
    resources: Optional[Resources] = None


class Shards(Strict):
    partition_key: str = Field(description="Request input whose value picks the shard, e.g. `city`.")
    default: Optional[str] = Field(default=None, description="Shard receiving values not in any partition list.")
    shards: dict[str, Shard] = Field(min_length=1)


class Deployment(Strict):
    namespace: str = "default"
    models: Optional[list[str]] = Field(default=None, description="Models to serve; all models by default.")
    replicas: PositiveInt = 1
    resources: Resources = Field(default_factory=Resources)
    serving: Serving = Field(default_factory=Serving)
    images: Images = Field(default_factory=Images)
    sharding: Optional[Shards] = None


# --------------------------------------------------------------- experiments


class ModelRef(Strict):
    model: str
    version: Optional[PositiveInt] = None
    alias: Optional[str] = None


class Variant(ModelRef):
    weight: Percent


class Experiment(Strict):
    unit: str = Field(description="Request input identifying the randomisation unit, e.g. `user_id`.")
    traffic: Percent = Field(description="Share of the layer's units in this experiment, in percent.")
    reserve: Optional[Percent] = Field(
        default=None, description="Share of the layer reserved for this experiment to ramp up to, in percent "
                                  "(default: `traffic`). Raising `traffic` within `reserve` moves no unit.")
    offset: Optional[Percent] = Field(
        default=None, description="Start of the reservation in the layer, in percent (default: right after the "
                                  "previous experiment's reservation). Pin it to keep units in place.")
    holdout: Percent = 0.0
    control: Optional[str] = Field(default=None, description="The variant the others are compared to (default: the first).")
    targeting: Optional[Expression] = None
    variants: dict[str, Variant] = Field(min_length=1)
    description: Optional[str] = None


class Layer(Strict):
    salt: Optional[str] = Field(default=None, description="Hash salt of the layer; the layer name by default.")
    experiments: dict[str, Experiment] = Field(default_factory=dict)
    description: Optional[str] = None


class SwitchbackVariant(ModelRef):
    weight: Optional[Percent] = None


class Switchback(Strict):
    unit: str = Field(description="Request input naming the region (city, area ...).")
    slice: Duration = Field(description="Length of one time slice, e.g. `30m`.")
    variants: dict[str, SwitchbackVariant] = Field(min_length=2)
    seed: int = 0
    burn_in: Optional[Duration] = None
    timezone: str = "UTC"
    regions: dict[str, str] = Field(default_factory=dict, description="Region -> IANA timezone, overriding `timezone`.")
    start: Optional[Timestamp] = None
    end: Optional[Timestamp] = None
    targeting: Optional[Expression] = None
    control: Optional[str] = Field(default=None, description="The variant the others are compared to (default: the first).")
    description: Optional[str] = None


class Experiments(Strict):
    min_slice: Duration = Field(default="15m", description="Switchback slices shorter than this are refused (lint E5035).")
    layers: dict[str, Layer] = Field(default_factory=dict)
    switchbacks: dict[str, Switchback] = Field(default_factory=dict)


# ---------------------------------------------------------------------- spec


class Spec(Strict):
    """One mlc application."""

    version: Literal[1] = Field(description="Spec format version.")
    name: str
    description: Optional[str] = None
    entities: dict[str, Entity] = Field(default_factory=dict)
    sources: dict[str, Source] = Field(default_factory=dict)
    feature_groups: dict[str, FeatureGroup] = Field(default_factory=dict)
    preprocess: Preprocess = Field(default_factory=Preprocess)
    models: dict[str, Model] = Field(default_factory=dict)
    deployment: Deployment = Field(default_factory=Deployment)
    experiments: Experiments = Field(default_factory=Experiments)
