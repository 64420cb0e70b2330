"""What a spec change forces (docs/review.md "Impact"), computed from the two IRs.

    found = impacts(base_mldl, head_mldl, base_experiments, head_experiments, head_root)
    line = summary_line(plan, found)       # "Plan: 1 to add, ... · retrain (1): ctr@north ..."

Everything is read from the two ``mldl.json`` dicts (and the two ``experiments/config.json``
documents, derived from the IRs when missing); the semantic diff is not needed, so the impact
of a change does not depend on how it is worded. Pure and deterministic.

Decisions (the Impact table of docs/review.md leaves them open):

- **retrain** is reported per (model, shard serving it in HEAD), subjects ``model@shard`` (just
  ``model`` for the implicit single shard ``main``); shards with the same reasons share one
  impact. A model retrains when something its training reads changed: its own definition (type,
  task, label, dense and sparse inputs with dtypes and buckets, hyperparameters, training);
  upstream of its inputs (derived features of the transitive ``depends_on`` closure: expression,
  tree, dtype, analyzers; those analyzers' function, argument, params, and fitted constants
  when both sides have them; preprocess inputs' dtype or default); the feature-group outputs it
  references (``g.o`` in the closure: their aggregation, window and default, the group's entity,
  keys, filter, and the source columns they are computed from; TTL and ``online`` are
  online-only, other outputs of the group do not count); or what it reads of its training
  source (``mlc.review.reads``: row-wide settings and the columns it reads). A **new model** is
  reported as retrain too, reason ``new model`` (it needs its first training before it can serve).
- **Shards and training data**: each shard trains its models on its own partitions (the default
  shard also on every value no other shard lists, see ``mlc.runtime.features.training_set``). So a new
  shard retrains the models it serves (``new shard``), a model newly served by a shard retrains
  there, and a shard whose partitions, default flag or partition key changed retrains its
  models; the default shard also retrains when the partitions listed by the other shards
  changed (its share of unlisted values moved). Models on untouched shards do not retrain.
- **backfill**: a group whose source, entity, keys, windows, filter, aggregations or defaults
  changed, or whose source changed in what the group reads (row-wide settings, the columns of
  its keys, event time, filter and aggregation arguments); a new group too (``new group``).
  Windows and aggregations are compared by name (their order only moves outputs, which is a
  re-materialise).
- **re-materialise**: the online record of a group that is online on either side: outputs
  (names, dtypes, order), keys, ``ttl_seconds``, ``online``; or, for a group online in HEAD, its
  values (it is backfilled: records hold the computed values, defaults applied); a new online
  group too.
- **serving contract**: per model served on both sides, its signature inputs or outputs, or its
  request fields (``raw_inputs``) changed; and, subject ``request``, a preprocess input removed,
  made required, added as required, or whose dtype changed. A hash bucket count changes the
  embedding, not the tensors, so it is no contract change. A new model has no old contract.
- **traffic (info)**: experiments added or removed, a layer salt, an experiment's layer, unit,
  traffic, buckets, reservation, holdout, control, targeting or variants (models, versions,
  aliases, weights), and any switchback setting. **traffic (dangerous)**: the W5104-W5107
  diagnostics of :func:`mlc.compiler.experiment_baseline.compare`, BASE's config as baseline;
  subjects the running experiments or the switchback the message names. Both levels are
  reported: the info one says what changed, the dangerous one what it does to assigned units.
- **deletion (dangerous)**: a BASE shard missing in HEAD that had partitions or was the default
  shard; the reason says where each of its partitions goes in HEAD (the shard listing it, or
  HEAD's default shard).
- **deletion (error)**: :func:`deletion_errors`, best effort from HEAD's rendered diagnostics
  (``file:line:col: error[CODE]: message`` + source line): every E4001/E5002/E5015 naming a
  thing that exists in BASE becomes one error impact, subject the removed name, naming the user
  when the message (``model `m` uses unknown feature `x```) or the quoted source line
  (``dist_z: standardize(log_dist)``) says it.

Impacts are sorted by kind (``IMPACT_KINDS``), level (error, dangerous, info), subjects, reason.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from mlc.review.model import (BACKFILL, CONTRACT, DANGEROUS, DELETION, ERROR, IMPACT_KINDS, INFO,
                              REMATERIALISE, RETRAIN, TRAFFIC, Impact, Plan)
from mlc.review.reads import GROUP_WIDE, as_map, group_columns, model_columns, output_definitions, source_reasons
from mlc.core.diagnostics import DiagnosticBag
from mlc.core.ir import feature_closure
from mlc.compiler.experiment_baseline import compare
from mlc.compiler.reporter import Reporter

LEVEL_ORDER = (ERROR, DANGEROUS, INFO)
UNIT_MOVES = ("W5104", "W5105", "W5106", "W5107")   # experiment_baseline's ramp-safety warnings
REMOVED_NAME_CODES = ("E4001", "E5002", "E5015")     # unknown-name diagnostics
IMPLICIT_SHARD = "main"
REQUEST = "request"
MAX_NAMES = 5          # names listed in one reason before "and N more"
MAX_SUBJECTS = 10      # subjects listed per kind in the summary line


# ------------------------------------------------------------------------------ entry points


def impacts(base_mldl: dict, head_mldl: dict, base_experiments: dict | None, head_experiments: dict | None,
            head_root: Any = None) -> list[Impact]:
    """Every impact of going from BASE to HEAD (both compiled), sorted."""
    base, head = _Side(base_mldl), _Side(head_mldl)
    found = [
        *_retrain(base, head), *_backfill(base, head), *_rematerialise(base, head),
        *_contract(base, head), *_traffic_info(base, head),
        *_unit_moves(base_experiments or experiments_document(base_mldl),
                     head_experiments or experiments_document(head_mldl), head_root),
        *_deletions(base, head),
    ]
    return sort_impacts(found)


def sort_impacts(found: Iterable[Impact]) -> list[Impact]:
    """Kind order, then level (error, dangerous, info), then subjects, reason and code."""
    return sorted(found, key=lambda i: (IMPACT_KINDS.index(i.kind), LEVEL_ORDER.index(i.level),
                                        i.subjects, i.reason, i.code or ""))


def summary_line(plan: Plan, impacts: list[Impact], compiled: bool = True) -> str:
    """``Plan: 2 to add, 3 to change, 1 to destroy · retrain (2): ctr@north, ctr@east · backfill (1): g``;
    ``No changes.`` when nothing changed. Per kind: how many distinct subjects, then the subjects
    in impact order, each once. Impacts come from definition changes, so a plan without any is
    said plainly (``Plan: no definition changed, derived work only``) rather than as zeros next
    to work to do. ``compiled`` False: a side did not compile, so there is no plan to count."""
    counted = plan.add or plan.change or plan.destroy
    if compiled and not impacts and not counted:
        return "No changes."
    if counted:
        parts = [f"Plan: {plan.add} to add, {plan.change} to change, {plan.destroy} to destroy"]
    elif not compiled:
        parts = ["Plan: none (a side does not compile)"]
    else:
        parts = ["Plan: no definition changed, derived work only"]
    for kind in IMPACT_KINDS:
        subjects = _unique(s for i in impacts if i.kind == kind for s in i.subjects)
        if subjects:
            parts.append(f"{kind} ({len(subjects)}): {_capped(subjects, MAX_SUBJECTS)}")
    return " · ".join(parts)


def experiments_document(mldl: dict) -> dict:
    """The part of ``experiments/config.json`` that ramp-safety compares, from an IR dict (the
    experiment and switchback objects of the IR carry the same fields)."""
    experiments = {(e["layer"], e["name"]): e for e in mldl.get("experiments") or []}
    layers = [{"name": layer["name"], "salt": layer["salt"],
               "experiments": [experiments[(layer["name"], n)] for n in layer["experiments"]
                               if (layer["name"], n) in experiments]}
              for layer in mldl.get("layers") or []]
    return {"layers": layers, "switchbacks": list(mldl.get("switchbacks") or [])}


# ------------------------------------------------------------------------------- one side


class _Side:
    """Named lookups into one IR dict."""

    def __init__(self, mldl: dict):
        self.sources = _by_name(mldl.get("sources"))
        self.groups = _by_name(mldl.get("feature_groups"))
        self.inputs = _by_name(mldl.get("inputs"))
        self.derived = _by_name(mldl.get("derived"))
        self.analyzers = {a["id"]: a for a in mldl.get("analyzers") or []}
        self.models = _by_name(mldl.get("models"))
        deployment = mldl.get("deployment") or {}
        self.shards = _by_name(deployment.get("shards"))
        self.partition_key = deployment.get("partition_key")
        self.layers = _by_name(mldl.get("layers"))
        self.experiments = _by_name(mldl.get("experiments"))
        self.switchbacks = _by_name(mldl.get("switchbacks"))

    def model_inputs(self, model: str) -> list[str]:
        """Dense then sparse input names of ``model`` (empty when it does not exist)."""
        found = self.models.get(model)
        if found is None:
            return []
        return [c["name"] for c in found.get("dense") or []] + [c["name"] for c in found.get("sparse") or []]

    def closure(self, names: Iterable[str]) -> set[str]:
        """The names and everything they depend on, transitively (derived, inputs, `g.o`)."""
        return set(feature_closure(names, {n: d.get("depends_on") or () for n, d in self.derived.items()}))

    def serving_shards(self, model: str) -> list[str]:
        """Shards serving ``model``, in deployment order."""
        return [name for name, shard in self.shards.items() if model in (shard.get("models") or [])]

    def implicit(self) -> bool:
        """True for the single implicit shard of an unsharded deployment."""
        return self.partition_key is None and list(self.shards) == [IMPLICIT_SHARD]

    def default_shard(self) -> str | None:
        return next((n for n, s in self.shards.items() if s.get("is_default")), next(iter(self.shards), None))

    def listed_elsewhere(self, shard: str) -> set[str]:
        """Partitions listed by the shards other than ``shard``."""
        return {str(p) for n, s in self.shards.items() if n != shard for p in s.get("partitions") or []}


# ------------------------------------------------------------------------------- retrain


_MODEL_FIELDS = ("type", "task", "label", "hyperparameters", "training")


def _retrain(base: _Side, head: _Side) -> list[Impact]:
    """One impact per HEAD model and set of reasons; subjects the shards serving it."""
    out = []
    for name in head.models:
        new = name not in base.models
        model_reasons = ["new model"] if new else _model_reasons(base, head, name)
        grouped: dict[tuple[str, ...], list[str]] = {}
        for shard in head.serving_shards(name) or [None]:
            reasons = model_reasons + ([] if new else _shard_reasons(base, head, name, shard))
            if reasons:
                grouped.setdefault(tuple(reasons), []).append(_subject(head, name, shard))
        out += [Impact(RETRAIN, INFO, tuple(subjects), "; ".join(reasons)) for reasons, subjects in grouped.items()]
    return out


def _subject(side: _Side, model: str, shard: str | None) -> str:
    """``model@shard``; just ``model`` for the implicit shard or a model served nowhere."""
    return model if shard is None or side.implicit() else f"{model}@{shard}"


def _model_reasons(base: _Side, head: _Side, name: str) -> list[str]:
    """Why ``name`` (on both sides) retrains everywhere: its definition or its upstream."""
    old, new = base.models[name], head.models[name]
    reasons = [_field_reason(field, old.get(field), new.get(field)) for field in _MODEL_FIELDS
               if old.get(field) != new.get(field)]
    reasons += _input_list_reasons("dense", old.get("dense") or [], new.get("dense") or [])
    reasons += _input_list_reasons("sparse", old.get("sparse") or [], new.get("sparse") or [])
    reasons += _upstream_reasons(base, head, name)
    source = new.get("training", {}).get("source")
    if source and source == old.get("training", {}).get("source"):
        read = _model_reads(base, old) | _model_reads(head, new)
        reasons += [f"training {r}" for r in source_reasons(source, base.sources.get(source), head.sources.get(source), read)]
    return reasons


def _model_reads(side: _Side, model: dict) -> set[str]:
    """Columns of its training source that training ``model`` reads (``mlc.review.reads``)."""
    source = side.sources.get((model.get("training") or {}).get("source")) or {}
    return model_columns(model, side.groups, side.partition_key, source.get("event_time"))


def _field_reason(field: str, old: Any, new: Any) -> str:
    """``training.epochs 30 -> 40, training.seed 7 -> 8``; ``label `a` -> `b```."""
    if field == "label" and isinstance(old, dict) and isinstance(new, dict):
        return f"label `{old.get('name')}` ({old.get('dtype')}) -> `{new.get('name')}` ({new.get('dtype')})"
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return _capped([f"{field}.{k} {_short(old.get(k))} -> {_short(new.get(k))}" for k in keys], MAX_NAMES)
    return f"{field} {_short(old)} -> {_short(new)}"


def _input_list_reasons(kind: str, old: list[dict], new: list[dict]) -> list[str]:
    """Model inputs added, removed, reordered, or with another dtype or bucket count."""
    before, after = _by_name(old), _by_name(new)
    reasons = []
    added, removed = [n for n in after if n not in before], [n for n in before if n not in after]
    if added:
        reasons.append(f"{kind} inputs added: {_names(added)}")
    if removed:
        reasons.append(f"{kind} inputs removed: {_names(removed)}")
    for name in (n for n in after if n in before):
        a, b = before[name], after[name]
        if a.get("dtype") != b.get("dtype"):
            reasons.append(f"{kind} input `{name}` dtype {a.get('dtype')} -> {b.get('dtype')}")
        if a.get("buckets") != b.get("buckets"):
            reasons.append(f"{kind} input `{name}` buckets {a.get('buckets')} -> {b.get('buckets')}")
    if not added and not removed and list(before) != list(after):
        reasons.append(f"{kind} inputs reordered")
    return reasons


def _upstream_reasons(base: _Side, head: _Side, model: str) -> list[str]:
    """Changed features, analyzers, inputs and groups upstream of the model's inputs."""
    closure = sorted(head.closure(head.model_inputs(model)) | base.closure(base.model_inputs(model)))
    features = [n for n in closure if (n in head.derived or n in base.derived) and _feature_changed(base, head, n)]
    analyzers = sorted({a for n in closure for a in _changed_analyzers(base, head, n)})
    inputs = [n for n in closure if n not in head.derived and n not in base.derived and "." not in n
              and _changed(base.inputs, head.inputs, n, ("dtype", "default"))]
    outputs: dict[str, set[str]] = {}
    for ref in (n for n in closure if "." in n):
        group, output = ref.split(".", 1)
        outputs.setdefault(group, set()).add(output)
    reasons = []
    if features:
        reasons.append(f"feature{'s' if len(features) > 1 else ''} {_names(features)} changed")
    if analyzers:
        reasons.append(f"analyzer{'s' if len(analyzers) > 1 else ''} {_names(analyzers)} changed")
    if inputs:
        reasons.append(f"input{'s' if len(inputs) > 1 else ''} {_names(inputs)} changed")
    readers: dict[str, list[str]] = {}         # a source reason -> the groups it reaches the model through
    for group in sorted(outputs):
        own, through_source = _group_training_reasons(base, head, group, outputs[group])
        reasons += own
        for reason in through_source:
            readers.setdefault(reason, []).append(group)
    reasons += [f"{reason} (read by feature group{'s' if len(groups) > 1 else ''} {_names(groups)})"
                for reason, groups in readers.items()]
    return reasons


