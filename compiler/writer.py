"""The one place that writes artifacts to disk.

``write_tree`` writes into a fresh temporary folder next to the target, then swaps it into
place; a failure before the swap leaves the previous build untouched.

What may be replaced, so that ``-o DIR`` can never wipe a user's folder:

- a target that does not exist, or an empty folder;
- a folder holding an mlc build: its ``manifest.json`` must be mlc's own (a JSON object with
  ``manifest_version``, ``mlc_version`` and ``files``: relative path -> sha256, as
  ``mlc.compiler.artifacts.manifest`` writes it). Anything else is refused (E6002).

Only files mlc can tell it wrote go away with the old build: the manifest itself, and each
file the previous manifest lists whose content still matches its sha256.

- Any other file or folder in the target (a user's notes, outputs of other tools) is carried
  over into the new build unchanged; when one sits where the new build writes (the same path,
  or a file where the build needs a folder), nothing is written (E6006, naming it).
- A listed file that was edited (its sha256 differs) is a damaged generated file: it is
  replaced when the new build writes that path (a damaged build never blocks the next one),
  and carried over like a user's file when the new build does not.

Old files are deleted one by one, never with a recursive delete of the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass

from mlc.compiler.artifacts import MANIFEST
from mlc.core.errors import MlcError
from mlc.core.diagnostics import Diagnostic

_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_NAMED = 5  # files named in a refusal; the rest are counted


class WriteRefused(MlcError):
    """The target cannot be replaced; ``diagnostic()`` is what the user sees."""
    code = "E6002"

    def __init__(self, message: str, code: str = "E6002", hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint

    def diagnostic(self):
        return Diagnostic(self.code, f"cannot write the build: {self.message}", hint=self.hint)


@dataclass(frozen=True)
class _Previous:
    """The mlc build found in the target: the files its manifest lists (path -> sha256)."""

    files: dict[str, str]


def write_tree(files: dict[str, str], out_dir: str) -> None:
    shown = out_dir
    out_dir = os.path.realpath(out_dir)  # a symlinked build folder: replace what it points to
    parent = os.path.dirname(out_dir)
    replaced: set[str] = set()
    previous = _previous_build(out_dir, shown)
    if previous is not None:
        replaced = _replaceable(out_dir, previous, files)
        _check_carry_over(_unlisted(out_dir, replaced), files, out_dir, shown)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".mlc-build-", dir=parent)
    try:
        for path, text in files.items():
            target = os.path.join(staging, *path.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        _swap(staging, out_dir, replaced)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # only ever our own temporary folder
        raise


# ------------------------------------------------------------------ the previous build


def _previous_build(out_dir: str, shown: str) -> _Previous | None:
    """None when there is nothing to keep (no target, or an empty folder); refuses a target
    that is not an mlc build."""
    if not os.path.lexists(out_dir):
        return None
    if not os.path.isdir(out_dir):
        raise WriteRefused(f"{shown} exists and is not a folder")
    if not os.listdir(out_dir):
        return None
    listed = _read_manifest(os.path.join(out_dir, MANIFEST))
    if listed is None:
        raise WriteRefused(f"{shown} is not empty and holds no mlc build (no {MANIFEST} written by mlc); "
                           "refusing to replace it", hint="choose an empty or new folder for `-o`")
    return _Previous(listed)


def _read_manifest(path: str) -> dict[str, str] | None:
    """The ``files`` of an mlc manifest, or None when ``path`` is not one."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_MANIFEST_BYTES:
            return None
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):  # missing, unreadable, not UTF-8, not JSON
        return None
    if not isinstance(document, dict):
        return None
    version, mlc_version, files = (document.get(k) for k in ("manifest_version", "mlc_version", "files"))
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(mlc_version, str):
        return None
    if not isinstance(files, dict):
        return None
    for relative, digest in files.items():
        if not (_safe_relative(relative) and isinstance(digest, str) and _SHA256.match(digest)):
            return None
    return files


def _safe_relative(path: object) -> bool:
    if not isinstance(path, str) or not path or "\\" in path or "\0" in path or path == MANIFEST:
        return False
    return posixpath.normpath(path) == path and not posixpath.isabs(path) and not path.startswith("..") \
        and path != "."


