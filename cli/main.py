"""The `mlc` command line.

Kept import-light: heavy modules are imported inside the command that needs them, so
`mlc --help` and `mlc compile` stay fast. Exit codes: 0 ok, 1 the input has errors,
2 usage errors (bad flags, unknown command).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
PIPELINE_STEPS = ("features", "train", "materialize", "register", "deploy", "score")   # mlc.cli.pipeline.STEPS
FORMATS = ("text", "json", "github")


class _Parser(argparse.ArgumentParser):
    """argparse with did-you-mean for mistyped commands and exit code 2 on usage errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        hint = ""
        from mlc.core.suggest import closest

        if "invalid choice" in message:
            word = message.split("'")[1] if "'" in message else ""
            match = closest(word, COMMANDS)
            if match:
                hint = f"\nhelp: did you mean `mlc {match}`?"
        elif "unrecognized arguments:" in message:
            word = message.split("unrecognized arguments:", 1)[1].split()[0].split("=")[0]
            match = closest(word, _all_options(self)) if word.startswith("-") else None
            if match:
                hint = f"\nhelp: did you mean `{match}`?"
        sys.stderr.write(f"{self.prog}: error: {message}{hint}\n")
        raise SystemExit(EXIT_USAGE)


def _all_options(parser: argparse.ArgumentParser) -> set[str]:
    options = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= _all_options(sub)
    return options


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="diagnostics as text (default), json, or github (workflow annotations)")


def _add_baseline(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--baseline", metavar="PATH",
                        help="previous experiments/config.json (or a build folder) to check ramp safety against"
                             + default + "; changes that move units of running experiments are warnings")


def _add_experiment(commands) -> None:
    experiment = commands.add_parser("experiment", help="assign, schedule and analyse a spec's experiments")
    actions = experiment.add_subparsers(dest="experiment_command", metavar="ACTION", parser_class=_Parser)

    assign = actions.add_parser("assign", help="the assignments of one request (as serving computes them)")
    assign.add_argument("spec", metavar="SPEC")
    assign.add_argument("--context", required=True, metavar="JSON", help="request fields, e.g. '{\"user_id\": 7}'")
    assign.add_argument("--at", metavar="TS", help="request time, ISO-8601 (default: now)")
    assign.add_argument("--env", help="environment overlay to apply")
    assign.add_argument("--format", choices=("text", "json"), default="text")

    schedule = actions.add_parser("schedule", help="a switchback's slices and variants per region")
    schedule.add_argument("spec", metavar="SPEC")
    schedule.add_argument("name", metavar="NAME", help="the switchback")
    schedule.add_argument("--from", dest="from_", metavar="TS", help="first instant, ISO-8601")
    schedule.add_argument("--to", metavar="TS", help="end (exclusive), ISO-8601")
    schedule.add_argument("--region", action="append", metavar="R", help="only this region (repeatable)")
    schedule.add_argument("--format", choices=("text", "json", "csv"), default="text")
    schedule.add_argument("--env", help="environment overlay to apply")

    report_ = actions.add_parser("report", help="analyse an experiment from exposures and outcomes")
    report_.add_argument("spec", metavar="SPEC")
    report_.add_argument("name", metavar="NAME", help="the experiment or switchback")
    report_.add_argument("--exposures", required=True, metavar="FILE", help="exposure log (JSON lines)")
    report_.add_argument("--outcomes", required=True, metavar="FILE", help="outcomes (CSV or JSON lines)")
    report_.add_argument("--metric", action="append", metavar="M", help="metric column (repeatable; default: every numeric column)")
    report_.add_argument("--aggregate", choices=("mean", "sum"), default="mean",
                         help="a unit's value of a metric: the mean of its rows (default) or their sum")
    report_.add_argument("--confidence", type=float, default=0.95, help="confidence level (default 0.95)")
    report_.add_argument("--format", choices=("text", "json"), default="text")
    report_.add_argument("--env", help="environment overlay to apply")


def _add_registry(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", metavar="URL",
                        help="model registry: sqlite:PATH or redis://HOST:PORT/DB (default: $MLC_REGISTRY, "
                             "else .mlc/<name>/registry.sqlite beside the spec)")
    parser.add_argument("--env", help="environment overlay to apply")


