"""Training sets from the feature log ("log and wait", `mlc run --step training --from-log`): the
requests a real Predictor served (tiny ONNX model, SQLite store with one record deleted) joined on
Spark with labels that arrive later; the sets hold what serving used, not a recomputation, and
`mlc run --step all --from-log` trains on them."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.append(str(Path(__file__).resolve().parent))   # consistency_helpers, after tests/ (its conftest wins)

import pytest  # noqa: E402

import consistency_helpers as H  # noqa: E402

from conftest import run_mlc  # noqa: E402
from mlc.app.offline import Offline, run_offline  # noqa: E402
from mlc.core.errors import MlcError  # noqa: E402
from mlc.runtime.feature_log.reader import read_logs  # noqa: E402
from mlc.runtime.features.materialize import materialize  # noqa: E402
from mlc.runtime.online_store import open_store  # noqa: E402
from mlc.runtime.online_store.retrieval import record_key  # noqa: E402
from mlc.runtime.online_store.sqlite_store import TABLE  # noqa: E402

# rider -> [(seconds after the last logged request, eta)]: the earliest within 1 day is the label
LABELS = {1: [(1200, 99.0), (600, 11.0)], 2: [(900, 22.0)], 3: [(60, 33.0)], 4: [(3 * 86400, 44.0)]}


def iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def logged(spark, tmp_path_factory):
    """A log of two 5-rider requests served with rider 3's record deleted, and labels.csv."""
    folder = tmp_path_factory.mktemp("log-and-wait")
    now = H.now_seconds()
    spec, ir = H.compile_spec(folder, now)
    build_dir = H.write_build(ir, folder / "build")
    H.export_model(ir, folder / "models")
    store_url = f"sqlite:{folder / 'online.sqlite'}"
    materialize(spark, ir, str(folder), store_url, "skew", now)
    conn = sqlite3.connect(str(folder / "online.sqlite"))
    with conn:
        conn.execute(f"DELETE FROM {TABLE} WHERE key = ?", (record_key(ir.group("rider_activity"), "skew", [3]),))
    conn.close()
    store = open_store(store_url, timeout=2.0)
    try:
        log = H.serve(ir, store, "skew", folder / "models", folder / "logs", H.requests("served"))
    finally:
        store.close()
    last = max(r["time_us"] for r in read_logs(log, app=ir.name, spec_hash=None).records)
    rows = ["ts,rider_id,eta,distance_km,city,status"]
    for rider, labels in LABELS.items():
        rows += [f"{iso(last + offset * 1_000_000)},{rider},{eta},1.0,beijing,delivered" for offset, eta in labels]
    (folder / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"folder": folder, "spec": str(spec), "build": build_dir, "log": log}


def from_log(logged, **extra) -> str:
    folder = logged["folder"]
    options = dict(step="training", from_log=logged["log"], join_on=["rider_id"], label_within="1d",
                   build=logged["build"], inputs=[f"orders={folder / 'labels.csv'}"], output=str(folder / "out"))
    options.update(extra)
    return run_offline(Offline(logged["spec"], **options))


def test_sets_hold_what_serving_used_joined_with_the_earliest_later_label(spark, logged):
    out = Path(from_log(logged))
    base = out / "training" / "eta" / "main"
    schema = json.loads((base / "schema.json").read_text())
    assert schema["origin"] == {"kind": "feature_log", "log": logged["log"], "join_on": ["rider_id"],
                                "label_within_seconds": 86400, "requests": 2, "rows_logged": 10,
                                "rows_labelled": 6, "rows_unlabelled": 4, "skipped_lines": {}}
    assert [c["name"] for c in schema["columns"]] == ["dist_z", "load", "city_id", "eta", "ts"]
    assert schema["rows"] == {"train": 6, "validation": 0}
    rows = spark.read.parquet(str(base / "train")).collect()
    by_label = {}
    for row in rows:
        by_label.setdefault(row["eta"], []).append(row)
    assert sorted(by_label) == [11.0, 22.0, 33.0]              # rider 1's earliest; rider 4 too late; 5 none
    # the logged inputs: rider 3's record was deleted, so serving used the default load 0, while
    # rider 1 (two deliveries in the last hour) was served 2 -- a recomputation would give rider 3 1
    assert {r["load"] for r in by_label[33.0]} == {0.0}
    assert {r["load"] for r in by_label[11.0]} == {2.0}
    served = read_logs(logged["log"], app="skew", spec_hash=None).records
    logged_dist = sorted(v for record in served for v in record["features"]["dist_z"][:3])
    assert sorted(r["dist_z"] for r in rows) == pytest.approx(logged_dist)
    assert (out / "mldl.json").is_file()                       # the served build's fitted constants
    assert json.loads((out / "mldl.json").read_text())["analyzers"][0]["fitted"]["mean"] == 0.4


