"""Assemble one located spec tree from a file, its ``include:`` files and an environment overlay.

Merge rules (also in docs/spec.md):

- ``include:`` (a list of paths relative to the including file) is resolved depth-first, in
  order; included files hold sections only and may include others. Cycles are errors (E1103).
- Includes *combine*: mappings merge key by key; a value defined in two files must be identical,
  otherwise it is a conflict (E1102) pointing at both places. Use environments to override.
  A file reached twice (a diamond: two parts include the same file) is read and combined once.
- ``environments: {NAME: {...}}`` lives in the top-level file only. ``--env NAME`` deep-merges
  that overlay onto the combined spec: mappings merge key by key, lists and scalars replace
  wholesale. Values from the overlay keep their overlay position, so errors point into it.

What may be read (so that a spec reviewed in CI cannot hang the job or leak a file into its log):

- the *project folder* is the folder holding the top-level spec given to mlc; an include whose
  real path (symlinks resolved) lies outside it is refused (E1106) without being opened, and
  nothing of it is shown;
- only regular files are read (not FIFOs, devices or folders: E1006, checked before opening,
  and opened non-blocking), at most :data:`MAX_FILE_BYTES` each and :data:`MAX_TOTAL_BYTES` in
  all (E1107); cycles are detected on real paths, so a symlinked folder cannot hide one;
- text must be UTF-8 (E1006 at the line and column of the first invalid byte); a leading
  UTF-8 byte order mark is dropped.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from mlc.core.diagnostics import Diagnostic, Position, SourceMap, Span
from mlc.core.suggest import did_you_mean
from mlc.schemas.yamlpos import LMap, LScalar, LSeq, Located, load_yaml, to_plain

INCLUDE_KEY = "include"
ENVIRONMENTS_KEY = "environments"
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 16 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


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


def project_folder(spec_path: str) -> str:
    """The folder includes must stay in: the real path of the top-level spec's folder."""
    return os.path.realpath(os.path.dirname(os.path.abspath(spec_path)))


@dataclass
class _Reading:
    """What one compose run has read so far: the budget left and the files already loaded."""

    folder: str
    sources: SourceMap
    result: ComposedSpec
    loaded: set[str] = field(default_factory=set)  # real paths
    total_bytes: int = 0

    def report(self, code: str, message: str, cause: Span | None, hint: str | None = None) -> None:
        self.result.diagnostics.append(Diagnostic(code, message, cause, hint=hint))


def read_text(path: str, shown: str, sources: SourceMap, diagnostics: list[Diagnostic],
              cause: Span | None = None) -> str | None:
    """The UTF-8 text of one regular file (added to ``sources``), or None after a diagnostic."""
    reading = _Reading(project_folder(path), sources, ComposedSpec(None, diagnostics=diagnostics))
    return _read_text(reading, path, shown, cause)


def _read_text(reading: _Reading, path: str, shown: str, cause: Span | None) -> str | None:
    data = _read_bytes(reading, path, shown, cause)
    if data is None:
        return None
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _not_utf8(reading, data, exc, shown)
        return None
    reading.sources.add(shown, text)
    return text


def _read_bytes(reading: _Reading, path: str, shown: str, cause: Span | None) -> bytes | None:
    """At most MAX_FILE_BYTES of a regular file; never blocks on a FIFO or reads a device."""
    not_found_hint = "check the path; include paths are relative to the including file"
    try:
        if not _regular_file(reading, os.stat(path), shown, cause):
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as handle:
            if not _regular_file(reading, os.fstat(handle.fileno()), shown, cause):  # replaced meanwhile
                return None
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        reading.report("E1006", f"file not found: {shown}", cause, not_found_hint)
        return None
    except (OSError, ValueError) as exc:  # ValueError: a path the OS cannot take
        reading.report("E1006", f"cannot read {shown}: {getattr(exc, 'strerror', None) or exc}", cause)
        return None
    if len(data) > MAX_FILE_BYTES:
        reading.report("E1107", f"{shown} is larger than {_mib(MAX_FILE_BYTES)}", cause,
                       "a spec file is a few kilobytes; check that the path names the right file")
        return None
    reading.total_bytes += len(data)
    if reading.total_bytes > MAX_TOTAL_BYTES:
        reading.report("E1107", f"the spec's files are larger than {_mib(MAX_TOTAL_BYTES)} together "
                                f"(reading {shown})", cause, "check the `include:` lists")
        return None
    return data


