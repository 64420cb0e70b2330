"""Shared helpers of the lint tests (test_checks.py, test_experiment_checks.py): compile a spec
text in a temporary folder, edit the minimal spec, and check that exactly one located
diagnostic comes out."""

from __future__ import annotations

import pytest
from specs import MINIMAL_SPEC

from mlc.compiler.pipeline import build

BASE = MINIMAL_SPEC

SWITCHBACK = """\
  switchbacks:
    sb:
      unit: city
      slice: 30m
      burn_in: 5m
      timezone: Asia/Shanghai
      variants: {a: {model: eta}, b: {model: eta}}
"""


@pytest.fixture
def run(tmp_path, monkeypatch):
    """``run(text)``: the build of ``text`` saved as ``s.mlc.yaml`` (it must reach the checks)."""
    monkeypatch.chdir(tmp_path)

    def run(text: str):
        (tmp_path / "s.mlc.yaml").write_text(text, encoding="utf-8")
        result = build("s.mlc.yaml")
        assert result.failed_stage in (None, "check"), result.diagnostics
        return result
    return run


def edit(*pairs: tuple[str, str], text: str = BASE) -> str:
    """``text`` with each ``old`` (which must occur exactly once) replaced by ``new``."""
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def at(text: str, needle: str, skip: int = 0) -> tuple[int, int]:
    """(line, col) of ``needle`` in ``text``, after skipping ``skip`` earlier occurrences."""
    offset = -1
    for _ in range(skip + 1):
        offset = text.index(needle, offset + 1)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def one(run, text: str, code: str, needle: str, message: str, hint: str | None, skip: int = 0,
        width: int | None = None):
    """The single diagnostic of ``text``: its code, its position (at ``needle``), message and
    hint (and the width of its span, when given)."""
    result = run(text)
    found = list(result.diagnostics)
    assert [d.code for d in found] == [code], [(d.code, d.message) for d in found]
    diag = found[0]
    assert (diag.span.file, diag.span.start.line, diag.span.start.col) == ("s.mlc.yaml",) + at(text, needle, skip)
    assert diag.message == message
    assert diag.hint == hint
    if width is not None:
        assert diag.span.end.col - diag.span.start.col == width
    return diag
