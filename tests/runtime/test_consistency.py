"""`mlc consistency` end to end: a spec materialised into a real SQLite store, requests served by
the real Predictor (tiny exported ONNX model) with a real feature log, then the offline
recomputation on Spark. Each skew class is injected on purpose and the report must name it; a
clean run reports 0 mismatches."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.append(str(Path(__file__).resolve().parent))   # consistency_helpers, after tests/ (its conftest wins)

import pytest  # noqa: E402

import consistency_helpers as H  # noqa: E402

from mlc.app.consistency import ConsistencyOptions, NoRecords, build_mldl, consistency, input_overrides  # noqa: E402
from mlc.cli.main import main
from mlc.core.errors import MlcError
from mlc.core.fingerprint import features_fingerprint
from mlc.runtime.consistency.compare import equal
from mlc.runtime.consistency.report import render_json, render_markdown, render_text
from mlc.runtime.consistency.rows import NULL_TEXT, TYPE, offline_value
from mlc.runtime.features.materialize import materialize
from mlc.runtime.online_store import open_store
from mlc.runtime.online_store.retrieval import record_key
from mlc.runtime.online_store.sqlite_store import TABLE

GROUP_OUTPUTS = ("rider_activity.avg_eta_1d", "rider_activity.avg_eta_1h", "rider_activity.deliveries_1d",
                 "rider_activity.deliveries_1h")
MODEL_INPUTS = ("city_id", "dist_z", "load")


@pytest.fixture(scope="module")
def served(spark, tmp_path_factory):
    """One spec, two materialisations (now, and STALE_LAG_S earlier), and the logs of every
    scenario: clean, stale, outage, null-vs-empty, deleted record (served last: it deletes)."""
    folder = tmp_path_factory.mktemp("consistency")
    now = H.now_seconds()
    spec, ir = H.compile_spec(folder, now)
    build_dir = H.write_build(ir, folder / "build")
    repository = folder / "models"
    H.export_model(ir, repository)
    store_url = f"sqlite:{folder / 'online.sqlite'}"
    materialize(spark, ir, str(folder), store_url, "fresh", now)
    materialize(spark, ir, str(folder), store_url, "stale", now - H.STALE_LAG_S)
    store = open_store(store_url, timeout=2.0)
    logs = {}
    try:
        logs["clean"] = H.serve(ir, store, "fresh", repository, folder / "logs" / "clean", H.requests("clean"))
        logs["stale"] = H.serve(ir, store, "stale", repository, folder / "logs" / "stale", H.requests("stale"))
        logs["outage"] = H.serve(ir, store, "fresh", repository, folder / "logs" / "outage", H.requests("outage"),
                                 read_store=H.DownStore())
        logs["empty"] = H.serve(ir, store, "fresh", repository, folder / "logs" / "empty",
                                H.requests("empty", city=""), served_ir=H.without_null_values(ir))
        group = ir.group("rider_activity")
        conn = sqlite3.connect(str(folder / "online.sqlite"))
        with conn:
            deleted = conn.execute(f"DELETE FROM {TABLE} WHERE key = ?", (record_key(group, "fresh", [3]),)).rowcount
        conn.close()
        assert deleted == 1
        logs["deleted"] = H.serve(ir, store, "fresh", repository, folder / "logs" / "deleted", H.requests("deleted"))
    finally:
        store.close()
    return {"spec": str(spec), "ir": ir, "build": build_dir, "logs": logs, "folder": folder}


@pytest.fixture(scope="module")
def reports(served):
    cache = {}

    def report(name, **options):
        key = (name, tuple(sorted(options.items())))
        if key not in cache:
            cache[key] = consistency(ConsistencyOptions(served["spec"], log=served["logs"].get(name, name),
                                                        build=served["build"], **options))
        return cache[key]

    return report


def by_name(report):
    return {f.name: f for f in report.features}


def causes(report):
    return {name: dict(f.causes) for name, f in by_name(report).items() if f.mismatches}


# ------------------------------------------------------------------------------ scenarios


def test_clean_run_reports_no_mismatch(served, reports):
    report = reports("clean")
    features = by_name(report)
    assert sorted(features) == sorted(GROUP_OUTPUTS + MODEL_INPUTS)
    assert report.requests == 2 and report.rows == 2 * len(H.RIDERS)
    for name, feature in features.items():
        assert feature.compared == report.rows, name
        assert feature.mismatches == 0, (name, [e.to_json() for e in feature.examples])
    assert report.ok and report.mismatches == 0
    assert report.served_under == {features_fingerprint(served["ir"]): 2}


def test_stale_materialisation_is_stale_record(reports):
    report = reports("stale")
    found = causes(report)
    late_rows = 2 * len(H.LATE_RIDERS)
    assert found["rider_activity.deliveries_1h"] == {"stale_record": late_rows}
    assert found["rider_activity.deliveries_1d"] == {"stale_record": late_rows}
    assert found["load"] == {"stale_record": late_rows}          # reads deliveries_1h
    assert "dist_z" not in found and "city_id" not in found
    assert by_name(report)["rider_activity.deliveries_1h"].mean_abs_difference == 1.0
    example = by_name(report)["rider_activity.deliveries_1h"].examples[0]
    assert (example.logged, example.offline, example.cause) == (1, 2, "stale_record")
    assert not report.ok


def test_deleted_record_is_missing_record(reports):
    found = causes(reports("deleted"))
    assert found["rider_activity.deliveries_1d"] == {"missing_record": 2}      # rider 3, two requests
    assert found["load"] == {"missing_record": 2}
    example = by_name(reports("deleted"))["rider_activity.deliveries_1d"].examples[0]
    assert (example.logged, example.offline) == (0, 2)


def test_store_outage_is_store_outage(reports):
    report = reports("outage")
    found = causes(report)
    # riders 1-4 have deliveries in both windows; rider 5's only delivery is 3 h old (1d window)
    assert found["rider_activity.deliveries_1h"] == {"store_outage": 2 * 4}
    assert found["rider_activity.deliveries_1d"] == {"store_outage": 2 * 5}
    assert found["load"] == {"store_outage": 2 * 4}
    assert set(found) == set(GROUP_OUTPUTS) | {"load"}


def test_empty_string_online_is_null_vs_empty(reports):
    found = causes(reports("empty"))
    assert found == {"city_id": {"null_vs_empty": 2 * len(H.RIDERS)}}


def test_type_mismatch_and_skipped_lines(served, reports, tmp_path):
    clean = json.loads(open(os.path.join(served["logs"]["clean"], "features.jsonl")).readline())
    crafted = json.loads(json.dumps(clean))
    crafted["groups"]["rider_activity"]["values"]["deliveries_1h"][0] = "1"      # a string for an int64
    crafted["request"]["items"][1]["distance_km"] = "2.5"                         # a string for a float64
    other_app = dict(clean, app="another")
    other_hash = dict(clean, spec_hash="0123456789abcdef")
    line = json.dumps(crafted)
    path = tmp_path / "features.jsonl"
    path.write_text('_id": "torn"}\n' + line + "\n" + json.dumps(other_app) + "\n" + json.dumps(other_hash) + "\n"
                    + line[: len(line) // 2], encoding="utf-8")
    report = reports(str(path))
    assert report.log["skipped"] == {"truncated": 1, "torn": 1, "other_app": 1, "other_spec_version": 1}
    assert report.log["accepted"] == 1 and report.log["lines"] == 5
    assert report.log["spec_hashes"] == {clean["spec_hash"]: 1, "0123456789abcdef": 1}
    found = causes(report)
    assert found["rider_activity.deliveries_1h"] == {"type": 1}
    assert found["dist_z"] == {"type": 1}
    text = render_text(report)
    assert "skipped 1 torn" in text and "spec hash 0123456789abcdef: 1 record(s), 0 request(s) compared" in text
    everything = reports(str(path), any_spec_version=True)
    assert everything.served_under == {clean["spec_hash"]: 1, "0123456789abcdef": 1}
    assert everything.requests == 2


def test_renderings_are_deterministic(reports):
    report = reports("stale")
    data = json.loads(render_json(report))
    assert data["ok"] is False and data["mismatches"] == report.mismatches > 0
    assert [f["name"] for f in data["features"]] == sorted(GROUP_OUTPUTS + MODEL_INPUTS)
    assert data["features"][2]["causes"] == {"stale_record": 4}       # deliveries_1d
    assert render_json(report) == render_json(report)
    markdown = render_markdown(report)
    assert "| `rider_activity.deliveries_1h` | group_output | 10 | 4 | 0.4000 | 1 | stale_record 4 |" in markdown
    assert "**skew:" in markdown


# ------------------------------------------------------------------------------ the command


def test_cli_exit_codes_and_formats(served, tmp_path, capsys):
    spec, build, logs = served["spec"], served["build"], served["logs"]
    out = tmp_path / "clean.json"
    assert main(["consistency", spec, "--log", logs["clean"], "--build", build, "--format", "json",
                 "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["ok"] is True and data["rows"] == 10 and data["mismatches"] == 0
    assert main(["consistency", spec, "--log", logs["deleted"], "--build", build, "--format", "markdown"]) == 1
    captured = capsys.readouterr()
    assert "| `load` | model_input | 10 | 2 | 0.2000 | 1 | missing_record 2 |" in captured.out
    assert main(["consistency", spec, "--log", logs["deleted"], "--build", build, "--threshold", "0.25"]) == 0
    assert "consistent: 10 mismatch(es)" in capsys.readouterr().out


def test_cli_errors_never_trace(served, tmp_path, capsys):
    spec, build = served["spec"], served["build"]
    assert main(["consistency", spec, "--log", str(tmp_path / "nope"), "--build", build]) == 1
    assert "E7400" in capsys.readouterr().err
    only_other = tmp_path / "other.jsonl"
    only_other.write_text(json.dumps({"format": "mlc.feature_log", "version": 1, "app": "another"}) + "\n")
    assert main(["consistency", spec, "--log", str(only_other), "--build", build]) == 1
    err = capsys.readouterr().err
    assert "E7401" in err and "skipped 1 other_app" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["consistency", spec, "--log", str(empty), "--build", build]) == 1
    assert "is empty" in capsys.readouterr().err
    assert main(["consistency", spec, "--log", served["logs"]["clean"], "--build", str(tmp_path)]) == 1
    assert "E7402" in capsys.readouterr().err
    assert main(["consistency", spec, "--log", served["logs"]["clean"], "--build", build,
                 "--input", "order=x.csv"]) == 1
    assert "E7404" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["consistency", spec, "--threshold", "2"])
    assert exit_.value.code == 2


def test_no_records_carries_the_summary(served, tmp_path):
    log = tmp_path / "features.jsonl"
    log.write_text("not json\n{\"a\": 1}\n")
    with pytest.raises(NoRecords) as raised:
        consistency(ConsistencyOptions(served["spec"], log=str(log), build=served["build"]))
    assert raised.value.report().log["skipped"] == {"torn": 1, "not_a_feature_log": 1}


def test_default_build_is_the_run_folder(served, tmp_path):
    from mlc.app.common import default_run_dir

    spec = served["spec"]
    with pytest.raises(MlcError) as raised:
        build_mldl(str(tmp_path / "s.mlc.yaml"), None)
    assert raised.value.code == "E7402"
    run = default_run_dir(spec)
    H.write_build(served["ir"], run)
    assert build_mldl(spec, None) == os.path.join(run, "mldl.json")
    assert input_overrides(served["ir"], ["orders=x.csv"]) == {"orders": os.path.abspath("x.csv")}


# ------------------------------------------------------------------------------ units


def test_offline_reading_of_raw_values():
    assert offline_value("", "string", ("",)) == (None, NULL_TEXT)
    assert offline_value("7", "int64") == (None, TYPE)
    assert offline_value(7.0, "int64") == (7, None)
    assert offline_value(3, "string") == (None, TYPE)
    assert offline_value("2024-01-01T00:00:01", "timestamp") == (1704067201_000_000, None)
    assert offline_value(1704067201, "timestamp") == (1704067201_000_000, None)
    assert offline_value(True, "float64") == (None, TYPE)


def test_tolerant_equality():
    assert equal(1.0, 1.0 + 1e-15, "float64") and not equal(1.0, 1.001, "float64")
    assert equal(float("nan"), float("nan"), "float64") and not equal(None, 0.0, "float64")
    assert equal(None, None, "int64") and not equal("1", 1, "int64") and not equal(True, 1, "int64")
    assert equal(20, 20.0, "float64")


def test_cause_of_a_found_record_that_is_not_stale():
    from mlc.runtime.consistency.compare import Feature, output_cause
    from mlc.runtime.consistency.rows import Row

    row = Row(0, "r", 0, 2_000, "m", "h", False, {}, {}, {"g": True}, {"g": 1_000}, {"g.x_1h": 6}, {})
    realtime = Feature("g.x_1h", "group_output", "int64", "g", ("k",), realtime=True)
    batch = Feature("g.x_1h", "group_output", "int64", "g", ("k",))
    earlier = {("g", 0): {"g.x_1h": 0}}                      # the record is not the as_of snapshot
    assert output_cause(realtime, row, earlier) == "offline_lag"
    assert output_cause(batch, row, earlier) == "value"
    assert output_cause(batch, row, {("g", 0): {"g.x_1h": 6}}) == "stale_record"
