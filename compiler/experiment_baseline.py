"""Ramp-safety lint against a baseline: the previous `experiments/config.json`.

    doc, problem = load_baseline("build/x")          # a config.json, or a build folder
    compare(doc, ir, report)                         # W5104 .. W5107 at the new spec's keys

What moves units of an experiment that runs (traffic > 0 in the baseline) is flagged
(docs/experiments.md "Buckets and ramp-safe ranges"):

- W5104 the layer salt changed (every experiment of the layer reshuffles; the other checks of
  that layer are skipped, their ranges no longer mean the same units);
- W5105 the active range lost buckets (moved, or shrank); removing an experiment is fine;
- W5106 the variant split (names and variant bucket ranges), the holdout or the unit changed;
- W5107 a switchback's schedule changed: seed, slice, tickets, variant names and order, or the
  timezone of a region both versions cover.

Everything here is pure except :func:`load_baseline`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mlc.core.diagnostics import Diagnostic, Severity
from mlc.backends.experiments import document
from mlc.backends.experiments.config import ConfigError, ExperimentsConfig
from mlc.compiler.reporter import Reporter
from mlc.schemas.yamlpos import LMap

CONFIG = os.path.join("experiments", "config.json")
NEW_ROUND = "rename the experiment to start a new round on purpose"


def load_baseline(path: str) -> tuple[dict | None, Diagnostic | None]:
    """The baseline document from a config.json file or a build folder holding
    `experiments/config.json`; or a diagnostic E6004 saying why it cannot be read."""
    file = os.path.join(path, CONFIG) if os.path.isdir(path) else path
    try:
        with open(file, encoding="utf-8") as handle:
            doc = json.load(handle)
        ExperimentsConfig.from_json(doc)
    except FileNotFoundError:
        where = f"`{path}` has no {CONFIG}" if os.path.isdir(path) else f"`{path}` does not exist"
        return None, _unreadable(f"baseline cannot be read: {where}")
    except (OSError, ValueError, ConfigError) as err:
        return None, _unreadable(f"baseline cannot be read: {file}: {err}")
    return doc, None


def _unreadable(message: str) -> Diagnostic:
    return Diagnostic("E6004", message, None, Severity.ERROR,
                      "name an `experiments/config.json` written by `mlc compile`, or the build folder holding it")


def compare(baseline: dict, new: Any, report: Reporter) -> None:
    """Warn about changes of ``new`` (an IR or a config.json document) that move units of
    what runs in ``baseline`` (a config.json document)."""
    if not isinstance(new, dict):
        new = document(new)
    new_layers = {layer["name"]: layer for layer in new.get("layers", [])}
    for old_layer in baseline.get("layers", []):
        layer = new_layers.get(old_layer["name"])
        if layer is not None:
            _compare_layer(old_layer, layer, report)
    new_switchbacks = {s["name"]: s for s in new.get("switchbacks", [])}
    for old in baseline.get("switchbacks", []):
        if old["name"] in new_switchbacks:
            _compare_switchback(old, new_switchbacks[old["name"]], report)


def _running(experiment: dict | None) -> bool:
    if experiment is None:
        return False
    start, end = experiment["buckets"]
    return experiment.get("traffic", 0) > 0 and end > start


def _pct(buckets: int) -> str:
    return f"{buckets / 100:g}%"


def _range(pair: list) -> str:
    return f"[{_pct(pair[0])}, {_pct(pair[1])})"


def _warn(report: Reporter, code: str, message: str, hint: str, *paths: tuple) -> None:
    """A warning at the first of ``paths`` written in the spec: the value of a setting, the key
    of a section (an entry of a map written inline is located at its key too)."""
    span = None
    for path in paths:
        if _written(report, path):
            span = report.value_span(path) if path[-1] in _VALUE_KEYS else report.key_span(path)
            break
    report.bag.add(Diagnostic(code, message, span, Severity.WARNING, hint))


def _written(report: Reporter, path: tuple) -> bool:
    node = report.root
    for part in path:
        if not (isinstance(node, LMap) and part in node.entries):
            return False
        node = node.entries[part][1]
    return True


_VALUE_KEYS = {"salt", "traffic", "offset", "reserve", "holdout", "unit", "seed", "slice", "timezone"}


def _compare_layer(old_layer: dict, layer: dict, report: Reporter) -> None:
    base = ("experiments", "layers", layer["name"])
    new_experiments = {e["name"]: e for e in layer["experiments"]}
    running = [e for e in old_layer["experiments"] if _running(e)]
    staying = [e["name"] for e in running if _running(new_experiments.get(e["name"]))]
    if old_layer["salt"] != layer["salt"]:
        if staying:
            names = ", ".join(f"`{n}`" for n in staying)
            _warn(report, "W5104", f"the salt of layer `{layer['name']}` changed from `{old_layer['salt']}` to "
                  f"`{layer['salt']}`: every unit of running experiment{'s' if len(staying) > 1 else ''} {names} "
                  "is reshuffled", f"keep `salt: {old_layer['salt']}` while {'they run' if len(staying) > 1 else 'it runs'}; to start a new round on "
                  "purpose, rename the experiments too (or set their `traffic: 0`)",
                  base + ("salt",), base)
        return
    for old in running:
        new = new_experiments.get(old["name"])
        if _running(new):  # removing or stopping an experiment is fine
            _compare_experiment(old, new, base + ("experiments", old["name"]), report)


def _compare_experiment(old: dict, new: dict, path: tuple, report: Reporter) -> None:
    name = old["name"]
    (a, b), (c, d) = old["buckets"], new["buckets"]
    if not (c <= a and b <= d) and b > a:
        if c != a:
            lost = b - a - max(0, min(b, d) - max(a, c))
            _warn(report, "W5105", f"the active range of running experiment `{name}` moved from {_range(old['buckets'])} "
                  f"to {_range(new['buckets'])}: {_pct(lost)} of the layer's units leave it",
                  f"pin `offset: {a / 100:g}` on `{name}` to keep its units, or {NEW_ROUND}",
                  path + ("offset",), path)
        else:
            _warn(report, "W5105", f"the active range of running experiment `{name}` shrank from {_range(old['buckets'])} "
                  f"to {_range(new['buckets'])}: {_pct(b - d)} of the layer's units leave it",
                  f"keep `traffic` at {old['traffic']:g} or more while it runs (ramping down drops units), "
                  f"or {NEW_ROUND}", path + ("traffic",), path)
    changes = []
    if old["unit"] != new["unit"]:
        changes.append((f"unit `{old['unit']}` -> `{new['unit']}`", path + ("unit",)))
    if float(old.get("holdout", 0)) != float(new.get("holdout", 0)):
        changes.append((f"holdout {old.get('holdout', 0):g}% -> {new.get('holdout', 0):g}%", path + ("holdout",)))
    split = lambda e: [(v["name"], list(v["buckets"])) for v in e["variants"]]  # noqa: E731
    if split(old) != split(new):
        describe = lambda e: "/".join(f"{v['name']} {v['weight']:g}" for v in e["variants"])  # noqa: E731
        changes.append((f"variants {describe(old)} -> {describe(new)}", path + ("variants",)))
    if changes:
        _warn(report, "W5106", f"the variant split of running experiment `{name}` changed ("
              + "; ".join(text for text, _ in changes) + "): its units switch variants",
              f"keep the split while it runs, or {NEW_ROUND}", *(p for _, p in changes), path)


def _zone(switchback: dict, region: str) -> str:
    regions = switchback.get("regions") or {}
    return regions.get(region) if regions else switchback.get("timezone", "UTC")


def _compare_switchback(old: dict, new: dict, report: Reporter) -> None:
    path = ("experiments", "switchbacks", new["name"])
    changes = []
    if old.get("seed", 0) != new.get("seed", 0):
        changes.append((f"seed {old.get('seed', 0)} -> {new.get('seed', 0)}", path + ("seed",)))
    if old["slice_seconds"] != new["slice_seconds"]:
        changes.append((f"slice {old['slice_seconds']}s -> {new['slice_seconds']}s", path + ("slice",)))
    old_names, new_names = [v["name"] for v in old["variants"]], [v["name"] for v in new["variants"]]
    if old_names != new_names:
        changes.append((f"variants {', '.join(old_names)} -> {', '.join(new_names)}", path + ("variants",)))
    elif list(old.get("tickets") or [1] * len(old_names)) != list(new.get("tickets") or [1] * len(new_names)):
        changes.append((f"tickets {old.get('tickets')} -> {new.get('tickets')}", path + ("variants",)))
    old_regions, new_regions = old.get("regions") or {}, new.get("regions") or {}
    if old_regions and new_regions:
        shared = sorted(set(old_regions) & set(new_regions))
    else:
        shared = sorted(old_regions or new_regions)
    if not old_regions and not new_regions:
        if old.get("timezone") != new.get("timezone"):
            changes.append((f"timezone {old.get('timezone')} -> {new.get('timezone')}", path + ("timezone",)))
    for region in shared:
        if _zone(old, region) != _zone(new, region):
            where = path + ("regions", region) if new_regions else path + ("timezone",)
            changes.append((f"timezone of `{region}` {_zone(old, region)} -> {_zone(new, region)}", where))
    if changes:
        _warn(report, "W5107", f"the schedule of switchback `{new['name']}` changed ("
              + "; ".join(text for text, _ in changes) + "): its regions get other variants from now on",
              "keep the schedule while it runs, or rename the switchback to start a new round on purpose",
              *(p for _, p in changes), path)
