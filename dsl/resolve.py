"""Resolution of preprocess derived features that reference each other by bare name.

Steps: parse (strings), find each feature's dependencies on other derived features, order them
topologically (ties broken by declaration order), report each cycle once with its full path, then
typecheck every feature with a scope that adds the derived features' types to ``base_scope``.
A bare name that is both a derived feature and a base name means the derived feature.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Mapping

from .ast import Expr, Ref, references
from .errors import ExprIssue, ExprSyntaxError
from .parser import parse_expression
from .scope import LayeredScope, Scope
from .typecheck import check_expression
from .typed import TypedExpr
from .types import ERROR, DType


@dataclass
class Resolution:
    """``order``: features in evaluation order, without those in or behind a cycle and those with a
    syntax error.
    ``typed``: every feature that parsed.  ``dtypes``: every feature (``error`` when unknown).
    ``issues``: per feature, offsets inside that feature's text.  ``dependencies``: the derived
    features each one references, in order of first reference."""

    order: tuple[str, ...] = ()
    typed: dict[str, TypedExpr] = field(default_factory=dict)
    dtypes: dict[str, DType] = field(default_factory=dict)
    issues: dict[str, list[ExprIssue]] = field(default_factory=dict)
    dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(issue.is_error for issues in self.issues.values() for issue in issues)


def resolve_derived(features: Mapping[str, str | Expr], base_scope: Scope) -> Resolution:
    result = Resolution(issues={name: [] for name in features})
    parsed = _parse_all(features, result)
    result.dependencies = {name: _dependencies(parsed[name], features) if name in parsed else () for name in features}
    ordered, blocked = topological(list(features), result.dependencies)
    _report_cycles(blocked, result, parsed)
    result.order = tuple(name for name in ordered if name in parsed)
    known: dict[str, DType] = {name: ERROR for name in features}
    scope = LayeredScope(known, base_scope)
    for name in [*result.order, *(n for n in blocked if n in parsed)]:
        typed, issues = check_expression(parsed[name], scope, "derived")
        result.typed[name] = typed
        result.issues[name].extend(issues)
        if name not in blocked:
            known[name] = typed.dtype
    result.dtypes = dict(known)
    result.issues = {name: sorted(issues, key=lambda i: (i.start, i.end)) for name, issues in result.issues.items()}
    return result


def _parse_all(features: Mapping[str, str | Expr], result: Resolution) -> dict[str, Expr]:
    parsed: dict[str, Expr] = {}
    for name, source in features.items():
        if not isinstance(source, str):
            parsed[name] = source
            continue
        try:
            parsed[name] = parse_expression(source)
        except ExprSyntaxError as error:
            result.issues[name].append(error.issue)
    return parsed


def _dependencies(expr: Expr, features: Mapping[str, object]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for ref in references(expr):
        if len(ref.parts) == 1 and ref.parts[0] in features:
            found.setdefault(ref.parts[0], None)
    return tuple(found)


def topological(names: list[str], deps: dict[str, tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """Kahn's algorithm with declaration order as priority; returns (ordered, blocked)."""
    position = {name: index for index, name in enumerate(names)}
    waiting = {name: len(set(deps[name])) for name in names}
    dependents: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for dep in set(deps[name]):
            dependents[dep].append(name)
    ready = [position[name] for name in names if waiting[name] == 0]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        ordered.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, position[dependent])
    done = set(ordered)
    return ordered, [name for name in names if name not in done]


def _report_cycles(blocked: list[str], result: Resolution, parsed: dict[str, Expr]) -> None:
    """One E4007 per strongly connected cycle, on its first-declared member."""
    covered: set[str] = set()
    for name in blocked:
        if name in covered:
            continue
        path = _cycle_through(name, result.dependencies, set(blocked))
        if path is None:
            continue
        covered.update(path)
        ref = _first_ref(parsed[name], path[1])
        text = " -> ".join(path)
        result.issues[name].append(
            ExprIssue("E4007", f"cycle between derived features: {text}", ref.start, ref.end,
                      hint="a derived feature cannot depend on itself, directly or through others")
        )


def _cycle_through(start: str, deps: dict[str, tuple[str, ...]], allowed: set[str]) -> list[str] | None:
    """A path ``start -> ... -> start`` (depth-first, in dependency order), or None when there is none."""
    parent: dict[str, str | None] = {start: None}
    stack = [start]
    while stack:
        current = stack.pop()
        if start in deps[current]:
            return [*_path_to(current, parent), start]
        for dep in reversed(deps[current]):
            if dep in allowed and dep not in parent:
                parent[dep] = current
                stack.append(dep)
    return None


def _path_to(node: str, parent: dict[str, str | None]) -> list[str]:
    path: list[str] = []
    current: str | None = node
    while current is not None:
        path.append(current)
        current = parent[current]
    return path[::-1]


def _first_ref(expr: Expr, name: str) -> Ref:
    return next(ref for ref in references(expr) if ref.parts == (name,))