def _add_models(commands) -> None:
    models = commands.add_parser("models", help="the model registry: versions, aliases, promote, rollback")
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser)
    listing = actions.add_parser("list", help="every registered version (aliases marked)")
    listing.add_argument("spec", metavar="SPEC")
    listing.add_argument("--model", metavar="M")
    listing.add_argument("--shard", metavar="S")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    _add_registry(listing)
    show = actions.add_parser("show", help="one version: metadata, aliases, alias history")
    show.add_argument("spec", metavar="SPEC")
    show.add_argument("model", metavar="MODEL")
    show.add_argument("version", type=_positive, metavar="VERSION")
    show.add_argument("--shard", metavar="S")
    show.add_argument("--format", choices=("text", "json"), default="text")
    _add_registry(show)
    promote = actions.add_parser("promote", help="point an alias at a version (atomic, recorded in the history)")
    promote.add_argument("spec", metavar="SPEC")
    promote.add_argument("model", metavar="MODEL")
    promote.add_argument("version", type=_positive, metavar="VERSION")
    promote.add_argument("--shard", metavar="S")
    promote.add_argument("--alias", default="production", help="alias to move (default: production)")
    promote.add_argument("--reason", default="", help="why, kept in the alias history")
    _add_registry(promote)
    rollback = actions.add_parser("rollback", help="point an alias back at the version it held before")
    rollback.add_argument("spec", metavar="SPEC")
    rollback.add_argument("model", metavar="MODEL")
    rollback.add_argument("--shard", metavar="S")
    rollback.add_argument("--alias", default="production", help="alias to move back (default: production)")
    rollback.add_argument("--reason", default="", help="why, kept in the alias history")
    _add_registry(rollback)


def _add_deploy(commands) -> None:
    deploy = commands.add_parser("deploy", help="ship the registry's production versions: local services or Kubernetes")
    deploy.add_argument("spec", metavar="SPEC")
    deploy.add_argument("--target", choices=("local", "k8s"), default="local")
    deploy.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    deploy.add_argument("--wait", action="store_true", help="k8s: wait for rollouts and readiness (roll back on failure)")
    deploy.add_argument("--output", metavar="DIR", help="the run folder of `mlc run` (default: .mlc/<name>/data beside the spec)")
    deploy.add_argument("--store", metavar="URL", help="online store (default: sqlite .mlc/<name>/online.sqlite beside the spec)")
    deploy.add_argument("--port", type=int, help="local: gateway port on 127.0.0.1 (default: the port of the running "
                                                "gateway, else 8080; 0 = the running gateway's, else any free)")
    deploy.add_argument("--replicas", type=_positive, metavar="N", help="local: Triton replicas per shard (default 1)")
    deploy.add_argument("--kube-context", metavar="NAME", help="k8s: kubeconfig context (default: the current one)")
    deploy.add_argument("--timeout", type=float, default=600.0, help="k8s --wait: seconds to wait (default 600)")
    _add_registry(deploy)
    status = commands.add_parser("status", help="what runs: desired versions and what each replica reports")
    status.add_argument("spec", metavar="SPEC")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.add_argument("--target", choices=("local", "k8s"), default="local")
    status.add_argument("--kube-context", metavar="NAME", help="k8s: kubeconfig context (default: the current one)")
    _add_registry(status)
    rollback = commands.add_parser("rollback", help="restore the previous release (or --to RELEASE)")
    rollback.add_argument("spec", metavar="SPEC")
    rollback.add_argument("--to", type=_positive, metavar="RELEASE", help="release number (default: the previous one)")
    rollback.add_argument("--target", choices=("local", "k8s"), default="local")
    rollback.add_argument("--kube-context", metavar="NAME", help="k8s: kubeconfig context (default: the current one)")
    rollback.add_argument("--wait", action="store_true", help="k8s: wait for rollouts and readiness")
    _add_registry(rollback)
    stop = commands.add_parser("stop", help="stop the local services `mlc deploy --target local` started")
    stop.add_argument("spec", metavar="SPEC")
    stop.add_argument("--env", help="environment overlay to apply")


def _add_review(commands) -> None:
    diff = commands.add_parser("diff", help="review a spec change: semantic diff, impact, artifacts (exit 0/1/2/3)")
    diff.add_argument("refs", nargs="+", metavar="REF",
                      help="BASE HEAD (each a spec, a build folder or REV:PATH), or HEAD alone with --base REV")
    diff.add_argument("--base", metavar="REV", help="compare HEAD's spec with the same path at git revision REV")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    diff.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="text format colours")
    diff.add_argument("--env", help="environment overlay to apply to both sides")
    diff.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")

    graph = commands.add_parser("graph", help="the lineage of a spec: sources -> groups -> features -> models -> "
                                              "shards -> experiments")
    graph.add_argument("spec", metavar="SPEC")
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    graph.add_argument("--env", help="environment overlay to apply")


