"""`mlc check-parity` can fail, and says what its comparison covered (issue 15).

- an input the features read that the data lacks is E7250 (exit 1) at the training source,
  unless `--allow-missing-inputs`, which compares it as null and says so;
- feature-group outputs are computed point in time from the events (as training sets do), so
  the comparison covers them; the summary gives rows with a value / null per output, and names
  the outputs it could not compute (a source without event time);
- features null on every row compared are reported;
- a difference planted in one executor is found (exit 1, MISMATCH).

The command runs in this process (the test session's Spark) to keep the run short.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timezone

import pytest

pytest.importorskip("pyspark")

SPEC = """\
version: 1
name: pc
entities:
  rider: {keys: [rider_id]}
sources:
  orders:
    kind: csv
    path: orders.csv
    event_time: ts
    columns: {ts: timestamp, rider_id: string, eta: float64, distance_km: float64, status: string}
feature_groups:
  rider_activity:
    entity: rider
    source: orders
    windows: [1h, 1d]
    filter: "status == 'delivered'"
    features:
      deliveries: count()
      avg_eta: avg(eta)
preprocess:
  inputs:
    rider_id: {dtype: string}
    distance_km: {dtype: float64, default: 0.0}
    weather: {dtype: string}
  features:
    log_dist: log1p(distance_km)
    dist_z: standardize(log_dist)
    recent_eta: "coalesce(rider_activity.avg_eta_1h, rider_activity.avg_eta_1d, 30.0)"
    eta_z: standardize(recent_eta)
    load: "to_float(rider_activity.deliveries_1h)"
    weather_id: hash_bucket(weather, 16)
    weather_upper: upper(weather)
models:
  eta:
    type: dnn
    task: regression
    label: eta
    inputs: {dense: [dist_z, eta_z, load]}
    training: {source: orders, epochs: 2}
