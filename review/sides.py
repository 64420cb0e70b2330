"""The two sides of a review, loaded from a spec file, a build folder or a git revision.

Every side becomes the same data: the parsed ``mldl.json``, the parsed
``experiments/config.json`` and the artifact tree (path -> text, ``manifest.json`` left out).

* **spec file**: compiled in memory (``build`` + ``artifact_tree``); nothing is written.
* **build folder**: ``manifest.json`` + ``mldl.json`` + the files the manifest lists, each
  checked against its sha256 in the manifest. Files the manifest does not list are ignored.
* **REV:PATH**: the spec at PATH (relative to the repository root; an existing working-tree
  path, or one starting with ``./`` or ``../``, is converted) at git revision REV. The whole
  repository at REV is extracted with ``git archive`` into a temporary folder (members with
  absolute paths or ``..`` refuse the archive; links pointing outside the folder are not
  extracted) and that copy is compiled, so ``include:`` files come from the same revision.
  The temporary folder never shows: labels and diagnostics name files ``REV:path``. Note that
  ``git archive`` applies the revision's ``export-ignore``/``export-subst`` attributes.

Bad input never raises: a side that cannot be read or does not compile carries a
:class:`~mlc.review.model.Problem` with the diagnostics rendered as text (``file:line:col``,
caret, ``help:``) and their codes.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import Any

from mlc.review.model import Problem
from mlc.core.errors import MlcError
from mlc.compiler.artifacts import ArtifactError, artifact_tree
from mlc.core.diagnostics import Diagnostic, SourceMap, render_text
from mlc.core.ir import IR, ir_from_json, to_jsonable
from mlc.compiler.pipeline import build
from mlc.schemas.compose import compose, display_path

MANIFEST = "manifest.json"
MLDL = "mldl.json"
EXPERIMENTS = "experiments/config.json"

UNREADABLE = "E1006"         # a file, folder or git object cannot be read
INVALID_BUILD = "E6005"      # a build folder is invalid (manifest, hashes)


@dataclass
class Side:
    role: str                       # "base" | "head"
    label: str                      # what was loaded: a path, `REV:PATH`
    mldl: dict | None = field(repr=False)          # parsed mldl.json; None when the side failed
    experiments: dict | None = field(repr=False)   # parsed experiments/config.json (None for an old build without it)
    files: dict[str, str] = field(repr=False)      # artifact path -> text, manifest.json excluded
    problem: Problem | None                        # when it cannot be read / does not compile
    ir: Any = field(default=None, repr=False)      # the IR object when available
    root: Any = field(default=None, repr=False)    # the composed YAML root (mlc.schemas) when the side is a spec


class SideError(MlcError):
    """A side cannot be loaded: its rendered text and codes, for a Problem."""

    def __init__(self, text: str, codes: tuple[str, ...]):
        super().__init__(text)
        self.text, self.codes = text, codes


# ------------------------------------------------------------------------------ public API


def load_side(ref: str, role: str, env: str | None = None) -> Side:
    """A spec file, a build folder or ``REV:PATH``, loaded as one side of a review."""
    if not os.path.exists(ref) and _is_git_ref(ref):
        rev, path = ref.split(":", 1)
        return git_side(rev, path, role, env)
    if os.path.isdir(ref):
        return _build_folder_side(ref, role)
    return _spec_side(ref, role, env)


def git_side(rev: str, spec_path: str, role: str, env: str | None = None) -> Side:
    """The spec at ``spec_path`` at git revision ``rev``, compiled from that revision's tree."""
    label = f"{rev}:{spec_path}"
    try:
        top = _toplevel(_existing_dir(spec_path))
        repo_path = _repo_path(spec_path, top)
        label = f"{rev}:{repo_path}"
        if _git(top, "cat-file", "-t", f"{rev}:{repo_path}").strip() != "blob":
            raise SideError(_error(UNREADABLE, f"{label} is not a file"), (UNREADABLE,))
    except SideError as error:
        return _failed(role, label, error)
    folder = tempfile.mkdtemp(prefix="mlc-review-")
    try:
        _extract_archive(top, rev, folder)
        side = _spec_side(os.path.join(folder, *repo_path.split("/")), role, env, label=label)
        return _hide_folder(side, folder, f"{rev}:")
    except SideError as error:
        return _failed(role, label, error)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def base_for(head_ref: str, rev: str) -> str:
    """``--base REV``: ``REV:<HEAD's spec path relative to the repository root>``."""
    if not os.path.exists(head_ref) and _is_git_ref(head_ref):
        return f"{rev}:{head_ref.split(':', 1)[1]}"
    try:
        return f"{rev}:{_repo_path(head_ref, _toplevel(_existing_dir(head_ref)))}"
    except SideError:
        return f"{rev}:{head_ref.replace(os.sep, '/')}"


# ------------------------------------------------------------------------------- spec files