_DERIVED_FIELDS = ("expression", "tree", "dtype", "analyzers")


def _feature_changed(base: _Side, head: _Side, name: str) -> bool:
    """A derived feature added, removed (became an input) or with another definition."""
    return _changed(base.derived, head.derived, name, _DERIVED_FIELDS)


_ANALYZER_FIELDS = ("function", "argument", "params")


def _changed_analyzers(base: _Side, head: _Side, feature: str) -> list[str]:
    """Ids of the analyzers of ``feature`` whose definition (or fitted constants, when both
    sides have them) changed; an analyzer on one side only counts as changed."""
    ids = set(base.derived.get(feature, {}).get("analyzers") or []) | set(head.derived.get(feature, {}).get("analyzers") or [])
    changed = []
    for analyzer_id in ids:
        old, new = base.analyzers.get(analyzer_id), head.analyzers.get(analyzer_id)
        if old is None or new is None or any(old.get(f) != new.get(f) for f in _ANALYZER_FIELDS):
            changed.append(analyzer_id)
        elif old.get("fitted") is not None and new.get("fitted") is not None and old["fitted"] != new["fitted"]:
            changed.append(analyzer_id)
    return changed


def _group_training_reasons(base: _Side, head: _Side, group: str, outputs: set[str]) -> tuple[list[str], list[str]]:
    """A group the model reads ``outputs`` of: those outputs' definitions (aggregation, window,
    default) or the group-wide fields; and, second, the changes of the source columns they are
    computed from. TTL and ``online`` are online-only; outputs the model does not read do not count."""
    old, new = base.groups.get(group), head.groups.get(group)
    if old is None or new is None:
        return [f"feature group `{group}` {'added' if old is None else 'removed'}"], []
    reasons = [f"feature group `{group}`: {field} changed" for field in GROUP_WIDE if old.get(field) != new.get(field)]
    before, after = output_definitions(old), output_definitions(new)
    changed = sorted(o for o in outputs if before.get(o) != after.get(o))
    if changed:
        reasons.append(f"feature group output{'s' if len(changed) > 1 else ''} {_names([f'{group}.{o}' for o in changed])} changed")
    source = new.get("source")
    if source != old.get("source"):
        return reasons, []
    read = _group_reads(base, old, outputs) | _group_reads(head, new, outputs)
    return reasons, source_reasons(source, base.sources.get(source), head.sources.get(source), read)


