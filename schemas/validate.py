"""Validate a located YAML tree against :class:`mlc.schemas.spec.Spec`.

Pydantic reports errors as ``loc`` tuples; this module walks each ``loc`` through the located
tree (skipping discriminator tags) to find the exact key or value the user wrote, and rewrites
pydantic's messages into mlc diagnostics with did-you-mean hints. When a location does not
exist in the file (a missing key), the nearest parent key is used.
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from mlc.core.diagnostics import Diagnostic, Span
from mlc.core.suggest import did_you_mean
from mlc.schemas.spec import LINE_PATTERN, MAX_DURATION_DIGITS, TEXT_PATTERN, Spec
from mlc.schemas.yamlpos import LMap, LScalar, LSeq, Located, scalar_span, to_plain

_TYPE_NAMES = {
    "string_type": "a string", "int_type": "an integer", "float_type": "a number",
    "bool_type": "true or false", "dict_type": "a mapping", "list_type": "a list",
    "model_type": "a mapping", "int_from_float": "an integer", "model_attributes_type": "a mapping",
}


_BOUNDS = {
    "greater_than_equal": "at least", "greater_than": "greater than",
    "less_than_equal": "at most", "less_than": "less than",
}


_SHOWN_DIGITS = 30
_CONTROL_NAMES = {"\x00": "NUL", "\t": "tab", "\n": "line break", "\r": "carriage return", "\x1b": "escape"}
_UNBOUNDED_DURATION = re.compile(r"[0-9]+(s|m|h|d|w)\Z")


def describe_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return _describe_int(value)
    if isinstance(value, float):
        return f"number `{value}`"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string `{shown}`"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _describe_int(value: int) -> str:
    """Huge integers are described by their size: formatting one with more than 4300 digits
    raises (Python's int-to-text limit), and nobody wants to read it either."""
    if abs(value) < 10**_SHOWN_DIGITS:
        return f"integer `{value}`"
    digits = int(abs(value).bit_length() * math.log10(2)) + 1
    return f"an integer of about {digits} digits"


def validate_spec(root: Located) -> tuple[Spec | None, list[Diagnostic]]:
    data = to_plain(root)
    if not isinstance(data, dict):
        return None, [Diagnostic("E2001", f"a spec must be a mapping of sections, got {describe_value(data)}",
                                 root.span, hint="start with `version: 1` and `name: ...`")]
    try:
        return Spec.model_validate(data), []
    except ValidationError as exc:
        return None, _diagnostics(exc, root)


def _diagnostics(exc: ValidationError, root: Located) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    type_errors: dict[Span, tuple[int, list[str], Any, str]] = {}
    for error in exc.errors(include_url=False):
        error = _too_large_for_float(error)
        where = _locate(root, tuple(error["loc"]))
        if error["type"] in _TYPE_NAMES:
            # a union of scalar types fails once per member: merge them into one message
            if where.span in type_errors:
                type_errors[where.span][1].append(_TYPE_NAMES[error["type"]])
                continue
            type_errors[where.span] = (len(out), [_TYPE_NAMES[error["type"]]], error.get("input"), where.path)
        out.append(_to_diagnostic(error, where))
    for span, (index, expected, value, path) in type_errors.items():
        wanted = " or ".join(dict.fromkeys(expected))
        out[index] = Diagnostic("E2004", f"`{path}` must be {wanted}, got {describe_value(value)}", span)
    return out


def _too_large_for_float(error: dict) -> dict:
    """Pydantic calls an integer too large for a float "not a number"; it is a number, not finite."""
    value = error.get("input")
    if error["type"] == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        return {**error, "type": "finite_number"}
    return error


@dataclass
class _Where:
    node: Located            # the value node reached (or the parent when missing)
    key: LScalar | None      # the key node of that value, when it has one
    path: str                # user-facing dotted path, without union tags
    model: Any               # the pydantic type expected at that place
    parent_model: Any        # the type holding that place (for "did you mean" on keys)
    found: bool              # False when the loc ends below what the file has

    @property
    def span(self) -> Span:
        if self.key is not None and (not self.found or isinstance(self.node, (LMap, LSeq))):
            return self.key.span
        return self.node.span


def _locate(root: Located, loc: tuple) -> _Where:
    node, key, model, path, found = root, None, Spec, [], True
    parent = None
    for part in loc:
        if not _is_tag(model, part):
            parent = model
        if isinstance(node, LMap) and isinstance(part, str) and part in node.entries:
            key, node = node.entries[part]
            model = _descend(model, part)
            path.append(part)
        elif isinstance(node, LSeq) and isinstance(part, int) and 0 <= part < len(node.items):
            node = node.items[part]
            key = None
            model = _descend(model, part)
            path.append(f"[{part}]")
        elif _is_tag(model, part):
            model = _descend(model, part)
        else:
            path.append(str(part))
            found = False
            model = _descend(model, part)
            break
    return _Where(node, key, ".".join(path).replace(".[", "["), model, parent, found)


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any]:
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [_unwrap(arg) for arg in typing.get_args(tp) if arg is not type(None)]
        if len(members) == 1:                 # Optional[a discriminated union]
            return _union_members(members[0])
        return members
    return [tp]


