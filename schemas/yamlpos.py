"""YAML loading that keeps source positions.

PyYAML's composer gives every node its start/end marks and scalar style; this module turns
that node graph into a small located tree (:class:`LMap`, :class:`LSeq`, :class:`LScalar`),
reporting problems instead of raising:

- syntax errors become ``E1001`` at the offending line/col, control characters in the text
  (NUL, ESC ...) too;
- duplicate keys (which YAML silently resolves to the last one) are ``E1002``;
- non-string keys, tags and merge keys are rejected (``E1003``-``E1005``). Every tag outside
  the plain YAML set (``!!str``, ``!!int`` ...) is refused, ``!!python/...`` included.

Hostile input is bounded: the composer stops at more than :data:`MAX_DEPTH` levels of
nesting (``E1005``, before PyYAML could recurse or scan further), and aliases may expand to at
most :data:`ALIAS_BUDGET` values in all (``E1007`` at the alias, "billion laughs"). The
located tree is built by copying, so aliases are expanded exactly once, here, within that
budget; nothing downstream (``to_plain``, merging, validation) can expand them again.

Plain scalars are resolved with YAML 1.2 core rules (``yes``/``no``/``on``/``off`` stay
strings, avoiding the "Norway problem"). :func:`scalar_span` maps a character range of a
scalar's *value* back to file positions, for quoted and block scalars as well, so expression
errors can point inside the string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Union

from mlc.core.diagnostics import Diagnostic, Position, Span

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
_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
_MERGE_TAG = "tag:yaml.org,2002:merge"  # a plain `<<` resolves to it; as a value it is just text

MAX_DEPTH = 100          # levels of nesting below the document's root
ALIAS_BUDGET = 100_000   # values an alias expansion may produce, for the whole file
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
        node = yaml.compose(text, Loader=_loader_class())
    except _TooDeep as exc:
        diagnostics.append(_too_deep_diagnostic(exc.mark, file, text))
        return LoadResult(None, diagnostics)
    except yaml.MarkedYAMLError as exc:
        diagnostics.append(_syntax_diagnostic(exc, file, text))
        return LoadResult(None, diagnostics)
    except yaml.reader.ReaderError as exc:  # a control character (NUL, ESC, BEL ...) in the text
        diagnostics.append(_reader_diagnostic(exc, file, text))
        return LoadResult(None, diagnostics)
    except yaml.YAMLError as exc:  # e.g. more than one document
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


class _TooDeep(Exception):
    """Raised by the composer at the first node nested deeper than :data:`MAX_DEPTH`."""

    def __init__(self, mark: Any):
        super().__init__("YAML nesting is too deep")
        self.mark = mark


@dataclass
class _Alias:
    """An alias (``*name``) in the node graph: the anchored node plus where the alias is written.

    PyYAML's composer returns the anchored node itself for an alias, sharing it; keeping the
    alias's own position lets an alias that expands too much be reported where it is used."""

    target: Any
    start_mark: Any
    end_mark: Any


_LOADER: Any = None


