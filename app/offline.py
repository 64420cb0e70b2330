"""The offline workflows on Spark local[*]: `fit` (analyzers fitted on data, written as a build),
`check-parity` (the Spark and NumPy executors compared) and the feature job of `run --step`
(feature-group snapshots, analyzer fit, training sets), then training (:mod:`mlc.app.training`).

Spark and NumPy are imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from mlc.app.common import (
    built, classified, default_run_dir, Diagnostics, Failed, Progress, quiet, require_spark, spark_session,
    spec_dir, unshown,
)
from mlc.app.log_training import training_from_log
from mlc.app.training import run_training
from mlc.backends.preprocess import render
from mlc.core.diagnostics import Diagnostic, SourceMap
from mlc.core.errors import MlcError
from mlc.runtime.features import job, parity_check
from mlc.runtime.features.fitting import fit as fit_analyzers, fit_by_plan, fitting_plan, with_fitted
from mlc.runtime.features.sources import kind_of_file, read_source, SourceError
from mlc.runtime.preprocess import module_from_text
from mlc.schemas.compose import compose
from mlc.schemas.yamlpos import find


def training_source(ir: Any) -> Any:
    """The source `--data` stands for: the default model's training source (``IR.default_model``),
    else the first source declaring every preprocess input (where `mlc fit` fits a spec without
    models)."""
    by_name = {s.name: s for s in ir.sources}
    if ir.models:
        return by_name[ir.default_model().training.source]
    inputs = {i.name for i in ir.inputs}
    for source in ir.sources:
        if source.columns and inputs <= {c.name for c in source.columns}:
            return source
    return None


def load_data(spark: Any, ir: Any, spec_path: str, data: str | None, source: Any = None) -> Any:
    """The data of ``source`` (default: ``training_source``), ``data`` replacing its location."""

    source = source or training_source(ir)
    if data is not None and not os.path.exists(data) and "://" not in data:
        raise MlcError(f"data file not found: {data}", code="E7002")
    if source is None:
        if data is None:
            raise MlcError("the spec has no source with every preprocess input", code="E7002",
                           hint="pass a data file with --data")

        kind = kind_of_file(data, "csv")
        reader = spark.read.option("header", "true").option("inferSchema", "true")
        return getattr(reader, kind)(data)

    try:
        return read_source(spark, source, spec_dir(spec_path), os.path.abspath(data) if data else None)
    except SourceError as exc:
        raise MlcError(str(exc), code="E7003") from None
    except Exception as exc:  # Spark's AnalysisException and friends: report, never a traceback
        raise MlcError(f"cannot read the data of source `{source.name}`: {str(exc).splitlines()[0]}",
                       code="E7003") from None


def planned_fit(spark: Any, ir: Any, module: Any, spec_path: str, data: str | None, df: Any,
                progress: Progress = quiet) -> Any:
    """The IR with every analyzer fitted by the fitting plan (``fitting.fit_by_plan``, as the
    feature job does): each on the label rows of the models that read it, feature-group outputs
    joined point in time. ``data`` (``--data``) replaces the data of the default model's training
    source; the other sources are read from the spec. Without models, everything is fitted on
    ``df`` (the first source with every input, or ``--data``)."""

    plan = fitting_plan(ir)
    inputs = {}
    if data is not None and ir.models:
        inputs[ir.default_model().training.source] = data if "://" in data else os.path.abspath(data)
    fitted = fit_by_plan(spark, ir, module, spec_dir(spec_path), inputs, plan,
                         note=lambda text: progress(f"note: {text}"))
    if plan.unplaced:
        fitted = fit_analyzers(ir, module, df, plan.unplaced, fitted)
    return with_fitted(ir, fitted)


@dataclass
class Prepared:
    result: Any          # compiler Build
    spark: Any
    module: Any          # the generated preprocess module
    df: Any              # the data `--data` stands for


def prepared(spec: str, env: str | None, data: str | None, app: str, catalog_dir: str | None,
             diagnostics: Diagnostics) -> Prepared:
    """The spec built, Spark started, the generated module loaded and the data read."""

    result = built(spec, env, diagnostics)
    require_spark()
    spark = spark_session(app, result.ir, catalog_dir)
    module = module_from_text(render(result.ir))
    return Prepared(result, spark, module, load_data(spark, result.ir, spec, data))


# ---------------------------------------------------------------------------------- fit


def fit(spec: str, out: str, *, data: str | None = None, env: str | None = None, catalog_dir: str | None = None,
        progress: Progress = quiet, diagnostics: Diagnostics = unshown) -> Any:
    """Fit the preprocessing analyzers on data and write the build to ``out``; the fitted IR."""
    from mlc.compiler.artifacts import artifact_tree
    from mlc.compiler.writer import write_tree

    ready = prepared(spec, env, data, "mlc-fit", catalog_dir, diagnostics)
    result = ready.result
    try:
        result.ir = planned_fit(ready.spark, result.ir, ready.module, spec, data, ready.df, progress)
    except Exception as exc:
        raise classified(exc) from None
    write_tree(artifact_tree(result), out)
    for analyzer in result.ir.analyzers:
        summary = ", ".join(f"{k}={_short(v)}" for k, v in (analyzer.fitted or ()))
        progress(f"fitted {analyzer.id}: {summary}")
    progress(f"wrote {out} with {len(result.ir.analyzers)} fitted analyzer(s)")
    return result.ir


def _short(value: Any) -> str:
    if isinstance(value, list):
        return f"[{len(value)} values]"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------------- check-parity


@dataclass
class Parity:
    """The sections compared (outcomes), those skipped ((section, why)), every section, and the
    time-zone release warning (or None)."""
    compared: list
    skipped: list
    sections: list
    tz_warning: str | None = None

    @property
    def ok(self) -> bool:
        return not self.skipped and all(o.ok for o in self.compared)


def check_parity(spec: str, *, data: str | None = None, rows: int = 1000, allow_missing_inputs: bool = False,
                 env: str | None = None, catalog_dir: str | None = None,
                 diagnostics: Diagnostics = unshown) -> Parity:
    """Both executors compared per training source (`parity_check.sections`): on each, the
    features its models read (plus those of no model placed there); one section each. Sources
    that lack inputs (E7250) or rows (E7251) are reported to ``diagnostics`` and skipped."""

    ready = prepared(spec, env, data, "mlc-check-parity", catalog_dir, diagnostics)
    result, spark, module, df = ready.result, ready.spark, ready.module, ready.df
    ir = result.ir
    first = training_source(ir)
    frames = _training_frames(spark, ir, spec, first, df)
    parts = parity_check.sections(ir, {name: frame.columns for name, frame in frames.items()}, first)
    skipped: list[tuple[Any, str]] = []     # (section, why it was not compared)
    runnable = []
    for part in parts:
        frame = frames[part.source.name] if part.source is not None else df
        missing = parity_check.missing_inputs(ir, frame, part.features)
        if missing and not allow_missing_inputs:
            diagnostics([_missing_inputs(spec, env, data, part.source, missing)], result.sources)
            skipped.append((part, "inputs missing from the data (E7250)"))
        else:
            runnable.append((part, frame))
    outcomes = []
    try:
        # per training source: its rows, with the feature groups' outputs point in time (as
        # training sets); the analyzers of its features are fitted on them, so standardized group
        # outputs are not all 0.0
        read = _events_reader(spark, result, spec, frames)
        samples, fitted = [], {}
        for part, frame in runnable:
            sample = parity_check.sample_rows(ir, frame, rows, part.source, read, part.features)
            wanted = [a for d in ir.derived if d.name in part.features for a in d.analyzers if a not in fitted]
            fitted = fit_analyzers(ir, module, sample.df, wanted, fitted)
            samples.append(sample)
        rest = [a.id for a in ir.analyzers if a.id not in fitted]   # features compared nowhere
        if rest and samples:
            fitted = fit_analyzers(ir, module, samples[0].df, rest, fitted)
        for (part, _), sample in zip(runnable, samples):
            outcomes.append(parity_check.check(spark, ir, module, sample.df, rows, fitted, sample,
                                               part.features, part))
    except Exception as exc:
        raise classified(exc) from None
    compared = []
    for outcome in outcomes:
        if outcome.rows == 0:
            source = outcome.section.source
            where = f"`{source.name}`" if source is not None else data
            diagnostics([Diagnostic("E7251", f"the data of {where} has no rows: nothing compared")], result.sources)
            skipped.append((outcome.section, "no rows (E7251)"))
        else:
            compared.append(outcome)
    return Parity(compared, skipped, parts, parity_check.tz_release_warning(spark, ir))


def _training_frames(spark: Any, ir: Any, spec: str, first: Any, df: Any) -> dict[str, Any]:
    """Source name -> its data, for every training source (``first``, the source `--data` stands
    for, is ``df``)."""
    frames = {first.name: df} if first is not None else {}
    for model in ir.models:
        name = model.training.source
        if name not in frames:
            source = next(s for s in ir.sources if s.name == name)
            frames[name] = load_data(spark, ir, spec, None, source)
    return frames


def _missing_inputs(spec: str, env: str | None, data: str | None, source: Any, missing: list[str]) -> Diagnostic:
    """E7250 at the training source's declaration: the inputs the features read that the data lacks."""

    names = ", ".join(f"`{n}`" for n in missing)
    root = compose(spec, SourceMap(), env).root
    if source is None:   # a data file that is no declared source: point at the first input's declaration
        key, _ = find(root, ("preprocess", "inputs", missing[0]))
        return Diagnostic("E7250", f"{len(missing)} preprocess input(s) read by the features are not columns of "
                          f"{data}: {names}; both executors would compare nulls, which proves nothing",
                          span=key.span if key is not None else None,
                          hint="add the columns to the data, or pass --allow-missing-inputs to compare them as null")
    key, _ = find(root, ("sources", source.name))
    shown = f" (read from {data})" if data else ""
    return Diagnostic("E7250", f"{len(missing)} preprocess input(s) read by the features are not columns of source "
                      f"`{source.name}`{shown}: {names}; both executors would compare nulls, which proves nothing",
                      span=key.span if key is not None else None,
                      hint="add the columns to the data (or map a column of another name with `from`), or pass "
                           "--allow-missing-inputs to compare them as null")


