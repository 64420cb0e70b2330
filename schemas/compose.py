"""Assemble one located spec tree from a file, its ``include:`` files and an environment overlay.

Merge rules (also in docs/spec.md):

- ``include:`` (a list of paths relative to the including file) is resolved depth-first, in
  order; included files hold sections only and may include others. Cycles are errors (E1103).
- Includes *combine*: mappings merge key by key; a value defined in two files must be identical,
  otherwise it is a conflict (E1102) pointing at both places. Use environments to override.
- ``environments: {NAME: {...}}`` lives in the top-level file only. ``--env NAME`` deep-merges
  that overlay onto the combined spec: mappings merge key by key, lists and scalars replace
  wholesale. Values from the overlay keep their overlay position, so errors point into it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlc.compiler.diagnostics import Diagnostic, SourceMap, Span
from mlc.compiler.suggest import did_you_mean
from mlc.schemas.yamlpos import LMap, LScalar, LSeq, Located, load_yaml, to_plain

INCLUDE_KEY = "include"
ENVIRONMENTS_KEY = "environments"


@dataclass
class ComposedSpec:
    root: LMap | None
    files: list[str] = field(default_factory=list)        # every file read, display paths, in order
    environments: dict[str, LMap] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def display_path(path: str) -> str:
    """The path shown to users and written into artifacts: relative to the cwd when inside it."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return relative if not relative.startswith("..") else absolute


def read_text(path: str, shown: str, sources: SourceMap, diagnostics: list[Diagnostic],
              cause: Span | None = None) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        diagnostics.append(Diagnostic("E1006", f"file not found: {shown}", cause,
                                      hint="check the path; include paths are relative to the including file"))
        return None
    except UnicodeDecodeError:
        diagnostics.append(Diagnostic("E1006", f"{shown} is not UTF-8 text", cause))
        return None
    except OSError as exc:
        diagnostics.append(Diagnostic("E1006", f"cannot read {shown}: {exc.strerror}", cause))
        return None
    sources.add(shown, text)
    return text


def compose(path: str, sources: SourceMap, env: str | None = None) -> ComposedSpec:
    result = ComposedSpec(None)
    root = _load_with_includes(path, sources, result, stack=[], cause=None)
    if root is None:
        return result
    envs = root.entries.pop(ENVIRONMENTS_KEY, None)
    if envs is not None:
        result.environments = _environments(envs[1], result.diagnostics)
    result.root = root
    if env is not None:
        if env not in result.environments:
            hint = did_you_mean(env, result.environments, "environments") or "the spec declares no `environments:`"
            result.diagnostics.append(Diagnostic("E1105", f"unknown environment `{env}`", None, hint=hint))
        else:
            result.root = overlay(root, result.environments[env])
    return result


def _environments(node: Located, diagnostics: list[Diagnostic]) -> dict[str, LMap]:
    if not isinstance(node, LMap):
        diagnostics.append(Diagnostic("E2004", "`environments` must be a mapping of name -> overlay", node.span))
        return {}
    envs = {}
    for name, (key, value) in node.entries.items():
        if isinstance(value, LMap):
            envs[name] = value
        else:
            diagnostics.append(Diagnostic("E2004", f"environment `{name}` must be a mapping (a partial spec)", value.span))
    return envs


def _load_with_includes(path: str, sources: SourceMap, result: ComposedSpec, stack: list[str],
                        cause: Span | None) -> LMap | None:
    shown = display_path(path)
    if os.path.abspath(path) in stack:
        cycle = " -> ".join(display_path(p) for p in stack + [os.path.abspath(path)])
        result.diagnostics.append(Diagnostic("E1103", f"include cycle: {cycle}", cause))
        return None
    text = read_text(path, shown, sources, result.diagnostics, cause)
    if text is None:
        return None
    result.files.append(shown)
    loaded = load_yaml(text, shown)
    result.diagnostics.extend(loaded.diagnostics)
    if loaded.root is None:
        return None
    if not isinstance(loaded.root, LMap):
        result.diagnostics.append(Diagnostic("E2001", "a spec file must be a mapping of sections", loaded.root.span,
                                             hint="start with `version: 1` and `name: ...`"))
        return None
    root = loaded.root
    if stack and ENVIRONMENTS_KEY in root.entries:
        key = root.entries.pop(ENVIRONMENTS_KEY)[0]
        result.diagnostics.append(Diagnostic("E1104", "`environments` may only appear in the top-level spec", key.span))
    include = root.entries.pop(INCLUDE_KEY, None)
    combined: LMap | None = None
    for item in _include_items(include, result.diagnostics):
        target = os.path.join(os.path.dirname(path), item.value)
        child = _load_with_includes(target, sources, result, stack + [os.path.abspath(path)], item.span)
        if child is not None:
            combined = child if combined is None else combine(combined, child, result.diagnostics)
    return root if combined is None else combine(combined, root, result.diagnostics)


def _include_items(include: tuple[LScalar, Located] | None, diagnostics: list[Diagnostic]) -> list[LScalar]:
    if include is None:
        return []
    node = include[1]
    items = node.items if isinstance(node, LSeq) else [node]
    good = []
    for item in items:
        if isinstance(item, LScalar) and isinstance(item.value, str) and item.value:
            good.append(item)
        else:
            diagnostics.append(Diagnostic("E2004", "`include` must be a list of file paths", item.span))
    return good


def combine(base: LMap, extra: LMap, diagnostics: list[Diagnostic]) -> LMap:
    """Merge two included parts; identical leaves are fine, different ones conflict."""
    merged = LMap(base.file, base.start, base.end, dict(base.entries))
    for name, (key, value) in extra.entries.items():
        if name not in merged.entries:
            merged.entries[name] = (key, value)
            continue
        old_key, old_value = merged.entries[name]
        if isinstance(old_value, LMap) and isinstance(value, LMap):
            merged.entries[name] = (old_key, combine(old_value, value, diagnostics))
        elif to_plain(old_value) != to_plain(value):
            diagnostics.append(Diagnostic(
                "E1102", f"`{name}` is defined differently in two files", key.span,
                hint=f"also defined at {old_key.file}:{old_key.start.line}:{old_key.start.col}; "
                     "included files may add to a spec but not override it (use `environments:` for overrides)",
            ))
    return merged


def overlay(base: LMap, patch: LMap) -> LMap:
    """Environment overlay: mappings merge key by key, lists and scalars replace."""
    merged = LMap(base.file, base.start, base.end, dict(base.entries))
    for name, (key, value) in patch.entries.items():
        old = merged.entries.get(name)
        if old is not None and isinstance(old[1], LMap) and isinstance(value, LMap):
            merged.entries[name] = (old[0], overlay(old[1], value))
        else:
            merged.entries[name] = (key, value)
    return merged
