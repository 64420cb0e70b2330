"""Golden diagnostics: `mlc validate CASE` (text, json, github) against committed expectations.

Each ``cases/NAME.mlc.yaml`` is a small bad spec; ``NAME.expected.txt`` is stderr of the text
format and ``NAME.expected.json`` stdout of ``--format json``. ``github.expected.txt`` holds
one ``--format github`` run. Regenerate with ``MLC_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parent / "cases"
NAMES = sorted(p.name[: -len(".mlc.yaml")] for p in CASES.glob("*.mlc.yaml"))
GITHUB_CASES = ["semantic_experiments.mlc.yaml", "expr_block_scalars.mlc.yaml"]


def _conftest():
    # tests/conftest.py is loaded by pytest as a plain module; reuse its helpers
    module = sys.modules.get("conftest")
    if module is None or not hasattr(module, "compare_golden"):
        import importlib.util

        spec = importlib.util.spec_from_file_location("_mlc_tests_conftest", CASES.parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


HELPERS = _conftest()


def test_enough_cases():
    assert len(NAMES) >= 15


def _check_run(result):
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_golden_text(name):
    result = HELPERS.run_mlc("validate", f"{name}.mlc.yaml", cwd=CASES)
    _check_run(result)
    assert result.stdout == ""
    assert "\x1b[" not in result.stderr  # NO_COLOR and not a tty
    HELPERS.compare_golden(CASES / f"{name}.expected.txt", result.stderr)


@pytest.mark.parametrize("name", NAMES)
def test_golden_json(name):
    result = HELPERS.run_mlc("validate", f"{name}.mlc.yaml", "--format", "json", cwd=CASES)
    _check_run(result)
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["diagnostics"], "a bad spec must report something"
    for item in data["diagnostics"]:
        assert item["code"][0] in "EW" and item["severity"] in ("error", "warning")
        if "file" in item:
            assert not Path(item["file"]).is_absolute()  # relative to the cwd
            assert (CASES / item["file"]).is_file()
    HELPERS.compare_golden(CASES / f"{name}.expected.json", result.stdout)


def test_text_and_json_agree():
    """Every json diagnostic appears in the text golden as `file:line:col: severity[code]: message`."""
    for name in NAMES:
        text = (CASES / f"{name}.expected.txt").read_text(encoding="utf-8")
        data = json.loads((CASES / f"{name}.expected.json").read_text(encoding="utf-8"))
        for item in data["diagnostics"]:
            where = f"{item['file']}:{item['line']}:{item['col']}: " if "file" in item else ""
            assert f"{where}{item['severity']}[{item['code']}]: {item['message']}\n" in text, (name, item)
        errors = sum(item["severity"] == "error" for item in data["diagnostics"])
        assert text.splitlines()[-1].startswith(f"{errors} error"), name


def test_golden_github():
    result = HELPERS.run_mlc("validate", *GITHUB_CASES, "--format", "github", cwd=CASES)
    _check_run(result)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith(("::error file=", "::warning file=", "::error title=")) for line in lines)
    HELPERS.compare_golden(CASES / "github.expected.txt", result.stdout)