def _group_reads(side: _Side, group: dict, outputs: set[str] | None = None) -> set[str]:
    source = side.sources.get(group.get("source")) or {}
    return group_columns(group, source.get("event_time"), outputs)


def _shard_reasons(base: _Side, head: _Side, model: str, shard: str | None) -> list[str]:
    """Why ``model`` retrains on ``shard`` only: the shard's training rows changed."""
    if shard is None:
        return []
    if shard not in base.shards:
        return [f"new shard `{shard}`"]
    old, new = base.shards[shard], head.shards[shard]
    if model not in (old.get("models") or []):
        return [f"newly served by shard `{shard}`"]
    reasons = []
    if base.partition_key != head.partition_key:
        reasons.append(f"partition key `{base.partition_key}` -> `{head.partition_key}`")
    before, after = {str(p) for p in old.get("partitions") or []}, {str(p) for p in new.get("partitions") or []}
    if before != after:
        reasons.append(f"partitions of shard `{shard}` changed ({_set_delta(before, after)})")
    if bool(old.get("is_default")) != bool(new.get("is_default")):
        reasons.append(f"shard `{shard}` {'is now' if new.get('is_default') else 'is no longer'} the default shard")
    elif new.get("is_default") and base.listed_elsewhere(shard) != head.listed_elsewhere(shard):
        reasons.append(f"partitions routed to the default shard `{shard}` changed")
    return reasons


