"""Shared test helpers.

Golden files: set ``MLC_UPDATE_GOLDEN=1`` to rewrite them instead of comparing
(``MLC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/golden tests/diagnostics``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
UPDATE_GOLDEN = os.environ.get("MLC_UPDATE_GOLDEN") == "1"


def run_mlc(*args: str, cwd: Path | str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m mlc ARGS` as a separate process (exactly what users run)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "mlc", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=120)


def compare_golden(path: Path, actual: str) -> None:
    """Byte-for-byte comparison with a golden file (or rewrite it under MLC_UPDATE_GOLDEN=1)."""
    if UPDATE_GOLDEN or not path.exists():
        if not UPDATE_GOLDEN:
            pytest.fail(f"golden file {path} is missing; run with MLC_UPDATE_GOLDEN=1 to create it")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path} differs from the golden file (MLC_UPDATE_GOLDEN=1 to accept)"


@pytest.fixture
def mlc():
    return run_mlc


def serving_helpers(alias: str):
    """The spec/export/store helpers of tests/runtime/test_serving_predictor.py (a test module,
    not a package), loaded under ``alias`` so each importer gets its own copy."""
    import importlib.util

    path = REPO / "tests" / "runtime" / "test_serving_predictor.py"
    spec = importlib.util.spec_from_file_location(alias, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