def _spec_side(path: str, role: str, env: str | None, label: str | None = None) -> Side:
    label = label or path
    result = build(path, env)
    if not result.ok:
        errors = result.diagnostics
        problem = Problem(role, label, render_text(errors, result.sources, color=False) or _error(
            UNREADABLE, f"{label} does not compile"), _codes(errors))
        return Side(role, label, None, None, {}, problem, root=compose(path, SourceMap(), env).root)
    try:
        tree = artifact_tree(result)
    except ArtifactError as error:
        problem = Problem(role, label, render_text(error.diagnostics, result.sources, color=False),
                          _codes(error.diagnostics))
        return Side(role, label, None, None, {}, problem, ir=result.ir)
    files = {p: text for p, text in tree.items() if p != MANIFEST}
    mldl = json.loads(files[MLDL]) if MLDL in files else to_jsonable(result.ir)
    experiments = json.loads(files[EXPERIMENTS]) if EXPERIMENTS in files else None
    root = compose(path, SourceMap(), env).root
    return Side(role, label, mldl, experiments, files, None, ir=result.ir, root=root)


# ---------------------------------------------------------------------------- build folders


def _build_folder_side(folder: str, role: str) -> Side:
    label = folder
    try:
        manifest = _read_json(folder, MANIFEST, "not an mlc build folder (no manifest.json)")
        listed = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
            raise _invalid(f"{_shown(folder, MANIFEST)} has no `files` map of path -> sha256")
        files = {path: _checked_file(folder, path, digest) for path, digest in sorted(listed.items())}
        files.pop(MANIFEST, None)
        if MLDL not in files:
            raise _invalid(f"{_shown(folder, MANIFEST)} does not list {MLDL}")
        mldl = _parse_json(files[MLDL], _shown(folder, MLDL))
        experiments = _parse_json(files[EXPERIMENTS], _shown(folder, EXPERIMENTS)) if EXPERIMENTS in files else None
        ir = _ir_of(mldl, _shown(folder, MLDL))
    except SideError as error:
        return _failed(role, label, error)
    return Side(role, label, mldl, experiments, files, None, ir=ir)


def _checked_file(folder: str, path: str, digest: str) -> str:
    """The text of one listed file, refused when its path leaves the folder or its hash differs."""
    clean = posixpath.normpath(path)
    if posixpath.isabs(clean) or clean.startswith("..") or "\\" in path:
        raise _invalid(f"{_shown(folder, MANIFEST)} lists an invalid path `{path}`")
    full = os.path.join(folder, *clean.split("/"))
    try:
        with open(full, "rb") as handle:
            data = handle.read()
    except OSError:
        raise _invalid(f"{_shown(folder, path)} is listed in the manifest but cannot be read", UNREADABLE)
    if hashlib.sha256(data).hexdigest() != digest:
        raise _invalid(f"{_shown(folder, path)} does not match its sha256 in the manifest (edited after the build?)",
                       hint="rebuild the folder with `mlc compile`, or compare the spec itself")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"{_shown(folder, path)} is not UTF-8 text", UNREADABLE)


def _read_json(folder: str, name: str, missing: str) -> Any:
    try:
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise _invalid(f"{folder}: {missing}", hint="give a spec file, a folder written by `mlc compile`, or REV:PATH")
    except (OSError, UnicodeDecodeError):
        raise _invalid(f"{_shown(folder, name)} cannot be read", UNREADABLE)
    return _parse_json(text, _shown(folder, name))


