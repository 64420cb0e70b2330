"""`mlc consistency SPEC`: online/offline skew from the gateway's feature log
(:mod:`mlc.app.consistency`). Exit 0 when every feature's mismatch rate is at most
``--threshold``, 1 above it (or nothing to compare, or an error), 2 on usage errors."""

from __future__ import annotations

import argparse
import sys

from mlc.app.consistency import DEFAULT_MAX_REQUESTS, ConsistencyOptions, NoRecords, consistency
from mlc.cli.common import EXIT_ERRORS, EXIT_OK, positive, progress, shown
from mlc.core.errors import MlcError
from mlc.runtime.consistency.report import render, summary_lines

REPORT_FORMATS = ("text", "json", "markdown")


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a mismatch rate in [0, 1], got {text!r}")
    return value


def register(commands) -> dict:
    parser = commands.add_parser("consistency", help="compare what the gateway served (its feature log) with the "
                                                     "offline recomputation: per feature mismatches and their cause")
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("--log", metavar="PATH",
                        help="feature-log file or folder (default: .mlc/<name>/logs/features beside the spec)")
    parser.add_argument("--build", metavar="DIR", help="the served build (DIR/mldl.json: its fitted constants; "
                                                       "default: the local deployment's, else the run folder's)")
    parser.add_argument("--input", action="append", metavar="SOURCE=PATH", help="read a source from another path")
    parser.add_argument("--env", help="environment overlay to apply")
    parser.add_argument("--format", choices=REPORT_FORMATS, default="text", help="report format (default: text)")
    parser.add_argument("--output", metavar="FILE", help="write the report there (default: stdout)")
    parser.add_argument("--threshold", type=rate, default=0.0, metavar="RATE",
                        help="highest mismatch rate a feature may have before exit 1 (default: 0)")
    parser.add_argument("--any-spec-version", action="store_true",
                        help="compare records served under any spec hash (default: this spec's only)")
    parser.add_argument("--max-requests", type=positive, default=DEFAULT_MAX_REQUESTS, metavar="N",
                        help=f"compare at most N logged requests (default: {DEFAULT_MAX_REQUESTS})")
    parser.add_argument("--catalog-dir", metavar="DIR", help="Hive catalog directory for `table` sources")
    return {"consistency": cmd_consistency}


def cmd_consistency(args: argparse.Namespace) -> int:
    options = ConsistencyOptions(args.spec, log=args.log, build=args.build, inputs=args.input or [], env=args.env,
                                 threshold=args.threshold, any_spec_version=args.any_spec_version,
                                 max_requests=args.max_requests, catalog_dir=args.catalog_dir)
    try:
        report = consistency(options, progress=progress, diagnostics=shown)
    except NoRecords as err:
        sys.stderr.write("\n".join(summary_lines(err.report())) + "\n")
        raise
    write(render(report, args.format), args.output)
    if not report.ok:
        sys.stderr.write(report.verdict() + "\n")
    return EXIT_OK if report.ok else EXIT_ERRORS


def write(text: str, output: str | None) -> None:
    if not output:
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as err:
        raise MlcError(f"cannot write the report to {output}: {err.strerror or err}", code="E7405") from None
