"""Diagnostics: located errors and warnings, collected per stage and rendered for people and tools.

Every stage of the compiler appends to a :class:`DiagnosticBag` instead of raising; the
pipeline stops at the end of a stage that produced errors.  Rendering is pure: it reads the
source text from a :class:`SourceMap` and never touches the disk.

Rendering never echoes a control character: spec values and source lines may hold ESC, BEL,
CR, other C0/C1 controls or bidi overrides that would forge lines or terminal escapes, so the
text and GitHub formats show them escaped (``\\x1b``, ``\\r``, ``\\u202e``; JSON escapes
them itself). The text format also shortens what it echoes: a source line longer than
:data:`MAX_SOURCE_WIDTH` is shown as a window around the span between ``…`` markers (the caret
stays aligned), and a long `quoted` value inside a message keeps its start and end only.
"""

from __future__ import annotations

import json
import re
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
    _seen: set[Diagnostic] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._seen.update(self.items)

    def add(self, diagnostic: Diagnostic) -> None:
        # a set, not `in self.items`: hostile input can yield hundreds of thousands of
        # diagnostics, and a linear scan per item made that quadratic (a hang)
        if diagnostic not in self._seen:
            self._seen.add(diagnostic)
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


class SourceMap:
    """The text of every file a run read, keyed by the path shown to the user."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._lines: dict[str, list[str]] = {}  # split once: a run may render many diagnostics

    def add(self, path: str, text: str) -> None:
        self._texts[path] = text
        self._lines.pop(path, None)

    def text(self, path: str) -> str | None:
        return self._texts.get(path)

    def line(self, path: str, line: int) -> str | None:
        """Line ``line`` (1-based) as positions count lines: split at LF only, without a CR
        ending it (other breaks such as a lone CR or U+2028 stay inside the line)."""
        text = self._texts.get(path)
        if text is None:
            return None
        lines = self._lines.get(path)
        if lines is None:
            lines = self._lines[path] = text.split("\n")
        if 1 <= line <= len(lines) and not (line == len(lines) and not lines[-1]):  # after the last LF
            found = lines[line - 1]
            return found[:-1] if found.endswith("\r") else found
        return None

    def __contains__(self, path: str) -> bool:
        return path in self._texts


# ---------------------------------------------------------------- rendering


MAX_SOURCE_WIDTH = 200   # echoed source line, in shown characters
_CONTEXT = 40            # shown characters kept before the span when a line is cut
_MAX_QUOTED = 80         # a `quoted` value in a message longer than this is shortened
_MAX_TEXT = 1000         # a message, hint or note longer than this is cut

# C0 and C1 controls (tab excepted), DEL, bidi embeddings/overrides/isolates and marks, the
# Unicode line and paragraph separators, BOM, and lone surrogates (unencodable)
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_QUOTED = re.compile("`([^`]{%d,})`" % (_MAX_QUOTED + 1))
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control, bidi and separator character written as a visible escape."""
    return _UNSAFE.sub(lambda match: _escape_char(match.group()), text)


def _shown(ch: str) -> str:
    return _escape_char(ch) if _UNSAFE.match(ch) else ch


def _clip(text: str) -> str:
    """Long `quoted` values keep their start and end; a very long text is cut."""
    text = _QUOTED.sub(lambda m: f"`{m.group(1)[:_MAX_QUOTED - 20]}…{m.group(1)[-15:]}`", text)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def _safe(text: str) -> str:
    return escape_controls(_clip(text))


def _excerpt(line: str, span: Span) -> tuple[str, str]:
    """The source line as shown (escaped, cut to a window around the span when long) and the
    caret line under the span."""
    start = min(max(span.start.col - 1, 0), len(line))
    end = span.end.col - 1 if span.end.line == span.start.line else len(line)
    end = max(end, start + 1)
    lo, hi = _window(line, start)
    prefix = "".join("\t" if ch == "\t" else " " * len(_shown(ch)) for ch in line[lo:start])
    width = sum(len(_shown(ch)) for ch in line[start:min(end, hi)])
    if hi == len(line):
        width += max(end - len(line), 0)  # a span reaching past the end of the line
    shown = "".join(_shown(ch) for ch in line[lo:hi])
    if lo > 0:
        shown, prefix = "…" + shown, " " + prefix
    if hi < len(line):
        shown += "…"
    return shown, prefix + "^" * max(width, 1)


