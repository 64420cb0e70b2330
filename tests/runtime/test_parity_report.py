"""The parity comparison and its report (no Spark needed)."""

from __future__ import annotations

import math

from mlc.cli.offline import render_report
from mlc.runtime.features.parity_check import ParityReport, compare, same, ulps_apart


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
    report = ParityReport(3, features, missing=["distance_km"])
    assert not report.ok
    text = render_report(report)
    assert "a        int64            3          1        0" in text
    assert "b        string           3          0        1" in text     # the null column: NumPy nulls
    assert "  a row 2: numpy=3 spark=4" in text
    assert "warning: inputs not in the data, compared as null (--allow-missing-inputs) (1): distance_km" in text
    assert text.rstrip().endswith("MISMATCH in 1 feature(s)")
    ok = ParityReport(3, compare(numpy_out, numpy_out, {"a": "int64", "b": "string"}))
    assert ok.ok and render_report(ok).rstrip().endswith("OK: every feature identical")


def test_report_names_features_null_on_every_row():
    out = {"a": [1, 2, 3], "b": [None, None, None]}
    report = ParityReport(3, compare(out, out, {"a": "int64", "b": "string"}))
    assert report.ok and [f.name for f in report.all_null] == ["b"]
    text = render_report(report)
    assert ("warning: features null on every one of the 3 rows compared, so their comparison proves nothing "
            "(1): b") in text
    assert text.rstrip().endswith("OK: every feature identical (but 1 feature(s) always null: see above)")
