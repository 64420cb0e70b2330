"""The offline feature job: `main` end to end on the ctr example, IR from mldl.json."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mlc.core.ir import ir_from_json
from mlc.runtime.features.job import compute_snapshots, main

ROOT = Path(__file__).resolve().parents[2]
CTR = ROOT / "examples" / "ctr_criteo" / "ctr.mlc.yaml"
DELIVERY = ROOT / "examples" / "delivery_eta" / "delivery.mlc.yaml"


def _ir(path):
    from mlc.compiler.pipeline import build

    result = build(str(path))
    assert result.ok
    return result.ir


def test_ir_from_json_is_the_inverse_of_to_jsonable():
    from mlc.core.ir import to_jsonable

    for spec in (CTR, DELIVERY):
        ir = _ir(spec)
        assert ir_from_json(json.loads(json.dumps(to_jsonable(ir)))) == ir


def test_main_end_to_end_on_ctr(spark, tmp_path):
    from mlc.core.ir import to_jsonable

    ir = _ir(CTR)
    mldl = tmp_path / "mldl.json"
    mldl.write_text(json.dumps(to_jsonable(ir), indent=2))
    data = tmp_path / "impressions.csv"
    shutil.copy(CTR.parent / "data" / "impressions.csv", data)   # exercises --input
    out = tmp_path / "out"
    rc = main(["--as-of", "2024-06-08T00:00:00Z", "--input", f"impressions={data}", "--output", str(out)],
              spec_dir=str(CTR.parent), mldl_path=str(mldl), spark=spark)
    assert rc == 0
    for group in ("user_clicks", "ad_clicks"):
        df = spark.read.parquet(str(out / "features" / group))
        assert df.count() > 0
        outputs = [o.name for o in ir.group(group).outputs]
        assert df.columns[-len(outputs):] == outputs
    for model in ("ctr_lr", "ctr_deepfm"):
        base = out / "training" / model / "main"
        doc = json.loads((base / "schema.json").read_text())
        train = spark.read.parquet(str(base / "train"))
        validation = spark.read.parquet(str(base / "validation"))
        assert doc["rows"] == {"train": train.count(), "validation": validation.count()}
        assert doc["rows"]["train"] > 0 and doc["rows"]["validation"] > 0
        assert doc["split"] == {"split_at": "2024-06-08T00:00:00Z"}
        assert doc["label"] == {"name": "clicked", "dtype": "int64"}
        assert train.columns == [c["name"] for c in doc["columns"]]
        assert train.agg({"event_ts": "max"}).collect()[0][0] < validation.agg({"event_ts": "min"}).collect()[0][0]
    # --as-of 2024-06-08: a snapshot never counts the 8th day's impressions
    snap = spark.read.parquet(str(out / "features" / "user_clicks"))
    total_7d = snap.agg({"impressions_7d": "sum"}).collect()[0][0]
    import pandas as pd

    rows = pd.read_csv(data, usecols=["event_ts"])
    assert total_7d == int((rows["event_ts"] < "2024-06-08").sum() - (rows["event_ts"] < "2024-06-01").sum())


def test_features_step_with_compiled_ir_and_default_as_of(spark, tmp_path):
    """The job takes the IR a caller compiled (`mlc run`): it never compiles a spec itself."""
    out = tmp_path / "out"
    rc = main(["--step", "features", "--output", str(out)],
              spec_dir=str(CTR.parent), mldl_path=None, spark=spark, ir=_ir(CTR))
    assert rc == 0
    assert (out / "features" / "ad_clicks").is_dir() and not (out / "training").exists()
    # default as-of = latest event + 1us: every impression of the last hour counts
    ir = _ir(CTR)
    snaps = compute_snapshots(spark, ir, str(CTR.parent), datetime(2024, 6, 1, tzinfo=timezone.utc), {})
    assert snaps["user_clicks"].count() == 0            # nothing before the data starts
    written = spark.read.parquet(str(out / "features" / "ad_clicks"))
    assert written.agg({"impressions_7d": "sum"}).collect()[0][0] > 0


def test_bad_input_override_is_rejected(spark, tmp_path):
    with pytest.raises(SystemExit):
        main(["--input", "nope=/x.csv", "--output", str(tmp_path)], spec_dir=".", spark=spark, ir=_ir(CTR))


def test_generated_job_runs_with_spark_submit(spark, tmp_path):
    """`mlc compile`'s spark/<name>_features.py, unchanged, under `spark-submit` (local master),
    started from the spec folder so the spec's relative source paths resolve; its snapshots
    equal the in-process computation."""
    import os
    import subprocess
    import sys

    from conftest import run_mlc

    build = tmp_path / "build"
    assert run_mlc("compile", str(CTR), "-o", str(build)).returncode == 0
    out = tmp_path / "out"
    submit = Path(sys.executable).parent / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    run = subprocess.run([str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
                          str(build / "spark" / "ctr_criteo_features.py"), "--step", "features",
                          "--as-of", "2024-06-08T00:00:00Z", "--output", str(out)],
                         cwd=CTR.parent, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "wrote 2 feature snapshot(s) as of 2024-06-08T00:00:00" in run.stdout + run.stderr   # spark-submit merges them
    ir = _ir(CTR)
    expected = compute_snapshots(spark, ir, str(CTR.parent), datetime(2024, 6, 8, tzinfo=timezone.utc))
    for group, frame in expected.items():
        written = spark.read.parquet(str(out / "features" / group))
        assert written.columns == frame.columns
        assert sorted(map(tuple, written.collect())) == sorted(map(tuple, frame.collect())), group
    assert not (out / "training").exists()