def _loader_class() -> Any:
    """PyYAML's SafeLoader with a composer that bounds nesting and wraps aliases (built once,
    lazily, so that importing this module does not import PyYAML)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                return _Alias(super().compose_node(parent, index), event.start_mark, event.end_mark)
            # events are pulled lazily: stopping here means PyYAML never scans (or recurses)
            # further into a hostile document. The root is level 1; a key sits one level below
            # its mapping here but on the mapping's level for the builder, hence one more.
            self.depth += 1
            try:
                is_key = index is None and isinstance(parent, yaml.MappingNode)
                if self.depth > MAX_DEPTH + (2 if is_key else 1):
                    raise _TooDeep(self.peek_event().start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    _LOADER = BoundedLoader
    return _LOADER


def _too_deep_diagnostic(mark: Any, file: str, text: str) -> Diagnostic:
    start = _LineIndex(text).position(mark.index)
    end = Position(start.line, start.col + 1, start.offset + 1)
    return Diagnostic("E1005", f"YAML nesting is too deep (more than {MAX_DEPTH} levels)", Span(file, start, end),
                      hint="flatten the structure; mlc specs need only a few levels")


def _reader_diagnostic(exc: Any, file: str, text: str) -> Diagnostic:
    offset = min(max(exc.position, 0), len(text))
    start = _LineIndex(text).position(offset)
    end = Position(start.line, start.col + 1, start.offset + 1)
    char = exc.character if isinstance(exc.character, int) else 0
    return Diagnostic("E1001", f"invalid YAML: the text contains the non-printable character U+{char:04X}",
                      Span(file, start, end),
                      hint="remove it; YAML allows tabs, line breaks and printable characters only "
                           "(write \\x.. escapes in double-quoted strings)")


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


class _AliasBudgetSpent(Exception):
    """Unwinds an alias expansion that went over :data:`ALIAS_BUDGET`."""


class _Builder:
    def __init__(self, file: str, text: str, diagnostics: list[Diagnostic]):
        self.file = file
        self.text = text
        self.lines = _LineIndex(text)
        self.diagnostics = diagnostics
        self.alias_depth = 0      # how many aliases the node being built is reached through
        self.expanded = 0         # values built through aliases so far
        self.budget_spent = False
        self.open: set[int] = set()  # ids of the collections being built (the path from the root)

    def pos(self, mark: Any) -> Position:
        return self.lines.position(mark.index)

    def build(self, node: Any, depth: int = 0) -> Located:
        import yaml

        if isinstance(node, _Alias):
            return self.build_alias(node, depth)
        self.count_expansion()
        start, end = self.pos(node.start_mark), self.pos(node.end_mark)
        if depth > MAX_DEPTH:  # reachable through aliases only; the composer bounds the rest
            self.error("E1005", f"YAML nesting is too deep (more than {MAX_DEPTH} levels)", start, end)
            return LScalar(self.file, start, end, None)
        self.check_tag(node, start, end)
        if isinstance(node, yaml.ScalarNode):
            return self.build_scalar(node, start, end)
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.build_map(node, start, end, depth)
            return LSeq(self.file, start, end, [self.build(child, depth + 1) for child in node.value])
        finally:
            self.open.discard(id(node))

    def build_alias(self, alias: _Alias, depth: int) -> Located:
        """A copy of the anchored value; an expansion over the budget is reported at the
        outermost alias being expanded and becomes null."""
        start, end = self.pos(alias.start_mark), self.pos(alias.end_mark)
        if self.budget_spent:
            return LScalar(self.file, start, end, None)
        if id(alias.target) in self.open:
            self.error("E1007", "YAML alias inside the value it refers to (a recursive structure)", start, end,
                       "an alias can only repeat a value defined before it, outside it")
            return LScalar(self.file, start, end, None)
        self.alias_depth += 1
        try:
            return self.build(alias.target, depth)
        except _AliasBudgetSpent:
            if self.alias_depth > 1:
                raise
            self.error("E1007", f"YAML aliases expand to more than {ALIAS_BUDGET:,} values", start, end,
                       "an alias repeats the whole anchored value; nested aliases multiply (\"billion laughs\"). "
                       "Use `include:` for shared parts and `environments:` for variations")
            return LScalar(self.file, start, end, None)
        finally:
            self.alias_depth -= 1

    def count_expansion(self) -> None:
        if self.alias_depth == 0:
            return
        self.expanded += 1
        if self.expanded > ALIAS_BUDGET:
            self.budget_spent = True
            raise _AliasBudgetSpent()

    def check_tag(self, node: Any, start: Position, end: Position) -> None:
        """Only the plain YAML tags; ``!local``, ``!!python/...``, ``!!binary``, ``!!set`` ... are refused."""
        if node.tag in _PLAIN_TAGS or node.tag == _MERGE_TAG:
            return
        shown = "!!" + node.tag[len(_YAML_TAG_PREFIX):] if node.tag.startswith(_YAML_TAG_PREFIX) else node.tag
        self.error("E1004", f"YAML tag `{shown}` is not supported", start, end,
                   "remove the tag; mlc specs use plain YAML values")

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
            if isinstance(key_node, _Alias):  # `*name: value`: the anchored key (a scalar, or refused below)
                key_node = key_node.target
            if key_node.tag == _MERGE_TAG:
                self.error("E1005", "YAML merge keys (`<<`) are not supported", key_start, key_end,
                           "use `include:` for shared parts and `environments:` for overrides")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.error("E1003", "mapping keys must be plain strings", key_start, key_end)
                continue
            self.check_tag(key_node, key_start, key_end)
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
        return _decimal_int(text)
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


def _decimal_int(text: str) -> int:
    """A decimal integer. One longer than Python converts (``sys.get_int_max_str_digits()``,
    4300 digits; exact conversion is quadratic) keeps only its sign and size, ±10^(digits-1):
    far beyond any range a field accepts, so it is refused as out of range (E2007) and
    described by its size, instead of a ValueError."""
    try:
        return int(text)
    except ValueError:
        digits = len(text.lstrip("+-").lstrip("0"))
        return -(10 ** (digits - 1)) if text.startswith("-") else 10 ** (digits - 1)


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
