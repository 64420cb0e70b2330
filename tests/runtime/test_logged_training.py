"""Log-and-wait training sets (`mlc run --step training --from-log`), on a spec whose join column
`order_id` is a preprocess input: a real Predictor (tiny ONNX model, SQLite store with rider 3's
record deleted) logs two requests, labels arrive later in the training source, and Spark joins
them. Checked: the set holds the LOGGED inputs (a normal training set recomputes the real value),
the earliest label in ``[request time, request time + window)`` wins, rows without one are dropped
and counted, foreign log lines are skipped and counted, the default join is the source's
`request_id` column, bad join options are clear errors, and `--step train` trains on the set."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from mlc.app.offline import Offline, run_offline  # noqa: E402
from mlc.compiler.pipeline import build  # noqa: E402
from mlc.core.errors import MlcError  # noqa: E402
from mlc.core.fingerprint import features_fingerprint  # noqa: E402
from mlc.core.ir import to_jsonable  # noqa: E402
from mlc.runtime.feature_log.reader import read_logs  # noqa: E402
from mlc.runtime.feature_log.writer import FeatureLog, RotatingFiles  # noqa: E402
from mlc.runtime.features.fitting import with_fitted  # noqa: E402
from mlc.runtime.features.materialize import materialize  # noqa: E402
from mlc.runtime.online_store import open_store  # noqa: E402
from mlc.runtime.online_store.retrieval import record_key  # noqa: E402
from mlc.runtime.online_store.sqlite_store import TABLE  # noqa: E402
from mlc.runtime.serving import OnnxBackend, Predictor  # noqa: E402

SPEC = """\
version: 1
name: lw
entities:
  rider: {keys: [rider_id]}
sources:
  orders:
    kind: csv
    path: orders.csv
    event_time: ts
    columns: {ts: timestamp, request_id: string, order_id: int64, rider_id: int64, eta: float64,
              distance_km: float64, city: string, status: string}
feature_groups:
  rider_activity:
    entity: rider
    source: orders
    windows: [1h]
    filter: "status == 'delivered'"
    features:
      deliveries: count()
preprocess:
  inputs:
    order_id: {dtype: int64}
    rider_id: {dtype: int64}
    distance_km: {dtype: float64, default: 0.0}
    city: {dtype: string, default: unknown}
  features:
    log_dist: log1p(distance_km)
    dist_z: standardize(log_dist)
    load: "coalesce(rider_activity.deliveries_1h, 0)"
    city_id: hash_bucket(city, 100)
models:
  eta:
    type: dnn
    task: regression
    label: eta
    inputs: {dense: [dist_z, load], sparse: [city_id]}
    training: {source: orders, epochs: 1}
"""
FITTED = {"dist_z:standardize:0": {"mean": 0.4, "std": 0.7, "count": 100}}
HEADER = "ts,request_id,order_id,rider_id,eta,distance_km,city,status"
# order -> rider, in the main request; order 6 (rider 1) is a single-item request of its own
MAIN = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
# (order, seconds after its request, eta or "" (null), request_id): the labels that arrive later
LABELS = [(1, -60, 77.0, ""),          # before the request: never its label
          (1, 1200, 99.0, ""), (1, 600, 11.0, ""),    # the earliest after the request wins
          (2, 2 * 86400, 22.0, ""),    # after the 1d window: order 2 is dropped
          (3, 60, 33.0, ""),           # rider 3 was served without its record (load 0)
          (5, 30, "", ""), (5, 240, 55.0, ""),        # a null label never counts
          (6, 120, 66.0, "r-solo")]    # the only label row carrying a request id
# order 4 has no label at all


def iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def history(now_us: int) -> list[str]:
    """One delivery per rider 40 minutes before serving (inside the 1h window of the requests and
    of the label rows)."""
    return [f"{iso(now_us - 40 * 60_000_000)},,{100 + rider},{rider},{20 + rider}.5,2.0,beijing,delivered"
            for rider in MAIN.values()]


def export_model(ir, repository) -> None:
    from mlc.runtime.training import export
    from mlc.runtime.training.models import build_model

    model = ir.model("eta")
    export.export_model(build_model(model, seed=0, output_bias=1.0), model, str(repository), 1, {})


def serve(ir, store, repository, folder) -> str:
    """The main 5-item request, then the single-item one, logged (sample rate 1); the log file."""
    log = FeatureLog(RotatingFiles(str(folder)), app=ir.name, spec_hash=features_fingerprint(ir), sample_rate=1.0,
                     store=store, namespace="lw", groups=["rider_activity"])
    predictor = Predictor(ir, None, store, OnnxBackend(str(repository)), "lw", feature_log=log)
    predictor.predict({"request_id": "r-main", "context": {"city": "beijing"},
                       "items": [{"order_id": o, "rider_id": r, "distance_km": 1.0 + o} for o, r in MAIN.items()]})
    predictor.predict({"request_id": "r-solo", "context": {"city": "beijing"},
                       "items": [{"order_id": 6, "rider_id": 1, "distance_km": 7.0}]})
    log.close()
    assert log.stats["written"] == 2, log.stats
    return os.path.join(str(folder), "features.jsonl")


def add_foreign_line(path: str) -> None:
    """A record served under another spec version: skipped and counted, never a row."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["spec_hash"], record["request_id"] = "0" * 16, "r-other"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