def _is_tag(tp: Any, part: Any) -> bool:
    """True when ``part`` is a union tag that pydantic put into ``loc`` (not a YAML key)."""
    return isinstance(part, str) and len(_union_members(tp)) > 1 and _branch(tp, part) is not None


def _branch(tp: Any, tag: str) -> Any:
    for member in _union_members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            for name in ("kind", "type"):
                field = member.model_fields.get(name)
                if field is not None and tag in typing.get_args(field.annotation):
                    return member
            if tag in (member.__name__, "object"):
                return member
        elif tag == "expression" and member is str or tag == getattr(member, "__name__", None):
            return member
    return None


def _descend(tp: Any, part: Any) -> Any:
    if tp is None:
        return None
    members = _union_members(tp)
    if len(members) > 1:
        return _branch(tp, part) if isinstance(part, str) else None
    tp = members[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        fields = {f.alias or name: f for name, f in tp.model_fields.items()}
        field = fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    origin = typing.get_origin(tp)
    if origin is dict:
        return typing.get_args(tp)[1]
    if origin is list:
        return typing.get_args(tp)[0]
    return None


def _fields_of(tp: Any) -> list[str]:
    members = _union_members(tp)
    if len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], BaseModel):
        return [field.alias or name for name, field in members[0].model_fields.items()]
    return []


def _to_diagnostic(error: dict, where: _Where) -> Diagnostic:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    path = where.path or "the spec"
    if kind == "extra_forbidden":
        name, parent = _split_path(path)
        parent_fields = _fields_of(where.parent_model)
        hint = did_you_mean(name, parent_fields, "keys") if parent_fields else None
        return Diagnostic("E2002", f"unknown key `{name}` in {parent}", where.key.span if where.key else where.span, hint=hint)
    if kind == "missing":
        name, parent = _split_path(path)
        return Diagnostic("E2003", f"missing required key `{name}` in {parent}", where.span,
                          hint=f"add `{name}:`")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _tag_diagnostic(kind, ctx, where, path)
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        value = error.get("input")
        hint = did_you_mean(str(value), options, "values") if options else None
        return Diagnostic("E2005", f"invalid value `{value}` for `{path}`: expected {expected}",
                          where.span, hint=hint)
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in (LINE_PATTERN, TEXT_PATTERN):
        return _control_character(error.get("input"), ctx["pattern"], where, path)
    if kind == "string_pattern_mismatch" and "s|m|h|d|w" in str(ctx.get("pattern", "")):
        return _duration_diagnostic(error.get("input"), where, path)
    if kind in ("finite_number", "int64_range"):
        wanted = "a finite number" if kind == "finite_number" else "an integer that fits in int64"
        return Diagnostic("E2007", f"`{path}` must be {wanted}, got {describe_value(error.get('input'))}", where.span,
                          hint=None if kind == "finite_number" else "from -9223372036854775808 to 9223372036854775807")
    if kind in _BOUNDS:
        limit = next(iter(ctx.values()), None)
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return Diagnostic("E2007", f"`{path}` must be {_BOUNDS[kind]} {limit}, got {describe_value(error.get('input'))}",
                          where.span)
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        short = kind.endswith("too_short")
        size = ctx.get("min_length" if short else "max_length")
        bound = "at least" if short else "at most"
        things = "character" if isinstance(error.get("input"), str) else "item"
        return Diagnostic("E2007", f"`{path}` must have {bound} {size} {things}{'s' if size != 1 else ''}", where.span)
    if kind in _TYPE_NAMES:
        return Diagnostic("E2004", f"`{path}` must be {_TYPE_NAMES[kind]}, got {describe_value(error.get('input'))}",
                          where.span)
    return Diagnostic("E2007", f"invalid value for `{path}`: {error['msg']}", where.span)


