"""`mlc functions`: the expression function reference (:func:`mlc.app.spec.functions_text`)."""

from __future__ import annotations

import argparse
import sys

from mlc.app.spec import functions_text
from mlc.cli.common import EXIT_OK


def register(commands) -> dict:
    functions = commands.add_parser("functions", help="print the expression function reference")
    functions.add_argument("--format", choices=("text", "markdown"), default="text")
    return {"functions": cmd_functions}


def cmd_functions(args: argparse.Namespace) -> int:
    sys.stdout.write(functions_text(args.format == "markdown"))
    return EXIT_OK