# ------------------------------------------------------------------------------- groups


_GROUP_DEFINITION = ("source", "entity", "keys", "filter")
_ONLINE_LAYOUT = ("outputs", "keys", "ttl_seconds", "online")


def _backfill(base: _Side, head: _Side) -> list[Impact]:
    """Groups whose offline values must be recomputed."""
    out = []
    for name, new in head.groups.items():
        old = base.groups.get(name)
        reasons = ["new group"] if old is None else _backfill_reasons(base, head, old, new)
        if reasons:
            out.append(Impact(BACKFILL, INFO, (name,), "; ".join(reasons)))
    return out


def _backfill_reasons(base: _Side, head: _Side, old: dict, new: dict) -> list[str]:
    reasons = [f"{field} {_short(old.get(field))} -> {_short(new.get(field))}" if field in ("source", "entity")
               else f"{field} changed" for field in _GROUP_DEFINITION if old.get(field) != new.get(field)]
    old_windows, new_windows = _windows(old), _windows(new)
    if sorted(old_windows) != sorted(new_windows):
        reasons.append(f"windows {', '.join(old_windows)} -> {', '.join(new_windows)}")
    old_aggs, new_aggs = _by_name(old.get("aggregations")), _by_name(new.get("aggregations"))
    if sorted(old_aggs.items()) != sorted(new_aggs.items()):
        changed = [n for n in new_aggs if n in old_aggs and old_aggs[n] != new_aggs[n]]
        reasons.append("aggregations changed (" + _set_delta(set(old_aggs), set(new_aggs), changed) + ")")
    changed_defaults = _changed_defaults(old, new)
    if changed_defaults:
        reasons.append(f"default{'s' if len(changed_defaults) > 1 else ''} of {_names(changed_defaults)} changed")
    source = new.get("source")
    if source == old.get("source"):
        read = _group_reads(base, old) | _group_reads(head, new)
        reasons += source_reasons(source, base.sources.get(source), head.sources.get(source), read)
    return reasons


