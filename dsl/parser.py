"""Text -> untyped AST.  One LALR parser per process, built lazily on first use.

The grammar lives in ``expr.lark``; the transformer runs inline in the parser (no parse tree is
built).  Syntax errors become :class:`ExprSyntaxError` carrying an :class:`ExprIssue` with a
friendly message and exact offsets (see :mod:`mlc.dsl.syntax_errors`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from .ast import Binary, Call, Expr, InOp, ListLit, Literal, Ref, Unary
from .errors import ExprIssue, ExprSyntaxError
from .syntax_errors import explain

GRAMMAR = Path(__file__).with_name("expr.lark")

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"'}


def parse_expression(text: str) -> Expr:
    """Parse one expression; raises :class:`ExprSyntaxError` on invalid input."""
    if not text.strip():
        raise ExprSyntaxError(ExprIssue("E3008", "empty expression", 0, len(text)))
    try:
        return _parser().parse(text)
    except VisitError as error:
        if isinstance(error.orig_exc, ExprSyntaxError):
            raise error.orig_exc from None
        raise
    except UnexpectedInput as error:
        raise ExprSyntaxError(explain(text, error)) from None


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark.open(
        str(GRAMMAR),
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=True,
        transformer=_ToAst(),
    )


@lru_cache(maxsize=1)
def lexer() -> Lark:
    """A parser-less copy used to tokenize text when explaining syntax errors."""
    return Lark.open(str(GRAMMAR), parser="lalr", lexer="basic")


def unescape(token: Token) -> str:
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


def _literal(value: object, kind: str, token: Token) -> Literal:
    return Literal(value, kind, token.start_pos, token.end_pos)


def _keyword(value: object, kind: str, meta) -> Literal:
    return Literal(value, kind, meta.start_pos, meta.end_pos)


def _present(items: list) -> tuple:
    return tuple(item for item in items if item is not None)


@v_args(meta=True)
class _ToAst(Transformer):
    """Builds AST nodes straight from parser callbacks."""

    def int_lit(self, meta, children):
        return _literal(int(children[0]), "int", children[0])

    def float_lit(self, meta, children):
        return _literal(float(children[0]), "float", children[0])

    def string_lit(self, meta, children):
        return _literal(unescape(children[0]), "string", children[0])

    def true_lit(self, meta, children):
        return _keyword(True, "bool", meta)

    def false_lit(self, meta, children):
        return _keyword(False, "bool", meta)

    def null_lit(self, meta, children):
        return _keyword(None, "null", meta)

    def list(self, meta, children):
        return ListLit(_present(children), meta.start_pos, meta.end_pos)

    def call(self, meta, children):
        name, *args = children
        return Call(str(name), _present(args), meta.start_pos, meta.end_pos, name.start_pos, name.end_pos)

    def ref(self, meta, children):
        return Ref(tuple(str(part) for part in children), meta.start_pos, meta.end_pos)

    def neg(self, meta, children):
        return Unary("-", children[1], meta.start_pos, meta.end_pos)

    def not_op(self, meta, children):
        return Unary("not", children[0], meta.start_pos, meta.end_pos)

    def binary(self, meta, children):
        left, op, right = children
        return Binary(str(op), left, right, meta.start_pos, meta.end_pos)

    def compare(self, meta, children):
        return self.binary(meta, children)

    def and_op(self, meta, children):
        return Binary("and", children[0], children[1], meta.start_pos, meta.end_pos)

    def or_op(self, meta, children):
        return Binary("or", children[0], children[1], meta.start_pos, meta.end_pos)

    def in_op(self, meta, children):
        value, options = children
        return InOp(False, value, options.items, meta.start_pos, meta.end_pos)

    def not_in_op(self, meta, children):
        value, options = children
        return InOp(True, value, options.items, meta.start_pos, meta.end_pos)
