"""Assignment of one request to experiments and switchbacks, and the routing decision.

    assigner = Assigner.load("build/x/experiments/config.json")
    assignments = assigner.assign({"user_id": 7, "city": "beijing"}, at)     # switchbacks, then layers
    deciding = assigner.route(assignments, served_models=shard.models, requested_model=request.get("model"))

Rules (docs/experiments.md "The hash", "Switchback schedule", "Routing"):

- layer: per layer, the first experiment (config order) whose active range holds the unit's
  layer bucket and whose targeting matches assigns; the variant bucket picks the variant, and a
  bucket beyond the last variant is the holdout (variant ``holdout``, no model);
- switchback: the schedule's slice variant when the region is covered, ``at`` is in the period
  and the targeting matches;
- a missing or null unit field, or a value that cannot be a unit (a float, a bool, an integer
  outside int64, text with the 0x00 separator or unencodable as UTF-8), keeps the request out
  of that experiment. Nothing about a request's data raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from mlc.backends.experiments.config import (
    ConfigError, ExperimentConfig, ExperimentsConfig, LayerConfig, SwitchbackConfig, VariantConfig,
)
from mlc.runtime.experiments.hashing import SEPARATOR, UnitError, text_bucket, unit_text
from mlc.runtime.experiments.targeting import Targeting, TargetingError
from mlc.runtime.experiments.switchback import Schedule, zone_info

HOLDOUT = "holdout"
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


@dataclass(frozen=True)
class Assignment:
    """One experiment or switchback a request is in; the fields mirror the exposure log."""
    kind: str                      # "layer" | "switchback"
    experiment: str
    layer: str | None
    unit: str
    unit_id: str                   # text(unit value) as hashed
    bucket: int | None             # layer bucket (layer experiments)
    variant: str                   # variant name, or "holdout"
    model: str | None
    version: int | None
    alias: str | None
    region: str | None = None
    slice_start: datetime | None = None
    slice_index: int | None = None
    burn_in: bool | None = None

    @property
    def is_holdout(self) -> bool:
        return self.model is None


def unit_id(value: Any) -> str | None:
    """The hashed text of a request's unit value, or None when it cannot be a unit."""
    if value is None:
        return None
    try:
        text = unit_text(value)
        text.encode("utf-8")
    except (UnitError, UnicodeEncodeError):
        return None
    if SEPARATOR in text or (not isinstance(value, str) and not INT64_MIN <= int(value) <= INT64_MAX):
        return None
    return text


class _Experiment:
    """A layer experiment with its targeting compiled."""

    def __init__(self, config: ExperimentConfig):
        self.config = config
        self.start, self.end = config.buckets
        self.targeting = _targeting(config.targeting, f"experiment `{config.name}`")
        for variant in config.variants:
            if variant.buckets is None:
                raise ConfigError(f"experiment `{config.name}`: variant `{variant.name}` has no buckets")

    def variant_for(self, variant_bucket: int) -> VariantConfig | None:
        for variant in self.config.variants:
            start, end = variant.buckets
            if start <= variant_bucket < end:
                return variant
        return None


class _Switchback:
    """A switchback with its schedule and targeting."""

    def __init__(self, config: SwitchbackConfig):
        self.config = config
        try:
            self.schedule = Schedule(config)
            for zone in {config.timezone, *config.regions.values()}:   # a bad zone fails here, not per request
                zone_info(zone)
        except ValueError as err:
            raise ConfigError(f"switchback `{config.name}`: {err}") from None
        self.targeting = _targeting(config.targeting, f"switchback `{config.name}`")


def _targeting(tree: Mapping | None, owner: str) -> Any:
    if tree is None:
        return None

    try:
        return Targeting(tree)
    except TargetingError as err:
        raise ConfigError(f"{owner}: targeting: {err}") from None


class Assigner:
    def __init__(self, config: ExperimentsConfig):
        self.config = config
        self._switchbacks = [_Switchback(s) for s in config.switchbacks]
        self._layers = [(layer, [_Experiment(e) for e in layer.experiments]) for layer in config.layers]

    @classmethod
    def load(cls, path: str) -> "Assigner":
        return cls(ExperimentsConfig.load(path))

    @property
    def config_version(self) -> str:
        return self.config.config_version

    def assign(self, fields: Mapping[str, Any], at: datetime | None = None) -> list[Assignment]:
        """The request's assignments: switchbacks, then one per layer, each in config order."""
        at, units = _utc(at), _Units(fields)
        out = [a for s in self._switchbacks if (a := self._switchback(s, units, at)) is not None]
        out.extend(a for layer, experiments in self._layers
                   if (a := self._layer(layer, experiments, units)) is not None)
        return out

    def route(self, assignments: Sequence[Assignment], served_models: Sequence[str],
              requested_model: str | None = None) -> Assignment | None:
        """The deciding assignment: the first whose variant model the shard serves (and that is the
        request's explicit model, when it names one); a holdout never routes. None: normal route."""
        served = set(served_models)
        for assignment in assignments:
            if assignment.model is None or assignment.model not in served:
                continue
            if requested_model is None or assignment.model == requested_model:
                return assignment
        return None

    def _switchback(self, item: _Switchback, units: "_Units", at: datetime) -> Assignment | None:
        config = item.config
        region = units.text(config.unit)
        if region is None:
            return None
        placed = item.schedule.assign(region, at)
        if placed is None or (item.targeting is not None and not item.targeting.matches(units.fields)):
            return None
        slice_, variant, burn_in = placed
        return Assignment("switchback", config.name, None, config.unit, region, None, variant.name,
                          variant.model, variant.version, variant.alias, region=region,
                          slice_start=slice_.start, slice_index=slice_.index, burn_in=bool(burn_in))

    def _layer(self, layer: LayerConfig, experiments: list[_Experiment], units: "_Units") -> Assignment | None:
        layer_buckets: dict[str, int] = {}          # unit text -> layer bucket, for mixed-unit layers
        for experiment in experiments:
            text = units.text(experiment.config.unit)
            if text is None:
                continue
            layer_bucket = layer_buckets.get(text)
            if layer_bucket is None:
                layer_bucket = layer_buckets[text] = text_bucket(layer.salt, text)
            if not experiment.start <= layer_bucket < experiment.end:
                continue
            if experiment.targeting is not None and not experiment.targeting.matches(units.fields):
                continue
            return _layer_assignment(experiment, text, layer_bucket)
        return None


class _Units:
    """A request's unit texts, each computed once per request."""

    __slots__ = ("fields", "_texts")

    def __init__(self, fields: Mapping[str, Any]):
        self.fields = fields
        self._texts: dict[str, str | None] = {}

    def text(self, name: str) -> str | None:
        if name not in self._texts:
            self._texts[name] = unit_id(self.fields.get(name))
        return self._texts[name]


def _layer_assignment(experiment: _Experiment, text: str, layer_bucket: int) -> Assignment:
    config = experiment.config
    variant = experiment.variant_for(text_bucket(config.salt, text))
    if variant is None:
        return Assignment("layer", config.name, config.layer, config.unit, text, layer_bucket, HOLDOUT,
                          None, None, None)
    return Assignment("layer", config.name, config.layer, config.unit, text, layer_bucket, variant.name,
                      variant.model, variant.version, variant.alias)


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(timezone.utc)
    if at.tzinfo is None:
        return at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc)