def _changed_defaults(old: dict, new: dict) -> list[str]:
    """Outputs on both sides whose default changed (a new output's default comes with it)."""
    before, after = as_map(old.get("defaults")), as_map(new.get("defaults"))
    shared = {o["name"] for o in old.get("outputs") or []} & {o["name"] for o in new.get("outputs") or []}
    return sorted(o for o in shared if before.get(o) != after.get(o))


def _windows(group: dict) -> list[str]:
    return [f"{w.get('name')}" for w in group.get("windows") or []]


def _rematerialise(base: _Side, head: _Side) -> list[Impact]:
    """Groups whose online records must be rewritten."""
    out = []
    for name, new in head.groups.items():
        old = base.groups.get(name)
        if old is None:
            reasons = ["new online group"] if new.get("online") else []
        elif old.get("online") or new.get("online"):
            reasons = [_layout_reason(field, old.get(field), new.get(field))
                       for field in _ONLINE_LAYOUT if old.get(field) != new.get(field)]
            if not reasons and new.get("online") and _backfill_reasons(base, head, old, new):
                reasons = ["its values are recomputed (backfill)"]
        else:
            reasons = []
        if reasons:
            out.append(Impact(REMATERIALISE, INFO, (name,), "; ".join(reasons)))
    return out


def _layout_reason(field: str, old: Any, new: Any) -> str:
    if field == "outputs":
        before, after = _by_name(old), _by_name(new)
        changed = [n for n in after if n in before and before[n] != after[n]]
        delta = _set_delta(set(before), set(after), changed)
        return f"outputs changed ({delta})" if delta else "outputs reordered"
    if field in ("ttl_seconds", "online"):
        return f"{field} {_short(old)} -> {_short(new)}"
    return f"{field} changed"


