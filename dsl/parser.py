"""Text -> untyped AST.  One LALR parser per process, built lazily on first use.

The grammar lives in ``expr.lark``; the callbacks of :mod:`mlc.dsl.lark_ast` build AST nodes
inside the parser (no parse tree).  Lark itself is imported on first parse.  Syntax errors become
:class:`ExprSyntaxError` carrying an :class:`ExprIssue` with a friendly message and exact offsets (see
:mod:`mlc.dsl.syntax_errors`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .ast import Expr
from .errors import ExprIssue, ExprSyntaxError
from .limits import bracket_problem, tree_problem

if TYPE_CHECKING:
    from lark import Lark, Token

GRAMMAR = Path(__file__).with_name("expr.lark")

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"'}


def parse_expression(text: str) -> Expr:
    """Parse one expression; raises :class:`ExprSyntaxError` on invalid input, and on an
    expression beyond the limits of :mod:`mlc.dsl.limits` (E3010 too deep, E3011 too large)."""
    if not text.strip():
        raise ExprSyntaxError(ExprIssue("E3008", "empty expression", 0, len(text)))
    _raise_if(bracket_problem(text))
    parser = _parser()
    from lark.exceptions import UnexpectedInput

    from .lark_ast import unwrap

    try:
        expr = unwrap(parser.parse(text))
    except UnexpectedInput as error:
        from .syntax_errors import explain

        raise ExprSyntaxError(explain(text, error)) from None
    _raise_if(tree_problem(expr))
    return expr


def _raise_if(issue: ExprIssue | None) -> None:
    if issue is not None:
        raise ExprSyntaxError(issue)


@lru_cache(maxsize=1)
def _parser() -> "Lark":
    """The LALR parser with the AST builder inlined, built on first use (import stays cheap)."""
    from lark import Lark

    from .lark_ast import ToAst

    return Lark.open(str(GRAMMAR), parser="lalr", lexer="basic", maybe_placeholders=True, transformer=ToAst())


def lexer() -> "Lark":
    """The parser, also used to tokenize text when explaining syntax errors."""
    return _parser()


def unescape(token: "Token") -> str:
    """The value of a quoted string token; unknown escapes are syntax errors."""
    body = token.value[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escaped = body[index + 1]
        if escaped in _ESCAPES:
            out.append(_ESCAPES[escaped])
            index += 2
        elif escaped == "u" and _is_hex(body[index + 2 : index + 6]):
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 6
        else:
            start = token.start_pos + 1 + index
            raise ExprSyntaxError(
                ExprIssue(
                    "E3006",
                    f"invalid escape sequence `\\{escaped}`",
                    start,
                    start + 2,
                    hint="valid escapes: \\\\ \\' \\\" \\n \\t \\r \\0 \\uXXXX",
                )
            )
    return "".join(out)


def _is_hex(text: str) -> bool:
    return len(text) == 4 and all(c in "0123456789abcdefABCDEF" for c in text)


