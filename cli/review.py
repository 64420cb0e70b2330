"""`mlc diff` and `mlc graph` (docs/review.md; :mod:`mlc.app.review`).

`mlc diff` exits like diff(1): 0 no change, 1 changes, 2 trouble (a side that cannot be read or
does not compile, with located diagnostics in the report; bad references), 3 changes that
include a DANGEROUS one.
"""

from __future__ import annotations

import argparse
import os
import sys

from mlc.app.review import diff, graph, render_review
from mlc.cli.common import EXIT_OK, shown

EXIT_TROUBLE = 2


def register(commands) -> dict:
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

    return {"diff": cmd_diff, "graph": cmd_graph}


def cmd_diff(args: argparse.Namespace) -> int:
    from mlc.review.run import UsageError

    try:
        review = diff(args.refs, args.base, args.env)
    except UsageError as err:
        sys.stderr.write(f"mlc diff: {err}\n")
        return EXIT_TROUBLE
    text = render_review(review, args.format, _colour(args))
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text)
    if args.format != "text" and review.problems:      # the report holds them; say so on stderr too
        sys.stderr.write("".join(p.text for p in review.problems))
    return review.exit_code


def _colour(args: argparse.Namespace) -> bool:
    if args.color != "auto":
        return args.color == "always"
    stream = sys.stdout if not args.output else None
    return bool(stream and stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb")


def _write(path: str, text: str) -> None:
    """Write the report atomically (a temp file renamed into place)."""
    folder = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(folder, f".{os.path.basename(path)}.tmp")
    with open(temp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(temp, path)


def cmd_graph(args: argparse.Namespace) -> int:
    sys.stdout.write(graph(args.spec, args.format, args.env, diagnostics=shown))
    return EXIT_OK