def _regular_file(reading: _Reading, info: os.stat_result, shown: str, cause: Span | None) -> bool:
    if stat.S_ISREG(info.st_mode):
        if info.st_size > MAX_FILE_BYTES:
            reading.report("E1107", f"{shown} is larger than {_mib(MAX_FILE_BYTES)}", cause,
                           "a spec file is a few kilobytes; check that the path names the right file")
            return False
        return True
    kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, FIFO or socket)"
    reading.report("E1006", f"cannot read {shown}: it is {kind}", cause, "name a YAML spec file")
    return False


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def _not_utf8(reading: _Reading, data: bytes, exc: UnicodeDecodeError, shown: str) -> None:
    """E1006 at the first invalid byte; the text is kept (with U+FFFD) so the line can be shown."""
    text = data.decode("utf-8", errors="replace")
    before = data[:exc.start].decode("utf-8")
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    start = Position(line, col, len(before))
    span = Span(shown, start, Position(line, col + 1, len(before) + 1))
    reading.sources.add(shown, text)
    reading.report("E1006", f"{shown} is not UTF-8 text: invalid byte 0x{data[exc.start]:02x}", span,
                   "save the file as UTF-8")


def compose(path: str, sources: SourceMap, env: str | None = None) -> ComposedSpec:
    result = ComposedSpec(None)
    reading = _Reading(project_folder(path), sources, result)
    root = _load_with_includes(reading, path, stack=(), cause=None)
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


def _load_with_includes(reading: _Reading, path: str, stack: tuple[tuple[str, str], ...],
                        cause: Span | None) -> LMap | None:
    """``stack``: (real path, shown path) of the files including this one, outermost first."""
    shown = display_path(path)
    real = os.path.realpath(path)
    if any(real == outer for outer, _ in stack):
        cycle = " -> ".join([outer_shown for _, outer_shown in stack] + [shown])
        reading.report("E1103", f"include cycle: {cycle}", cause)
        return None
    if real in reading.loaded:  # reached again through another include: combined once already
        return None
    reading.loaded.add(real)
    text = _read_text(reading, path, shown, cause)
    if text is None:
        return None
    reading.result.files.append(shown)
    root = _load_mapping(reading.result, text, shown)
    if root is None:
        return None
    if stack and ENVIRONMENTS_KEY in root.entries:
        key = root.entries.pop(ENVIRONMENTS_KEY)[0]
        reading.report("E1104", "`environments` may only appear in the top-level spec", key.span)
    include = root.entries.pop(INCLUDE_KEY, None)
    combined: LMap | None = None
    for item in _include_items(include, reading.result.diagnostics):
        target = _include_target(reading, path, item)
        if target is None:
            continue
        child = _load_with_includes(reading, target, stack + ((real, shown),), item.span)
        if child is not None:
            combined = child if combined is None else combine(combined, child, reading.result.diagnostics)
    return root if combined is None else combine(combined, root, reading.result.diagnostics)


def _load_mapping(result: ComposedSpec, text: str, shown: str) -> LMap | None:
    loaded = load_yaml(text, shown)
    result.diagnostics.extend(loaded.diagnostics)
    if loaded.root is None:
        return None
    if not isinstance(loaded.root, LMap):
        result.diagnostics.append(Diagnostic("E2001", "a spec file must be a mapping of sections", loaded.root.span,
                                             hint="start with `version: 1` and `name: ...`"))
        return None
    return loaded.root


def _include_target(reading: _Reading, including: str, item: LScalar) -> str | None:
    """The path of an include item, or None (reported at the item) when its real path leaves
    the project folder; the target is not opened then."""
    if "\0" in item.value:
        reading.report("E1006", "an include path cannot contain a NUL character", item.span)
        return None
    target = os.path.join(os.path.dirname(including), item.value)
    if _inside(os.path.realpath(target), reading.folder):
        return target
    reading.report("E1106", f"include `{item.value}` is outside the project folder", item.span,
                   "includes must stay inside the folder of the top-level spec (and its subfolders), "
                   "with symlinks resolved; copy the shared part into the project")
    return None


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives (Windows)
        return False


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