# ------------------------------------------------------------------------------- contract


_CONTRACT_FIELDS = ("signature_inputs", "signature_outputs")


def _contract(base: _Side, head: _Side) -> list[Impact]:
    """Models whose tensors or request fields changed, and request fields clients must change."""
    out = []
    for name, new in head.models.items():
        old = base.models.get(name)
        if old is None:
            continue
        reasons = [_tensor_reason(f, old.get(f) or [], new.get(f) or []) for f in _CONTRACT_FIELDS
                   if old.get(f) != new.get(f)]
        before, after = set(old.get("raw_inputs") or []), set(new.get("raw_inputs") or [])
        if before != after:
            reasons.append(f"request fields changed ({_set_delta(before, after)})")
        if reasons:
            out.append(Impact(CONTRACT, INFO, (name,), "; ".join(reasons)))
    out += [Impact(CONTRACT, INFO, (REQUEST,), reason) for reason in _request_reasons(base, head)]
    return out


def _tensor_reason(field: str, old: list[dict], new: list[dict]) -> str:
    before, after = _by_name(old), _by_name(new)
    changed = [n for n in after if n in before and before[n] != after[n]]
    delta = _set_delta(set(before), set(after), changed)
    return f"{field.replace('_', ' ')} changed ({delta})" if delta else f"{field.replace('_', ' ')} reordered"


def _request_reasons(base: _Side, head: _Side) -> list[str]:
    """Preprocess inputs removed, made required, added as required, or retyped."""
    reasons = []
    for name, old in base.inputs.items():
        new = head.inputs.get(name)
        if new is None:
            reasons.append(f"request field `{name}` removed")
            continue
        if new.get("required") and not old.get("required"):
            reasons.append(f"request field `{name}` is now required")
        if new.get("dtype") != old.get("dtype"):
            reasons.append(f"request field `{name}` dtype {old.get('dtype')} -> {new.get('dtype')}")
    reasons += [f"new required request field `{n}`" for n, new in head.inputs.items()
                if n not in base.inputs and new.get("required")]
    return reasons


# ------------------------------------------------------------------------------- traffic


_EXPERIMENT_FIELDS = ("layer", "unit", "traffic", "buckets", "reserved", "holdout", "control",
                      "targeting", "variants")
_SWITCHBACK_FIELDS = ("unit", "slice_seconds", "burn_in_seconds", "seed", "timezone", "regions", "start",
                      "end", "control", "targeting", "tickets", "variants")


def _traffic_info(base: _Side, head: _Side) -> list[Impact]:
    """Allocation changes: experiments and switchbacks added, removed or changed; layer salts."""
    out = []
    for name, layer in head.layers.items():
        old = base.layers.get(name)
        if old is not None and old.get("salt") != layer.get("salt") and layer.get("experiments"):
            out.append(Impact(TRAFFIC, INFO, tuple(layer["experiments"]),
                              f"salt of layer `{name}` `{old.get('salt')}` -> `{layer.get('salt')}`"))
    out += _allocation_changes("experiment", base.experiments, head.experiments, _EXPERIMENT_FIELDS)
    out += _allocation_changes("switchback", base.switchbacks, head.switchbacks, _SWITCHBACK_FIELDS)
    return out


def _allocation_changes(kind: str, base: dict[str, dict], head: dict[str, dict], fields: tuple) -> list[Impact]:
    out = [Impact(TRAFFIC, INFO, (n,), f"new {kind}") for n in head if n not in base]
    out += [Impact(TRAFFIC, INFO, (n,), f"{kind} removed") for n in base if n not in head]
    for name in (n for n in head if n in base):
        reasons = [_traffic_reason(f, base[name], head[name]) for f in fields if base[name].get(f) != head[name].get(f)]
        if reasons:
            out.append(Impact(TRAFFIC, INFO, (name,), "; ".join(reasons)))
    return out


