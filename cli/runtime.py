"""CLI commands that run things after compilation (Spark, NumPy): `mlc fit`, `mlc check-parity`.

Imported only by those commands, so `mlc compile` never loads pyspark or numpy.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mlc.core.diagnostics import Diagnostic
from mlc.core.errors import MlcError


class RuntimeProblem(MlcError):
    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.diagnostic = Diagnostic(code, message, hint=hint)


def require_spark() -> None:
    try:
        import numpy  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise RuntimeProblem("E7001", f"this command needs {exc.name}", "install the Spark extra: pip install 'mlc[spark]'")


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
    from mlc.runtime.features.sources import read_source

    source = source or training_source(ir)
    if data is not None and not os.path.exists(data) and "://" not in data:
        raise RuntimeProblem("E7002", f"data file not found: {data}")
    if source is None:
        if data is None:
            raise RuntimeProblem("E7002", "the spec has no source with every preprocess input",
                                 "pass a data file with --data")
        from mlc.runtime.features.sources import kind_of_file

        kind = kind_of_file(data, "csv")
        reader = spark.read.option("header", "true").option("inferSchema", "true")
        return getattr(reader, kind)(data)
    spec_dir = os.path.dirname(os.path.abspath(spec_path))
    from mlc.runtime.features.sources import SourceError

    try:
        return read_source(spark, source, spec_dir, os.path.abspath(data) if data else None)
    except SourceError as exc:
        raise RuntimeProblem("E7003", str(exc)) from None
    except Exception as exc:  # Spark's AnalysisException and friends: report, never a traceback
        raise RuntimeProblem("E7003", f"cannot read the data of source `{source.name}`: {str(exc).splitlines()[0]}")


def planned_fit(spark: Any, ir: Any, module: Any, spec_path: str, data: str | None, df: Any) -> Any:
    """The IR with every analyzer fitted by the fitting plan (``fitting.fit_by_plan``, as the
    feature job does): each on the label rows of the models that read it, feature-group outputs
    joined point in time. ``data`` (``--data``) replaces the data of the default model's training
    source; the other sources are read from the spec. Without models, everything is fitted on
    ``df`` (the first source with every input, or ``--data``)."""
    from mlc.runtime.features.fitting import fit, fit_by_plan, fitting_plan, with_fitted

    plan = fitting_plan(ir)
    inputs = {}
    if data is not None and ir.models:
        inputs[ir.default_model().training.source] = data if "://" in data else os.path.abspath(data)
    spec_dir = os.path.dirname(os.path.abspath(spec_path))
    fitted = fit_by_plan(spark, ir, module, spec_dir, inputs, plan, note=lambda text: sys.stderr.write(f"note: {text}\n"))
    if plan.unplaced:
        fitted = fit(ir, module, df, plan.unplaced, fitted)
    return with_fitted(ir, fitted)


def _spark(app: str, args: Any, ir: Any) -> Any:
    """A local session; with Hive support and the catalog directory when the spec reads tables."""
    from mlc.runtime.features.session import catalog_dir, local_session, uses_catalog

    catalog = catalog_dir(getattr(args, "catalog_dir", None)) if uses_catalog(ir) else None
    return local_session(app, catalog=catalog)


def _prepared(args: Any, report, app: str) -> tuple[Any, Any, Any, Any] | None:
    """Build the spec, start Spark, load the generated module and the data; None after
    reporting a problem. Returns (build, spark, module, dataframe)."""
    from mlc.backends.preprocess import render
    from mlc.compiler.pipeline import build
    from mlc.runtime.preprocess import module_from_text

    result = build(args.spec, args.env)
    report(result.diagnostics, result.sources, "text")
    if not result.ok:
        return None
    try:
        require_spark()
        spark = _spark(app, args, result.ir)
        spark.sparkContext.setLogLevel("OFF")  # failures are reported as diagnostics, not JVM logs
        module = module_from_text(render(result.ir))
        return result, spark, module, load_data(spark, result.ir, args.spec, args.data)
    except RuntimeProblem as problem:
        report([problem.diagnostic], result.sources, "text")
        return None


def _reported(exc: BaseException, report, sources) -> int:
    """Report a data, store or Spark failure as a diagnostic (exit 1); re-raise anything else."""
    problem = exc if isinstance(exc, RuntimeProblem) else (_spark_failure(exc) or _store_failure(exc))
    if problem is None:
        raise exc
    report([problem.diagnostic], sources, "text")
    return 1


def _spark_failure(exc: BaseException) -> RuntimeProblem | None:
    """A data problem Spark raised while running (malformed rows, schema mismatches), as a
    diagnostic; None for anything that is not a Spark error (a bug keeps its traceback)."""
    module = type(exc).__module__
    if not (module.startswith("pyspark") or module.startswith("py4j")):
        return None
    import re

    text = str(exc)
    classified = re.findall(r"\[[A-Z][A-Z_]{3,}\][^\n]*", text)   # Spark error classes; the last is the root cause
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = classified[-1].strip() if classified else (lines[0] if lines else type(exc).__name__)
    return RuntimeProblem("E7003", f"Spark could not process the data: {detail[:300]}",
                          "check that the data matches the source's declared `columns`; "
                          "`on_bad_rows: drop` skips malformed CSV rows")


def cmd_fit(args: Any, report) -> int:
    from mlc.compiler.artifacts import artifact_tree
    from mlc.compiler.writer import WriteRefused, write_tree

    prepared = _prepared(args, report, "mlc-fit")
    if prepared is None:
        return 1
    result, spark, module, df = prepared
    try:
        result.ir = planned_fit(spark, result.ir, module, args.spec, args.data, df)
    except Exception as exc:
        return _reported(exc, report, result.sources)
    try:
        write_tree(artifact_tree(result), args.out)
    except WriteRefused as refused:
        report([refused.diagnostic()], result.sources, "text")
        return 1
    for analyzer in result.ir.analyzers:
        summary = ", ".join(f"{k}={_short(v)}" for k, v in (analyzer.fitted or ()))
        sys.stderr.write(f"fitted {analyzer.id}: {summary}\n")
    sys.stderr.write(f"wrote {args.out} with {len(result.ir.analyzers)} fitted analyzer(s)\n")
    return 0


def _short(value: Any) -> str:
    if isinstance(value, list):
        return f"[{len(value)} values]"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def cmd_check_parity(args: Any, report) -> int:
    """Both executors compared per training source (`parity_check.sections`): on each, the
    features its models read (plus those of no model placed there); one section each, one
    overall verdict (exit 1 if a source mismatches, lacks inputs or has no rows)."""
    from mlc.runtime.features import parity_check
    from mlc.runtime.features.fitting import fit

    prepared = _prepared(args, report, "mlc-check-parity")
    if prepared is None:
        return 1
    result, spark, module, df = prepared
    ir = result.ir
    first = training_source(ir)
    try:
        frames = _training_frames(spark, ir, args, first, df)
    except RuntimeProblem as problem:
        report([problem.diagnostic], result.sources, "text")
        return 1
    parts = parity_check.sections(ir, {name: frame.columns for name, frame in frames.items()}, first)
    skipped: list[tuple[Any, str]] = []     # (section, why it was not compared)
    runnable = []
    for part in parts:
        data = frames[part.source.name] if part.source is not None else df
        missing = parity_check.missing_inputs(ir, data, part.features)
        if missing and not getattr(args, "allow_missing_inputs", False):
            report([_missing_inputs(args, result, part.source, missing)], result.sources, "text")
            skipped.append((part, "inputs missing from the data (E7250)"))
        else:
            runnable.append((part, data))
    outcomes = []
    try:
        # per training source: its rows, with the feature groups' outputs point in time (as
        # training sets); the analyzers of its features are fitted on them, so standardized group
        # outputs are not all 0.0
        read = _events_reader(spark, result, args, frames)
        samples, fitted = [], {}
        for part, data in runnable:
            sample = parity_check.sample_rows(ir, data, args.rows, part.source, read, part.features)
            wanted = [a for d in ir.derived if d.name in part.features for a in d.analyzers if a not in fitted]
            fitted = fit(ir, module, sample.df, wanted, fitted)
            samples.append(sample)
        rest = [a.id for a in ir.analyzers if a.id not in fitted]   # features compared nowhere
        if rest and samples:
            fitted = fit(ir, module, samples[0].df, rest, fitted)
        for (part, _), sample in zip(runnable, samples):
            outcomes.append(parity_check.check(spark, ir, module, sample.df, args.rows, fitted, sample,
                                               part.features, part))
    except Exception as exc:
        return _reported(exc, report, result.sources)
    compared = []
    for outcome in outcomes:
        if outcome.rows == 0:
            source = outcome.section.source
            where = f"`{source.name}`" if source is not None else args.data
            report([RuntimeProblem("E7251", f"the data of {where} has no rows: nothing compared").diagnostic],
                   result.sources, "text")
            skipped.append((outcome.section, "no rows (E7251)"))
        else:
            compared.append(outcome)
    if compared or len(parts) > 1:
        sys.stdout.write(render_sections(compared, skipped, parts))
    warning = parity_check.tz_release_warning(spark, ir)
    if warning:
        sys.stdout.write(warning + "\n")
    return 0 if not skipped and all(o.ok for o in compared) else 1


def _training_frames(spark: Any, ir: Any, args: Any, first: Any, df: Any) -> dict[str, Any]:
    """Source name -> its data, for every training source (``first``, the source `--data` stands
    for, is ``df``)."""
    frames = {first.name: df} if first is not None else {}
    for model in ir.models:
        name = model.training.source
        if name not in frames:
            source = next(s for s in ir.sources if s.name == name)
            frames[name] = load_data(spark, ir, args.spec, None, source)
    return frames


def _missing_inputs(args: Any, result: Any, source: Any, missing: list[str]) -> Diagnostic:
    """E7250 at the training source's declaration: the inputs the features read that the data lacks."""
    from mlc.core.diagnostics import SourceMap
    from mlc.schemas.compose import compose
    from mlc.schemas.yamlpos import find

    names = ", ".join(f"`{n}`" for n in missing)
    root = compose(args.spec, SourceMap(), args.env).root
    if source is None:   # a data file that is no declared source: point at the first input's declaration
        key, _ = find(root, ("preprocess", "inputs", missing[0]))
        return Diagnostic("E7250", f"{len(missing)} preprocess input(s) read by the features are not columns of "
                          f"{args.data}: {names}; both executors would compare nulls, which proves nothing",
                          span=key.span if key is not None else None,
                          hint="add the columns to the data, or pass --allow-missing-inputs to compare them as null")
    key, _ = find(root, ("sources", source.name))
    data = f" (read from {args.data})" if args.data else ""
    return Diagnostic("E7250", f"{len(missing)} preprocess input(s) read by the features are not columns of source "
                      f"`{source.name}`{data}: {names}; both executors would compare nulls, which proves nothing",
                      span=key.span if key is not None else None,
                      hint="add the columns to the data (or map a column of another name with `from`), or pass "
                           "--allow-missing-inputs to compare them as null")


