"""Bounds on one expression, checked before anything recursive walks it.

The typechecker, the serializers and the code generators recurse over the tree, and the
generated preprocessing module nests one call per level (CPython refuses more than 200 nested
brackets).  So every expression is measured here, iteratively, first:

- :func:`bracket_problem` scans the text for bracket nesting before Lark parses it;
- :func:`tree_problem` measures the parsed tree: nesting depth (operators, calls, lists, ``in``)
  and size (every node, names and literals included).

Both return a located :class:`ExprIssue` (E3010 too deep, E3011 too large) or None.  The limits
sit well below what breaks: at :data:`MAX_DEPTH` levels the generated module nests at most
about 130 brackets (an ``in`` opens a call and a list), and the recursion of the typechecker,
``to_json`` and the IR stays a few hundred frames deep.
"""

from __future__ import annotations

import re

from .ast import Expr, Literal, Ref, children
from .errors import ExprIssue

MAX_DEPTH = 64
MAX_NODES = 2000

_SPLIT_HINT = "simplify it, or split it into derived features that reference each other"
# A string literal (possibly unterminated: the parser reports that) or one bracket.
_BRACKETS = re.compile(r"""'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?|[()\[\]]""")


def bracket_problem(text: str) -> ExprIssue | None:
    """E3010 at the first bracket opening level ``MAX_DEPTH + 1`` (brackets in strings do not count)."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in "([":
            depth += 1
            if depth > MAX_DEPTH:
                return _too_deep(f"more than {MAX_DEPTH} levels of brackets", match.start(), match.end())
        elif token in ")]":
            depth = max(depth - 1, 0)
    return None


def tree_problem(expr: Expr) -> ExprIssue | None:
    """E3010 at the first sub-expression nested deeper than ``MAX_DEPTH``, or E3011 (on the
    whole expression) when it has more than ``MAX_NODES`` nodes."""
    count = 0
    stack: list[tuple[Expr, int]] = [(expr, 0)]
    while stack:
        node, outer = stack.pop()
        count += 1
        if count > MAX_NODES:
            return ExprIssue("E3011", f"expression too large: more than {MAX_NODES} operators, calls, "
                             "names and literals", expr.start, expr.end, hint=_SPLIT_HINT)
        depth = outer if isinstance(node, (Literal, Ref)) else outer + 1
        if depth > MAX_DEPTH:
            return _too_deep(f"more than {MAX_DEPTH} levels of operators, calls and lists", node.start, node.end)
        stack.extend((child, depth) for child in reversed(children(node)))
    return None


def _too_deep(detail: str, start: int, end: int) -> ExprIssue:
    return ExprIssue("E3010", f"expression nested too deeply: {detail}", start, end, hint=_SPLIT_HINT)
