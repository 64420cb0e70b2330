"""What the command groups share: the argument parser class (did-you-mean, exit code 2 on
usage errors), option helpers, and where text goes (diagnostics, progress lines).

Light: argparse and the standard library only at import time.
"""

from __future__ import annotations

import argparse
import os
import sys

from mlc.core.diagnostics import render_github, render_json, render_text, summary_line
from mlc.core.suggest import closest

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
FORMATS = ("text", "json", "github")
# every command, for did-you-mean on a mistyped one
COMMAND_NAMES = ("validate", "compile", "fit", "check-parity", "run", "materialize", "features", "stream", "events", "serve",
                 "experiment", "diff", "models", "deploy", "status", "rollback", "stop", "graph", "schema",
                 "functions", "consistency")


class Parser(argparse.ArgumentParser):
    """argparse with did-you-mean for mistyped commands and exit code 2 on usage errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        hint = ""

        if "invalid choice" in message:
            word = message.split("'")[1] if "'" in message else ""
            match = closest(word, COMMAND_NAMES)
            if match:
                hint = f"\nhelp: did you mean `mlc {match}`?"
        elif "unrecognized arguments:" in message:
            word = message.split("unrecognized arguments:", 1)[1].split()[0].split("=")[0]
            match = closest(word, all_options(self)) if word.startswith("-") else None
            if match:
                hint = f"\nhelp: did you mean `{match}`?"
        sys.stderr.write(f"{self.prog}: error: {message}{hint}\n")
        raise SystemExit(EXIT_USAGE)


def all_options(parser: argparse.ArgumentParser) -> set[str]:
    options = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= all_options(sub)
    return options


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_registry(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", metavar="URL",
                        help="model registry: sqlite:PATH or redis://HOST:PORT/DB (default: $MLC_REGISTRY, "
                             "else .mlc/<name>/registry.sqlite beside the spec)")
    parser.add_argument("--env", help="environment overlay to apply")


# ------------------------------------------------------------------- where text goes


def color(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def report(diagnostics: list, sources, fmt: str = "text") -> None:
    """Diagnostics as text on stderr (with a summary line), or json / github on stdout."""

    if fmt == "json":
        sys.stdout.write(render_json(diagnostics))
    elif fmt == "github":
        sys.stdout.write(render_github(diagnostics))
    elif diagnostics:
        sys.stderr.write(render_text(diagnostics, sources, color=color(sys.stderr)))
        sys.stderr.write(summary_line(diagnostics) + "\n")


def shown(diagnostics: list, sources) -> None:
    """The diagnostics of a build (warnings) or a step, as text on stderr."""
    report(diagnostics, sources, "text")


def progress(line: str) -> None:
    """One progress line on stderr, flushed (child processes write there too)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
