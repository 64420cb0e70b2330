"""Routing: which shard, model and version answer a request.

* :class:`Routing`: partition value -> shard, the default shard, each shard's models (from the
  IR or the ``routing.json`` of ``mlc.backends.serving_k8s``);
* :func:`shard_of`: the value of ``deployment.partition_key`` (as sent; all rows must agree)
  picks the shard listing it, the default shard for any other value or a null -- the rule the
  training sets were split by;
* :func:`served_models` / :func:`check_model`: the models a shard serves, and the check of the
  model a request was assigned (explicitly, by ``Predictor.assign`` or by an experiment:
  ``mlc.runtime.serving.experiment_routing``) -> :class:`~mlc.runtime.serving.errors.ModelNotFound`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from mlc.core.ir import IR, ModelIR, ShardIR
from mlc.runtime.serving.errors import ModelNotFound, RequestError


@dataclass(frozen=True)
class Routing:
    """Partition value -> shard, the default shard, each shard's models and (deployed) Triton
    gRPC address. From the IR (:meth:`from_ir`) or from the ``routing.json`` written by
    ``mlc.backends.serving_k8s`` (:meth:`from_table`, checked against the IR)."""
    partition_key: str | None
    routes: Mapping[str, str]                    # partition value (text) -> shard
    default: str
    models: Mapping[str, tuple[str, ...]]        # shard -> models, serving order
    addresses: Mapping[str, str] = field(default_factory=dict)   # shard -> host:grpc_port

    @classmethod
    def from_ir(cls, ir: IR) -> "Routing":
        shards = ir.deployment.shards
        if not shards:
            raise ValueError(f"deployment of `{ir.name}` has no shard")
        default = next((s for s in shards if s.is_default), shards[0])
        routes = {value: s.name for s in shards for value in s.partitions}
        return cls(ir.deployment.partition_key, routes, default.name, {s.name: tuple(s.models) for s in shards})

    @classmethod
    def from_table(cls, table: Mapping[str, Any], ir: IR) -> "Routing":
        if table.get("version") != 1:
            raise ValueError(f"routing table version {table.get('version')!r} is not supported (expected 1)")
        if table.get("spec") != ir.name:
            raise ValueError(f"routing table is of spec `{table.get('spec')}`, the build is `{ir.name}`")
        if table.get("partition_key") != ir.deployment.partition_key:
            raise ValueError(f"routing table partitions by `{table.get('partition_key')}`, the build by "
                             f"`{ir.deployment.partition_key}`")
        shards = {s.name for s in ir.deployment.shards}
        entries = [table["default"], *table.get("routes", {}).values()]
        unknown = sorted({e["shard"] for e in entries} - shards)
        if unknown:
            raise ValueError(f"routing table names shards {unknown} the build does not have")
        models = {e["shard"]: tuple(e.get("models", ())) for e in entries}
        for shard, names in models.items():
            missing = [m for m in names if m not in {x.name for x in ir.models}]
            if missing:
                raise ValueError(f"routing table: shard `{shard}` serves unknown model(s) {missing}")
        addresses = {e["shard"]: f"{e['service']}:{e['grpc_port']}" for e in entries if e.get("service")}
        return cls(table.get("partition_key"), {str(k): v["shard"] for k, v in table.get("routes", {}).items()},
                   table["default"]["shard"], models, addresses)

    @classmethod
    def load(cls, path: str, ir: IR) -> "Routing":
        with open(path, encoding="utf-8") as fh:
            return cls.from_table(json.load(fh), ir)

    def shard_for(self, value: Any) -> str:
        if value is None:
            return self.default
        return self.routes.get(partition_text(value), self.default)


def partition_text(value: Any) -> str:
    """A partition value as the training sets compare it (Spark's cast to string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shard_of(routing: Routing, columns: Mapping[str, Sequence[Any]]) -> str:
    """The shard of a request's validated rows (``{field: values}``): all rows must share one
    partition value (else :class:`RequestError`)."""
    key = routing.partition_key
    if not key:
        return routing.default
    values = {partition_text(v) if v is not None else None for v in columns.get(key, [None])}
    if len(values) > 1:
        shown = sorted(str(v) for v in values)
        raise RequestError(f"the items of one request must share one `{key}` (the partition key)",
                           {key: f"items have several values {shown}; send one request per value"})
    value = next(iter(values)) if values else None
    return routing.shard_for(value)


def served_models(routing: Routing, shard: ShardIR) -> Sequence[str]:
    """The models ``shard`` serves, in serving order (the first is its default)."""
    return routing.models.get(shard.name, shard.models)


def check_model(models: Mapping[str, ModelIR], spec: str, routing: Routing, shard: ShardIR, name: str) -> ModelIR:
    """The model ``name`` of spec ``spec`` (``models``: its models by name), which ``shard`` must
    serve (else :class:`ModelNotFound`)."""
    if name not in models:
        raise ModelNotFound(f"unknown model `{name}`", {"model": f"not a model of `{spec}` "
                                                                  f"(models: {sorted(models)})"})
    served = served_models(routing, shard)
    if name not in served:
        raise ModelNotFound(f"model `{name}` is not served by shard `{shard.name}`",
                            {"model": f"shard `{shard.name}` serves {list(served)}"})
    return models[name]