def _duration_diagnostic(value: Any, where: _Where, path: str) -> Diagnostic:
    if isinstance(value, str) and _UNBOUNDED_DURATION.match(value):
        return Diagnostic("E2006", f"duration `{value}` for `{path}` is too long", where.span,
                          hint=f"at most {MAX_DURATION_DIGITS} digits before the unit; use a larger unit, e.g. `52w`")
    return Diagnostic("E2006", f"invalid duration {describe_value(value)} for `{path}`",
                      where.span, hint="write a positive integer and a unit s, m, h, d or w, e.g. `30m`, `1h`, `7d`")


def _control_character(value: Any, pattern: str, where: _Where, path: str) -> Diagnostic:
    """E2008 at the first character that ``pattern`` (``Line`` or ``Text``) refuses."""
    text = value if isinstance(value, str) else ""
    index = next((i for i, char in enumerate(text) if not re.fullmatch(pattern, char)), None)
    if index is None:
        return Diagnostic("E2008", f"`{path}` contains a control character", where.span)
    char = text[index]
    name = _CONTROL_NAMES.get(char, f"U+{ord(char):04X}")
    span = scalar_span(where.node, index, index + 1) if isinstance(where.node, LScalar) else where.span
    what = "text without control characters other than tabs and line breaks" if pattern == TEXT_PATTERN \
        else "one line of text without control characters"
    return Diagnostic("E2008", f"`{path}` contains a control character ({name})", span,
                      hint=f"this value reaches generated files (scripts, manifests, code): write {what}")


def _tags_of(tp: Any, discriminator: str) -> list[str]:
    tags = []
    for member in _union_members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel) and discriminator in member.model_fields:
            tags.extend(typing.get_args(member.model_fields[discriminator].annotation))
    return tags


def _split_path(path: str) -> tuple[str, str]:
    """(last key, "`parent.path`" or "the spec")."""
    if "." not in path:
        return path, "the spec"
    parent, name = path.rsplit(".", 1)
    return name, f"`{parent}`"


def _tag_diagnostic(kind: str, ctx: dict, where: _Where, path: str) -> Diagnostic:
    discriminator = str(ctx.get("discriminator", "'type'")).strip("'")
    if discriminator.endswith("()"):        # a callable discriminator (validation): its key is `kind`
        discriminator = "kind"
    expected = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
    if not expected:
        expected = _tags_of(where.model, discriminator)
    listing = ", ".join(f"`{t}`" for t in expected)
    if kind == "union_tag_not_found":
        return Diagnostic("E2003", f"missing required key `{discriminator}` in `{path}`", where.span,
                          hint=f"add `{discriminator}:` with one of {listing}")
    tag = ctx.get("tag")
    node = where.node.get(discriminator) if isinstance(where.node, LMap) else None
    span = node.span if node is not None else where.span
    hint = did_you_mean(str(tag), expected, f"`{discriminator}` values")
    return Diagnostic("E2005", f"unknown {discriminator} `{tag}` for `{path}`", span, hint=hint)
