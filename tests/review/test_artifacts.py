"""Artifact diff (mlc.review.artifacts): added, removed and changed files with line counts."""

from __future__ import annotations

import hashlib

from mlc.review.artifacts import HUGE_LINES, artifact_diff
from mlc.review.model import ADD, CHANGE, REMOVE, ArtifactChange


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_identical_trees_have_no_changes_and_the_manifest_is_left_out():
    files = {"a.txt": "one\n", "b/c.yaml": "x: 1\n"}
    assert artifact_diff(files, dict(files)) == []
    assert artifact_diff({**files, "manifest.json": "{}\n"}, {**files, "manifest.json": '{"x": 1}\n'}) == []
    assert artifact_diff({}, {"manifest.json": "{}\n"}) == []


def test_added_removed_and_changed_files_sorted_by_path_with_line_counts():
    base = {"z.txt": "gone\nfor good\n", "m.py": "a = 1\nb = 2\nc = 3\n", "same.txt": "s\n"}
    head = {"a.txt": "new\n", "m.py": "a = 1\nb = 20\nc = 3\nd = 4\n", "same.txt": "s\n"}
    assert artifact_diff(base, head) == [
        ArtifactChange(ADD, "a.txt", None, sha("new\n"), 1, 0),
        ArtifactChange(CHANGE, "m.py", sha(base["m.py"]), sha(head["m.py"]), 2, 1),
        ArtifactChange(REMOVE, "z.txt", sha(base["z.txt"]), None, 0, 2),
    ]


def test_a_moved_block_counts_as_removed_and_added_lines():
    base = {"f": "".join(f"line {i}\n" for i in range(10))}
    lines = base["f"].splitlines(keepends=True)
    head = {"f": "".join(lines[5:] + lines[:5])}
    [change] = artifact_diff(base, head)
    assert (change.added_lines, change.removed_lines) == (5, 5)


def test_binary_data_has_no_line_counts():
    [change] = artifact_diff({"blob": "a\x00b"}, {"blob": "a\x00c"})
    assert change.op == CHANGE and change.added_lines is None and change.removed_lines is None


def test_huge_files_are_counted_by_a_linear_multiset_difference(monkeypatch):
    import difflib

    def quadratic_matcher(*args, **kwargs):
        raise AssertionError("huge files must not go through difflib's quadratic matcher")

    monkeypatch.setattr(difflib, "SequenceMatcher", quadratic_matcher)
    size = HUGE_LINES + 5_000
    old = "".join(f"row {i}\n" for i in range(size))
    new = "".join(f"row {i}\n" if i % 1000 else f"changed {i}\n" for i in range(size)) + "tail\n"
    [change] = artifact_diff({"big.csv": old}, {"big.csv": new})
    changed = len(range(0, size, 1000))
    assert (change.added_lines, change.removed_lines) == (changed + 1, changed)