def _events_reader(spark: Any, result: Any, args: Any, frames: dict[str, Any]) -> Any:
    """Source name -> its DataFrame, for the feature groups' events (a training source: its frame
    in ``frames``, the first one honouring ``--data``)."""
    from mlc.runtime.features.sources import SourceError, read_source

    spec_dir = os.path.dirname(os.path.abspath(args.spec))
    by_name = {s.name: s for s in result.ir.sources}

    def read(name: str) -> Any:
        if name in frames:
            return frames[name]
        try:
            return read_source(spark, by_name[name], spec_dir)
        except SourceError as exc:
            raise RuntimeProblem("E7003", str(exc)) from None

    return read


def _listed(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def render_sections(outcomes: list, skipped: list, sections: list) -> str:
    """One section per training source compared, then (with several sources) the overall verdict
    (``skipped``: (section, why it was not compared))."""
    texts = [_section_header(outcome.section) + render_report(outcome) for outcome in outcomes]
    if len(sections) > 1:
        texts.append(_overall(outcomes, skipped, sections))
    return "\n".join(texts)


def _section_header(section: Any) -> str:
    if section is None or section.source is None:
        return ""
    models = ", ".join(section.models)
    line = f"== training source `{section.source.name}` (models: {models}): {len(section.features)} feature(s) =="
    if section.unreached:
        line += f"\n   also compared here, read by no model: {_listed(list(section.unreached))}"
    return line + "\n"


def _overall(outcomes: list, skipped: list, sections: list) -> str:
    names = [f"`{s.source.name}`" for s in sections]
    problems = {o.section.source.name: f"MISMATCH in {sum(1 for f in o.features if f.mismatches)} feature(s)"
                for o in outcomes if not o.ok}
    problems.update({s.source.name: f"not compared, {why}" for s, why in skipped})
    bad = [f"`{s.source.name}`: {problems[s.source.name]}" for s in sections if s.source.name in problems]
    if not bad:
        return f"overall: OK on {len(names)} training sources ({', '.join(names)})\n"
    return f"overall: FAILED on {len(bad)} of {len(names)} training sources: {'; '.join(bad)}\n"


def render_report(outcome: Any) -> str:
    width = max([len(f.name) for f in outcome.features] + [7])
    lines = [f"parity: NumPy executor vs Spark executor on {outcome.rows} rows", ""]
    lines.append(f"{'feature':<{width}}  {'dtype':<9} {'compared':>8} {'mismatches':>10} {'null':>8}")
    for f in outcome.features:
        lines.append(f"{f.name:<{width}}  {f.dtype:<9} {f.compared:>8} {f.mismatches:>10} {f.nulls:>8}")
    for f in outcome.features:
        for row, numpy_value, spark_value in f.examples:
            lines.append(f"  {f.name} row {row}: numpy={numpy_value!r} spark={spark_value!r}")
    warnings = []
    if outcome.missing:
        lines += ["", f"warning: inputs not in the data, compared as null (--allow-missing-inputs) "
                      f"({len(outcome.missing)}): {_listed(outcome.missing)}"]
        warnings.append(f"{len(outcome.missing)} input(s) null")
    lines += _group_lines(outcome)
    uncovered = [g.name for g in outcome.uncovered]
    if uncovered:
        lines += ["", f"warning: feature-group outputs not covered, null on every row compared ({len(uncovered)}): "
                      f"{_listed(uncovered)}"]
        warnings.append(f"{len(uncovered)} group output(s) not covered")
    all_null = [f.name for f in outcome.all_null]
    if all_null:
        lines += ["", f"warning: features null on every one of the {outcome.rows} rows compared, so their "
                      f"comparison proves nothing ({len(all_null)}): {_listed(all_null)}"]
        warnings.append(f"{len(all_null)} feature(s) always null")
    bad = sum(1 for f in outcome.features if f.mismatches)
    lines.append("")
    if not outcome.ok:
        lines.append(f"MISMATCH in {bad} feature(s)")
    else:
        lines.append("OK: every feature identical" + (f" (but {'; '.join(warnings)}: see above)" if warnings else ""))
    return "\n".join(lines) + "\n"


def _group_lines(outcome: Any) -> list[str]:
    """Per feature group: how its outputs were obtained, and each output's rows with a value / null."""
    if not outcome.groups:
        return []
    width = max(len(g.name) for g in outcome.groups)
    lines = ["", f"feature-group outputs read by the features (rows with a value / null, of {outcome.rows}):"]
    seen = None
    for g in outcome.groups:
        group = g.name.split(".", 1)[0]
        if group != seen:
            seen = group
            lines.append(f"  {group}: " + (g.source if g.source else f"NOT COVERED: {g.reason}"))
        lines.append(f"    {g.name:<{width}}  {g.values:>6} / {g.nulls}")
    return lines


# ------------------------------------------------------------- online store


def default_store_url(spec_path: str) -> str:
    """The embedded default online store: SQLite beside the spec, in `.mlc/<app>/online.sqlite`
    (one per application, `mlc.runtime.app_state`)."""
    from mlc.runtime.app_state import app_dir

    folder = app_dir(spec_path)
    os.makedirs(folder, exist_ok=True)
    return "sqlite:" + os.path.join(folder, "online.sqlite")


def default_run_dir(spec_path: str) -> str:
    """The default run folder (`--output`): `.mlc/<app>/data` beside the spec."""
    from mlc.runtime.app_state import run_dir

    return run_dir(spec_path)


def _parse_time(text: str) -> Any:
    from mlc.core.names import parse_timestamp

    value = parse_timestamp(text)
    if value is None:
        raise RuntimeProblem("E7004", f"`{text}` is not an ISO-8601 timestamp", "e.g. 2024-06-08T00:00:00Z")
    return value


def _latest_event(spark: Any, ir: Any, spec_path: str) -> Any:
    """Default as-of time: just after the latest event of any feature-group source."""
    from mlc.runtime.features.feature_groups import event_micros
    from mlc.runtime.features.sources import read_source

    spec_dir = os.path.dirname(os.path.abspath(spec_path))
    latest = 0
    for source in {s.name: s for s in ir.sources if s.name in {g.source for g in ir.feature_groups}}.values():
        df = read_source(spark, source, spec_dir)
        value = df.select(event_micros(df, source.event_time).alias("t")).agg({"t": "max"}).collect()[0][0]
        latest = max(latest, value or 0)
    return latest // 1_000_000 + 1


def cmd_materialize(args: Any, report) -> int:
    from mlc.compiler.pipeline import build
    from mlc.runtime.features.materialize import materialize

    result = build(args.spec, args.env)
    report(result.diagnostics, result.sources, "text")
    if not result.ok:
        return 1
    try:
        require_spark()
        spark = _spark("mlc-materialize", args, result.ir)
        spark.sparkContext.setLogLevel("OFF")
        as_of = _parse_time(args.as_of) if args.as_of else _latest_event(spark, result.ir, args.spec)
        store = args.store or default_store_url(args.spec)
        counts = materialize(spark, result.ir, os.path.dirname(os.path.abspath(args.spec)), store,
                             args.namespace or result.ir.name, as_of, incremental=args.incremental)
    except Exception as exc:
        return _reported(exc, report, result.sources)
    for group, count in counts.items():
        sys.stderr.write(f"materialized {group}: {count} entities\n")
    from mlc.runtime.urls import redact_url

    sys.stderr.write(f"store: {redact_url(store)}\n")
    return 0


def _store_failure(exc: BaseException) -> RuntimeProblem | None:
    from mlc.runtime.online_store import StoreError, StoreNotFound
    from mlc.runtime.features.sources import SourceError

    if isinstance(exc, StoreNotFound):
        return RuntimeProblem("E7230", f"online store: {exc}")
    if isinstance(exc, StoreError):
        return RuntimeProblem("E7005", f"online store: {exc}")
    if isinstance(exc, SourceError):
        return RuntimeProblem("E7003", str(exc))
    return None


def cmd_features_get(args: Any, report) -> int:
    from mlc.compiler.pipeline import build
    from mlc.core.suggest import did_you_mean
    from mlc.runtime.online_store import get_features, open_store

    result = build(args.spec, args.env)
    report(result.diagnostics, result.sources, "text")
    if not result.ok:
        return 1
    groups = {g.name: g for g in result.ir.feature_groups}
    if args.group not in groups:
        report([RuntimeProblem("E5002", f"unknown feature group `{args.group}`",
                               did_you_mean(args.group, groups, "feature groups")).diagnostic], result.sources, "text")
        return 1
    group = groups[args.group]
    try:
        keys = [_parse_key(text, group) for text in args.keys]
        store = open_store(args.store or default_store_url(args.spec), timeout=args.timeout, create=False)
    except Exception as exc:
        return _reported(exc, report, result.sources)
    rows = {k.name: [key[i] for key in keys] for i, k in enumerate(group.keys)}
    fetched = get_features(store, result.ir, [group.name], rows, args.namespace or result.ir.name)
    store.close()
    sys.stdout.write(_render_features(group, args.keys, fetched))
    return 0


def _parse_key(text: str, group: Any) -> list[Any]:
    """`KEY` or `PART,PART` for multi-column entity keys, typed by the key columns."""
    parts = text.split(",") if len(group.keys) > 1 else [text]
    if len(parts) != len(group.keys):
        names = ",".join(k.name for k in group.keys)
        raise RuntimeProblem("E7006", f"`{text}` does not match the entity key ({names})", f"write {names}")
    values = []
    for part, column in zip(parts, group.keys):
        if column.dtype == "int64":
            try:
                values.append(int(part))
            except ValueError:
                raise RuntimeProblem("E7006", f"entity key `{column.name}` is int64, got `{part}`") from None
        else:
            values.append(part)
    return values


def _render_features(group: Any, keys: list[str], fetched: Any) -> str:
    names = [o.name for o in group.outputs]
    width = max(len(n) for n in names + ["key"])
    lines = [f"{group.name} ({', '.join(k.name for k in group.keys)})" + ("  [DEGRADED: store error]" if fetched.degraded else "")]
    for i, key in enumerate(keys):
        found = fetched.found.get(group.name)
        missing = found is not None and not found[i] and not fetched.degraded
        lines.append(f"  {key}:" + ("  (no record: defaults)" if missing else ""))
        for name in names:
            value = fetched.columns[f"{group.name}.{name}"].to_list()[i]
            shown = "null" if value is None else repr(value)
            lines.append(f"    {name:<{width}}  {shown}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------- mlc run


def cmd_run(args: Any, report) -> int:
    """`mlc run SPEC --step features|training|train|all`: the offline feature job in Spark
    local[*] (the same `mlc.runtime.features.job.main` that the generated `spark/<name>_features.py`
    runs under spark-submit), then, for `train` and `all`, training every (model, shard) from the
    training sets (the same `mlc.runtime.training` that `train/<model>_train.py` runs)."""
    from mlc.compiler.pipeline import build

    result = build(args.spec, args.env)
    report(result.diagnostics, result.sources, "text")
    if not result.ok:
        return 1
    output = args.output or default_run_dir(args.spec)
    if args.step != "train":
        code = _feature_job(args, result, output, report)
        if code != 0 or args.step != "all":
            if code == 0:
                sys.stderr.write(f"output: {output}\n")
            return code
    try:
        code = run_training(args, result, output)
    except Exception as exc:
        return _reported(exc, report, result.sources)
    if code == 0:
        sys.stderr.write(f"output: {output}\n")
    return code


def _feature_job(args: Any, result: Any, output: str, report) -> int:
    argv = ["--spec", args.spec, "--output", output, "--step", args.step]
    argv += ["--env", args.env] if args.env else []
    argv += ["--as-of", args.as_of] if args.as_of else []
    for item in args.input or []:
        argv += ["--input", item]
    try:
        require_spark()
        from mlc.runtime.features import job as feature_job

        spark = _spark("mlc-run", args, result.ir)
        spark.sparkContext.setLogLevel("OFF")
        return feature_job.main(argv, spec_dir=os.path.dirname(os.path.abspath(args.spec)), spark=spark)
    except Exception as exc:
        return _reported(exc, report, result.sources)


# -------------------------------------------------------------- mlc run --step train

INSTALL_HOROVOD = "sh scripts/install_horovod.sh"


def training_jobs(ir: Any, model: str | None = None, shard: str | None = None) -> list:
    """The (model, shard) jobs to train (``mlc.backends.train.targets``), filtered by the
    --model/--shard options; unknown names are diagnostics."""
    from mlc.backends.train import targets
    from mlc.core.suggest import did_you_mean

    jobs = targets(ir)
    if model is not None:
        names = [m.name for m in ir.models]
        if model not in names:
            raise RuntimeProblem("E5002", f"unknown model `{model}`", did_you_mean(model, names, "models"))
        jobs = [t for t in jobs if t.model.name == model]
    if shard is not None:
        shards = [t.shard for t in jobs]
        if shard not in shards:
            what = f"model `{model}`" if model else "any model"
            raise RuntimeProblem("E5002", f"no training set of {what} for shard `{shard}`",
                                 did_you_mean(shard, shards, "shards"))
        jobs = [t for t in jobs if t.shard == shard]
    return jobs


def _missing_sets(jobs: list, sets: str) -> list[str]:
    return [f"{t.model.name}/{t.shard}" for t in jobs
            if not os.path.isfile(os.path.join(sets, t.model.name, t.shard, "schema.json"))]


def require_training() -> None:
    import importlib.util

    for module, hint in (("tensorflow", "install the train extra: pip install 'mlc[train]'"),
                         ("mlc.runtime.training", "this mlc has no training runtime (mlc.runtime.training)")):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise RuntimeProblem("E7001", f"training needs {module}", hint)


def horovod_launcher(ranks: int) -> tuple[str | None, str]:
    """(horovodrun executable, "") when `ranks` > 1 and Horovod works here; else (None, why not),
    `why` being empty for a single rank. Probes `import horovod.tensorflow` in a subprocess, so
    this process does not load TensorFlow for it."""
    import importlib.util
    import shutil
    import subprocess

    if ranks <= 1:
        return None, ""
    if importlib.util.find_spec("horovod") is None:
        return None, f"Horovod not installed: {INSTALL_HOROVOD}"
    probe = subprocess.run([sys.executable, "-c", "import horovod.tensorflow"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
        return None, f"Horovod not importable ({last[:200]}): {INSTALL_HOROVOD}"
    beside = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    runner = beside if os.access(beside, os.X_OK) else shutil.which("horovodrun")
    if runner is None:
        return None, "horovodrun not found beside Python or on PATH"
    return runner, ""


def run_mldl(ir: Any, output: str) -> str:
    """The run's ``<output>/mldl.json``: written by the feature job next to the training sets
    (analyzers fitted as they were for the sets); a spec whose analyzers are all fitted (or that
    has none) is written there when it is missing."""
    path = os.path.join(output, "mldl.json")
    if os.path.isfile(path):
        return path
    if any(a.fitted is None for a in ir.analyzers):
        raise RuntimeProblem("E7007", f"no fitted mldl.json in {output}",
                             "rebuild the training sets: mlc run SPEC --step training (it writes mldl.json)")
    from mlc.runtime.features.job import write_run_mldl

    return write_run_mldl(ir, output)


def run_training(args: Any, result: Any, output: str) -> int:
    """Train every selected (model, shard) from ``<output>/training`` into ``<output>/models``:
    with Horovod (``horovodrun --gloo`` on localhost) when more than one rank is asked for and
    Horovod works, else in this process. A (model, shard) whose training set has no training
    rows is skipped with the reason (recorded in ``<output>/models/skipped.json``), the others
    still train; E7260 when every selected one is skipped."""
    ir = result.ir
    if not ir.models:
        sys.stderr.write("no models in the spec: nothing to train\n")
        return 0
    jobs = training_jobs(ir, getattr(args, "model", None), getattr(args, "shard", None))
    sets = os.path.join(os.path.abspath(output), "training")
    missing = _missing_sets(jobs, sets)
    if missing:
        shown = ", ".join(f"`{m}`" for m in missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        output_flag = f" --output {args.output}" if args.output else ""
        raise RuntimeProblem("E7007", f"no training set for {shown} under {sets}",
                             f"build them first: mlc run {args.spec} --step training{output_flag}")
    require_training()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")   # TensorFlow's C++ INFO lines, here and in the ranks
    mldl = run_mldl(ir, os.path.abspath(output))
    models = os.path.join(os.path.abspath(output), "models")
    workers, epochs = getattr(args, "workers", None), getattr(args, "epochs", None)
    trained, skipped = [], {}
    try:
        for job in jobs:
            reason = empty_training_set(os.path.join(sets, job.model.name, job.shard))
            if reason:
                skipped[(job.model.name, job.shard)] = reason
                sys.stderr.write(f"skipped {job.model.name}/{job.shard}: no training rows: {reason}\n")
                continue
            argv = ["--mldl", mldl, "--data", sets, "--model", job.model.name, "--shard", job.shard,
                    "--output", models, "--spec-hash", result.spec_sha256()]
            _train_job(job, argv + (["--epochs", str(epochs)] if epochs else []), workers)
            trained.append((job.model.name, job.shard))
    finally:
        from mlc.runtime.training.skipped import record_skipped

        record_skipped(models, trained, skipped)
    if skipped and not trained:
        shown = "; ".join(skipped.values())
        raise RuntimeProblem("E7260", f"nothing to train: {shown}",
                             "fix the data or the spec (shard partitions, `validation`), then rebuild the training "
                             f"sets: mlc run {args.spec} --step training")
    sys.stderr.write(f"trained {len(trained)} model(s) -> {models}"
                     + (f"; skipped {len(skipped)} without training rows" if skipped else "") + "\n")
    return 0


def empty_training_set(set_dir: str) -> str | None:
    """Why the training set at ``set_dir`` has no training rows (its schema.json records 0), or None."""
    import json

    try:
        with open(os.path.join(set_dir, "schema.json"), encoding="utf-8") as handle:
            rows = (json.load(handle).get("rows") or {}).get("train")
    except (OSError, ValueError, AttributeError):
        return None
    if rows != 0:
        return None
    from mlc.runtime.training.data import no_training_rows

    return no_training_rows(set_dir) or f"the train split of {set_dir} is empty"


def _train_job(job: Any, argv: list[str], workers: int | None) -> None:
    """Train one (model, shard): Horovod on localhost for several ranks when it works, else here."""
    import subprocess

    training = job.model.training
    ranks = workers or (training.workers if training.engine == "horovod" else 1)
    runner, why = horovod_launcher(ranks)
    label = f"{job.model.name}/{job.shard}"
    if runner is not None:
        sys.stderr.write(f"training {label} with Horovod: {ranks} ranks over Gloo on localhost\n")
        sys.stderr.flush()
        command = [runner, "-np", str(ranks), "-H", f"localhost:{ranks}", "--gloo",
                   sys.executable, "-m", "mlc.runtime.training", *argv]
        code = subprocess.run(command).returncode
    else:
        sys.stderr.write(f"training {label} single process" + (f" ({why})" if why else "") + "\n")
        sys.stderr.flush()
        from mlc.runtime.training.main import main as train

        code = train(argv)
    if code != 0:
        raise RuntimeProblem("E7008", f"training `{job.model.name}` on shard `{job.shard}` failed (exit code {code})",
                             "see the training output above")


# ------------------------------------------------------------------------------- mlc serve

def cmd_serve(args: Any, report) -> int:
    """`mlc serve SPEC [--local | --embedded]`: the predictor gateway on loopback over the run's
    fitted `mldl.json` and exported models (`mlc run SPEC --step all`), inference by a real
    Triton per shard (`--local`, the server bundled in nvidia-pytriton) or in-process ONNX
    Runtime (`--embedded`). Serves until interrupted (or `--duration` seconds)."""
    from mlc.compiler.pipeline import build

    result = build(args.spec, args.env)
    report(result.diagnostics, result.sources, "text")
    if not result.ok:
        return 1
    output = os.path.abspath(args.output or default_run_dir(args.spec))
    tritons: list = []           # filled as they start, so a later failure stops every one
    try:
        running = _start_serving(args, result, output, tritons)
    except Exception as exc:
        for triton in tritons:
            triton.stop()
        return _reported(exc, report, result.sources)
    sys.stderr.write(f"gateway: {running.url}/v1/predict  (health {running.url}/healthz, metrics {running.url}/metrics)\n")
    sys.stderr.flush()
    try:
        _wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        _shut_down(running, tritons)
    return 0


SHUTDOWN_LIMIT_S = 45.0   # the whole stop, interpreter exit included; past it: thread stacks, exit 1


def _shut_down(running: Any, tritons: list) -> None:
    """Stop `mlc serve` within a bound: the gateway (no new requests), the predictor's backend
    (gRPC channels, sessions, exposure log), then every Triton at once (each SIGTERM, its own
    grace, SIGKILL). A watchdog armed first dumps every thread's stack to stderr and exits with
    code 1 if all of it, interpreter exit included, takes longer than SHUTDOWN_LIMIT_S: a slow
    stop is reported with where it hung, never waited on silently."""
    import faulthandler
    import threading
    import time

    faulthandler.dump_traceback_later(SHUTDOWN_LIMIT_S, exit=True)
    started = time.monotonic()
    running.stop()
    predictor = running.gateway.predictor
    if predictor is not None:
        predictor.backend.close()
    gateway_s = time.monotonic() - started
    stoppers = [threading.Thread(target=triton.stop, name=f"stop-triton-{i}") for i, triton in enumerate(tritons)]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()
    sys.stderr.write(f"stopped in {time.monotonic() - started:.1f} s (gateway {gateway_s:.1f} s, "
                     f"{len(tritons)} triton(s) {time.monotonic() - started - gateway_s:.1f} s)\n")
    sys.stderr.flush()


def _wait(duration: float | None) -> None:
    import time

    deadline = None if duration is None else time.monotonic() + duration
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.2)


def _serving_build(result: Any, output: str) -> tuple[Any, str]:
    """The run's fitted IR and a build tree compiled from it under ``<output>/serve/build``."""
    from mlc.compiler.artifacts import artifact_tree
    from mlc.compiler.writer import WriteRefused, write_tree
    from mlc.core.ir import load_ir

    mldl = os.path.join(output, "mldl.json")
    if not os.path.isfile(mldl):
        raise RuntimeProblem("E7007", f"no fitted mldl.json in {output}",
                             "train first: mlc run SPEC --step all (writes mldl.json and models/)")
    result.ir = load_ir(mldl)
    build_dir = os.path.join(output, "serve", "build")
    try:
        write_tree(artifact_tree(result), build_dir)
    except WriteRefused as refused:
        raise RuntimeProblem(refused.code, f"cannot write {build_dir}: {refused.message}", refused.hint) from None
    return result.ir, build_dir


def _experiments(args: Any, build_dir: str, output: str) -> Any:
    """The build's experiments with an exposure log (``--exposures``, default
    ``<output>/serve/exposures.jsonl``), or None when the spec declares none."""
    from mlc.runtime.serving.gateway import load_experiments

    exposures = getattr(args, "exposures", None) or os.path.join(output, "serve", "exposures.jsonl")
    router = load_experiments(None, build_dir, exposures)
    if router is not None:
        sys.stderr.write(f"experiments: {len(router.assigner.config.experiments)} experiment(s), "
                         f"{len(router.assigner.config.switchbacks)} switchback(s); exposures -> {exposures}\n")
    return router


def _require_exports(ir: Any, repository: str, output: str) -> None:
    """Every (shard, model) served needs an exported version; one missing is E7007 with its cause
    (training skipped it: no training rows), not a Triton that refuses to start."""
    from mlc.runtime.training.skipped import read_skipped

    skipped = read_skipped(os.path.join(output, "models"))
    sharded = ir.deployment.partition_key is not None
    for shard in ir.deployment.shards:
        for model in shard.models:
            folder = os.path.join(repository, shard.name, model) if sharded else os.path.join(repository, model)
            if os.path.isdir(folder) and any(name.isdigit() for name in os.listdir(folder)):
                continue
            why = skipped.get((model, shard.name))
            raise RuntimeProblem("E7007", f"no exported version of model `{model}` for shard `{shard.name}`"
                                 + (f": its training was skipped: {why}" if why else f" in {folder}"),
                                 "fix the data or the spec, then train: mlc run SPEC --step all; `mlc deploy` "
                                 "serves the other shards meanwhile" if why else "train first: mlc run SPEC --step all")


def _start_serving(args: Any, result: Any, output: str, tritons: list) -> Any:
    """The gateway serving in a thread; every local Triton started is appended to ``tritons``."""
    import tempfile

    from mlc.runtime.online_store import open_store
    from mlc.runtime.preprocess import load_module
    from mlc.runtime.serving.gateway import serve_in_thread
    from mlc.runtime.serving.metrics import ServingMetrics
    from mlc.runtime.serving.predictor import OnnxBackend, Predictor, Routing, TritonBackend

    ir, build_dir = _serving_build(result, output)
    store = None                 # read-only, never created here; a spec without online groups needs none
    if any(group.online for group in ir.feature_groups):
        store = open_store(args.store or default_store_url(args.spec), timeout=args.store_timeout, create=False)
    repository = os.path.join(output, "models", "repository")
    if not os.path.isdir(repository):
        raise RuntimeProblem("E7007", f"no exported models in {repository}", "train first: mlc run SPEC --step all")
    _require_exports(ir, repository, output)
    if args.embedded:
        backend: Any = OnnxBackend(repository)
        sys.stderr.write("inference: in-process ONNX Runtime (--embedded)\n")
    else:
        from mlc.runtime.serving.local_triton import LocalTriton, assemble_repository

        sharded = ir.deployment.partition_key is not None
        urls = {}
        for shard in ir.deployment.shards:
            models_dir = os.path.join(repository, shard.name) if sharded else repository
            target = tempfile.mkdtemp(prefix=f"mlc-triton-{shard.name}-")
            os.rmdir(target)
            assemble_repository(build_dir, models_dir, shard.name, target)
            triton = LocalTriton(target)
            tritons.append(triton)
            triton.start()
            urls[shard.name] = triton.grpc_url
            sys.stderr.write(f"triton for shard `{shard.name}`: grpc {triton.grpc_url}, http {triton.url} "
                             f"(ready in {triton.startup_s:.1f} s)\n")
        backend = TritonBackend(urls, timeout=args.triton_timeout)
    module = load_module(os.path.join(build_dir, "preprocess", f"{ir.name}_preprocess.py"))
    predictor = Predictor(ir, None, store, backend, args.namespace or ir.name, Routing.from_ir(ir),
                          module=module, metrics=ServingMetrics(), experiments=_experiments(args, build_dir, output))
    return serve_in_thread(predictor, "127.0.0.1", args.port)