def _traffic_reason(field: str, old: dict, new: dict) -> str:
    if field == "targeting":
        return f"targeting {_quoted(old.get('targeting_source'))} -> {_quoted(new.get('targeting_source'))}"
    if field in ("buckets", "reserved"):
        return f"{field} {_bucket_range(old.get(field))} -> {_bucket_range(new.get(field))}"
    if field == "variants":
        return "variants changed (" + "; ".join(_variant_deltas(old.get("variants") or [], new.get("variants") or [])) + ")"
    if field in ("regions", "tickets"):
        return f"{field} changed"
    return f"{field} {_short(old.get(field))} -> {_short(new.get(field))}"


def _variant_deltas(old: list[dict], new: list[dict]) -> list[str]:
    before, after = _by_name(old), _by_name(new)
    deltas = [f"+{n}" for n in after if n not in before] + [f"-{n}" for n in before if n not in after]
    for name in (n for n in after if n in before):
        fields = [f for f in ("model", "version", "alias", "weight", "buckets") if before[name].get(f) != after[name].get(f)]
        deltas += [f"`{name}` {f} {_short(before[name].get(f))} -> {_short(after[name].get(f))}" for f in fields]
    return deltas or ["order"]


def _unit_moves(base_doc: dict, head_doc: dict, head_root: Any) -> list[Impact]:
    """experiment_baseline's W5104-W5107, BASE's config as the baseline, as dangerous impacts."""
    bag = DiagnosticBag()
    compare(base_doc, head_doc, Reporter(head_root, bag))   # root None: diagnostics without location
    known = {e["name"] for layer in base_doc.get("layers") or [] for e in layer.get("experiments") or []}
    known |= {s["name"] for s in base_doc.get("switchbacks") or []}
    return [Impact(TRAFFIC, DANGEROUS, _moved_subjects(d.code, d.message, known), d.message, d.code)
            for d in bag.items if d.code in UNIT_MOVES]


_MOVED_AFTER = {"W5104": "running experiment", "W5105": "running experiment",
                "W5106": "running experiment", "W5107": "switchback"}


def _moved_subjects(code: str, message: str, known: set[str]) -> tuple[str, ...]:
    """The experiments (or switchback) a unit-move message names: the quoted names after
    ``running experiment(s)`` / ``switchback`` that BASE knows; only the first for one-subject codes."""
    tail = message.split(_MOVED_AFTER[code], 1)[-1]
    names = [n for n in re.findall(r"`([^`]+)`", tail) if n in known]
    if code != "W5104":
        names = names[:1]
    return tuple(names or sorted(n for n in re.findall(r"`([^`]+)`", message) if n in known))


# ------------------------------------------------------------------------------- deletion


def _deletions(base: _Side, head: _Side) -> list[Impact]:
    """BASE shards that received traffic and are gone in HEAD."""
    out = []
    for name, shard in base.shards.items():
        if name in head.shards or not (shard.get("partitions") or shard.get("is_default")):
            continue
        out.append(Impact(DELETION, DANGEROUS, (name,), _where_traffic_goes(name, shard, head)))
    return out


def _where_traffic_goes(name: str, shard: dict, head: _Side) -> str:
    default = head.default_shard()
    owner = {str(p): n for n, s in head.shards.items() for p in s.get("partitions") or []}
    moves: dict[str, list[str]] = {}
    for partition in (str(p) for p in shard.get("partitions") or []):
        moves.setdefault(owner.get(partition, default or "?"), []).append(partition)
    parts = [f"{', '.join(ps)} -> `{dest}`{' (default shard)' if dest == default else ''}" for dest, ps in moves.items()]
    if shard.get("is_default"):
        parts.append(f"unlisted partitions and null keys -> `{default}` (default shard)")
    return f"shard `{name}` removed, its traffic moves: " + "; ".join(parts)


