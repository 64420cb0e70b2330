"""`mlc validate` on hostile input: exit 1 with diagnostics, never a traceback, in every format."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _run_mlc():
    module = sys.modules.get("conftest")
    if module is None or not hasattr(module, "run_mlc"):
        import importlib.util

        spec = importlib.util.spec_from_file_location("_mlc_tests_conftest", HERE.parent / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module.run_mlc


run_mlc = _run_mlc()


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
@pytest.mark.parametrize("text", [
    'version: 1\nname: "a\\ud800"\n',       # BUG: lone surrogate -> UnicodeEncodeError in --format github
    'version: 1\nname: "a\\U00110000"\n',   # BUG: ValueError from PyYAML escapes load_yaml
], ids=["lone_surrogate", "out_of_range_escape"])
def test_bad_unicode_escapes(tmp_path, text, fmt):
    (tmp_path / "s.mlc.yaml").write_text(text, encoding="utf-8")
    result = run_mlc("validate", "s.mlc.yaml", "--format", fmt, cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr[-600:]
    assert result.returncode == 1
    out = result.stderr if fmt == "text" else result.stdout
    assert "s.mlc.yaml" in out
