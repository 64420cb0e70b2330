"""Sources read by name with declared types; materialisation into the online store."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import run_mlc
from specs import MINIMAL_SPEC

HEADER = "order_id,status,ts,rider_id,city,eta,distance_km,extra\n"
ROWS = [
    "1,delivered,2024-06-01T10:00:00Z,7,beijing,30.0,2.5,x\n",
    "2,delivered,2024-06-01T10:30:00Z,7,beijing,40.0,3.0,x\n",
    "3,cancelled,2024-06-01T10:45:00Z,7,beijing,,1.0,x\n",
    "4,delivered,2024-06-01T09:00:00Z,8,shanghai,20.0,1.0,x\n",
]


def project(tmp_path: Path, rows=ROWS, spec: str = MINIMAL_SPEC) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "orders.csv").write_text(HEADER + "".join(rows))
    (tmp_path / "s.mlc.yaml").write_text(spec)
    return tmp_path / "s.mlc.yaml"


def ir_of(path: Path):
    from mlc.compiler.pipeline import build

    result = build(str(path))
    assert result.ok
    return result.ir


def test_csv_columns_are_matched_by_name_and_typed(spark, tmp_path):
    from mlc.runtime.features.sources import read_source

    ir = ir_of(project(tmp_path))
    df = read_source(spark, ir.sources[0], str(tmp_path))
    assert df.columns == ["city", "distance_km", "eta", "rider_id", "status", "ts"]  # the declared subset, by name
    assert dict(df.dtypes) == {"ts": "timestamp", "rider_id": "bigint", "eta": "double", "distance_km": "double",
                               "city": "string", "status": "string"}
    assert df.count() == 4


def test_missing_declared_column_is_named(spark, tmp_path):
    from mlc.runtime.features.sources import SourceError, read_source

    spec = project(tmp_path)
    (tmp_path / "data" / "orders.csv").write_text(HEADER.replace("distance_km", "dist_km") + ROWS[0])
    with pytest.raises(SourceError, match="declared column `distance_km` is not in the data. did you mean `dist_km`"):
        read_source(spark, ir_of(spec).sources[0], str(tmp_path))


def test_bad_rows_fail_or_drop_and_count(spark, tmp_path):
    from mlc.runtime.features import sources

    bad = ROWS + ["5,delivered,2024-06-01T11:00:00Z,seven,beijing,1.0,1.0,x\n"]
    spec = project(tmp_path, bad)
    with pytest.raises(sources.SourceError, match="column `rider_id` has `seven`, which is not a int64"):
        sources.read_source(spark, ir_of(spec).sources[0], str(tmp_path))
    spec = project(tmp_path, bad, MINIMAL_SPEC.replace("    kind: csv\n", "    kind: csv\n    on_bad_rows: drop\n"))
    df = sources.read_source(spark, ir_of(spec).sources[0], str(tmp_path))
    assert df.count() == 4 and sources.LAST_DROPPED["orders"] == 1


def test_materialize_then_retrieve_matches_the_snapshot(spark, tmp_path):
    from mlc.runtime.features.feature_groups import snapshot
    from mlc.runtime.features.materialize import materialize, read_watermark
    from mlc.runtime.online_store import get_features, open_store
    from mlc.runtime.features.sources import read_source

    spec = project(tmp_path)
    ir = ir_of(spec)
    url = f"sqlite:{tmp_path / 'online.sqlite'}"
    as_of = datetime(2024, 6, 1, 11, 0, tzinfo=timezone.utc)
    assert materialize(spark, ir, str(tmp_path), url, "demo", as_of) == {"rider_activity": 2}
    assert materialize(spark, ir, str(tmp_path), url, "demo", as_of) == {"rider_activity": 2}  # idempotent
    store = open_store(url)
    got = get_features(store, ir, ["rider_activity"], {"rider_id": [7, 8, 99]}, "demo")
    assert not got.degraded
    assert got.columns["rider_activity.deliveries_1h"].to_list() == [2, 0, 0]     # 99: no record, defaults
    assert got.found["rider_activity"].tolist() == [True, True, False]
    assert got.columns["rider_activity.avg_eta_1d"].to_list() == [35.0, 20.0, None]
    snap = snapshot(read_source(spark, ir.sources[0], str(tmp_path)), ir.feature_groups[0], "ts", as_of)
    expected = {r["rider_id"]: r["deliveries_1d"] for r in snap.collect()}
    assert got.columns["rider_activity.deliveries_1d"].to_list()[:2] == [expected[7], expected[8]]
    assert read_watermark(store, "demo", "rider_activity") == int(as_of.timestamp()) * 1_000_000
    store.close()


def test_incremental_rewrites_only_changed_entities(spark, tmp_path):
    from mlc.runtime.features.materialize import materialize

    spec = project(tmp_path)
    ir = ir_of(spec)
    url = f"sqlite:{tmp_path / 'online.sqlite'}"
    first = datetime(2024, 6, 1, 11, 0, tzinfo=timezone.utc)
    assert materialize(spark, ir, str(tmp_path), url, "demo", first, incremental=True) == {"rider_activity": 2}
    # two days later, with one new event for rider 9: rider 7's and 8's old events left every window too
    project(tmp_path, ROWS + ["6,delivered,2024-06-03T10:00:00Z,9,beijing,10.0,1.0,x\n"])
    later = datetime(2024, 6, 3, 11, 0, tzinfo=timezone.utc)
    assert materialize(spark, ir, str(tmp_path), url, "demo", later, incremental=True) == {"rider_activity": 3}
    project(tmp_path, ROWS + ["6,delivered,2024-06-03T10:00:00Z,9,beijing,10.0,1.0,x\n",
                              "7,delivered,2024-06-05T10:30:00Z,9,beijing,12.0,1.0,x\n"])
    latest = datetime(2024, 6, 5, 11, 0, tzinfo=timezone.utc)
    assert materialize(spark, ir, str(tmp_path), url, "demo", latest, incremental=True) == {"rider_activity": 1}


def test_materialize_and_features_get_commands(tmp_path):
    spec = project(tmp_path)
    env = {"PYSPARK_PYTHON": os.sys.executable}
    result = run_mlc("materialize", "s.mlc.yaml", "--as-of", "2024-06-01T11:00:00Z", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "materialized rider_activity: 2 entities" in result.stderr
    assert (tmp_path / ".mlc" / "demo" / "online.sqlite").exists()
    result = run_mlc("features", "get", "s.mlc.yaml", "rider_activity", "7", "99", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # one line per output, in the group's `outputs` order, names padded to the longest
    outputs = [o.name for o in ir_of(spec).group("rider_activity").outputs]
    width = max(len(n) for n in outputs)
    rider_7 = {"deliveries_1h": "2", "deliveries_1d": "2", "avg_eta_1h": "35.0", "avg_eta_1d": "35.0"}
    rider_99 = {"deliveries_1h": "0", "deliveries_1d": "0", "avg_eta_1h": "null", "avg_eta_1d": "null"}
    assert result.stdout.splitlines() == (
        ["rider_activity (rider_id)", "  7:"] + [f"    {n:<{width}}  {rider_7[n]}" for n in outputs]
        + ["  99:  (no record: defaults)"] + [f"    {n:<{width}}  {rider_99[n]}" for n in outputs]), result.stdout
    result = run_mlc("features", "get", "s.mlc.yaml", "rider_activty", "7", cwd=tmp_path)
    assert result.returncode == 1 and "did you mean `rider_activity`?" in result.stderr
    result = run_mlc("features", "get", "s.mlc.yaml", "rider_activity", "seven", cwd=tmp_path)
    assert result.returncode == 1 and "error[E7006]" in result.stderr
    assert spec.exists()


def test_run_command_writes_feature_snapshots(tmp_path):
    project(tmp_path)
    result = run_mlc("run", "s.mlc.yaml", "--step", "features", "--as-of", "2024-06-01T11:00:00Z", "--output", "out",
                     cwd=tmp_path, env={"PYSPARK_PYTHON": os.sys.executable})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote 1 feature snapshot(s) as of 2024-06-01T11:00:00+00:00" in result.stderr
    assert list((tmp_path / "out" / "features" / "rider_activity").glob("*.parquet"))


JSON_SPEC = MINIMAL_SPEC.replace("    kind: csv\n    path: data/orders.csv\n", "    kind: json\n    path: data/orders.jsonl\n")
JSON_ROWS = [
    '{"ts": "2024-06-01T10:00:00Z", "rider_id": 7, "eta": 30.0, "distance_km": 2.5, "city": "beijing", "status": "delivered", "extra": [1]}',
    '{"ts": 1717236000, "rider_id": 7, "eta": 40, "distance_km": 3.0, "city": "beijing", "status": "delivered"}',
    '{"ts": "2024-06-01T10:45:00Z", "rider_id": 8, "distance_km": 1.0, "city": "shanghai", "status": "cancelled"}',
]


def json_project(tmp_path: Path, lines, drop: bool = False) -> Path:
    spec = JSON_SPEC.replace("    kind: json\n", "    kind: json\n    on_bad_rows: drop\n") if drop else JSON_SPEC
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "orders.jsonl").write_text("\n".join(lines) + "\n\n")
    (tmp_path / "s.mlc.yaml").write_text(spec)
    return tmp_path / "s.mlc.yaml"


def test_json_lines_typed_by_name(spark, tmp_path):
    from mlc.runtime.features.sources import read_source

    df = read_source(spark, ir_of(json_project(tmp_path, JSON_ROWS)).sources[0], str(tmp_path))
    assert dict(df.dtypes) == {"ts": "timestamp", "rider_id": "bigint", "eta": "double", "distance_km": "double",
                               "city": "string", "status": "string"}
    rows = sorted(df.collect(), key=lambda r: (r["rider_id"], r["eta"] is None, r["eta"] or 0))
    assert [(r["rider_id"], r["eta"]) for r in rows] == [(7, 30.0), (7, 40.0), (8, None)]
    assert {r["ts"].isoformat() for r in rows} == {"2024-06-01T10:00:00", "2024-06-01T10:45:00"}  # 1717236000 = 10:00Z


@pytest.mark.parametrize("bad, message", [
    ('{"ts": "2024-06-01T11:00:00Z", "rider_id": "seven", "eta": 1.0, "distance_km": 1.0, "city": "x", "status": "d"}',
     "column `rider_id` has `seven`, which is not a int64"),
    ('{"ts": "yesterday", "rider_id": 9, "eta": 1.0, "distance_km": 1.0, "city": "x", "status": "d"}',
     "column `ts` has `yesterday`, which is not a timestamp"),
    ('{"ts": "2024-06-01T11:00:00Z", "rider_id": 9, oops', "a line is not a JSON object: {\"ts\""),
], ids=["wrong-type", "bad-timestamp", "not-json"])
def test_json_bad_rows_fail_or_drop_and_count(spark, tmp_path, bad, message):
    from mlc.runtime.features import sources

    with pytest.raises(sources.SourceError, match=message.replace("(", r"\(").replace("{", r"\{")):
        sources.read_source(spark, ir_of(json_project(tmp_path, JSON_ROWS + [bad])).sources[0], str(tmp_path))
    df = sources.read_source(spark, ir_of(json_project(tmp_path, JSON_ROWS + [bad], drop=True)).sources[0], str(tmp_path))
    assert df.count() == 3 and sources.LAST_DROPPED["orders"] == 1


def test_json_missing_declared_column_is_named(spark, tmp_path):
    from mlc.runtime.features.sources import SourceError, read_source

    lines = [line.replace('"distance_km"', '"dist_km"') for line in JSON_ROWS]
    with pytest.raises(SourceError, match="declared column `distance_km` is not in the data. did you mean `dist_km`"):
        read_source(spark, ir_of(json_project(tmp_path, lines)).sources[0], str(tmp_path))


def test_parquet_declared_types_are_checked(spark, tmp_path):
    from mlc.runtime.features.sources import SourceError, read_source

    spec = MINIMAL_SPEC.replace("    kind: csv\n    path: data/orders.csv\n", "    kind: parquet\n    path: data/orders.parquet\n")
    (tmp_path / "s.mlc.yaml").write_text(spec)
    good = spark.createDataFrame([(datetime(2024, 6, 1, tzinfo=timezone.utc), 7, 30, 2.5, "b", "delivered")],
                                 "ts timestamp, rider_id int, eta int, distance_km float, city string, status string")
    good.write.parquet(str(tmp_path / "data" / "orders.parquet"))
    df = read_source(spark, ir_of(tmp_path / "s.mlc.yaml").sources[0], str(tmp_path))
    assert dict(df.dtypes)["rider_id"] == "bigint" and df.first()["eta"] == 30.0   # widened, not rejected
    bad = good.withColumn("rider_id", good["rider_id"].cast("string"))
    bad.write.mode("overwrite").parquet(str(tmp_path / "data" / "orders.parquet"))
    with pytest.raises(SourceError, match="column `rider_id` is string in the data, but the spec declares int64"):
        read_source(spark, ir_of(tmp_path / "s.mlc.yaml").sources[0], str(tmp_path))


TABLE_SPEC = MINIMAL_SPEC.replace("    kind: csv\n    path: data/orders.csv\n", "    kind: table\n    table: mlc_test.orders\n")


def test_catalog_table_source_lives_in_the_catalog_dir(spark, catalog, tmp_path):
    from mlc.runtime.features.job import compute_snapshots
    from mlc.runtime.features.sources import SourceError, read_source

    csv_spec = project(tmp_path)
    csv_ir = ir_of(csv_spec)
    frame = read_source(spark, csv_ir.sources[0], str(tmp_path))
    spark.sql("CREATE DATABASE IF NOT EXISTS mlc_test")
    frame.withColumn("rider_id", frame["rider_id"].cast("int")).write.mode("overwrite").saveAsTable("mlc_test.orders")
    assert (catalog / "warehouse" / "mlc_test.db" / "orders").is_dir()
    assert (catalog / "metastore_db").is_dir() and (catalog / "derby.log").is_file()
    for litter in ("metastore_db", "derby.log", "spark-warehouse"):   # never the working directory
        assert not os.path.exists(litter), litter

    (tmp_path / "t.mlc.yaml").write_text(TABLE_SPEC)
    table_ir = ir_of(tmp_path / "t.mlc.yaml")
    assert dict(read_source(spark, table_ir.sources[0], "unused").dtypes)["rider_id"] == "bigint"
    as_of = datetime(2024, 6, 1, 11, 0, tzinfo=timezone.utc)
    from_table = compute_snapshots(spark, table_ir, "unused", as_of)["rider_activity"].collect()
    from_csv = compute_snapshots(spark, csv_ir, str(tmp_path), as_of)["rider_activity"].collect()
    assert sorted(map(tuple, from_table)) == sorted(map(tuple, from_csv)) and len(from_csv) == 2

    frame.withColumn("rider_id", frame["city"]).write.mode("overwrite").saveAsTable("mlc_test.orders")
    with pytest.raises(SourceError, match="column `rider_id` is string in the data, but the spec declares int64"):
        read_source(spark, table_ir.sources[0], "unused")