def _window(line: str, start: int) -> tuple[int, int]:
    """The characters ``[lo, hi)`` of ``line`` to show: all of a short line, else about
    :data:`MAX_SOURCE_WIDTH` shown characters from a little before ``start``."""
    if len(line) <= MAX_SOURCE_WIDTH and sum(len(_shown(ch)) for ch in line) <= MAX_SOURCE_WIDTH:
        return 0, len(line)
    if not _UNSAFE.search(line, max(start - _CONTEXT, 0), start + MAX_SOURCE_WIDTH):  # one column a character
        lo = max(start - _CONTEXT, 0)
        return lo, min(lo + MAX_SOURCE_WIDTH, len(line))
    lo, used = start, 0
    while lo > 0 and used < _CONTEXT:
        lo -= 1
        used += len(_shown(line[lo]))
    hi, used = lo, 0
    while hi < len(line) and used + len(_shown(line[hi])) <= MAX_SOURCE_WIDTH:
        used += len(_shown(line[hi]))
        hi += 1
    return lo, hi


TEXT_LIMIT = 200   # diagnostics shown as text; the JSON and GitHub formats list every one


def render_text(diagnostics: Iterable[Diagnostic], sources: SourceMap, color: bool = False,
                limit: int = TEXT_LIMIT) -> str:
    """``path:line:col: error[E1234]: message`` + source line + caret + ``help:``; at most
    ``limit`` diagnostics (errors first), then a line saying how many more there are."""
    styles = _Styles(color)
    ordered = sorted(diagnostics, key=lambda d: not d.is_error)      # stable: errors keep their order
    blocks = [_render_one(diag, sources, styles) for diag in ordered[:limit]]
    if len(ordered) > limit:
        blocks.append(f"... and {len(ordered) - limit} more (`--format json` lists every one)\n")
    return "".join(blocks)


def _render_one(diag: Diagnostic, sources: SourceMap, styles: "_Styles") -> str:
    level = styles.level(diag.severity, f"{diag.severity.value}[{diag.code}]")
    if diag.span is not None:
        where = f"{escape_controls(diag.span.file)}:{diag.span.start.line}:{diag.span.start.col}: "
    else:
        where = ""
    out = [f"{styles.bold(where)}{level}: {styles.bold(_safe(diag.message))}\n"]
    if diag.span is not None:
        source_line = sources.line(diag.span.file, diag.span.start.line)
        if source_line is not None:
            shown, carets = _excerpt(source_line, diag.span)
            gutter = f"{diag.span.start.line:>4} | "
            out.append(styles.dim(gutter) + shown + "\n")
            out.append(styles.dim(" " * (len(gutter) - 2) + "| ") + styles.level(diag.severity, carets) + "\n")
    for note in diag.notes:
        out.append(f"  = note: {_safe(note)}\n")
    if diag.hint:
        out.append(f"  {styles.help('help:')} {_safe(diag.hint)}\n")
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
    """GitHub Actions workflow commands: ``::error file=...,line=...,col=...::message``.

    GitHub's log shows ANSI escapes, so controls are escaped as in the text format first."""
    lines = []
    for diag in diagnostics:
        command = "error" if diag.is_error else "warning"
        props = [f"title={_github_escape(diag.code, True)}"]
        if diag.span is not None:
            props = [
                f"file={_github_escape(escape_controls(diag.span.file), True)}",
                f"line={diag.span.start.line}",
                f"col={diag.span.start.col}",
                f"endLine={diag.span.end.line}",
                f"endColumn={diag.span.end.col}",
            ] + props
        message = f"[{diag.code}] {escape_controls(diag.message)}"
        if diag.hint:
            message += f"\nhelp: {escape_controls(diag.hint)}"
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
