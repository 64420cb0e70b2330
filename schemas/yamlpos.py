"""YAML loading that keeps source positions.

PyYAML's composer gives every node its start/end marks and scalar style; this module turns
that node graph into a small located tree (:class:`LMap`, :class:`LSeq`, :class:`LScalar`),
reporting problems instead of raising:

- syntax errors become ``E1001`` at the offending line/col;
- duplicate keys (which YAML silently resolves to the last one) are ``E1002``;
- non-string keys, tags and merge keys are rejected (``E1003``-``E1005``).

Plain scalars are resolved with YAML 1.2 core rules (``yes``/``no``/``on``/``off`` stay
strings, avoiding the "Norway problem"). :func:`scalar_span` maps a character range of a
scalar's *value* back to file positions, for quoted and block scalars as well, so expression
errors can point inside the string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Union

from mlc.compiler.diagnostics import Diagnostic, Position, Span

_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUES = {"true", "True", "TRUE"}
_FALSES = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?[0-9]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")

_STR_TAG = "tag:yaml.org,2002:str"
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value",
}


@dataclass
class LNode:
    file: str
    start: Position
    end: Position

    @property
    def span(self) -> Span:
        return Span(self.file, self.start, self.end)


@dataclass
class LScalar(LNode):
    value: Any = None
    style: str | None = None  # None (plain), "'", '"', "|", ">"
    source: str = ""  # the raw text of the scalar in the file


@dataclass
class LSeq(LNode):
    items: list["Located"] = field(default_factory=list)


@dataclass
class LMap(LNode):
    # key -> (key node, value node); insertion order kept
    entries: dict[str, tuple[LScalar, "Located"]] = field(default_factory=dict)

    def get(self, key: str) -> "Located | None":
        entry = self.entries.get(key)
        return entry[1] if entry else None


Located = Union[LMap, LSeq, LScalar]


class _LineIndex:
    def __init__(self, text: str):
        self.starts = [0]
        for match in re.finditer("\n", text):
            self.starts.append(match.end())

    def position(self, offset: int) -> Position:
        import bisect

        line = bisect.bisect_right(self.starts, offset) - 1
        return Position(line + 1, offset - self.starts[line] + 1, offset)


@dataclass
class LoadResult:
    root: Located | None
    diagnostics: list[Diagnostic]


def load_yaml(text: str, file: str) -> LoadResult:
    """Parse one YAML document into a located tree; never raises on bad input."""
    import yaml

    diagnostics: list[Diagnostic] = []
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        diagnostics.append(_syntax_diagnostic(exc, file, text))
        return LoadResult(None, diagnostics)
    except yaml.YAMLError as exc:  # e.g. more than one document, reader errors
        diagnostics.append(Diagnostic("E1001", f"invalid YAML: {exc}", Span.point(file, 1, 1)))
        return LoadResult(None, diagnostics)
    except (ValueError, OverflowError) as exc:  # PyYAML decoding an out-of-range escape such as "\U00110000"
        diagnostics.append(Diagnostic("E1001", f"invalid YAML: a string has an invalid escape ({exc})",
                                      Span.point(file, 1, 1), hint="\\U escapes must be at most \\U0010FFFF"))
        return LoadResult(None, diagnostics)
    if node is None:
        return LoadResult(LMap(file, Position(1, 1, 0), Position(1, 1, 0)), diagnostics)
    builder = _Builder(file, text, diagnostics)
    return LoadResult(builder.build(node), diagnostics)


def _syntax_diagnostic(exc: Any, file: str, text: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    message = f"invalid YAML: {problem}"
    if exc.context:
        message += f" ({exc.context})"
    hint = None
    if "tab" in problem or "'\\t'" in problem:
        hint = "YAML indentation must use spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        hint = "a value containing `: ` must be quoted, e.g. \"a: b\""
    elif "could not find expected ':'" in problem or "simple key" in problem:
        hint = "check the indentation and that every key ends with `:`"
    if mark is None:
        return Diagnostic("E1001", message, Span.point(file, 1, 1), hint=hint)
    pos = Position(mark.line + 1, mark.column + 1, mark.index)
    end = Position(pos.line, pos.col + 1, pos.offset + 1)
    return Diagnostic("E1001", message, Span(file, pos, end), hint=hint)


class _Builder:
    def __init__(self, file: str, text: str, diagnostics: list[Diagnostic]):
        self.file = file
        self.text = text
        self.lines = _LineIndex(text)
        self.diagnostics = diagnostics

    def pos(self, mark: Any) -> Position:
        return self.lines.position(mark.index)

    def build(self, node: Any, depth: int = 0) -> Located:
        import yaml

        start, end = self.pos(node.start_mark), self.pos(node.end_mark)
        if depth > 100:
            self.error("E1005", "YAML nesting is too deep (more than 100 levels)", start, end)
            return LScalar(self.file, start, end, None)
        if node.tag not in _PLAIN_TAGS and node.tag.startswith("!"):
            self.error("E1004", f"YAML tag `{node.tag}` is not supported", start, end,
                       "remove the tag; mlc specs use plain YAML values")
        if isinstance(node, yaml.MappingNode):
            return self.build_map(node, start, end, depth)
        if isinstance(node, yaml.SequenceNode):
            items = [self.build(child, depth + 1) for child in node.value]
            return LSeq(self.file, start, end, items)
        return self.build_scalar(node, start, end)

    def build_scalar(self, node: Any, start: Position, end: Position) -> LScalar:
        raw = self.text[node.start_mark.index:node.end_mark.index]
        if _SURROGATE.search(node.value):
            self.error("E1001", "invalid YAML: a string contains a lone surrogate escape (\\ud800-\\udfff)",
                       start, end, "write the character itself or a valid \\U escape")
            node.value = _SURROGATE.sub("\ufffd", node.value)
        explicit_tag = node.tag if raw.startswith("!") else None  # e.g. `!!str 123`
        value = resolve_scalar(node.value, node.style, explicit_tag)
        return LScalar(self.file, start, end, value, node.style, raw)

    def build_map(self, node: Any, start: Position, end: Position, depth: int) -> LMap:
        import yaml

        result = LMap(self.file, start, end)
        for key_node, value_node in node.value:
            key_start, key_end = self.pos(key_node.start_mark), self.pos(key_node.end_mark)
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.error("E1005", "YAML merge keys (`<<`) are not supported", key_start, key_end,
                           "use `include:` for shared parts and `environments:` for overrides")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.error("E1003", "mapping keys must be plain strings", key_start, key_end)
                continue
            key = self.build_scalar(key_node, key_start, key_end)
            if not isinstance(key.value, str):
                key.value = key_node.value
                if not isinstance(key.value, str):
                    self.error("E1003", "mapping keys must be strings", key_start, key_end)
                    continue
            if key.value in result.entries:
                first = result.entries[key.value][0]
                self.diagnostics.append(Diagnostic(
                    "E1002", f"duplicate key `{key.value}`", key.span,
                    hint=f"`{key.value}` is already defined at line {first.start.line}, column "
                         f"{first.start.col}; YAML would silently keep only the last one",
                ))
                continue
            result.entries[key.value] = (key, self.build(value_node, depth + 1))
        return result

    def error(self, code: str, message: str, start: Position, end: Position, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, Span(self.file, start, end), hint=hint))


def resolve_scalar(text: str, style: str | None, tag: str | None = None) -> Any:
    """YAML 1.2 core-schema resolution for plain scalars; quoted scalars and an explicit
    ``!!str`` tag give strings."""
    if style is not None or tag == _STR_TAG:
        return text
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    if _INT.match(text):
        return int(text)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


def to_plain(node: Located | None) -> Any:
    """Plain Python data (dict/list/scalars) of a located tree."""
    if node is None:
        return None
    if isinstance(node, LMap):
        return {key: to_plain(value) for key, (_, value) in node.entries.items()}
    if isinstance(node, LSeq):
        return [to_plain(item) for item in node.items]
    return node.value


# ------------------------------------------------------------ scalar offsets


def scalar_offsets(node: LScalar) -> list[int]:
    """For each character of the scalar's string value, its absolute offset in the file.

    Works for plain, single-quoted, double-quoted (escapes included) and block scalars;
    characters produced by folding map to the nearest source character.
    """
    value = node.value if isinstance(node.value, str) else str(node.value)
    raw = node.source
    base = node.start.offset
    if node.style == '"':
        return [base + i for i in _double_quoted_offsets(raw)][: len(value)] or [base]
    i = 0
    if node.style in ("'",):
        i = 1
    elif node.style in ("|", ">"):
        newline = raw.find("\n")
        i = newline + 1 if newline >= 0 else len(raw)
    offsets = []
    for ch in value:
        j = i
        while j < len(raw) and raw[j] != ch:
            j += 1
        if j >= len(raw):  # folded character with no counterpart
            offsets.append(base + min(i, max(len(raw) - 1, 0)))
            continue
        offsets.append(base + j)
        i = j + 1
    return offsets


_SIMPLE_ESCAPE_WIDTH = {"x": 2, "u": 4, "U": 8}


def _double_quoted_offsets(raw: str) -> list[int]:
    offsets = []
    i = 1  # skip the opening quote
    while i < len(raw) - 1:
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            kind = raw[i + 1]
            if kind == "\n":  # escaped line break: produces nothing
                i += 2
                while i < len(raw) and raw[i] in " \t":
                    i += 1
                continue
            offsets.append(i)
            i += 2 + _SIMPLE_ESCAPE_WIDTH.get(kind, 0)
            continue
        if ch == "\n":  # folded line break: becomes one space (or a newline for blank lines)
            offsets.append(i)
            i += 1
            while i < len(raw) and raw[i] in " \t":
                i += 1
            continue
        offsets.append(i)
        i += 1
    return offsets


def scalar_span(node: LScalar, start: int, end: int, line_index: "_LineIndex | None" = None,
                text: str | None = None) -> Span:
    """The file span of value characters ``[start, end)`` of a scalar."""
    offsets = scalar_offsets(node)
    if not offsets:
        return node.span
    s = offsets[min(max(start, 0), len(offsets) - 1)]
    last = offsets[min(max(end - 1, start, 0), len(offsets) - 1)]
    start_pos = _relative_position(node, s)
    end_pos = _relative_position(node, last + 1)
    return Span(node.file, start_pos, end_pos)


def _relative_position(node: LScalar, offset: int) -> Position:
    """Line/col of an absolute offset that lies inside the scalar's raw text."""
    delta = offset - node.start.offset
    before = node.source[:max(delta, 0)]
    newlines = before.count("\n")
    if newlines == 0:
        return Position(node.start.line, node.start.col + delta, offset)
    col = len(before) - before.rfind("\n")
    return Position(node.start.line + newlines, col, offset)


def find(root: Located | None, path: tuple) -> tuple[LScalar | None, Located | None]:
    """The (key node, value node) at ``path`` (keys and list indices); the deepest existing
    ancestor when the path goes further than the file."""
    key: LScalar | None = None
    node = root
    for part in path:
        if isinstance(node, LMap) and isinstance(part, str) and part in node.entries:
            key, node = node.entries[part]
        elif isinstance(node, LSeq) and isinstance(part, int) and 0 <= part < len(node.items):
            node = node.items[part]
        else:
            break
    return key, node