@pytest.fixture(scope="module")
def served(spark, tmp_path_factory):
    """The spec folder after serving: orders.csv (history, then the labels appended), the build
    that served (mldl.json), the log file."""
    folder = tmp_path_factory.mktemp("logged-training")
    spec = folder / "lw.mlc.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    now_us = int(datetime.now(timezone.utc).timestamp()) * 1_000_000
    (folder / "orders.csv").write_text("\n".join([HEADER] + history(now_us)) + "\n", encoding="utf-8")
    result = build(str(spec))
    assert result.ok, [d.message for d in result.diagnostics]
    ir = with_fitted(result.ir, FITTED)
    (folder / "build").mkdir()
    (folder / "build" / "mldl.json").write_text(json.dumps(to_jsonable(ir)), encoding="utf-8")
    export_model(ir, folder / "models")
    store_url = f"sqlite:{folder / 'online.sqlite'}"
    materialize(spark, ir, str(folder), store_url, "lw", now_us // 1_000_000)
    conn = sqlite3.connect(str(folder / "online.sqlite"))
    with conn:
        deleted = conn.execute(f"DELETE FROM {TABLE} WHERE key = ?",
                               (record_key(ir.group("rider_activity"), "lw", [3]),)).rowcount
    conn.close()
    assert deleted == 1
    store = open_store(store_url, timeout=2.0)
    try:
        log = serve(ir, store, folder / "models", folder / "logs")
    finally:
        store.close()
    records = read_logs(log, app=ir.name, spec_hash=features_fingerprint(ir)).records
    times = {r["request_id"]: r["time_us"] for r in records}
    rows = []
    for order, offset, eta, request_id in LABELS:
        at = times["r-solo" if order == 6 else "r-main"] + offset * 1_000_000
        rider = 1 if order == 6 else MAIN[order]
        rows.append(f"{iso(at)},{request_id},{order},{rider},{eta},1.0,beijing,delivered")
    with open(folder / "orders.csv", "a", encoding="utf-8") as handle:   # the labels arrive later
        handle.write("\n".join(rows) + "\n")
    add_foreign_line(log)
    return {"folder": folder, "spec": str(spec), "log": log, "records": records, "ir": ir}


def from_log(served, output: str, **extra) -> Path:
    options = dict(step="training", from_log=served["log"], join_on=["order_id"], label_within="1d",
                   build=str(served["folder"] / "build"), output=str(served["folder"] / output))
    options.update(extra)
    return Path(run_offline(Offline(served["spec"], **options)))


def rows_by_label(spark, base: Path) -> dict:
    out = {}
    for split in ("train", "validation"):
        for row in spark.read.parquet(str(base / split)).collect():
            assert row["eta"] not in out, f"label {row['eta']} fed two rows"
            out[row["eta"]] = row.asDict()
    return out


def logged_value(served, request_id: str, item: int, name: str):
    record = next(r for r in served["records"] if r["request_id"] == request_id)
    return record["features"][name][item]


@pytest.fixture(scope="module")
def normal(served) -> Path:
    """The normal training set of the same spec and data (features recomputed offline)."""
    out = run_offline(Offline(served["spec"], step="training", output=str(served["folder"] / "out-normal")))
    return Path(out) / "training" / "eta" / "main"


def test_set_holds_logged_inputs_and_earliest_label_in_window(spark, served, normal):
    out = from_log(served, "out-log")
    base = out / "training" / "eta" / "main"
    rows = rows_by_label(spark, base)
    # order 1: 11.0 (not 77.0, before the request; not 99.0, later); order 2 outside 1d; order 4
    # unlabelled; order 5's null label skipped for 55.0; order 6 labelled too
    assert sorted(rows) == [11.0, 33.0, 55.0, 66.0]
    assert rows[33.0]["load"] == 0.0                   # rider 3 served without its record: the default
    assert rows[11.0]["load"] == 1.0 and rows[55.0]["load"] == 1.0
    for eta, (request_id, item) in {11.0: ("r-main", 0), 33.0: ("r-main", 2), 55.0: ("r-main", 4),
                                    66.0: ("r-solo", 0)}.items():
        assert rows[eta]["dist_z"] == pytest.approx(logged_value(served, request_id, item, "dist_z"))
        assert rows[eta]["city_id"] == logged_value(served, request_id, item, "city_id")
    solo_time = next(r["time_us"] for r in served["records"] if r["request_id"] == "r-solo")
    assert iso_of(rows[66.0]["ts"]) == solo_time       # the event time is the request time
    schema = json.loads((base / "schema.json").read_text())
    usual = json.loads((normal / "schema.json").read_text())
    assert [c["name"] for c in schema["columns"]] == ["dist_z", "load", "city_id", "eta", "ts"]
    assert schema["columns"] == usual["columns"]        # the layout and dtypes of a normal set
    for key in ("model", "shard", "task", "label", "event_time", "partition_key", "partitions", "inputs", "split"):
        assert schema[key] == usual[key], key
    assert spark.read.parquet(str(base / "train")).schema == spark.read.parquet(str(normal / "train")).schema
    assert schema["rows"] == {"train": 4, "validation": 0}
    origin = schema["origin"]
    assert (origin["kind"], origin["log"]) == ("feature_log", served["log"])
    assert {k: origin[k] for k in ("requests", "rows_logged", "rows_labelled", "rows_unlabelled")} == {
        "requests": 2, "rows_logged": 6, "rows_labelled": 4, "rows_unlabelled": 2}
    assert origin["skipped_lines"] == {"other_spec_version": 1}


def iso_of(moment) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return round(moment.timestamp() * 1_000_000)


def test_normal_training_set_recomputes_what_the_log_kept(spark, normal):
    rows = rows_by_label(spark, normal)
    assert rows[33.0]["load"] == 1                     # the real value at the label time, not the default
    assert "origin" not in json.loads((normal / "schema.json").read_text())


def test_window_and_default_request_id_join(spark, served):
    short = from_log(served, "out-short", label_within="5m") / "training" / "eta" / "main"
    assert sorted(rows_by_label(spark, short)) == [33.0, 55.0, 66.0]      # order 1's label came after 10 min
    assert json.loads((short / "schema.json").read_text())["origin"]["rows_unlabelled"] == 3
    by_id = from_log(served, "out-request-id", join_on=[]) / "training" / "eta" / "main"
    assert sorted(rows_by_label(spark, by_id)) == [66.0]                  # only r-solo's label names its request
    origin = json.loads((by_id / "schema.json").read_text())["origin"]
    assert (origin["rows_labelled"], origin["rows_unlabelled"]) == (1, 5)


def test_bad_join_column_is_a_clear_error(served):
    with pytest.raises(MlcError) as bad:
        from_log(served, "out-bad", join_on=["order"])
    assert bad.value.code == "E7421"
    assert "--join-on `order` is not a request field" in str(bad.value)
    assert "order_id" in (bad.value.hint or "")
    assert not (served["folder"] / "out-bad" / "training").exists()


def test_train_step_trains_on_the_logged_set(served):
    out = from_log(served, "out-train")
    run_offline(Offline(served["spec"], step="train", output=str(out)))
    assert [p.name for p in (out / "models").rglob("model.onnx")] == ["model.onnx"]