def _parse_json(text: str, shown: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _invalid(f"{shown} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}")


def _ir_of(mldl: Any, shown: str) -> Any:
    """The IR objects of a parsed ``mldl.json``; refused when it is not one."""
    import dataclasses

    missing = [f.name for f in dataclasses.fields(IR) if not isinstance(mldl, dict) or f.name not in mldl]
    if missing:
        raise _invalid(f"{shown} is not an mlc IR (missing {', '.join(missing[:4])})")
    try:
        return ir_from_json(mldl)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
        raise _invalid(f"{shown} does not match the IR of this mlc version: {error}")


def _shown(folder: str, path: str) -> str:
    return posixpath.join(folder.replace(os.sep, "/").rstrip("/"), path)


# -------------------------------------------------------------------------------------- git


def _is_git_ref(ref: str) -> bool:
    rev, sep, path = ref.partition(":")
    return bool(sep and rev and path) and not (len(rev) == 1 and rev.isalpha() and os.name == "nt")


def _git(cwd: str, *args: str) -> str:
    """Run git; its message (not a traceback) when it fails or is not installed."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise SideError(_error(UNREADABLE, "git is not installed"), (UNREADABLE,))
    except subprocess.TimeoutExpired:
        raise SideError(_error(UNREADABLE, f"`git {args[0]}` timed out"), (UNREADABLE,))
    if done.returncode != 0:
        raise SideError(_error(UNREADABLE, _git_message(done.stderr) or f"`git {args[0]}` failed"), (UNREADABLE,))
    return done.stdout


def _git_message(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "; ".join(line.removeprefix("fatal: ") for line in lines[:3])


def _existing_dir(path: str) -> str:
    """The nearest existing folder at or above ``path`` (relative to the cwd)."""
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _toplevel(folder: str) -> str:
    return _git(folder, "rev-parse", "--show-toplevel").strip()


def _repo_path(path: str, top: str) -> str:
    """``path`` relative to the repository root: absolute, ``./``/``../`` and existing working-tree
    paths are taken relative to the cwd; anything else is already relative to the root."""
    normal = path.replace(os.sep, "/")
    relative_to_cwd = os.path.isabs(path) or normal.startswith(("./", "../")) or os.path.exists(path)
    if not relative_to_cwd:
        return posixpath.normpath(normal)
    real_top = os.path.realpath(top)
    inside = os.path.relpath(os.path.realpath(os.path.abspath(path)), real_top).replace(os.sep, "/")
    if inside.startswith("../") or inside == "..":
        raise SideError(_error(UNREADABLE, f"{path} is outside the git repository {top}"), (UNREADABLE,))
    return inside


def _extract_archive(top: str, rev: str, folder: str) -> None:
    """``git archive REV`` of the whole repository, streamed into ``folder`` safely."""
    try:
        process = subprocess.Popen(["git", "archive", "--format=tar", rev], cwd=top,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise SideError(_error(UNREADABLE, "git is not installed"), (UNREADABLE,))
    try:
        with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
            for member in archive:
                if _safe_member(member, folder):
                    archive.extract(member, folder, set_attrs=False, **_EXTRACT_FILTER)
    except (tarfile.TarError, OSError) as error:
        process.kill()
        raise SideError(_error(UNREADABLE, f"`git archive {rev}` is not a valid archive: {error}"), (UNREADABLE,))
    finally:
        stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
        process.wait()
    if process.returncode != 0:
        raise SideError(_error(UNREADABLE, _git_message(stderr) or f"`git archive {rev}` failed"), (UNREADABLE,))


# Python's own checks on top of ours where it has them (3.11.4+): no special files, no escapes
_EXTRACT_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _safe_member(member: tarfile.TarInfo, folder: str) -> bool:
    """Regular files, folders and links staying inside ``folder``; refuse the archive for
    absolute or ``..`` names; skip links leaving the folder and special files."""
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
        raise SideError(_error(UNREADABLE, f"unsafe path in the archive: {name}"), (UNREADABLE,))
    if member.isfile() or member.isdir():
        return True
    if member.issym() or member.islnk():
        base = os.path.realpath(folder)
        anchor = os.path.dirname(os.path.join(base, name)) if member.issym() else base
        target = os.path.realpath(os.path.join(anchor, member.linkname))
        return not os.path.isabs(member.linkname) and (target == base or target.startswith(base + os.sep))
    return False


def _hide_folder(side: Side, folder: str, prefix: str) -> Side:
    """Replace the temporary folder in labels, diagnostics and the YAML tree by ``REV:``."""
    prefixes = _folder_prefixes(folder)
    if side.problem is not None:
        side.problem = Problem(side.problem.side, side.problem.label,
                               _replace_all(side.problem.text, prefixes, prefix), side.problem.codes)
    if side.root is not None:
        _relabel_tree(side.root, prefixes, prefix)
    return side


def _folder_prefixes(folder: str) -> list[str]:
    shown = {os.path.abspath(folder), os.path.realpath(folder), display_path(folder)}
    native = {p.rstrip(os.sep) + os.sep for p in shown}
    posix = {p.rstrip(os.sep).replace(os.sep, "/") + "/" for p in shown}
    return sorted(native | posix, key=len, reverse=True)


def _replace_all(text: str, prefixes: list[str], prefix: str) -> str:
    for old in prefixes:
        text = text.replace(old, prefix)
    return text


def _relabel_tree(node: Any, prefixes: list[str], prefix: str) -> None:
    """Rename the file of every located YAML node (LMap, LSeq, LScalar)."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen or not hasattr(current, "file"):
            continue
        seen.add(id(current))
        current.file = _replace_all(current.file, prefixes, prefix)
        if hasattr(current, "entries"):
            for key, value in current.entries.values():
                stack += [key, value]
        elif hasattr(current, "items"):
            stack += list(current.items)


# ----------------------------------------------------------------------------------- errors


def _error(code: str, message: str, hint: str | None = None) -> str:
    """One diagnostic without a location, rendered as ``mlc validate`` renders it."""
    return render_text([Diagnostic(code, message, hint=hint)], SourceMap(), color=False)


def _codes(diagnostics: list) -> tuple[str, ...]:
    """The codes of the diagnostics, each once, in order."""
    return tuple(dict.fromkeys(d.code for d in diagnostics))


def _invalid(message: str, code: str = INVALID_BUILD, hint: str | None = None) -> SideError:
    return SideError(_error(code, message, hint), (code,))


def _failed(role: str, label: str, error: SideError) -> Side:
    return Side(role, label, None, None, {}, Problem(role, label, error.text, error.codes))
