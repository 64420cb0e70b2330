"""The artifact diff of a review: files added, removed and changed between two artifact trees.

Both trees are ``{path: text}`` as :func:`mlc.compiler.artifacts.artifact_tree` returns them (or
as a build folder holds them). ``manifest.json`` is left out: it lists every file's hash, so it
changes whenever anything does.

Line counts:

* an added file counts all its lines as added, a removed file all its lines as removed;
* a changed file is diffed line by line with :class:`difflib.SequenceMatcher` (no junk
  heuristics, so the counts are those of a minimal-ish unified diff);
* when both versions of a file have more than :data:`HUGE_LINES` lines, the quadratic
  worst case of the matcher is avoided: the counts are the multiset difference of the lines
  (lines of HEAD not in BASE, and the reverse). That is fast and exact for edits, but a line
  that only *moved* is not counted;
* a text holding NUL characters is treated as binary: no line counts (``None``).
"""

from __future__ import annotations

import difflib
import hashlib
from collections import Counter

from mlc.review.model import ADD, CHANGE, REMOVE, ArtifactChange

MANIFEST = "manifest.json"
HUGE_LINES = 20_000


def artifact_diff(base_files: dict[str, str], head_files: dict[str, str]) -> list[ArtifactChange]:
    """Every file that differs between the two trees, sorted by path (``manifest.json`` excluded)."""
    changes = []
    for path in sorted((set(base_files) | set(head_files)) - {MANIFEST}):
        change = _file_change(path, base_files.get(path), head_files.get(path))
        if change is not None:
            changes.append(change)
    return changes


def _file_change(path: str, old: str | None, new: str | None) -> ArtifactChange | None:
    old_sha, new_sha = _sha256(old), _sha256(new)
    if old_sha == new_sha:
        return None
    if old is None:
        return ArtifactChange(ADD, path, None, new_sha, *_counts("", new))
    if new is None:
        return ArtifactChange(REMOVE, path, old_sha, None, *_counts(old, ""))
    return ArtifactChange(CHANGE, path, old_sha, new_sha, *_counts(old, new))


def _sha256(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _counts(old: str, new: str) -> tuple[int | None, int | None]:
    """(added lines, removed lines) from ``old`` to ``new``; ``(None, None)`` for binary data."""
    if "\x00" in old or "\x00" in new:
        return None, None
    old_lines, new_lines = old.splitlines(), new.splitlines()
    if len(old_lines) > HUGE_LINES and len(new_lines) > HUGE_LINES:
        return _multiset_counts(old_lines, new_lines)
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed += i2 - i1
            added += j2 - j1
    return added, removed


def _multiset_counts(old_lines: list[str], new_lines: list[str]) -> tuple[int, int]:
    """Lines gained and lost, ignoring position: linear time for huge files."""
    old_count, new_count = Counter(old_lines), Counter(new_lines)
    return sum((new_count - old_count).values()), sum((old_count - new_count).values())