def test_bad_join_options_are_clear_errors(logged):
    with pytest.raises(MlcError) as bad_column:
        from_log(logged, join_on=["rider"])
    assert bad_column.value.code == "E7421" and "rider_id" in (bad_column.value.hint or "")
    with pytest.raises(MlcError) as no_join:
        from_log(logged, join_on=[])
    assert no_join.value.code == "E7420" and "--join-on" in no_join.value.hint
    with pytest.raises(MlcError) as window:
        from_log(logged, label_within="soon")
    assert window.value.code == "E7422"
    with pytest.raises(MlcError) as step:
        from_log(logged, step="features")
    assert step.value.code == "E7424"


def test_run_step_all_trains_on_the_logged_set(logged):
    folder = logged["folder"]
    result = run_mlc("run", "skew.mlc.yaml", "--step", "all", "--from-log", "logs", "--join-on", "rider_id",
                     "--label-within", "1d", "--build", "build", "--input", "orders=labels.csv", "--output", "out-all",
                     cwd=folder, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert "eta/main: 6 of 10 logged row(s) labelled" in result.stderr
    assert any(p.name == "model.onnx" for p in (folder / "out-all" / "models").rglob("model.onnx"))
    usage = run_mlc("run", "skew.mlc.yaml", "--from-log", "logs", cwd=folder)
    assert usage.returncode == 2 and "--step training" in usage.stderr


def test_log_errors_speak_of_from_log(logged, tmp_path):
    with pytest.raises(MlcError) as missing:
        from_log(logged, from_log=str(tmp_path / "nope"))
    assert missing.value.code == "E7400" and "--from-log" in missing.value.hint
    (tmp_path / "features.jsonl").write_text("")
    with pytest.raises(MlcError) as empty:
        from_log(logged, from_log=str(tmp_path / "features.jsonl"))
    assert empty.value.code == "E7423" and "--any-spec-version" not in (empty.value.hint or "")


def test_a_training_source_without_event_time_cannot_order_labels(tmp_path):
    import dataclasses

    from mlc.app.log_training import join_rule

    _, ir = H.compile_spec(tmp_path, H.now_seconds())
    timeless = dataclasses.replace(ir, sources=tuple(dataclasses.replace(s, event_time=None) for s in ir.sources))
    fields = {"rider_id": "int64", "city": "string"}
    assert join_rule(ir, fields, ["rider_id"], "1h").within_seconds == 3600
    with pytest.raises(MlcError) as error:
        join_rule(timeless, fields, ["rider_id"], "1h")
    assert error.value.code == "E7425" and "event_time" in error.value.hint


def test_a_timestamp_join_column_matches_the_source_timestamp(spark, tmp_path):
    from datetime import datetime as dt

    from mlc.runtime.consistency.logged_training import JoinRule, labelled, logged_frame
    from mlc.runtime.consistency.rows import Row

    _, ir = H.compile_spec(tmp_path, H.now_seconds())
    model = ir.model("eta")
    placed = 1_767_225_600_000_000                                   # 2026-01-01T00:00:00Z
    rows = [Row(0, "r", 0, placed, "eta", "h", False, {"placed_at": placed}, {}, {}, {}, {},
                {"dist_z": 0.5, "load": 1.0, "city_id": 7}, "main")]
    fields = {"placed_at": "timestamp"}
    columns = {"dist_z": "float64", "load": "float64", "city_id": "int64"}
    rule = JoinRule(("placed_at",), 3600)
    labels = spark.createDataFrame([(dt(2026, 1, 1, 0, 0, 0), dt(2026, 1, 1, 0, 10, 0), 12.5)],
                                   "placed_at timestamp, ts timestamp, eta double")
    [row] = labelled(logged_frame(spark, model, rows, columns, rule, fields), labels, model, "ts", rule).collect()
    assert row["__mlc_label"] == 12.5 and row["load"] == 1.0
