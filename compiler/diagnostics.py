"""Diagnostics: located errors and warnings, collected per stage and rendered for people and tools.

Every stage of the compiler appends to a :class:`DiagnosticBag` instead of raising; the
pipeline stops at the end of a stage that produced errors.  Rendering is pure: it reads the
source text from a :class:`SourceMap` and never touches the disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file: 1-based line and column (in characters), 0-based offset."""

    line: int
    col: int
    offset: int = 0


@dataclass(frozen=True, order=True)
class Span:
    """A half-open range ``[start, end)`` in one file."""

    file: str
    start: Position
    end: Position

    @classmethod
    def point(cls, file: str, line: int, col: int, offset: int = 0) -> "Span":
        pos = Position(line, col, offset)
        return cls(file, pos, Position(line, col + 1, offset + 1))


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    severity: Severity = Severity.ERROR
    hint: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0, self.code, self.message)
        return (self.span.file, self.span.start.line, self.span.start.col, self.code, self.message)


@dataclass
class DiagnosticBag:
    """Collects the diagnostics of a run; duplicates (same code, span and message) are dropped."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        if diagnostic not in self.items:
            self.items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for diagnostic in diagnostics:
            self.add(diagnostic)

    def error(self, code: str, message: str, span: Span | None = None, hint: str | None = None) -> None:
        self.add(Diagnostic(code, message, span, Severity.ERROR, hint))

    def warning(self, code: str, message: str, span: Span | None = None, hint: str | None = None) -> None:
        self.add(Diagnostic(code, message, span, Severity.WARNING, hint))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.is_error]

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self.items)


class CompileFailed(Exception):
    """Raised by the pipeline at the end of a stage that produced errors."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(f"{sum(d.is_error for d in diagnostics)} error(s)")
        self.diagnostics = diagnostics


class SourceMap:
    """The text of every file a run read, keyed by the path shown to the user."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def add(self, path: str, text: str) -> None:
        self._texts[path] = text

    def text(self, path: str) -> str | None:
        return self._texts.get(path)

    def line(self, path: str, line: int) -> str | None:
        text = self._texts.get(path)
        if text is None:
            return None
        lines = text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return None

    def __contains__(self, path: str) -> bool:
        return path in self._texts


# ---------------------------------------------------------------- rendering


def _caret_line(source_line: str, span: Span) -> str:
    start = max(span.start.col - 1, 0)
    if span.end.line == span.start.line:
        width = max(span.end.col - span.start.col, 1)
    else:
        width = max(len(source_line) - start, 1)
    prefix = "".join("\t" if ch == "\t" else " " for ch in source_line[:start])
    return prefix + "^" * width


def render_text(diagnostics: Iterable[Diagnostic], sources: SourceMap, color: bool = False) -> str:
    """``path:line:col: error[E1234]: message`` + source line + caret + ``help:``."""
    styles = _Styles(color)
    blocks = []
    for diag in diagnostics:
        blocks.append(_render_one(diag, sources, styles))
    return "".join(blocks)


def _render_one(diag: Diagnostic, sources: SourceMap, styles: "_Styles") -> str:
    level = styles.level(diag.severity, f"{diag.severity.value}[{diag.code}]")
    if diag.span is not None:
        where = f"{diag.span.file}:{diag.span.start.line}:{diag.span.start.col}: "
    else:
        where = ""
    out = [f"{styles.bold(where)}{level}: {styles.bold(diag.message)}\n"]
    if diag.span is not None:
        source_line = sources.line(diag.span.file, diag.span.start.line)
        if source_line is not None:
            gutter = f"{diag.span.start.line:>4} | "
            out.append(styles.dim(gutter) + source_line + "\n")
            out.append(styles.dim(" " * (len(gutter) - 2) + "| ") + styles.level(diag.severity, _caret_line(source_line, diag.span)) + "\n")
    for note in diag.notes:
        out.append(f"  = note: {note}\n")
    if diag.hint:
        out.append(f"  {styles.help('help:')} {diag.hint}\n")
    return "".join(out)


def summary_line(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts) if parts else "no problems"


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    items = []
    for diag in diagnostics:
        item: dict = {"code": diag.code, "severity": diag.severity.value, "message": diag.message}
        if diag.span is not None:
            item["file"] = diag.span.file
            item["line"] = diag.span.start.line
            item["col"] = diag.span.start.col
            item["end_line"] = diag.span.end.line
            item["end_col"] = diag.span.end.col
        if diag.hint:
            item["hint"] = diag.hint
        if diag.notes:
            item["notes"] = list(diag.notes)
        items.append(item)
    return json.dumps({"diagnostics": items}, indent=2, sort_keys=True) + "\n"


def _github_escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands: ``::error file=...,line=...,col=...::message``."""
    lines = []
    for diag in diagnostics:
        command = "error" if diag.is_error else "warning"
        props = [f"title={_github_escape(diag.code, True)}"]
        if diag.span is not None:
            props = [
                f"file={_github_escape(diag.span.file, True)}",
                f"line={diag.span.start.line}",
                f"col={diag.span.start.col}",
                f"endLine={diag.span.end.line}",
                f"endColumn={diag.span.end.col}",
            ] + props
        message = f"[{diag.code}] {diag.message}"
        if diag.hint:
            message += f"\nhelp: {diag.hint}"
        lines.append(f"::{command} {','.join(props)}::{_github_escape(message)}")
    return "".join(line + "\n" for line in lines)


class _Styles:
    """ANSI styling for terminals; identity when colour is off (files, pipes, CI logs)."""

    def __init__(self, color: bool):
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def help(self, text: str) -> str:
        return self._wrap("1;36", text)

    def level(self, severity: Severity, text: str) -> str:
        return self._wrap("1;31" if severity is Severity.ERROR else "1;33", text)