_HEADER = re.compile(r"^(?:(?P<where>.+?:\d+:\d+): )?error\[(?P<code>[A-Z]\d{4})\]: (?P<message>.+)$")
_EXCERPT = re.compile(r"^\s*\d+ \| (?P<line>.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KEY = re.compile(r"^\s*(?:-\s+)?(?P<key>[A-Za-z_][\w.-]*)\s*:(?:\s|$)")
_USER = re.compile(r"^(?P<user>(?:[a-z]+ )+`[^`]+`)")


SOMETHING = "something"


def deletion_errors(base_mldl: dict, problem_codes: tuple, problem_text: str) -> list[Impact]:
    """Deletion errors of a HEAD that does not compile: every unknown-name diagnostic
    (E4001/E5002/E5015) among ``problem_codes`` whose name exists in BASE, read from the
    rendered diagnostics ``problem_text``. Best effort: names the user when the message or the
    quoted source line says it; other diagnostics are left to the problem report."""
    codes = set(problem_codes) & set(REMOVED_NAME_CODES)
    if not codes:
        return []
    base = _Side(base_mldl)
    known = _known_names(base)
    found = []
    lines = problem_text.splitlines()
    for index, line in enumerate(lines):
        header = _HEADER.match(_ANSI.sub("", line))
        if header is None or header["code"] not in codes:
            continue
        removed = [n for n in re.findall(r"`([^`]+)`", header["message"]) if n in known]
        if not removed:
            continue
        name = removed[-1]
        user = _user(header["message"], name, lines[index + 1] if index + 1 < len(lines) else "", known)
        found.append((name, user, header["where"], header["code"]))
    named = {(name, user) for name, user, _, _ in found}
    impacts_ = []
    for name, user, where, code in found:
        if user == SOMETHING:
            user = _base_user(base, name, {u for n, u in named if n == name}, known)
        where = f" ({where})" if where else ""
        impacts_.append(Impact(DELETION, ERROR, (name,), f"{known[name]} removed while {user} still uses it{where}", code))
    return sort_impacts(set(impacts_))


def _base_user(base: _Side, removed: str, already: set[str], known: dict[str, str]) -> str:
    """Who used ``removed`` in BASE (derived features, then models), not yet named by another
    diagnostic: the user a diagnostic without a readable key most likely points at."""
    users = [f"feature `{n}`" for n, d in base.derived.items() if removed in (d.get("depends_on") or [])]
    users += [f"model `{m}`" for m in base.models if removed in base.model_inputs(m)]
    left = [u for u in users if u not in already] or users
    if not left:
        return SOMETHING
    return left[0] if len(left) == 1 else "one of " + ", ".join(left)


def _known_names(base: _Side) -> dict[str, str]:
    """BASE's referable names -> how to call them (``feature `x```)."""
    known: dict[str, str] = {}
    for kind, items in (("source", base.sources), ("feature group", base.groups), ("input", base.inputs),
                        ("feature", base.derived), ("model", base.models)):
        known.update({n: f"{kind} `{n}`" for n in items})
    for group, spec in base.groups.items():
        known.update({f"{group}.{o['name']}": f"`{group}.{o['name']}` (an output of feature group `{group}`)"
                      for o in spec.get("outputs") or []})
    return known


def _user(message: str, removed: str, next_line: str, known: dict[str, str]) -> str:
    """Who still uses ``removed``: ``model `m``` from the message, or the key of the quoted
    source line when BASE knows it (``dist_z: ...`` -> ``feature `dist_z```); else ``something``."""
    said = _USER.match(message)
    if said and f"`{removed}`" not in said["user"]:
        return said["user"]
    excerpt = _EXCERPT.match(_ANSI.sub("", next_line))
    key = _KEY.match(excerpt["line"]) if excerpt else None
    if key and key["key"] != removed and key["key"] in known:
        return known[key["key"]]
    return SOMETHING


# ------------------------------------------------------------------------------- helpers


def _by_name(items: Iterable[dict] | None) -> dict[str, dict]:
    """Items keyed by ``name``, in their order."""
    return {item["name"]: item for item in items or []}


def _changed(before: dict[str, dict], after: dict[str, dict], name: str | None, fields: tuple = ()) -> bool:
    """``name`` on one side only, or (some of) its ``fields`` differ; all fields when none given."""
    old, new = before.get(name), after.get(name)
    if old is None or new is None:
        return (old is None) != (new is None)
    if not fields:
        return old != new
    return any(old.get(f) != new.get(f) for f in fields)


def _set_delta(before: set[str], after: set[str], changed: Iterable[str] = ()) -> str:
    """``+a, -b, ~c``: added, removed and changed names, each sorted."""
    parts = [f"+{n}" for n in sorted(after - before)] + [f"-{n}" for n in sorted(before - after)]
    parts += [f"~{n}" for n in sorted(changed)]
    return ", ".join(parts)


def _names(names: list[str]) -> str:
    """```a`, `b` and 3 more``."""
    return _capped([f"`{n}`" for n in names], MAX_NAMES)


def _capped(items: list[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _short(value: Any) -> str:
    """A value in a reason: ``30``, ``[256, 128]``, ``none``; an object is ``{...}``."""
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _quoted(text: str | None) -> str:
    return "none" if text is None else f"`{text}`"


def _bucket_range(pair: Any) -> str:
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        return f"[{pair[0]}, {pair[1]})"
    return _short(pair)
