"""Parser callbacks that build AST nodes directly (imported lazily by :mod:`mlc.dsl.parser`).

The callbacks run inside Lark's LALR parser, so no parse tree is built.  Spans come from the
tokens and nodes at the edges of each rule; a parenthesized expression travels as a
:class:`Parens` wrapper so that the enclosing node's span includes the parentheses while the
inner node's does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from lark import Token, Transformer

from .ast import Binary, Call, Expr, InOp, ListLit, Literal, Ref, Unary
from .parser import unescape


@dataclass(frozen=True)
class Parens:
    inner: Expr
    start: int
    end: int


def start_of(item) -> int:
    return item.start_pos if isinstance(item, Token) else item.start


def end_of(item) -> int:
    return item.end_pos if isinstance(item, Token) else item.end


def unwrap(item) -> Expr:
    return item.inner if isinstance(item, Parens) else item


def _literal(value: object, kind: str, token: Token) -> Literal:
    return Literal(value, kind, token.start_pos, token.end_pos)


_INT64_DIGITS = 19


def _int(token: Token) -> int:
    """The literal's value; past 19 digits, 2**63 (out of int64, which the typechecker reports)
    instead of converting text that may be thousands of digits long."""
    digits = token.value.lstrip("0")
    return 2 ** 63 if len(digits) > _INT64_DIGITS else int(token.value)


def _items(children: list) -> tuple[Expr, ...]:
    return tuple(unwrap(item) for item in children if item is not None)


class ToAst(Transformer):
    """One method per grammar alias; ``children`` hold tokens, AST nodes and :class:`Parens`."""

    def int_lit(self, children):
        return _literal(_int(children[0]), "int", children[0])

    def float_lit(self, children):
        return _literal(float(children[0]), "float", children[0])

    def string_lit(self, children):
        return _literal(unescape(children[0]), "string", children[0])

    def true_lit(self, children):
        return _literal(True, "bool", children[0])

    def false_lit(self, children):
        return _literal(False, "bool", children[0])

    def null_lit(self, children):
        return _literal(None, "null", children[0])

    def paren(self, children):
        opening, inner, closing = children
        return Parens(unwrap(inner), opening.start_pos, closing.end_pos)

    def list(self, children):
        return ListLit(_items(children[1:-1]), children[0].start_pos, children[-1].end_pos)

    def call(self, children):
        name, args, closing = children[0], children[2:-1], children[-1]
        return Call(str(name), _items(args), name.start_pos, closing.end_pos, name.start_pos, name.end_pos)

    def ref(self, children):
        return Ref(tuple(str(part) for part in children), children[0].start_pos, children[-1].end_pos)

    def neg(self, children):
        sign, operand = children
        return Unary("-", unwrap(operand), sign.start_pos, end_of(operand))

    def not_op(self, children):
        keyword, operand = children
        return Unary("not", unwrap(operand), keyword.start_pos, end_of(operand))

    def binary(self, children):
        left, op, right = children
        return Binary(str(op), unwrap(left), unwrap(right), start_of(left), end_of(right))

    compare = binary

    def and_op(self, children):
        return self._logical("and", children)

    def or_op(self, children):
        return self._logical("or", children)

    def _logical(self, op: str, children):
        left, right = children
        return Binary(op, unwrap(left), unwrap(right), start_of(left), end_of(right))

    def in_op(self, children):
        return self._membership(False, children)

    def not_in_op(self, children):
        return self._membership(True, children)

    def _membership(self, negated: bool, children):
        value, options = children[0], children[-1]
        return InOp(negated, unwrap(value), options.items, start_of(value), options.end)
