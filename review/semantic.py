"""The semantic diff of a review: two ``mldl.json`` documents compared section by section.

Both sides are plain JSON data (``mlc.core.ir.to_jsonable`` form), so a spec, a build folder
and a git revision compare alike. Sections come in :data:`mlc.review.model.SECTIONS` order;
``spec`` holds the top-level scalars (``name``, ``mldl_version``).

How things are compared
-----------------------

* **By name, never by position.** Sources, entities, feature groups, inputs, derived features,
  analyzers (by ``id``), models, layers, experiments and switchbacks; inside items: columns, a
  group's keys/windows/aggregations/outputs, a model's dense/sparse/signature tensors, shards,
  variants. A whole item added or removed is one change with an empty path (a nested one:
  ``("shards", "west")``) whose old/new value is the item's JSON.
* **Sequences where order means something.** Entity and group keys, windows, aggregations and
  outputs (the online record layout), a model's dense and sparse inputs and signature tensors,
  variants, the order of layers and switchbacks (routing precedence), and a layer's
  experiments: when the relative order of the names both sides share differs, one ``~`` change
  of the list of names (path ending in the list's name; for layers/switchbacks the section
  itself: empty entity and path). Added/removed names are reported as items, not as a
  reordering. A shard's ``models`` (the first is the default) is a list of scalars: one ``~``
  change of the whole list.
* **Sets where order means nothing.** Shard partitions, a model's ``feature_groups`` and
  ``raw_inputs``, a derived feature's ``depends_on`` and ``analyzers``: one ``+``/``-`` per
  element, path ending in the list's name.
* **Maps.** Key/value objects (source options, hyperparameters, analyzer params and fitted
  constants, resources, images, dynamic batching, regions, group defaults): one ``+``/``-``
  per key, a changed value recursed into when both are objects.
* Any other list of scalars (``hidden_units``, bucket ranges, a tensor's shape) is one value:
  one ``~`` change. Expression trees are opaque: one ``~`` change of the whole tree.

No restatement: a change is reported once, at the field users wrote
----------------------------------------------------------------------

* derived features: ``tree``, ``depends_on`` and ``analyzers`` are dropped when ``expression``
  changed (they are computed from it); ``dtype`` is always kept;
* feature groups: ``filter`` is dropped when ``filter_source`` changed, an aggregation's
  ``argument`` when its ``expression`` changed; ``outputs`` are dropped when both sides are
  exactly ``<aggregation>_<window>`` in aggregation-major order with the aggregation's dtype
  (what windows and aggregations already say); ``defaults`` of outputs that were added or
  removed are dropped;
* analyzers are computed from their feature's expression: every change of an analyzer whose
  feature was added, removed, or changed its ``expression`` is dropped. ``fitted`` constants
  (a refit) are compared only when both sides have them;
* models: a signature change is dropped when implied by a reported change: a signature input
  added/removed with the same name added to/removed from ``dense``/``sparse``; a tensor's
  dtype/shape change when it moved between ``dense`` and ``sparse``; a reordering when on both
  sides the signature inputs are exactly ``dense + sparse`` in order; any signature-output
  change when ``task`` changed. Everything else (a changed tensor dtype or shape, a signature
  that no longer follows the inputs) is reported;
* experiments: ``salt`` is dropped when both sides are ``<layer salt>:<name>`` (the change is
  reported at the layer's ``salt`` or the experiment's ``layer``); ``targeting`` when
  ``targeting_source`` changed. A layer's ``experiments`` membership follows the experiments'
  ``layer`` fields, so only a reordering of its shared members is reported;
* switchbacks: ``tickets`` (the variant weights as smallest integers) is never reported, the
  weights are; ``targeting`` as for experiments.

``plan_of`` counts named items: top-level items and shards added or removed, and items with at
least one other change (deployment counts as one item, each shard as one, ``spec`` as one, a
section's reordering as one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from mlc.core.ir import output_name
from mlc.review.model import ADD, CHANGE, REMOVE, SECTIONS, Change, Plan

Path = tuple[str, ...]
Raw = tuple[str, Path, Any, Any]          # (op, path inside the item, old, new)

SPEC_SCALARS = ("mldl_version", "name")


# ----------------------------------------------------------------------------- field rules


@dataclass(frozen=True)
class Named:
    """A list of objects identified by ``key``; ``ordered`` when their order means something."""
    item: dict = field(default_factory=dict)
    ordered: bool = False
    key: str = "name"


SET = "set"              # list compared as a set of elements
OPAQUE = "opaque"        # one value, never recursed into (expression trees)
SKIP = "skip"            # never reported (fully derived)
MEMBER_ORDER = "member order"   # list of names whose membership is restated elsewhere: order only

COLUMN: dict = {}
COLUMNS = Named(COLUMN)
KEYS = Named(COLUMN, ordered=True)
VARIANTS = Named({}, ordered=True)

SOURCE = {"columns": COLUMNS}
ENTITY = {"keys": KEYS}
GROUP = {
    "keys": KEYS, "windows": Named({}, ordered=True), "filter": OPAQUE,
    "aggregations": Named({"argument": OPAQUE}, ordered=True), "outputs": Named(COLUMN, ordered=True),
}
INPUT: dict = {}
DERIVED = {"tree": OPAQUE, "depends_on": SET, "analyzers": SET}
ANALYZER = {"argument": OPAQUE}
TENSORS = Named({}, ordered=True)
MODEL = {
    "dense": Named(COLUMN, ordered=True), "sparse": Named({}, ordered=True),
    "signature_inputs": TENSORS, "signature_outputs": TENSORS,
    "raw_inputs": SET, "feature_groups": SET,
}
SHARD = {"partitions": SET}
DEPLOYMENT = {"shards": Named(SHARD)}
LAYER = {"experiments": MEMBER_ORDER}
EXPERIMENT = {"targeting": OPAQUE, "variants": VARIANTS}
SWITCHBACK = {"targeting": OPAQUE, "tickets": SKIP, "variants": VARIANTS}

# section -> how its items are compared; deployment is one object, spec the top-level scalars
COLLECTIONS: dict[str, Named] = {
    "sources": Named(SOURCE), "entities": Named(ENTITY), "feature_groups": Named(GROUP),
    "inputs": Named(INPUT), "derived": Named(DERIVED), "analyzers": Named(ANALYZER, key="id"),
    "models": Named(MODEL), "layers": Named(LAYER, ordered=True), "experiments": Named(EXPERIMENT),
    "switchbacks": Named(SWITCHBACK, ordered=True),
}


# ------------------------------------------------------------------------------ public API


def semantic_diff(base_mldl: dict, head_mldl: dict) -> list[Change]:
    """Every semantic change from ``base_mldl`` to ``head_mldl``, in section order."""
    base, head = _normalise(base_mldl), _normalise(head_mldl)
    changes: list[Change] = []
    for section, _kind in SECTIONS:
        raw = _section_changes(section, base, head)
        raw = RESTATEMENTS.get(section, _keep_all)(raw, base, head)
        changes += [Change(op, section, entity, path, old, new) for entity, (op, path, old, new) in raw]
    return changes


def plan_of(changes: list[Change]) -> Plan:
    """Terraform-style counts: items (and shards) added, destroyed, and changed (each once)."""
    added, destroyed, changed = set(), set(), set()
    for change in changes:
        item, rest = _item_of(change)
        if rest == () and change.op == ADD and item[1]:
            added.add(item)
        elif rest == () and change.op == REMOVE and item[1]:
            destroyed.add(item)
        else:
            changed.add(item)
    return Plan(add=len(added), change=len(changed - added - destroyed), destroy=len(destroyed))


def _item_of(change: Change) -> tuple[tuple[str, ...], Path]:
    """The named item a change belongs to, and the path inside it: shards are items of their own."""
    if change.section == "deployment" and change.path[:1] == ("shards",) and len(change.path) >= 2:
        return ("deployment.shards", change.path[1]), change.path[2:]
    return (change.section, change.entity), change.path


# ------------------------------------------------------------------------------ the engine


Entry = tuple[str, Raw]                   # (entity, raw change)


def _section_changes(section: str, base: dict, head: dict) -> list[Entry]:
    if section == "spec":
        keys = _spec_keys(base, head)
        return [("", raw) for key in keys for raw in _diff_field(base.get(key), head.get(key), None, (key,))]
    if section == "deployment":
        return [("", raw) for raw in _diff_field(base.get(section), head.get(section), DEPLOYMENT, ())]
    entries = []
    for op, path, old, new in _diff_named(base.get(section) or [], head.get(section) or [], COLLECTIONS[section], ()):
        entity, rest = (path[0], path[1:]) if path else ("", ())
        entries.append((entity, (op, rest, old, new)))
    return entries


def _spec_keys(base: dict, head: dict) -> list[str]:
    """The top-level scalars, and any top-level key that is not a known section."""
    known = set(COLLECTIONS) | {"deployment"}
    extra = [k for k in list(base) + list(head) if k not in known and k not in SPEC_SCALARS]
    return list(SPEC_SCALARS) + list(dict.fromkeys(extra))


def _diff_field(old: Any, new: Any, rule: Any, path: Path) -> list[Raw]:
    """Changes of one field value under its rule (see the module docstring)."""
    if rule == SKIP or _same(old, new):
        return []
    if rule == OPAQUE:
        return [(CHANGE, path, old, new)]
    if isinstance(old, list) and isinstance(new, list):
        if isinstance(rule, Named):
            return _diff_named(old, new, rule, path)
        if rule == SET:
            return _diff_set(old, new, path)
        if rule == MEMBER_ORDER:
            return _diff_member_order(old, new, path)
    if isinstance(old, dict) and isinstance(new, dict):
        return _diff_object(old, new, rule if isinstance(rule, dict) else {}, path)
    return [(CHANGE, path, old, new)]


def _diff_object(old: dict, new: dict, schema: dict, path: Path) -> list[Raw]:
    """Objects and maps alike: per key added, removed or changed."""
    out: list[Raw] = []
    for key in list(old) + [k for k in new if k not in old]:
        if key not in new:
            out.append((REMOVE, path + (key,), old[key], None))
        elif key not in old:
            out.append((ADD, path + (key,), None, new[key]))
        else:
            out += _diff_field(old[key], new[key], schema.get(key), path + (key,))
    return out


def _diff_named(old: list, new: list, rule: Named, path: Path) -> list[Raw]:
    """Items matched by name: removed, changed (in BASE order), added (in HEAD order), then
    one reordering change when the shared names are in a different order."""
    old_items, new_items = _by_key(old, rule.key), _by_key(new, rule.key)
    if old_items is None or new_items is None:          # not a list of named objects after all
        return [(CHANGE, path, old, new)]
    out: list[Raw] = []
    for name, item in old_items.items():
        if name not in new_items:
            out.append((REMOVE, path + (name,), item, None))
        else:
            out += _diff_field(item, new_items[name], rule.item, path + (name,))
    out += [(ADD, path + (name,), None, item) for name, item in new_items.items() if name not in old_items]
    if rule.ordered:
        out += _diff_member_order(list(old_items), list(new_items), path)
    return out


def _diff_member_order(old: list, new: list, path: Path) -> list[Raw]:
    shared_old = [name for name in old if name in new]
    shared_new = [name for name in new if name in old]
    return [(CHANGE, path, list(old), list(new))] if shared_old != shared_new else []


def _diff_set(old: list, new: list, path: Path) -> list[Raw]:
    old_keys, new_keys = [_canonical(v) for v in old], [_canonical(v) for v in new]
    out: list[Raw] = [(REMOVE, path, value, None) for value, key in zip(old, old_keys) if key not in new_keys]
    out += [(ADD, path, None, value) for value, key in zip(new, new_keys) if key not in old_keys]
    return out


def _by_key(items: list, key: str) -> dict[str, dict] | None:
    if not all(isinstance(item, dict) and isinstance(item.get(key), str) for item in items):
        return None
    return {item[key]: item for item in items}


def _same(old: Any, new: Any) -> bool:
    """JSON equality that tells ``true`` from ``1`` (``1`` and ``1.0`` are the same number)."""
    return old is new or _canonical(old) == _canonical(new)


def _canonical(value: Any) -> str:
    return json.dumps(_plain_numbers(value), sort_keys=True, separators=(",", ":"), default=str)


def _plain_numbers(value: Any) -> Any:
    """Integral floats as ints (``40.0`` is ``40``); booleans stay booleans."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- normalisation