def _events_reader(spark: Any, result: Any, spec: str, frames: dict[str, Any]) -> Any:
    """Source name -> its DataFrame, for the feature groups' events (a training source: its frame
    in ``frames``, the first one honouring ``--data``)."""

    folder = spec_dir(spec)
    by_name = {s.name: s for s in result.ir.sources}

    def read(name: str) -> Any:
        if name in frames:
            return frames[name]
        try:
            return read_source(spark, by_name[name], folder)
        except SourceError as exc:
            raise MlcError(str(exc), code="E7003") from None

    return read


# ------------------------------------------------------------------ run --step (offline)


@dataclass
class Offline:
    """The options of the offline steps (`mlc run --step`, and the pipeline's features/train)."""
    spec: str
    step: str = "all"                          # features | training | train | all
    env: str | None = None
    output: str | None = None                  # default: .mlc/<name>/data beside the spec
    as_of: str | None = None
    inputs: list[str] = field(default_factory=list)     # SOURCE=PATH
    catalog_dir: str | None = None
    workers: int | None = None
    model: str | None = None
    shard: str | None = None
    epochs: int | None = None
    from_log: str | None = None                # training sets from the feature log (log and wait)
    join_on: list[str] = field(default_factory=list)
    label_within: str | None = None
    build: str | None = None                   # the served build (--from-log): its fitted constants


