"""`mlc diff` and `mlc graph` (docs/review.md).

`mlc diff` exits like diff(1): 0 no change, 1 changes, 2 trouble (a side that cannot be read or
does not compile, with located diagnostics in the report; bad references), 3 changes that
include a DANGEROUS one.
"""

from __future__ import annotations

import argparse
import os
import sys

EXIT_TROUBLE = 2


def cmd_diff(args: argparse.Namespace) -> int:
    from mlc.review.run import UsageError, run_review

    try:
        review = run_review(args.refs, args.base, args.env)
    except UsageError as err:
        sys.stderr.write(f"mlc diff: {err}\n")
        return EXIT_TROUBLE
    text = _render(review, args.format, _colour(args))
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text)
    if args.format != "text" and review.problems:      # the report holds them; say so on stderr too
        sys.stderr.write("".join(p.text for p in review.problems))
    return review.exit_code


def _render(review, fmt: str, colour: bool) -> str:
    if fmt == "markdown":
        from mlc.review.render_markdown import render_markdown

        return render_markdown(review)
    if fmt == "json":
        from mlc.review.render_json import render_json

        return render_json(review)
    from mlc.review.render_text import render_text

    return render_text(review, color=colour)


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


def cmd_graph(args: argparse.Namespace, report) -> int:
    from mlc.compiler.pipeline import build
    from mlc.core.ir import to_jsonable
    from mlc.review.lineage import lineage, to_dot, to_mermaid

    result = build(args.spec, args.env)
    report(result.diagnostics, result.sources, "text")
    if not result.ok:
        return 1
    graph = lineage(to_jsonable(result.ir))
    sys.stdout.write(to_dot(graph) if args.format == "dot" else to_mermaid(graph))
    return 0
