"""`mlc validate`, `mlc compile`, `mlc schema` (:mod:`mlc.app.spec`)."""

from __future__ import annotations

import argparse
import sys

from mlc.app.spec import compile_spec, schema_text, validate, write_schemas
from mlc.cli.common import EXIT_ERRORS, EXIT_OK, FORMATS, report


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="diagnostics as text (default), json, or github (workflow annotations)")


def _add_baseline(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--baseline", metavar="PATH",
                        help="previous experiments/config.json (or a build folder) to check ramp safety against"
                             + default + "; changes that move units of running experiments are warnings")


def register(commands) -> dict:
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
    return {"validate": cmd_validate, "compile": cmd_compile, "schema": cmd_schema}


def cmd_validate(args: argparse.Namespace) -> int:
    checked = validate(args.specs, args.env, args.baseline)
    report(checked.diagnostics, checked.sources, args.format)
    if args.format == "text" and not checked.failed:
        sys.stderr.write(f"ok: {len(args.specs)} spec{'s' if len(args.specs) != 1 else ''} valid\n")
    return EXIT_ERRORS if checked.failed else EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    compiled = compile_spec(args.spec, args.out, args.env, args.baseline)
    report(compiled.diagnostics, compiled.sources, args.format)       # once: one JSON document, one summary
    if compiled.files is None:
        return EXIT_ERRORS
    if args.format == "text":
        sys.stderr.write(f"compiled {compiled.name}: {len(compiled.files)} files -> {args.out}\n")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    if args.write:
        write_schemas()
        return EXIT_OK
    sys.stdout.write(schema_text(args.mldl))
    return EXIT_OK