def run_offline(options: Offline, progress: Progress = quiet, diagnostics: Diagnostics = unshown) -> str:
    """`mlc run SPEC --step features|training|train|all`: the offline feature job in Spark
    local[*] (the same `mlc.runtime.features.job.main` that the generated `spark/<name>_features.py`
    runs under spark-submit), then, for `train` and `all`, training every (model, shard) from the
    training sets (the same `mlc.runtime.training` that `train/<model>_train.py` runs). With
    ``from_log`` the training sets come from the feature log instead (:mod:`mlc.app.log_training`)
    and only their (model, shard) pairs train. The run folder."""

    result = built(options.spec, options.env, diagnostics)
    output = options.output or default_run_dir(options.spec)
    only = None
    if options.from_log and options.step in ("training", "all"):
        only = set(training_from_log(options, result, output, progress))
        if options.step != "all":
            progress(f"output: {output}")
            return output
    elif options.from_log:
        raise MlcError(f"--from-log builds training sets: use it with --step training or --step all, "
                       f"not --step {options.step}", code="E7424")
    elif options.step != "train":
        feature_job(options, result, output)
        if options.step != "all":
            progress(f"output: {output}")
            return output
    try:
        run_training(options, result, output, progress, only=only)
    except Exception as exc:
        raise classified(exc) from None
    progress(f"output: {output}")
    return output


def feature_job(options: Offline, result: Any, output: str) -> None:
    """The feature job (``options.step`` of it) into ``output``, on the spec already built
    (``result``); Failed with its exit code when it reports a failure itself."""
    argv = ["--output", output, "--step", options.step]
    argv += ["--as-of", options.as_of] if options.as_of else []
    for item in options.inputs or []:
        argv += ["--input", item]
    try:
        require_spark()
        spark = spark_session("mlc-run", result.ir, options.catalog_dir)
        code = job.main(argv, spec_dir=spec_dir(options.spec), spark=spark, ir=result.ir)
    except Exception as exc:
        raise classified(exc) from None
    if code != 0:
        raise Failed(code, "the feature job failed")
