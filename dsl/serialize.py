"""Typed tree -> deterministic JSON, and untyped tree -> canonical source text.

``to_json`` is what lands in ``mldl.json``: plain JSON types, a ``dtype`` on every node, constant
sub-expressions folded into ``{"kind": "constant"}`` nodes, canonical function names, no spans.
``to_source`` prints the minimal-parentheses canonical form; ``parse(to_source(e)) == e``.
"""

from __future__ import annotations

import math

from .ast import Binary, Call, Expr, InOp, ListLit, Literal, Ref, Unary
from .typed import TypedExpr

# Binding strength, loosest first; atoms (literals, names, calls, lists) bind tightest.
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6, "neg": 7}
_ATOM = 8
_COMPARE = 4
_STRING_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def to_json(typed: TypedExpr) -> dict:
    """Deterministic JSON description of a typed expression."""
    node, dtype = typed.node, str(typed.dtype)
    if typed.is_constant:
        return {"kind": "constant", "dtype": dtype, "value": _json_value(typed.value)}
    args = [to_json(arg) for arg in typed.args]
    if isinstance(node, Ref):
        return {"kind": "ref", "dtype": dtype, "name": node.dotted}
    if isinstance(node, ListLit):
        return {"kind": "list", "dtype": dtype, "items": args}
    if isinstance(node, Call):
        return {"kind": "call", "dtype": dtype, "function": typed.function or node.name, "args": args}
    if isinstance(node, Unary):
        return {"kind": "unary", "dtype": dtype, "op": node.op, "operand": args[0]}
    if isinstance(node, Binary):
        return {"kind": "binary", "dtype": dtype, "op": node.op, "left": args[0], "right": args[1]}
    if isinstance(node, InOp):
        return {"kind": "in", "dtype": dtype, "negated": node.negated, "value": args[0], "options": args[1:]}
    return {"kind": "constant", "dtype": dtype, "value": _json_value(node.value)}


def _json_value(value: object) -> object:
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    return value


def to_source(expr: Expr | TypedExpr) -> str:
    """Canonical source text: single-quoted strings, `, ` separators, minimal parentheses."""
    node = expr.node if isinstance(expr, TypedExpr) else expr
    return _print(node)


def _print(node: Expr) -> str:
    if isinstance(node, Literal):
        return _literal(node)
    if isinstance(node, Ref):
        return node.dotted
    if isinstance(node, ListLit):
        return "[" + ", ".join(_print(item) for item in node.items) + "]"
    if isinstance(node, Call):
        return f"{node.name}(" + ", ".join(_print(arg) for arg in node.args) + ")"
    if isinstance(node, Unary):
        return _unary(node)
    if isinstance(node, InOp):
        keyword = "not in" if node.negated else "in"
        options = ", ".join(_print(option) for option in node.options)
        return f"{_wrap(node.value, _COMPARE + 1)} {keyword} [{options}]"
    return _binary(node)


def _unary(node: Unary) -> str:
    if node.op == "not":
        return "not " + _wrap(node.operand, _PRECEDENCE["not"])
    return "-" + _wrap(node.operand, _PRECEDENCE["neg"])


def _binary(node: Binary) -> str:
    level = _precedence(node)
    if level == _COMPARE:
        left, right = _wrap(node.left, level + 1), _wrap(node.right, level + 1)
    else:
        left, right = _wrap(node.left, level), _wrap(node.right, level + 1)
    return f"{left} {node.op} {right}"


def _wrap(node: Expr, minimum: int) -> str:
    text = _print(node)
    return f"({text})" if _precedence(node) < minimum else text


def _precedence(node: Expr) -> int:
    if isinstance(node, Binary):
        return _PRECEDENCE.get(node.op, _COMPARE)
    if isinstance(node, InOp):
        return _COMPARE
    if isinstance(node, Unary):
        return _PRECEDENCE["not" if node.op == "not" else "neg"]
    if isinstance(node, Literal) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return _PRECEDENCE["neg"] if node.value < 0 else _ATOM
    return _ATOM


def _literal(node: Literal) -> str:
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, int):
        return str(value)
    return _string(str(value))


def _float(value: float) -> str:
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return repr(value)


def _string(value: str) -> str:
    out = []
    for char in value:
        if char in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"
