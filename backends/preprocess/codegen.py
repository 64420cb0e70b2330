"""Typed expression trees (``mldl.json`` form) -> Python source calling ``ops``.

Safety: the only names the generated code uses are ``ops``, ``v`` and ``FEATURES``; every value
from the spec (feature names, string literals, numbers) is emitted with ``repr`` of a plain
Python value (so it is a literal, never code), and function names are checked against the
catalogue here and again by the executors at run time.
"""

from __future__ import annotations

import math
from typing import Any
from mlc.core.errors import MlcError
from mlc.core.ir import ANALYZERS
from mlc.dsl.catalogue import lookup

MAX_WIDTH = 96
INDENT = "    "


class CodegenError(MlcError):
    pass


def literal(value: Any) -> str:
    """A Python literal for a JSON constant (str, int, float, bool, None, lists of those)."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodegenError(f"non-finite constant {value!r}")
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    raise CodegenError(f"unsupported constant {value!r}")


def constant_positions(function: str, arg_count: int) -> set[int]:
    """Indices of arguments the catalogue marks constant-only (passed as plain values)."""
    entry = lookup(function)
    if entry is None:
        raise CodegenError(f"`{function}` is not a catalogue function")
    params = list(entry.params)
    positions: set[int] = set()
    variadic = next((i for i, p in enumerate(params) if p.variadic), None)
    if variadic is None:
        return {i for i, p in enumerate(params) if p.constant and i < arg_count}
    after = params[variadic + 1:]
    for i, p in enumerate(params[:variadic]):
        if p.constant:
            positions.add(i)
    for j, p in enumerate(after):
        if p.constant:
            positions.add(arg_count - len(after) + j)
    return positions


class Generator:
    """Renders one tree; ``refs`` maps a referenced name to the expression that reads it."""

    def __init__(self, refs: dict[str, str], analyzer_ids: list[str]):
        self.refs = refs
        self.analyzer_ids = list(analyzer_ids)

    def render(self, tree: dict, indent: int = 1) -> str:
        kind = tree["kind"]
        if kind == "constant":
            return f"ops.const({literal(tree['value'])}, {tree['dtype']!r})"
        if kind == "ref":
            if tree["name"] not in self.refs:
                raise CodegenError(f"unresolved reference `{tree['name']}`")
            return self.refs[tree["name"]]
        if kind == "unary":
            return self._call("ops.unary", [repr(tree["op"])], [tree["operand"]], [repr(tree["dtype"])], indent)
        if kind == "binary":
            return self._call("ops.binary", [repr(tree["op"])], [tree["left"], tree["right"]], [repr(tree["dtype"])], indent)
        if kind == "in":
            options = "[" + ", ".join(self.render(o, indent + 1) for o in tree["options"]) + "]"
            value = self.render(tree["value"], indent + 1)
            return self._wrap("ops.isin", [value, options, repr(tree["negated"]), repr(tree["dtype"])], indent)
        if kind == "call":
            return self._function(tree, indent)
        raise CodegenError(f"cannot generate code for a `{kind}` node")

    def _function(self, tree: dict, indent: int) -> str:
        function, args = tree["function"], tree["args"]
        constants = constant_positions(function, len(args))
        rendered = []
        for i, arg in enumerate(args):
            if i in constants:
                if arg["kind"] != "constant":
                    raise CodegenError(f"argument {i + 1} of `{function}` must be constant")
                rendered.append(literal(arg["value"]))
            else:
                rendered.append(self.render(arg, indent + 1))
        if function in ANALYZERS:
            analyzer_id = self.analyzer_ids.pop(0)
            head = [repr(function), repr(analyzer_id), repr(tree["dtype"])]
            return self._wrap("ops.analyzer", head + rendered, indent)
        return self._wrap("ops.call", [repr(function), repr(tree["dtype"])] + rendered, indent)

    def _call(self, name: str, head: list[str], children: list[dict], tail: list[str], indent: int) -> str:
        return self._wrap(name, head + [self.render(c, indent + 1) for c in children] + tail, indent)

    def _wrap(self, name: str, parts: list[str], indent: int) -> str:
        flat = f"{name}({', '.join(parts)})"
        if len(flat) + len(INDENT) * indent <= MAX_WIDTH and "\n" not in flat:
            return flat
        inner = INDENT * (indent + 1)
        return f"{name}(\n" + "".join(f"{inner}{p},\n" for p in parts) + f"{INDENT * indent})"
