"""``experiments/config.json`` (format 1) as frozen objects: the reader next to its writer.

    config = ExperimentsConfig.load("build/x/experiments/config.json")
    config.layers[0].experiments[0].variants, config.switchback("dispatch_eta").tickets

The document is written by ``mlc.backends.experiments.emit`` (docs/experiments.md "config.json").
A document this module cannot read raises :class:`ConfigError` naming the field. It is the only
input of the experiment runtime (``mlc.runtime.experiments``, which imports it from here) and the
baseline the compiler's ramp-safety lint reads (``mlc.compiler.experiment_baseline``), so it lives
at the backends' layer, below both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping
from mlc.core.errors import MlcError
from mlc.core.suggest import did_you_mean

FORMAT = 1


class ConfigError(MlcError, ValueError):
    pass


@dataclass(frozen=True)
class VariantConfig:
    name: str
    model: str | None              # None only for the implicit holdout
    version: int | None
    alias: str | None
    weight: float
    buckets: tuple[int, int] | None   # layer experiments: [start, end) of the variant hash space


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    layer: str
    unit: str
    salt: str                      # variant hash salt: `<layer salt>:<name>`
    traffic: float
    buckets: tuple[int, int]       # active range [start, end) of the layer's buckets
    reserved: tuple[int, int]      # reservation [start, end): the active range may grow up to it
    holdout: float
    control: str
    targeting: dict | None
    targeting_source: str | None
    variants: tuple[VariantConfig, ...]

    def variant(self, name: str) -> VariantConfig:
        return _named(self.variants, name, f"experiment `{self.name}`")


@dataclass(frozen=True)
class LayerConfig:
    name: str
    salt: str
    experiments: tuple[ExperimentConfig, ...]


@dataclass(frozen=True)
class SwitchbackConfig:
    name: str
    unit: str
    slice_seconds: int
    burn_in_seconds: int
    seed: int
    timezone: str
    regions: Mapping[str, str]     # region -> IANA zone; empty: every region, in `timezone`
    start: datetime | None         # UTC, aware
    end: datetime | None
    control: str
    targeting: dict | None
    targeting_source: str | None
    tickets: tuple[int, ...]       # per variant, smallest integers with the weights' ratio
    variants: tuple[VariantConfig, ...]

    def timezone_of(self, region: str) -> str | None:
        """The region's zone, or None when the switchback does not cover the region."""
        if not self.regions:
            return self.timezone
        return self.regions.get(region)

    def active(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)

    def variant(self, name: str) -> VariantConfig:
        return _named(self.variants, name, f"switchback `{self.name}`")


@dataclass(frozen=True)
class ExperimentsConfig:
    format: int
    spec: str
    config_version: str
    layers: tuple[LayerConfig, ...]
    switchbacks: tuple[SwitchbackConfig, ...]

    @classmethod
    def load(cls, path: str) -> "ExperimentsConfig":
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read {path}: {err}") from err
        return cls.from_json(doc)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ExperimentsConfig":
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, Mapping) else type(doc).__name__
            raise ConfigError(f"experiments config format {found!r} is not supported (expected {FORMAT})")
        try:
            return cls(FORMAT, str(doc["spec"]), str(doc["config_version"]),
                       tuple(_layer(item) for item in doc.get("layers", ())),
                       tuple(_switchback(item) for item in doc.get("switchbacks", ())))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"invalid experiments config: {type(err).__name__}: {err}") from err

    @property
    def experiments(self) -> tuple[ExperimentConfig, ...]:
        return tuple(e for layer in self.layers for e in layer.experiments)

    def find(self, name: str) -> ExperimentConfig | SwitchbackConfig:
        """A layer experiment or a switchback by name; ConfigError with a suggestion otherwise."""
        for item in (*self.experiments, *self.switchbacks):
            if item.name == name:
                return item
        names = [e.name for e in self.experiments] + [s.name for s in self.switchbacks]
        hint = did_you_mean(name, names, "experiments and switchbacks")
        raise ConfigError(f"no experiment or switchback `{name}`" + (f"; {hint}" if hint else ""))


def _named(variants: tuple[VariantConfig, ...], name: str, owner: str) -> VariantConfig:
    for variant in variants:
        if variant.name == name:
            return variant
    raise ConfigError(f"{owner} has no variant `{name}`")


def _pair(value: Any) -> tuple[int, int]:
    start, end = value
    return int(start), int(end)


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _variant(item: Mapping[str, Any]) -> VariantConfig:
    buckets = item.get("buckets")
    return VariantConfig(item["name"], item["model"], item.get("version"), item.get("alias"),
                         float(item["weight"]), _pair(buckets) if buckets is not None else None)


def _experiment(layer: str, item: Mapping[str, Any]) -> ExperimentConfig:
    return ExperimentConfig(
        name=item["name"], layer=layer, unit=item["unit"], salt=item["salt"], traffic=float(item["traffic"]),
        buckets=_pair(item["buckets"]), reserved=_pair(item.get("reserved", item["buckets"])),
        holdout=float(item.get("holdout", 0.0)), control=item.get("control") or item["variants"][0]["name"],
        targeting=item.get("targeting"), targeting_source=item.get("targeting_source"),
        variants=tuple(_variant(v) for v in item["variants"]),
    )


def _layer(item: Mapping[str, Any]) -> LayerConfig:
    return LayerConfig(item["name"], item["salt"], tuple(_experiment(item["name"], e) for e in item["experiments"]))


def _switchback(item: Mapping[str, Any]) -> SwitchbackConfig:
    variants = tuple(_variant(v) for v in item["variants"])
    tickets = tuple(int(t) for t in item.get("tickets") or [1] * len(variants))
    if len(tickets) != len(variants) or min(tickets) < 1:
        raise ValueError(f"switchback `{item['name']}`: tickets {list(tickets)} do not match its variants")
    return SwitchbackConfig(
        name=item["name"], unit=item["unit"], slice_seconds=int(item["slice_seconds"]),
        burn_in_seconds=int(item.get("burn_in_seconds", 0)), seed=int(item.get("seed", 0)),
        timezone=item.get("timezone", "UTC"), regions=dict(sorted((item.get("regions") or {}).items())),
        start=_time(item.get("start")), end=_time(item.get("end")),
        control=item.get("control") or variants[0].name, targeting=item.get("targeting"),
        targeting_source=item.get("targeting_source"), tickets=tickets, variants=variants,
    )
