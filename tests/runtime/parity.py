"""Parity harness for tests: compile expressions into a generated module (through the real
compiler), run it with both executors on the same rows, compare.

    module = module_for({"f": "log1p(x)"}, {"x": "float64"})
    assert_parity(run_numpy(module, rows), run_spark(spark, module, rows), module.FEATURES)

Rows are dicts of Python values; timestamps are int microseconds since epoch (UTC).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

from mlc.runtime.features.parity_check import compare, numpy_outputs, spark_outputs
from mlc.runtime.preprocess import module_from_text


def spec_text(expressions: Mapping[str, str], inputs: Mapping[str, str]) -> str:
    lines = ["version: 1", "name: parity", "preprocess:", "  inputs:"]
    lines += [f"    {name}: {{dtype: {dtype}}}" for name, dtype in inputs.items()]
    lines += ["  features:"]
    lines += [f"    {name}: {json.dumps(text)}" for name, text in expressions.items()]  # JSON string = YAML scalar
    return "\n".join(lines) + "\n"


def module_for(expressions: Mapping[str, str], inputs: Mapping[str, str]):
    """The generated module for these derived features over these inputs."""
    from mlc.backends.preprocess import render
    from mlc.core.diagnostics import render_text
    from mlc.compiler.pipeline import build

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "parity.mlc.yaml"
        path.write_text(spec_text(expressions, inputs), encoding="utf-8")
        result = build(str(path))
        if not result.ok:
            raise AssertionError(render_text(result.diagnostics, result.sources))
        return module_from_text(render(result.ir))


def run_numpy(module, rows: list[dict[str, Any]], fitted: Mapping[str, Any] | None = None) -> dict[str, list]:
    return numpy_outputs(module, rows, fitted)


def run_spark(spark, module, rows: list[dict[str, Any]], fitted: Mapping[str, Any] | None = None) -> dict[str, list]:
    return spark_outputs(spark, module, rows, fitted)


def assert_parity(numpy_out, spark_out, dtypes, ulp_tolerant: frozenset[str] = frozenset(), rows=None) -> None:
    report = [f for f in compare(numpy_out, spark_out, dtypes, ulp_tolerant, examples=5) if f.mismatches]
    assert not report, "executors disagree:\n" + "\n".join(
        f"  {f.name} ({f.mismatches} rows): " + "; ".join(
            f"row {i}: numpy={a!r} spark={b!r}" + (f" input={rows[i]!r}" if rows else "") for i, a, b in f.examples)
        for f in report)