def _normalise(mldl: dict) -> dict:
    """Shard resources are key/value pairs nested in a map (``{"limits": [["cpu", "2"]]}``):
    make them maps all the way down, so they compare key by key."""
    deployment = mldl.get("deployment")
    if not isinstance(deployment, dict) or not isinstance(deployment.get("shards"), list):
        return mldl
    shards = [_normalise_shard(shard) for shard in deployment["shards"]]
    return {**mldl, "deployment": {**deployment, "shards": shards}}


def _normalise_shard(shard: Any) -> Any:
    if not isinstance(shard, dict) or not isinstance(shard.get("resources"), dict):
        return shard
    resources = {part: _pairs_to_map(value) for part, value in shard["resources"].items()}
    return {**shard, "resources": resources}


def _pairs_to_map(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in value):
        return {k: v for k, v in value}
    return value


# ---------------------------------------------------------------------------- restatements


def _keep_all(entries: list[Entry], base: dict, head: dict) -> list[Entry]:
    return entries


def _items(mldl: dict, section: str, key: str = "name") -> dict[str, dict]:
    return {item.get(key): item for item in mldl.get(section) or [] if isinstance(item, dict)}


def _changed_paths(entries: list[Entry]) -> set[tuple[str, Path]]:
    return {(entity, path) for entity, (_op, path, _old, _new) in entries}


