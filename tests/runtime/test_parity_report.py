"""The parity comparison and its report (no Spark needed)."""

from __future__ import annotations

import math

from mlc.compiler.cli_runtime import render_report
from mlc.runtime.parity_check import ParityReport, compare, same, ulps_apart


def test_same_is_strict_about_floats_nulls_and_types():
    assert same(0.1 + 0.2, 0.30000000000000004, "float64")
    assert not same(0.0, -0.0, "float64")
    assert same(math.nan, float("nan"), "float64")
    assert not same(1.0, math.nextafter(1.0, 2.0), "float64")
    assert same(1.0, math.nextafter(1.0, 2.0), "float64", ulp_tolerant=True)
    assert not same(1.0, math.nextafter(math.nextafter(1.0, 2.0), 2.0), "float64", ulp_tolerant=True)
    assert not same(None, 0, "int64") and same(None, None, "string")
    assert not same(1, True, "int64")
    assert ulps_apart(-0.0, 0.0) == 0 and ulps_apart(1.0, math.nextafter(1.0, 0.0)) == 1


def test_report_lists_mismatches_with_examples():
    numpy_out = {"a": [1, 2, 3], "b": ["x", None, "z"]}
    spark_out = {"a": [1, 2, 4], "b": ["x", None, "z"]}
    features = compare(numpy_out, spark_out, {"a": "int64", "b": "string"})
    report = ParityReport(3, features, missing=["rider_load.assigned_30m"])
    assert not report.ok
    text = render_report(report)
    assert "a        int64            3          1" in text
    assert "  a row 2: numpy=3 spark=4" in text
    assert "not in the data, evaluated as null (1): rider_load.assigned_30m" in text
    assert text.rstrip().endswith("MISMATCH in 1 feature(s)")
    ok = ParityReport(3, compare(numpy_out, numpy_out, {"a": "int64", "b": "string"}))
    assert ok.ok and render_report(ok).rstrip().endswith("OK: every feature identical")