def build_parser() -> _Parser:
    from mlc import __version__

    parser = _Parser(prog="mlc", description="Compile one ML application spec into every artifact the platform runs.")
    parser.add_argument("--version", action="version", version=f"mlc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    validate = commands.add_parser("validate", help="check specs and report every problem with its location")
    validate.add_argument("specs", nargs="+", metavar="SPEC")
    validate.add_argument("--env", help="validate only this environment overlay (default: the base spec and every environment)")
    _add_baseline(validate, "")
    _add_format(validate)

    compile_ = commands.add_parser("compile", help="compile a spec into an artifact tree (atomic)")
    compile_.add_argument("spec", metavar="SPEC")
    compile_.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder (replaced atomically)")
    compile_.add_argument("--env", help="environment overlay to apply")
    _add_baseline(compile_, " (default: DIR/experiments/config.json when it exists)")
    _add_format(compile_)

    schema = commands.add_parser("schema", help="print the JSON Schema of specs (or of mldl.json)")
    schema.add_argument("--mldl", action="store_true", help="the schema of mldl.json instead of the spec")
    schema.add_argument("--write", action="store_true", help="rewrite the committed copies under schemas/")

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
    run.add_argument("--workers", type=_positive, metavar="N",
                     help="train: Horovod ranks on localhost (default: the model's training.workers with engine "
                          "horovod, else 1); without Horovod installed training runs in a single process")
    run.add_argument("--model", metavar="MODEL", help="train: only this model (default: every model)")
    run.add_argument("--shard", metavar="SHARD", help="train: only this shard (default: every shard serving the model)")
    run.add_argument("--epochs", type=_positive, metavar="N", help="train: override training.epochs")
    run.add_argument("--store", metavar="URL", help="online store (default: sqlite .mlc/<name>/online.sqlite beside the spec)")
    run.add_argument("--registry", metavar="URL", help="model registry (default: $MLC_REGISTRY, else .mlc/<name>/registry.sqlite)")
    run.add_argument("--port", type=int, help="deploy: gateway port on 127.0.0.1 (default: the port of the running "
                                             "gateway, else 8080; 0 = the running gateway's, else any free)")

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
    features_commands = features.add_subparsers(dest="features_command", metavar="ACTION", parser_class=_Parser)
    get = features_commands.add_parser("get", help="show a feature group's values for entity keys")
    get.add_argument("spec", metavar="SPEC")
    get.add_argument("group", metavar="GROUP")
    get.add_argument("keys", nargs="+", metavar="KEY", help="entity key (`a,b` for multi-column keys)")
    get.add_argument("--store", metavar="URL", help="sqlite:PATH (default: .mlc/<name>/online.sqlite beside the spec)")
    get.add_argument("--namespace", help="key namespace (default: the spec name)")
    get.add_argument("--timeout", type=float, default=1.0, help="store timeout in seconds (default 1)")
    get.add_argument("--env", help="environment overlay to apply")

    serve = commands.add_parser("serve", help="serve the trained models on loopback: gateway + local Triton")
    serve.add_argument("spec", metavar="SPEC")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--local", action="store_true",
                      help="a real Triton per shard from the nvidia-pytriton wheel (the default)")
    mode.add_argument("--embedded", action="store_true", help="ONNX Runtime inside the gateway instead of Triton")
    serve.add_argument("--output", metavar="DIR", help="the run folder of `mlc run` (default: .mlc/<name>/data beside the spec)")
    serve.add_argument("--port", type=int, default=8080, help="gateway port on 127.0.0.1 (default 8080; 0 = any free)")
    serve.add_argument("--store", metavar="URL", help="online store (default: sqlite .mlc/<name>/online.sqlite beside the spec)")
    serve.add_argument("--store-timeout", type=float, default=0.05, help="seconds per store call (default 0.05)")
    serve.add_argument("--triton-timeout", type=float, default=1.0, help="seconds per Triton call (default 1)")
    serve.add_argument("--namespace", help="online-store key namespace (default: the spec name)")
    serve.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    serve.add_argument("--exposures", metavar="FILE",
                       help="experiment exposure log, JSON lines (default: <output>/serve/exposures.jsonl)")
    serve.add_argument("--env", help="environment overlay to apply")

    _add_experiment(commands)
    _add_review(commands)
    _add_models(commands)
    _add_deploy(commands)

    functions = commands.add_parser("functions", help="print the expression function reference")
    functions.add_argument("--format", choices=("text", "markdown"), default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")  # never die printing a user's odd text
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


# ---------------------------------------------------------------- reporting


def _color(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def report(diagnostics: list, sources, fmt: str) -> None:
    from mlc.core.diagnostics import render_github, render_json, render_text, summary_line

    if fmt == "json":
        sys.stdout.write(render_json(diagnostics))
    elif fmt == "github":
        sys.stdout.write(render_github(diagnostics))
    elif diagnostics:
        sys.stderr.write(render_text(diagnostics, sources, color=_color(sys.stderr)))
        sys.stderr.write(summary_line(diagnostics) + "\n")


# ----------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> int:
    from mlc.core.diagnostics import DiagnosticBag, SourceMap
    from mlc.compiler.pipeline import build

    bag, sources, failed = DiagnosticBag(), SourceMap(), False
    baseline = None
    if args.baseline is not None:
        baseline, problem = _load_baseline(args.baseline)
        if problem is not None:
            report([problem], sources, args.format)
            return EXIT_ERRORS
    for spec in args.specs:
        base = build(spec, args.env, baseline)
        runs = [base]
        if args.env is None and base.failed_stage not in ("load",):
            runs += [build(spec, env) for env in base.environments]
        bag.extend(_with_environment_notes(runs))
        for run in runs:
            for path in run.files:
                sources.add(path, run.sources.text(path) or "")
            failed = failed or not run.ok
    report(bag.sorted(), sources, args.format)
    if args.format == "text" and not failed:
        sys.stderr.write(f"ok: {len(args.specs)} spec{'s' if len(args.specs) != 1 else ''} valid\n")
    return EXIT_ERRORS if failed else EXIT_OK


def _with_environment_notes(runs: list) -> list:
    """Diagnostics of the base run, then those found only with some environments, each noting
    which environments produce it."""
    import dataclasses

    base = runs[0]
    seen = set(base.diagnostics)
    only_in: dict = {}
    for run in runs[1:]:
        for diagnostic in run.diagnostics:
            if diagnostic not in seen:
                only_in.setdefault(diagnostic, []).append(run.environment)
    noted = [dataclasses.replace(d, notes=d.notes + (_environment_note(envs),)) for d, envs in only_in.items()]
    return list(base.diagnostics) + noted


def _environment_note(envs: list[str]) -> str:
    names = ", ".join(f"`{env}`" for env in envs)
    return f"only with environment{'s' if len(envs) > 1 else ''} {names} (`--env {envs[0]}`)"


def cmd_compile(args: argparse.Namespace) -> int:
    from mlc.compiler.pipeline import build

    baseline, problems = None, []
    if args.baseline is not None:
        baseline, problem = _load_baseline(args.baseline)
        if problem is not None:
            from mlc.core.diagnostics import SourceMap

            report([problem], SourceMap(), args.format)
            return EXIT_ERRORS
    elif os.path.isfile(os.path.join(args.out, "experiments", "config.json")):
        import dataclasses

        from mlc.core.diagnostics import Severity

        baseline, problem = _load_baseline(args.out)
        if problem is not None:  # an old or damaged build must not block the next one
            problems.append(dataclasses.replace(problem, severity=Severity.WARNING,
                                                notes=("compiling without a baseline",)))
    result = build(args.spec, args.env, baseline)
    diagnostics = problems + result.diagnostics
    files = _write_build(result, args.out, diagnostics) if result.ok else None
    report(diagnostics, result.sources, args.format)       # once: one JSON document, one summary
    if files is None:
        return EXIT_ERRORS
    if args.format == "text":
        sys.stderr.write(f"compiled {result.ir.name}: {len(files)} files -> {args.out}\n")
    return EXIT_OK


def _write_build(result, out: str, diagnostics: list) -> dict | None:
    """The build's files written to ``out``; None, with the reason appended to ``diagnostics``,
    when they cannot be emitted or written."""
    from mlc.compiler.artifacts import ArtifactError, artifact_tree
    from mlc.core.diagnostics import Diagnostic
    from mlc.compiler.writer import WriteRefused, write_tree

    try:
        files = artifact_tree(result)
        write_tree(files, out)
    except ArtifactError as exc:
        diagnostics.extend(exc.diagnostics)
    except WriteRefused as refused:
        diagnostics.append(refused.diagnostic())
    except OSError as exc:
        diagnostics.append(Diagnostic("E6002", f"cannot write the build: {exc}"))
    else:
        return files
    return None


def _load_baseline(path: str):
    from mlc.compiler.experiment_baseline import load_baseline

    return load_baseline(path)


def cmd_schema(args: argparse.Namespace) -> int:
    from mlc.schemas import jsonschema_gen as gen

    if args.write:
        folder = os.path.dirname(os.path.abspath(gen.__file__))
        for name, schema in gen.committed().items():
            with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
                handle.write(gen.render(schema))
        return EXIT_OK
    sys.stdout.write(gen.render(gen.mldl_schema() if args.mldl else gen.spec_schema()))
    return EXIT_OK


def cmd_functions(args: argparse.Namespace) -> int:
    from mlc.dsl.docs import render_markdown, render_text

    sys.stdout.write(render_markdown() if args.format == "markdown" else render_text())
    return EXIT_OK


def cmd_fit(args: argparse.Namespace) -> int:
    from mlc.cli.runtime import cmd_fit as run

    return run(args, report)


def cmd_check_parity(args: argparse.Namespace) -> int:
    from mlc.cli.runtime import cmd_check_parity as run

    return run(args, report)


def cmd_run(args: argparse.Namespace) -> int:
    if args.step is None:
        from mlc.cli.pipeline import cmd_pipeline

        return cmd_pipeline(args, report)
    if args.from_step or args.until:
        sys.stderr.write("mlc run: --step runs one offline part; --from/--until select pipeline steps: give one or the other\n")
        return EXIT_USAGE
    from mlc.cli.runtime import cmd_run as run

    return run(args, report)


def cmd_materialize(args: argparse.Namespace) -> int:
    from mlc.cli.runtime import cmd_materialize as run

    return run(args, report)


def cmd_features(args: argparse.Namespace) -> int:
    if args.features_command != "get":
        sys.stderr.write("usage: mlc features get SPEC GROUP KEY...\n")
        return EXIT_USAGE
    from mlc.cli.runtime import cmd_features_get as run

    return run(args, report)


def cmd_serve(args: argparse.Namespace) -> int:
    from mlc.cli.runtime import cmd_serve as run

    return run(args, report)


def cmd_experiment(args: argparse.Namespace) -> int:
    from mlc.cli import experiment as cli_experiment

    handlers = {"assign": "cmd_assign", "schedule": "cmd_schedule", "report": "cmd_report"}
    if args.experiment_command not in handlers:
        sys.stderr.write("usage: mlc experiment {assign,schedule,report} SPEC ...\n")
        return EXIT_USAGE
    return getattr(cli_experiment, handlers[args.experiment_command])(args)


def cmd_models(args: argparse.Namespace) -> int:
    if args.models_command is None:
        sys.stderr.write("usage: mlc models {list,show,promote,rollback} SPEC ...\n")
        return EXIT_USAGE
    from mlc.cli.models import cmd_models as run

    return run(args, report)


def cmd_deploy(args: argparse.Namespace) -> int:
    from mlc.cli.deploy import cmd_deploy as run

    return run(args, report)


def cmd_status(args: argparse.Namespace) -> int:
    from mlc.cli.deploy import cmd_status as run

    return run(args, report)


def cmd_rollback(args: argparse.Namespace) -> int:
    from mlc.cli.deploy import cmd_rollback as run

    return run(args, report)


def cmd_stop(args: argparse.Namespace) -> int:
    from mlc.cli.deploy import cmd_stop as run

    return run(args, report)


def cmd_diff(args: argparse.Namespace) -> int:
    from mlc.cli.review import cmd_diff as run

    return run(args)


def cmd_graph(args: argparse.Namespace) -> int:
    from mlc.cli.review import cmd_graph as run

    return run(args, report)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": cmd_validate,
    "compile": cmd_compile,
    "fit": cmd_fit,
    "check-parity": cmd_check_parity,
    "run": cmd_run,
    "materialize": cmd_materialize,
    "features": cmd_features,
    "serve": cmd_serve,
    "experiment": cmd_experiment,
    "diff": cmd_diff,
    "models": cmd_models,
    "deploy": cmd_deploy,
    "status": cmd_status,
    "rollback": cmd_rollback,
    "stop": cmd_stop,
    "graph": cmd_graph,
    "schema": cmd_schema,
    "functions": cmd_functions,
}