"""


def write_project(folder, spec: str = SPEC) -> str:
    rng = random.Random(3)
    lines = ["ts,rider_id,eta,distance_km,status"]
    for i in range(200):
        ts = datetime.fromtimestamp(1717200000 + i * 600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = rng.choice(["delivered", "delivered", "cancelled"])
        lines.append(f"{ts},r{rng.randrange(5)},{rng.uniform(10, 50):.2f},{rng.uniform(0.5, 8):.3f},{status}")
    (folder / "orders.csv").write_text("\n".join(lines) + "\n")
    (folder / "pc.mlc.yaml").write_text(spec)
    return str(folder / "pc.mlc.yaml")


def check_parity(spark, capsys, *args: str) -> tuple[int, str, str]:
    from mlc.cli.main import main

    code = main(["check-parity", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_missing_input_is_an_error_unless_allowed(spark, capsys, tmp_path):
    spec = write_project(tmp_path)
    code, out, err = check_parity(spark, capsys, spec, "--rows", "80")
    assert code == 1, out + err
    assert "pc.mlc.yaml:6:3: error[E7250]: 1 preprocess input(s) read by the features are not columns of " \
           "source `orders`: `weather`" in err
    assert "--allow-missing-inputs" in err and "OK" not in out

    code, out, err = check_parity(spark, capsys, spec, "--rows", "80", "--allow-missing-inputs")
    assert code == 0, out + err
    assert "warning: inputs not in the data, compared as null (--allow-missing-inputs) (1): weather" in out
    assert re.search(r"warning: features null on every one of the 80 rows compared, so their comparison "
                     r"proves nothing \(1\): weather_upper", out)
    assert re.search(r"weather_upper\s+string\s+80\s+0\s+80", out)
    assert out.rstrip().endswith("OK: every feature identical (but 1 input(s) null; 1 feature(s) always null: see above)")


def test_feature_group_outputs_are_computed_point_in_time_and_compared(spark, capsys, tmp_path):
    spec = write_project(tmp_path)
    code, out, err = check_parity(spark, capsys, spec, "--rows", "80", "--allow-missing-inputs")
    assert code == 0, out + err
    assert "rider_activity: point in time from `orders` events before each row's `ts`" in out
    counts = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"(rider_activity\.\w+)\s+(\d+) / (\d+)", out)}
    assert set(counts) == {"rider_activity.avg_eta_1h", "rider_activity.avg_eta_1d", "rider_activity.deliveries_1h"}
    assert all(values + nulls == 80 for values, nulls in counts.values())
    # the first rows have no earlier events; most later ones do
    assert 40 < counts["rider_activity.avg_eta_1d"][0] < 80 and counts["rider_activity.deliveries_1h"] == (80, 0)
    # computed from earlier events only: a row never sees its own event
    assert re.search(r"recent_eta\s+float64\s+80\s+0\s+0", out)
    assert "not covered" not in out


def test_group_outputs_that_cannot_be_computed_are_named(spark, tmp_path):
    """Without an event time, or without the group's key column, there is nothing to join at: the
    outputs are null on every row, and the summary says which and why."""
    import dataclasses

    from mlc.cli.offline import render_report
    from mlc.compiler.pipeline import build
    from mlc.runtime.features import parity_check

    ir = build(write_project(tmp_path)).ir
    orders = ir.sources[0]
    df = spark.createDataFrame([(datetime(2024, 6, 1, tzinfo=timezone.utc), 1.0, "x")],
                               "ts timestamp, distance_km double, weather string")
    events = lambda name: df  # noqa: E731
    cases = {
        "the data lacks the key column(s) `rider_id`": (orders, df),
        "the training source `orders` declares no `event_time`":
            (dataclasses.replace(orders, event_time=None), df.withColumn("rider_id", df.weather)),
        "the data is not a declared source, so it has no event time to join the group at": (None, df),
        "the data has no event time column `ts`": (orders, df.drop("ts").withColumn("rider_id", df.weather)),
    }
    for reason, (source, data) in cases.items():
        sample = parity_check.sample_rows(ir, data, 10, source, events)
        assert sample.uncovered == {"rider_activity": reason} and sample.how == {}
    report = parity_check.ParityReport(1, [], groups=[
        parity_check.OutputCoverage("rider_activity.avg_eta_1d", 0, 1, None, "the data lacks the key column(s) `rider_id`")])
    text = render_report(report)
    assert "  rider_activity: NOT COVERED: the data lacks the key column(s) `rider_id`" in text
    assert "warning: feature-group outputs not covered, null on every row compared (1): rider_activity.avg_eta_1d" in text
    assert text.rstrip().endswith("OK: every feature identical (but 1 group output(s) not covered: see above)")


def test_a_planted_difference_between_the_executors_is_found(spark, capsys, tmp_path, monkeypatch):
    from mlc.runtime.numpy_ops import core

    core.REGISTRY.load()
    real = core.FUNCTIONS["log1p"]

    def planted(ops, dtype, x):
        # 1 ulp off on every value: the strict comparison must notice
        return ops.binary("*", real(ops, dtype, x), ops.const(1.0000000000000002, "float64"), "float64")

    monkeypatch.setitem(core.FUNCTIONS, "log1p", planted)
    spec = write_project(tmp_path)
    code, out, err = check_parity(spark, capsys, spec, "--rows", "50", "--allow-missing-inputs")
    assert code == 1, out + err
    assert re.search(r"log_dist\s+float64\s+50\s+50\s+0", out)
    assert "  log_dist row 0: numpy=" in out
    assert out.rstrip().endswith("MISMATCH in 2 feature(s)")     # log_dist and dist_z (built on it)


def test_no_rows_is_an_error(spark, capsys, tmp_path):
    spec = write_project(tmp_path)
    (tmp_path / "orders.csv").write_text("ts,rider_id,eta,distance_km,status\n")
    code, out, err = check_parity(spark, capsys, spec, "--rows", "50", "--allow-missing-inputs")
    assert code == 1, out + err
    assert "error[E7251]: the data of `orders` has no rows: nothing compared" in err


def test_a_tz_database_release_mismatch_is_a_warning_naming_the_zoned_features(tmp_path):
    import types

    import tzdata

    from mlc.compiler.pipeline import build
    from mlc.runtime.features.parity_check import tz_release_warning, zoned_features

    spec = tmp_path / "z.mlc.yaml"
    spec.write_text("""\
version: 1
name: z
preprocess:
  inputs: {ts: {dtype: timestamp}}
  features:
    local_hour: hour(ts, 'Asia/Shanghai')
    utc_hour: hour(ts, 'UTC')
    plain_hour: hour(ts)
""")
    ir = build(str(spec)).ir
    assert zoned_features(ir) == ["local_hour"]

    def jvm_with(version):
        provider = types.SimpleNamespace(getVersions=lambda zone: types.SimpleNamespace(lastKey=lambda: version))
        return types.SimpleNamespace(_jvm=types.SimpleNamespace(java=types.SimpleNamespace(
            time=types.SimpleNamespace(zone=types.SimpleNamespace(ZoneRulesProvider=provider)))))

    assert tz_release_warning(jvm_with(tzdata.IANA_VERSION), ir) is None
    warning = tz_release_warning(jvm_with("1999z"), ir)
    assert warning.startswith(f"warning: the JVM's tz database is 1999z and the tzdata package's {tzdata.IANA_VERSION}")
    assert warning.endswith("features using time zones: local_hour (docs/semantics.md)")
