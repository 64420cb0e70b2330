"""`mlc fit`, `mlc check-parity`, `mlc run`, `mlc materialize`, `mlc features get`: the offline
and online-store workflows (:mod:`mlc.app.offline`, :mod:`mlc.app.training`,
:mod:`mlc.app.online`) and the whole pipeline (:mod:`mlc.app.pipeline`); the parity report.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlc.app.offline import check_parity, fit, Offline, run_offline
from mlc.app.online import features_get, materialize
from mlc.app.pipeline import PipelineOptions, render_summary, run_pipeline, selected_steps, STEPS as PIPELINE_STEPS
from mlc.cli.common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, Parser, positive, progress, shown



def register(commands) -> dict:
    fit = commands.add_parser("fit", help="fit the preprocessing analyzers on data (Spark) and write a build")
    fit.add_argument("spec", metavar="SPEC")
    fit.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder (replaced atomically)")
    fit.add_argument("--data", metavar="FILE",
                     help="data of the default model's training source (other sources: from the spec)")
    fit.add_argument("--env", help="environment overlay to apply")
    fit.add_argument("--catalog-dir", metavar="DIR",
                     help="local Hive metastore and warehouse for `table` sources (default: $MLC_CATALOG_DIR, else ~/.cache/mlc/catalog)")

    parity = commands.add_parser("check-parity", help="run the Spark and NumPy executors on data and compare")
    parity.add_argument("spec", metavar="SPEC")
    parity.add_argument("--data", metavar="FILE",
                        help="data sample of the default model's training source (other sources: from the spec)")
    parity.add_argument("--rows", type=int, default=1000, metavar="N", help="rows to compare (default 1000)")
    parity.add_argument("--allow-missing-inputs", action="store_true",
                        help="compare inputs the data lacks as null instead of failing (E7250); the summary lists them")
    parity.add_argument("--env", help="environment overlay to apply")
    parity.add_argument("--catalog-dir", metavar="DIR",
                     help="local Hive metastore and warehouse for `table` sources (default: $MLC_CATALOG_DIR, else ~/.cache/mlc/catalog)")

    run = commands.add_parser("run", help="the whole pipeline locally: features (Spark local[*]), training, "
                                          "online store, registry, local deploy, a sample request")
    run.add_argument("spec", metavar="SPEC")
    run.add_argument("--from", dest="from_step", choices=PIPELINE_STEPS, metavar="STEP",
                     help=f"start at this step ({', '.join(PIPELINE_STEPS)}); earlier outputs are reused")
    run.add_argument("--until", choices=PIPELINE_STEPS, metavar="STEP", help="stop after this step")
    run.add_argument("--step", choices=("features", "training", "train", "all"), default=None,
                     help="only the offline part: feature-group snapshots, training sets, model training, "
                          "or all three")
    run.add_argument("--output", metavar="DIR", help="output folder (default: .mlc/<name>/data beside the spec)")
    run.add_argument("--as-of", metavar="TS", help="snapshot time, ISO-8601 (default: just after the latest event)")
    run.add_argument("--input", action="append", metavar="SOURCE=PATH", help="read a source from another path")
    run.add_argument("--env", help="environment overlay to apply")
    run.add_argument("--catalog-dir", metavar="DIR",
                     help="local Hive metastore and warehouse for `table` sources (default: $MLC_CATALOG_DIR, else ~/.cache/mlc/catalog)")
    run.add_argument("--workers", type=positive, metavar="N",
                     help="train: Horovod ranks on localhost (default: the model's training.workers with engine "
                          "horovod, else 1); without Horovod installed training runs in a single process")
    run.add_argument("--model", metavar="MODEL", help="train: only this model (default: every model)")
    run.add_argument("--shard", metavar="SHARD", help="train: only this shard (default: every shard serving the model)")
    run.add_argument("--epochs", type=positive, metavar="N", help="train: override training.epochs")
    run.add_argument("--from-log", metavar="PATH", help="training: build the training sets from the gateway's "
                                                        "feature log joined with later labels (log and wait)")
    run.add_argument("--join-on", action="append", metavar="COL[,COL]",
                     help="--from-log: request fields = training-source columns identifying a labelled event "
                          "(default: the source's request_id column)")
    run.add_argument("--label-within", metavar="DURATION",
                     help="--from-log: a label counts when its event time is within this after the request (default 7d)")
    run.add_argument("--build", metavar="DIR", help="--from-log: the build that served the logged requests "
                                                    "(default: the local deployment's, else the run folder's)")
    run.add_argument("--store", metavar="URL", help="online store (default: sqlite .mlc/<name>/online.sqlite beside the spec)")
    run.add_argument("--registry", metavar="URL", help="model registry (default: $MLC_REGISTRY, else .mlc/<name>/registry.sqlite)")
    run.add_argument("--port", type=int, help="deploy: gateway port on 127.0.0.1 (default: the port of the running "
                                             "gateway, else 8080; 0 = the running gateway's, else any free)")

    return {"fit": cmd_fit, "check-parity": cmd_check_parity, "run": cmd_run}


def register_online(commands) -> dict:
    materialize = commands.add_parser("materialize", help="load feature-group snapshots into the online store (Spark)")
    materialize.add_argument("spec", metavar="SPEC")
    materialize.add_argument("--store", metavar="URL", help="sqlite:PATH (default: .mlc/<name>/online.sqlite beside the spec)")
    materialize.add_argument("--as-of", metavar="TS", help="ISO-8601 time (default: just after the latest event)")
    materialize.add_argument("--incremental", action="store_true", help="only entities changed since the last run")
    materialize.add_argument("--namespace", help="key namespace (default: the spec name)")
    materialize.add_argument("--env", help="environment overlay to apply")
    materialize.add_argument("--catalog-dir", metavar="DIR",
                     help="local Hive metastore and warehouse for `table` sources (default: $MLC_CATALOG_DIR, else ~/.cache/mlc/catalog)")

    features = commands.add_parser("features", help="read the online store as serving does")
    features_commands = features.add_subparsers(dest="features_command", metavar="ACTION", parser_class=Parser)
    get = features_commands.add_parser("get", help="show a feature group's values for entity keys")
    get.add_argument("spec", metavar="SPEC")
    get.add_argument("group", metavar="GROUP")
    get.add_argument("keys", nargs="+", metavar="KEY", help="entity key (`a,b` for multi-column keys)")
    get.add_argument("--store", metavar="URL", help="sqlite:PATH (default: .mlc/<name>/online.sqlite beside the spec)")
    get.add_argument("--namespace", help="key namespace (default: the spec name)")
    get.add_argument("--timeout", type=float, default=1.0, help="store timeout in seconds (default 1)")
    get.add_argument("--env", help="environment overlay to apply")

    return {"materialize": cmd_materialize, "features": cmd_features}


def cmd_fit(args: argparse.Namespace) -> int:
    fit(args.spec, args.out, data=args.data, env=args.env, catalog_dir=args.catalog_dir,
        progress=progress, diagnostics=shown)
    return EXIT_OK


def cmd_check_parity(args: argparse.Namespace) -> int:
    parity = check_parity(args.spec, data=args.data, rows=args.rows, allow_missing_inputs=args.allow_missing_inputs,
                          env=args.env, catalog_dir=args.catalog_dir, diagnostics=shown)
    if parity.compared or len(parity.sections) > 1:
        sys.stdout.write(render_sections(parity.compared, parity.skipped, parity.sections))
    if parity.tz_warning:
        sys.stdout.write(parity.tz_warning + "\n")
    return EXIT_OK if parity.ok else EXIT_ERRORS


def cmd_run(args: argparse.Namespace) -> int:
    if args.step is None:
        if args.from_log or args.join_on or args.label_within or args.build:
            sys.stderr.write("mlc run: --from-log (and --join-on, --label-within, --build) go with --step training "
                             "or --step all\n")
            return EXIT_USAGE
        return _pipeline(args)
    if args.from_step or args.until:
        sys.stderr.write("mlc run: --step runs one offline part; --from/--until select pipeline steps: give one or the other\n")
        return EXIT_USAGE

    run_offline(Offline(args.spec, step=args.step, env=args.env, output=args.output, as_of=args.as_of,
                        inputs=args.input or [], catalog_dir=args.catalog_dir, workers=args.workers,
                        model=args.model, shard=args.shard, epochs=args.epochs, from_log=args.from_log,
                        join_on=args.join_on or [], label_within=args.label_within, build=args.build),
                progress=progress, diagnostics=shown)
    return EXIT_OK


def _pipeline(args: argparse.Namespace) -> int:
    try:
        steps = selected_steps(args.from_step, args.until)
    except ValueError as err:
        sys.stderr.write(f"mlc run: {err}\n")
        return EXIT_USAGE
    options = PipelineOptions(args.spec, env=args.env, output=args.output, as_of=args.as_of, inputs=args.input or [],
                              catalog_dir=args.catalog_dir, workers=args.workers, model=args.model,
                              shard=args.shard, epochs=args.epochs, store=args.store, registry=args.registry,
                              port=args.port)
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, highlight=False)
    tasks: dict = {}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=False, disable=not console.is_terminal) as bar:
        def on_step(step: Any) -> None:
            if step.status == "running":
                tasks[step.name] = bar.add_task(f"{step.name}", total=None)
            elif step.status == "failed":
                bar.update(tasks[step.name], description=f"{step.name}: failed")
            else:
                bar.update(tasks[step.name], description=f"{step.name}: {step.detail}", completed=1, total=1)
                if not console.is_terminal:
                    sys.stderr.write(f"[{step.name}] done in {step.seconds:.1f} s: {step.detail}\n")

        outcome = run_pipeline(options, steps, progress=progress, diagnostics=shown, on_step=on_step)
    sys.stderr.write(render_summary(outcome.run, outcome.results, outcome.code))
    return outcome.code


def cmd_materialize(args: argparse.Namespace) -> int:
    materialize(args.spec, store=args.store, as_of=args.as_of, incremental=args.incremental,
                namespace=args.namespace, env=args.env, catalog_dir=args.catalog_dir,
                progress=progress, diagnostics=shown)
    return EXIT_OK


def cmd_features(args: argparse.Namespace) -> int:
    if args.features_command != "get":
        sys.stderr.write("usage: mlc features get SPEC GROUP KEY...\n")
        return EXIT_USAGE

    found = features_get(args.spec, args.group, args.keys, store=args.store, namespace=args.namespace,
                         timeout=args.timeout, env=args.env, diagnostics=shown)
    sys.stdout.write(_render_features(found.group, found.keys, found.fetched))
    return EXIT_OK


# ------------------------------------------------------------------------------ rendering


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
