"""Turns "something is wrong at spec path P" into a located diagnostic."""

from __future__ import annotations

from mlc.core.diagnostics import Diagnostic, DiagnosticBag, Severity, Span
from mlc.schemas.yamlpos import LScalar, Located, find, scalar_span


class Reporter:
    def __init__(self, root: Located | None, bag: DiagnosticBag):
        self.root = root
        self.bag = bag

    def value_span(self, path: tuple) -> Span | None:
        key, node = find(self.root, path)
        if node is None:
            return None
        if node is self.root and path:
            return None
        return node.span

    def key_span(self, path: tuple) -> Span | None:
        key, node = find(self.root, path)
        if key is not None:
            return key.span
        return node.span if node is not None and node is not self.root else None

    def scalar(self, path: tuple) -> LScalar | None:
        _, node = find(self.root, path)
        return node if isinstance(node, LScalar) else None

    def error(self, code: str, message: str, path: tuple, hint: str | None = None, at_key: bool = False) -> None:
        span = self.key_span(path) if at_key else self.value_span(path)
        self.bag.add(Diagnostic(code, message, span, Severity.ERROR, hint))

    def warning(self, code: str, message: str, path: tuple, hint: str | None = None, at_key: bool = False) -> None:
        span = self.key_span(path) if at_key else self.value_span(path)
        self.bag.add(Diagnostic(code, message, span, Severity.WARNING, hint))

    def expression_issue(self, path: tuple, code: str, message: str, start: int, end: int,
                         hint: str | None, severity: str = "error") -> None:
        """An issue at character offsets of an expression scalar (mapped into the file)."""
        node = self.scalar(path)
        if node is not None and isinstance(node.value, str):
            span = scalar_span(node, start, max(end, start + 1))
        else:
            span = self.value_span(path)
        level = Severity.WARNING if severity == "warning" else Severity.ERROR
        self.bag.add(Diagnostic(code, message, span, level, hint))