def _drop(entries: list[Entry], restated: Callable[[str, Raw], bool]) -> list[Entry]:
    return [(entity, raw) for entity, raw in entries if not restated(entity, raw)]


def _derived_restatements(entries: list[Entry], base: dict, head: dict) -> list[Entry]:
    changed = _changed_paths(entries)

    def restated(entity: str, raw: Raw) -> bool:
        path = raw[1]
        return path[:1] in {("tree",), ("depends_on",), ("analyzers",)} and (entity, ("expression",)) in changed

    return _drop(entries, restated)


def _group_restatements(entries: list[Entry], base: dict, head: dict) -> list[Entry]:
    changed = _changed_paths(entries)
    old_groups, new_groups = _items(base, "feature_groups"), _items(head, "feature_groups")

    def restated(entity: str, raw: Raw) -> bool:
        op, path = raw[0], raw[1]
        if path[:1] == ("filter",):
            return (entity, ("filter_source",)) in changed
        if path[:1] == ("aggregations",) and path[2:3] == ("argument",):
            return (entity, path[:2] + ("expression",)) in changed
        if path[:1] == ("outputs",):
            return _outputs_implied(old_groups.get(entity)) and _outputs_implied(new_groups.get(entity))
        if path[:1] == ("defaults",) and len(path) == 2 and op in (ADD, REMOVE):
            return _output_moved(old_groups.get(entity), new_groups.get(entity), path[1])
        return False

    return _drop(entries, restated)