def _replaceable(out_dir: str, previous: _Previous, files: dict[str, str]) -> set[str]:
    """What the previous build wrote and may go: the manifest, the listed files still as
    written, and listed files the new build writes again (edited or not)."""
    return {MANIFEST} | {relative for relative, digest in previous.files.items()
                         if relative in files or _unchanged(out_dir, relative, digest)}


def _unchanged(out_dir: str, relative: str, digest: str) -> bool:
    """The listed file is there, a regular file in real folders, with the listed sha256."""
    path = os.path.join(out_dir, *relative.split("/"))
    if not _under_real_folders(out_dir, relative):
        return False
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest() == digest


def _under_real_folders(out_dir: str, relative: str) -> bool:
    """Every folder on the way to ``relative`` is a real folder (no symlink leading elsewhere)
    or does not exist: never a file reached through a link."""
    current = out_dir
    for part in relative.split("/")[:-1]:
        current = os.path.join(current, part)
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return False
        except FileNotFoundError:
            return True
    return True


def _unlisted(root: str, replaced: set[str], prefix: str = "") -> list[str]:
    """Relative paths of what is not replaced: files, links and other entries, and empty
    folders. Symlinked folders are entries, never followed."""
    found = []
    with os.scandir(root) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                inside = _unlisted(entry.path, replaced, relative + "/")
                if not os.listdir(entry.path):
                    found.append(relative)
                found += inside
            elif relative not in replaced:
                found.append(relative)
    return found


def _check_carry_over(unlisted: list[str], files: dict[str, str], out_dir: str, shown: str) -> None:
    new_folders = {posixpath.dirname(path) for path in files}
    new_folders = {"/".join(folder.split("/")[:i]) for folder in new_folders for i in range(1, folder.count("/") + 2)}
    blocking = []
    for relative in unlisted:
        ancestors = ["/".join(relative.split("/")[:i]) for i in range(1, relative.count("/") + 1)]
        path = os.path.join(out_dir, *relative.split("/"))
        folder = os.path.isdir(path) and not os.path.islink(path)  # an empty folder merges into the new one
        if relative in files or any(a in files for a in ancestors) or (relative in new_folders and not folder):
            blocking.append(relative)
    if blocking:
        raise WriteRefused(f"{_names(blocking)} in {shown} {'is' if len(blocking) == 1 else 'are'} not part of "
                           "the previous build but the new build writes there", code="E6006",
                           hint="move or rename these files (mlc never replaces files it did not write)")


def _names(paths: list[str]) -> str:
    named = ", ".join(f"`{p}`" for p in paths[:_NAMED])
    return named + (f" and {len(paths) - _NAMED} more" if len(paths) > _NAMED else "")


# ------------------------------------------------------------------------------ swap


def _swap(staging: str, out_dir: str, replaced: set[str]) -> None:
    if not os.path.lexists(out_dir):
        os.rename(staging, out_dir)
        return
    retired = staging + ".old"
    os.rename(out_dir, retired)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        os.rename(retired, out_dir)
        raise
    _carry_back(retired, out_dir, replaced)
    _remove_replaced(retired, replaced)
    try:
        os.rmdir(retired)
    except OSError:  # something we may not delete is left (it appeared meanwhile): keep it
        pass


def _carry_back(retired: str, out_dir: str, replaced: set[str]) -> None:
    """Move what is not replaced into the new build."""
    for relative in _unlisted(retired, replaced):
        source = os.path.join(retired, *relative.split("/"))
        target = os.path.join(out_dir, *relative.split("/"))
        if os.path.lexists(target) or not os.path.lexists(source):  # moved with its folder, or in the way
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(source, target)


def _remove_replaced(folder: str, replaced: set[str], prefix: str = "") -> None:
    """Delete the replaced files (a link is removed, never followed) and the folders left empty."""
    with os.scandir(folder) as entries:
        for entry in list(entries):
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                _remove_replaced(entry.path, replaced, relative + "/")
                try:
                    os.rmdir(entry.path)
                except OSError:  # not empty
                    pass
            elif relative in replaced:
                os.remove(entry.path)
