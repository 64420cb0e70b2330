"""Fit a spec's analyzers on training data with Spark, in dependency order.

An analyzer's argument may use features that themselves use analyzers
(``standardize(log1p(x) - vocabulary(...))``, or a derived feature built on another
standardized one). Analyzers are therefore fitted in *levels*: level 1 depends on no analyzer,
level k only on analyzers of lower levels. Each level is one run of the generated module on
Spark, where the level's analyzers record their argument Column instead of applying, followed
by one batch of aggregations (``mlc.runtime.features.fit.fit_analyzers``).

Which rows fit which analyzer: the *fitting plan* (``fitting_plan``, pure), run by ``fit_by_plan``
(the feature job and ``mlc fit`` both call it):

* An analyzer is *reached* by a model when it belongs to a derived feature in the closure of the
  model's dense and sparse inputs (``DerivedIR.depends_on`` transitively; a feature's analyzers
  are ``DerivedIR.analyzers``). Its rows are those of the reaching models' training source where
  at least one of those models' labels is not null, with every feature group those models read
  (``ModelIR.feature_groups``) joined point in time at the label time
  (``training_set.labelled_features``): the rows training uses, with real group outputs.
  Analyzers reached by the same models share one such frame.
* An analyzer reached by models with different training sources has no one set of training
  rows: the compiler refuses it (E5045); the plan raises ``FittingConflict``.
* An analyzer reached by no model (a derived feature no model reads, directly or not) still needs
  constants (the generated module computes every feature). It is fitted on the first training
  source, in model order, whose declared columns include every preprocess input it reads (a
  source without declared columns counts as having them), else on the first model's training
  source (its missing inputs are null there: neutral constants, and a note says so): on the label
  rows of every model trained there, with those models' feature groups plus the groups it reads
  that can be joined on that source (event time and key columns). Each such analyzer gets a note.
* A spec without models: ``unplaced`` lists every analyzer; the caller fits them on a frame of its
  own (``mlc fit``: the first source with every input, or ``--data``).

Levels apply across frames: level k of every frame is fitted before level k + 1 of any, and the
constants fitted so far are applied wherever a later analyzer reads them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping

from mlc.core.ir import ANALYZERS, IR, FeatureGroupIR, SourceIR, derived_depends_on, feature_closure
from mlc.core.errors import MlcError
from mlc.runtime.features.training_set import labelled_features
from mlc.runtime.features.fit import fit_analyzers
from mlc.runtime.spark_ops import SVal, SparkOps
from mlc.runtime.spark_ops.core import SPARK_TYPES


def analyzer_levels(ir: IR) -> list[list[str]]:
    """Analyzer ids grouped by level (1-based order), ids in declaration order within a level."""
    derived = {d.name: d for d in ir.derived}
    feature_level: dict[str, int] = {}
    analyzer_level: dict[str, int] = {}

    def level_of_feature(name: str) -> int:
        if name not in derived:
            return 0
        if name not in feature_level:
            counter = iter(derived[name].analyzers)
            feature_level[name] = walk(derived[name].tree, counter)
        return feature_level[name]

    def walk(node: dict, ids) -> int:
        if node["kind"] == "ref":
            return level_of_feature(node["name"])
        if node["kind"] == "call" and node["function"] in ANALYZERS:
            own = next(ids)
            inner = max((walk(child, ids) for child in node["args"]), default=0)
            analyzer_level[own] = inner + 1
            return inner + 1
        return max((walk(child, ids) for child in tree_children(node)), default=0)

    for d in ir.derived:
        level_of_feature(d.name)
    levels: dict[int, list[str]] = {}
    for analyzer in ir.analyzers:
        levels.setdefault(analyzer_level[analyzer.id], []).append(analyzer.id)
    return [levels[k] for k in sorted(levels)]


def tree_children(node: dict) -> list[dict]:
    out = list(node.get("args", ())) + list(node.get("items", ())) + list(node.get("options", ()))
    out += [node[k] for k in ("operand", "left", "right", "value") if isinstance(node.get(k), dict)]
    return out


# ------------------------------------------------------------- which rows fit which analyzer


def closure(ir: IR, names: Iterable[str]) -> list[str]:
    """Every name the given features read, transitively, themselves included: derived features,
    preprocess inputs and ``group.output`` names, in discovery order."""
    return feature_closure(names, derived_depends_on(ir.derived))


def model_closure(ir: IR, model: Any) -> list[str]:
    """What ``model`` reads: the closure of its dense and sparse inputs."""
    return closure(ir, [c.name for c in model.dense] + [s.name for s in model.sparse])


def analyzer_models(ir: IR) -> dict[str, tuple[str, ...]]:
    """Analyzer id -> the models (IR order) whose inputs reach it."""
    derived = {d.name: d for d in ir.derived}
    out: dict[str, list[str]] = {a.id: [] for a in ir.analyzers}
    for model in ir.models:
        for name in model_closure(ir, model):
            for analyzer_id in (derived[name].analyzers if name in derived else ()):
                if analyzer_id in out and model.name not in out[analyzer_id]:
                    out[analyzer_id].append(model.name)
    return {k: tuple(v) for k, v in out.items()}


class FittingConflict(MlcError, ValueError):
    """Analyzers reached by models of different training sources (the compiler's E5045)."""


@dataclasses.dataclass(frozen=True)
class FitFrame:
    """Rows to fit on: the rows of ``source`` where one of ``models``' labels is not null, with
    ``feature_groups`` joined point in time at the label time."""

    source: str
    models: tuple[str, ...]
    feature_groups: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class FitStep:
    frame: FitFrame
    analyzers: tuple[str, ...]          # one level's analyzers of that frame, declaration order


@dataclasses.dataclass(frozen=True)
class FittingPlan:
    steps: tuple[FitStep, ...]          # in order: level 1 of every frame, then level 2 ...
    homes: tuple[tuple[str, FitFrame], ...]   # analyzer id -> its frame, declaration order
    unplaced: tuple[str, ...] = ()      # no models in the spec: the caller picks the rows
    notes: tuple[str, ...] = ()         # analyzers read by no model: where they are fitted

    def frame_of(self, analyzer_id: str) -> FitFrame | None:
        return dict(self.homes).get(analyzer_id)

    @property
    def frames(self) -> tuple[FitFrame, ...]:
        return tuple(dict.fromkeys(frame for _, frame in self.homes))


def fitting_plan(ir: IR) -> FittingPlan:
    """Where each analyzer is fitted (see the module docstring). Pure: reads the IR only."""
    reached = analyzer_models(ir)
    models = {m.name: m for m in ir.models}
    sources = {s.name: s for s in ir.sources}
    groups = {g.name: g for g in ir.feature_groups}
    inputs = {i.name for i in ir.inputs}
    conflicts: list[str] = []
    homes: dict[str, FitFrame] = {}
    notes: list[str] = []
    unplaced: list[str] = []

    def union_groups(names: Iterable[str], extra: Iterable[str] = ()) -> tuple[str, ...]:
        wanted = {g for m in names for g in models[m].feature_groups} | set(extra)
        return tuple(g.name for g in ir.feature_groups if g.name in wanted)

    for analyzer in ir.analyzers:
        names = reached.get(analyzer.id, ())
        if names:
            trained_on = list(dict.fromkeys(models[m].training.source for m in names))
            if len(trained_on) > 1:
                shown = ", ".join(f"`{m}` (`{models[m].training.source}`)" for m in names)
                conflicts.append(f"analyzer `{analyzer.id}` is read by models trained on different sources: {shown}")
                continue
            homes[analyzer.id] = FitFrame(trained_on[0], names, union_groups(names))
            continue
        if not ir.models:
            unplaced.append(analyzer.id)
            continue
        reads = closure(ir, [analyzer.feature])
        needed = [n for n in reads if n in inputs]
        training = list(dict.fromkeys(m.training.source for m in ir.models))
        source = next((s for s in training if _has_columns(sources[s], needed)), None)
        why = ""
        if source is None:
            source = training[0]
            absent = [n for n in needed if not _has_columns(sources[source], [n])]
            why = f"; no training source has its input(s) {', '.join(f'`{n}`' for n in absent)}: null there"
        on = tuple(m.name for m in ir.models if m.training.source == source)
        read_groups = list(dict.fromkeys(n.split(".", 1)[0] for n in reads if "." in n and n.split(".", 1)[0] in groups))
        joinable = [g for g in read_groups if _joinable(sources[source], groups[g], sources)]
        skipped = [g for g in read_groups if g not in joinable]
        if skipped:
            why += (f"; feature group(s) {', '.join(f'`{g}`' for g in skipped)} cannot be joined on `{source}` "
                    "(event time or key columns): their outputs are null there")
        homes[analyzer.id] = FitFrame(source, on, union_groups(on, joinable))
        notes.append(f"analyzer `{analyzer.id}` is read by no model: fitted on the labelled rows of training source "
                     f"`{source}`{why}")
    if conflicts:
        raise FittingConflict("; ".join(conflicts) + " (one analyzer per training source: E5045)")
    # frames in model order: by training source (first model trained on it), then first model
    training = list(dict.fromkeys(m.training.source for m in ir.models))
    position = {m.name: i for i, m in enumerate(ir.models)}
    frames = sorted(dict.fromkeys(homes.values()),
                    key=lambda f: (training.index(f.source), min(position[m] for m in f.models)))
    steps = []
    for level in analyzer_levels(ir):
        for frame in frames:
            ids = tuple(a for a in level if homes.get(a) == frame)
            if ids:
                steps.append(FitStep(frame, ids))
    return FittingPlan(tuple(steps), tuple(homes.items()), tuple(unplaced), tuple(notes))


def _has_columns(source: SourceIR, names: Iterable[str]) -> bool:
    if source.columns is None:
        return True
    declared = {c.name for c in source.columns}
    return all(n in declared for n in names)


def _joinable(source: SourceIR, group: FeatureGroupIR, sources: Mapping[str, SourceIR]) -> bool:
    events = sources.get(group.source)
    return (source.event_time is not None and events is not None and events.event_time is not None
            and _has_columns(source, [k.name for k in group.keys]))


def fit_by_plan(spark: Any, ir: IR, module: Any, spec_dir: str, inputs: Mapping[str, str] | None = None,
                plan: FittingPlan | None = None,
                note: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Analyzer id -> fitted constants for every analyzer the plan places (``plan.unplaced`` are
    left to the caller), each on its frame's rows (``training_set.labelled_features``, sources
    read with ``inputs`` overrides). Each frame is built and cached once. ``note`` receives the
    plan's notes."""
    plan = plan or fitting_plan(ir)
    for text in plan.notes:
        if note is not None:
            note(text)
    frames: dict[FitFrame, Any] = {}
    fitted: dict[str, dict[str, Any]] = {}
    try:
        for step in plan.steps:
            if step.frame not in frames:
                rows = labelled_features(spark, ir, [ir.model(m) for m in step.frame.models], spec_dir, inputs,
                                         groups=step.frame.feature_groups)
                frames[step.frame] = rows.cache()
            fitted = fit(ir, module, frames[step.frame], step.analyzers, fitted)
    finally:
        for frame in frames.values():
            frame.unpersist()
    return fitted


# ---------------------------------------------------------------------------------- fitting


def fit(ir: IR, module: Any, df: Any, analyzers: Iterable[str] | None = None,
        fitted: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Analyzer id -> fitted constants, computed over ``df`` (the training data), level by level.

    ``analyzers``: the ids to fit (default: every analyzer); ``fitted``: constants already known,
    applied (not refitted) where the analyzers fitted here read them, and returned together with
    the new ones. An analyzer read by a wanted one that is neither wanted nor fitted is null."""
    wanted = {a.id for a in ir.analyzers} if analyzers is None else set(analyzers)
    known = {k: dict(v) for k, v in (fitted or {}).items() if k not in wanted}
    new: dict[str, dict[str, Any]] = {}
    if not wanted:
        return {**dict(fitted or {}), **new}
    own = not df.is_cached               # a frame cached by the caller stays cached
    cached = df.cache() if own else df
    try:
        for level in analyzer_levels(ir):
            ids = set(level) & wanted
            if not ids:
                continue
            ops = _recording_ops(cached, {**known, **new}, ids)
            module.transform(ops)
            # the requests' Columns read the derived features materialised in ops.frame()
            new.update(fit_analyzers(ops.frame(), ops.requests))
    finally:
        if own:
            cached.unpersist()
    return {**dict(fitted or {}), **new}


def with_fitted(ir: IR, fitted: dict[str, dict[str, Any]]) -> IR:
    """The IR with fitted constants recorded on its analyzers (stored in mldl.json)."""
    analyzers = tuple(
        dataclasses.replace(a, fitted=tuple(sorted(fitted[a.id].items())) if a.id in fitted else a.fitted)
        for a in ir.analyzers
    )
    return dataclasses.replace(ir, analyzers=analyzers)


def fitted_from_ir(ir: IR) -> dict[str, dict[str, Any]]:
    return {a.id: dict(a.fitted) for a in ir.analyzers if a.fitted is not None}


def _recording_ops(df: Any, fitted: dict, wanted: set[str]) -> Any:
    class RecordingOps(SparkOps):
        """Applies fitted analyzers; records the argument of wanted ones; nulls the rest."""

        def __init__(self) -> None:
            super().__init__(df, fitted)
            self.requests: list[tuple[str, str, Any, tuple]] = []

        def analyzer(self, function: str, analyzer_id: str, dtype: str, x: Any, *params: Any) -> Any:
            if analyzer_id in self.fitted:
                return super().analyzer(function, analyzer_id, dtype, x, *params)
            if analyzer_id in wanted:
                self.requests.append((analyzer_id, function, x.col, params))
            from pyspark.sql import functions as F

            return SVal(F.lit(None).cast(SPARK_TYPES[dtype]), dtype)

    return RecordingOps()