def _outputs_implied(group: dict | None) -> bool:
    """The group's outputs are exactly `<aggregation>_<window>`, aggregation-major, with the
    aggregation's dtype: nothing the windows and aggregations do not already say."""
    if group is None:
        return True
    try:
        implied = [{"name": output_name(a['name'], w['name']), "dtype": a["dtype"]}
                   for a in group["aggregations"] for w in group["windows"]]
    except (KeyError, TypeError):
        return False
    return implied == group.get("outputs")


def _output_moved(old_group: dict | None, new_group: dict | None, output: str) -> bool:
    """The output exists on one side only: its default follows it."""
    def has(group: dict | None) -> bool:
        return group is not None and any(o.get("name") == output for o in group.get("outputs") or [])
    return has(old_group) != has(new_group)


def _analyzer_restatements(entries: list[Entry], base: dict, head: dict) -> list[Entry]:
    old_analyzers, new_analyzers = _items(base, "analyzers", "id"), _items(head, "analyzers", "id")
    old_derived, new_derived = _items(base, "derived"), _items(head, "derived")

    def feature_rewritten(analyzer_id: str) -> bool:
        analyzer = new_analyzers.get(analyzer_id) or old_analyzers.get(analyzer_id) or {}
        old, new = old_derived.get(analyzer.get("feature")), new_derived.get(analyzer.get("feature"))
        if old is None and new is None:
            return False
        return old is None or new is None or old.get("expression") != new.get("expression")

    def restated(entity: str, raw: Raw) -> bool:
        if feature_rewritten(entity):
            return True
        if raw[1][:1] == ("fitted",):
            old, new = old_analyzers.get(entity, {}), new_analyzers.get(entity, {})
            return old.get("fitted") is None or new.get("fitted") is None
        return False

    return _drop(entries, restated)


