"""The shipped examples' full preprocessing: identical in both executors on their sample data,
and the Spark plan is native (no Python or pandas UDF)."""

from __future__ import annotations

import os
import re

import pytest

from conftest import EXAMPLES

EXAMPLE_SPECS = ["ctr_criteo/ctr.mlc.yaml", "delivery_eta/delivery.mlc.yaml"]


def prepared(spark, example: str):
    from mlc.backends.preprocess import render
    from mlc.app.offline import load_data
    from mlc.compiler.pipeline import build
    from mlc.runtime.features.fitting import fit, with_fitted
    from mlc.runtime.preprocess import module_from_text

    spec = str(EXAMPLES / example)
    result = build(spec)
    assert result.ok
    module = module_from_text(render(result.ir))
    df = load_data(spark, result.ir, spec, None)
    ir = with_fitted(result.ir, fit(result.ir, module, df))
    return ir, module, df


@pytest.mark.parametrize("example", EXAMPLE_SPECS)
def test_example_preprocessing_is_identical_in_both_executors(spark, example):
    from mlc.runtime.features import parity_check
    from mlc.runtime.features.fitting import fitted_from_ir

    ir, module, df = prepared(spark, example)
    assert all(a.fitted is not None for a in ir.analyzers)
    report = parity_check.check(spark, ir, module, df, 5000, fitted_from_ir(ir))
    assert report.rows >= 1000
    bad = {f.name: f.examples for f in report.features if f.mismatches}
    assert not bad, bad


@pytest.mark.parametrize("example", EXAMPLE_SPECS)
def test_spark_plan_has_no_python_udf(spark, example):
    from mlc.runtime.features.fitting import fitted_from_ir
    from mlc.runtime.preprocess import transform_spark

    ir, module, df = prepared(spark, example)
    out = transform_spark(module, df, fitted_from_ir(ir))
    plan = out._jdf.queryExecution().executedPlan().toString()
    for forbidden in ("PythonUDF", "BatchEvalPython", "ArrowEvalPython", "FlatMapGroupsInPandas", "MapInPandas"):
        assert forbidden not in plan, forbidden
    assert out.count() == df.count()


def test_check_parity_command_on_an_example(tmp_path):
    from conftest import run_mlc

    result = run_mlc("check-parity", str(EXAMPLES / "delivery_eta" / "delivery.mlc.yaml"), "--rows", "300",
                     env={"PYSPARK_PYTHON": os.sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("OK: every feature identical")   # no warning
    assert "distance_km" in result.stdout
    # feature-group outputs computed point in time from the sources' events, so they are compared
    assert "rider_performance: point in time from `deliveries` events before each row's `created_at`" in result.stdout
    covered = dict((m[0], int(m[1])) for m in re.findall(r"    ([a-z_]+\.[a-z_0-9]+)\s+(\d+) / \d+", result.stdout))
    assert len(covered) == 14 and all(covered.values()), covered
    sample = EXAMPLES / "delivery_eta" / "data" / "orders_dev.csv"
    result = run_mlc("check-parity", str(EXAMPLES / "delivery_eta" / "delivery.mlc.yaml"), "--data", str(sample),
                     "--rows", "50", env={"PYSPARK_PYTHON": os.sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on 50 rows" in result.stdout
    result = run_mlc("check-parity", str(EXAMPLES / "delivery_eta" / "delivery.mlc.yaml"), "--data", "missing.csv")
    assert result.returncode == 1 and "error[E7002]: data file not found: missing.csv" in result.stderr


def test_fit_command_writes_fitted_constants_into_mldl(tmp_path):
    import json

    from conftest import run_mlc

    result = run_mlc("fit", str(EXAMPLES / "ctr_criteo" / "ctr.mlc.yaml"), "-o", str(tmp_path / "build"),
                     env={"PYSPARK_PYTHON": os.sys.executable})
    assert result.returncode == 0, result.stderr[-2000:]
    mldl = json.loads((tmp_path / "build" / "mldl.json").read_text())
    analyzers = {a["id"]: a["fitted"] for a in mldl["analyzers"]}
    assert analyzers and all(v is not None for v in analyzers.values())
    assert set(analyzers["dense_i1:standardize:0"]) == {"count", "mean", "std"}
    assert len(analyzers["cat_c9:vocabulary:0"]["vocabulary"]) <= 5
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert "preprocess/ctr_criteo_preprocess.py" in manifest["files"]
    assert "fitted dense_i1:standardize:0" in result.stderr


def test_single_row_call_matches_the_batch(spark):
    from mlc.runtime.features.fitting import fitted_from_ir
    from mlc.runtime.features.parity_check import collect_rows
    from mlc.runtime.preprocess import transform_numpy, transform_row

    ir, module, df = prepared(spark, "delivery_eta/delivery.mlc.yaml")
    fitted = fitted_from_ir(ir)
    rows = collect_rows(df, module, 20)
    batch = transform_numpy(module, {n: [r.get(n) for r in rows] for n in module.INPUTS}, fitted)
    for i, row in enumerate(rows):
        single = transform_row(module, row, fitted)
        assert single == {name: vec.to_list()[i] for name, vec in batch.items()}


def test_malformed_data_is_a_diagnostic_not_a_traceback(tmp_path):
    from conftest import run_mlc
    from specs import MINIMAL_SPEC

    (tmp_path / "s.mlc.yaml").write_text(MINIMAL_SPEC)
    (tmp_path / "bad.csv").write_text("ts,rider_id,eta,distance_km,city,status\nnot-a-time,7,1,2,b,c\n")
    result = run_mlc("check-parity", "s.mlc.yaml", "--data", "bad.csv", cwd=tmp_path,
                     env={"PYSPARK_PYTHON": os.sys.executable})
    assert result.returncode == 1
    assert "error[E7003]: source `orders`: column `ts` has `not-a-time`, which is not a timestamp" in result.stderr
    assert "Traceback" not in result.stderr and "\tat org.apache" not in result.stderr
