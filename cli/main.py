"""The `mlc` command line: the parser built from the command groups, dispatch, and the one place
where a failure (:class:`mlc.core.errors.MlcError`) becomes a diagnostic.

Kept import-light: a group imports the :mod:`mlc.app` modules that build specs or run engines
inside the command that needs them, so `mlc --help` and `mlc compile` stay fast. Exit codes: 0 ok, 1 the
input has errors, 2 usage errors (bad flags, unknown command).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from mlc import __version__
from mlc.app.common import Failed, SpecErrors
from mlc.cli import consistency, deploy, experiment, functions, models, offline, review, serve, spec, stream
from mlc.cli.common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, Parser, report
from mlc.core.diagnostics import SourceMap
from mlc.core.errors import MlcError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> Parser:
    parser, _ = _parser_and_handlers()
    return parser


def _parser_and_handlers() -> tuple[Parser, dict[str, Handler]]:
    parser = Parser(prog="mlc", description="Compile one ML application spec into every artifact the platform runs.")
    parser.add_argument("--version", action="version", version=f"mlc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    handlers: dict[str, Handler] = {}
    # the order of `mlc --help`
    for register in (spec.register, offline.register, offline.register_online, stream.register, serve.register,
                     experiment.register, review.register, models.register, deploy.register, functions.register,
                     consistency.register):
        handlers.update(register(commands))
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    for out in (sys.stdout, sys.stderr):
        if hasattr(out, "reconfigure"):
            out.reconfigure(errors="backslashreplace")  # never die printing a user's odd text
    parser, handlers = _parser_and_handlers()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handlers[args.command](args)
    except MlcError as err:
        return failed(err, getattr(args, "diagnostics_format", "text"))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def failed(err: MlcError, fmt: str = "text") -> int:
    """Report a failure as the commands print diagnostics; its exit status (1, or the status of a
    failure already reported)."""

    if isinstance(err, Failed):
        return err.status
    if isinstance(err, SpecErrors):
        report(err.diagnostics, err.sources, fmt)
    else:
        report([err.diagnostic()], SourceMap(), fmt)
    return EXIT_ERRORS