def _model_restatements(entries: list[Entry], base: dict, head: dict) -> list[Entry]:
    changed = _changed_paths(entries)
    old_models, new_models = _items(base, "models"), _items(head, "models")

    def inputs(model: dict | None, kind: str) -> list[str]:
        return [item.get("name") for item in (model or {}).get(kind) or [] if isinstance(item, dict)]

    def restated(entity: str, raw: Raw) -> bool:
        path = raw[1]
        old, new = old_models.get(entity), new_models.get(entity)
        if path[:1] == ("signature_outputs",):
            return (entity, ("task",)) in changed
        if path[:1] != ("signature_inputs",):
            return False
        if len(path) == 1:                                   # a reordering
            return all(inputs(m, "signature_inputs") == inputs(m, "dense") + inputs(m, "sparse") for m in (old, new))
        name = path[1]
        if len(path) == 2:                                   # a tensor added or removed
            return any((entity, (kind, name)) in changed for kind in ("dense", "sparse"))
        moved = (name in inputs(old, "dense")) != (name in inputs(new, "dense"))
        return moved and (name in inputs(old, "sparse")) != (name in inputs(new, "sparse"))

    return _drop(entries, restated)


def _experiment_restatements(entries: list[Entry], base: dict, head: dict) -> list[Entry]:
    changed = _changed_paths(entries)
    old_experiments, new_experiments = _items(base, "experiments"), _items(head, "experiments")
    old_layers, new_layers = _items(base, "layers"), _items(head, "layers")

    def salt_from_layer(experiment: dict | None, layers: dict[str, dict]) -> bool:
        if experiment is None:
            return False
        layer = layers.get(experiment.get("layer")) or {}
        return experiment.get("salt") == f"{layer.get('salt')}:{experiment.get('name')}"

    def restated(entity: str, raw: Raw) -> bool:
        path = raw[1]
        if path == ("salt",):
            return (salt_from_layer(old_experiments.get(entity), old_layers)
                    and salt_from_layer(new_experiments.get(entity), new_layers))
        return path == ("targeting",) and (entity, ("targeting_source",)) in changed

    return _drop(entries, restated)


def _switchback_restatements(entries: list[Entry], base: dict, head: dict) -> list[Entry]:
    changed = _changed_paths(entries)
    return _drop(entries, lambda entity, raw: raw[1] == ("targeting",) and (entity, ("targeting_source",)) in changed)


RESTATEMENTS: dict[str, Callable[[list[Entry], dict, dict], list[Entry]]] = {
    "derived": _derived_restatements,
    "feature_groups": _group_restatements,
    "analyzers": _analyzer_restatements,
    "models": _model_restatements,
    "experiments": _experiment_restatements,
    "switchbacks": _switchback_restatements,
}
