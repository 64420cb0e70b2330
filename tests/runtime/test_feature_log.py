"""The gateway's feature log (mlc.runtime.feature_log): the writer (sampling, bounded queue,
rotation, failures counted), the reader (bad, foreign and other-version lines skipped and
counted), the predictor's records against what it really served, and the gateway's wiring
(flags, the spec's rate, metrics, Kubernetes env)."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import urllib.request

import numpy as np
import pytest

from conftest import serving_helpers

from mlc.compiler.pipeline import build
from mlc.core.fingerprint import features_fingerprint
from mlc.runtime.feature_log.format import FORMAT, Capture, request_rows
from mlc.runtime.feature_log.reader import log_files, read_logs
from mlc.runtime.feature_log.writer import FeatureLog, RotatingFiles, Stdout
from mlc.runtime.online_store import open_store
from mlc.runtime.serving import OnnxBackend, Predictor
from mlc.runtime.serving.gateway import _parser, load_feature_log, serve_in_thread
from mlc.runtime.serving.metrics import ServingMetrics

H = serving_helpers("feature_log_helpers")
NAMESPACE, BrokenStore, items = H.NAMESPACE, H.BrokenStore, H.items


class ListSink:
    def __init__(self, gate: threading.Event | None = None, fail: bool = False):
        self.lines, self.gate, self.fail, self.closed = [], gate, fail, False

    def write(self, line: bytes) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise OSError("disk full")
        self.lines.append(json.loads(line))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def capture(n=1, request=None, time_us=1_700_000_000_000_000):
    return Capture(request or {"context": {"x": 1}}, None, n, time_us, "m", 1, "main", False, 0, [], {}, {}, {},
                   [0.5] * n, ())


# ------------------------------------------------------------------------------------ writer


def test_sampling_rates():
    draws = iter(np.random.RandomState(0).uniform(size=1000))
    half = FeatureLog(ListSink(), app="a", spec_hash="h", sample_rate=0.25, rng=lambda: next(draws))
    picked = sum(half.sampled() for _ in range(1000))
    assert 200 < picked < 300
    off = FeatureLog(ListSink(), app="a", spec_hash="h", sample_rate=0.0)
    every = FeatureLog(ListSink(), app="a", spec_hash="h", sample_rate=1.0)
    assert not any(off.sampled() for _ in range(100)) and all(every.sampled() for _ in range(100))
    for log in (half, off, every):
        log.close()
    with pytest.raises(ValueError, match="not in"):
        FeatureLog(ListSink(), app="a", spec_hash="h", sample_rate=1.5)


def test_a_full_queue_drops_and_counts_without_blocking():
    gate = threading.Event()
    sink = ListSink(gate)
    outcomes = []
    log = FeatureLog(sink, app="a", spec_hash="h", sample_rate=1.0, queue_size=3, on_outcome=outcomes.append)
    started = time.monotonic()
    accepted = [log.submit(capture()) for _ in range(10)]
    assert time.monotonic() - started < 1.0              # the writer is stuck; submit never waits
    # the writer holds one record, 3 wait in the queue: the other 6 are dropped
    assert accepted.count(False) >= 6 and log.stats["dropped"] == accepted.count(False)
    gate.set()
    log.close()
    assert log.stats["written"] == accepted.count(True) == len(sink.lines) and sink.closed
    assert outcomes.count("dropped") == log.stats["dropped"]


def test_a_failing_sink_costs_records_not_the_writer():
    log = FeatureLog(ListSink(fail=True), app="a", spec_hash="h", sample_rate=1.0)
    for _ in range(3):
        log.submit(capture())
    log.close()
    assert log.stats == {"written": 0, "dropped": 0, "failed": 3}


def test_rotation_keeps_whole_lines_and_a_bounded_number_of_files(tmp_path):
    sink = RotatingFiles(str(tmp_path), max_bytes=2048, max_files=3)
    log = FeatureLog(sink, app="a", spec_hash="h", sample_rate=1.0)
    for i in range(60):
        log.submit(capture(request={"context": {"i": i, "pad": "x" * 200}}))
    log.close()
    names = sorted(os.listdir(tmp_path))
    assert names == ["features.1.jsonl", "features.2.jsonl", "features.jsonl"]
    read = read_logs(str(tmp_path), app="a", spec_hash="h")
    assert read.summary.skipped == {} and read.records
    seen = [r["request"]["context"]["i"] for r in read.records]
    assert seen == sorted(seen) and seen[-1] == 59 and seen[0] > 0      # oldest first; the oldest rotated away
    assert all(os.path.getsize(tmp_path / n) <= 2048 for n in names)
    assert [os.path.basename(f) for f in log_files(str(tmp_path))] == ["features.2.jsonl", "features.1.jsonl",
                                                                        "features.jsonl"]


def test_stdout_sink_writes_one_json_line_per_record(capsys):
    log = FeatureLog(Stdout(), app="a", spec_hash="h", sample_rate=1.0)
    log.submit(dataclasses.replace(capture(2, {"context": {"c": "x"}, "items": [{"v": 1.0}, {"v": 2}]}),
                                   scores=np.array([0.5, np.nan])))
    log.close()
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)              # strict JSON: a NaN score is the text "NaN"
    assert record["format"] == FORMAT and record["n"] == 2 and record["scores"] == [0.5, "NaN"]
    assert request_rows(record)[0] == {"c": "x", "v": 1.0}


# ------------------------------------------------------------------------------------ reader


def test_reader_skips_and_counts_every_kind_of_bad_line(tmp_path):
    good = {"format": FORMAT, "version": 1, "app": "a", "spec_hash": "h", "request_id": "r", "time_us": 1, "n": 1,
            "request": {"context": {"x": 1}}, "groups": {}, "features": {"f": [1.0]}, "scores": [0.1]}
    lines = [
        '"tail of a line cut by copytruncate"}',                    # torn (first line)
        json.dumps(good),
        "{not json",                                                  # not_json
        json.dumps({"experiment": "e1", "variant": "a"}),             # an exposure record on a shared stdout
        json.dumps({**good, "version": 2}),
        json.dumps({**good, "app": "b"}),
        json.dumps({**good, "spec_hash": "old"}),
        json.dumps({**good, "n": 2}),                                 # malformed: columns of 1 row
        json.dumps({**good, "request_id": "r2"}),
    ]
    (tmp_path / "features.jsonl").write_text("\n".join(lines) + "\n" + json.dumps(good)[:40])   # truncated
    read = read_logs(str(tmp_path), app="a", spec_hash="h")
    assert [r["request_id"] for r in read.records] == ["r", "r2"]
    assert dict(read.summary.skipped) == {"torn": 1, "not_json": 1, "not_a_feature_log": 1, "unsupported_version": 1,
                                          "other_app": 1, "other_spec_version": 1, "malformed": 1, "truncated": 1}
    assert read.summary.hashes == {"h": 3, "old": 1}
    assert read.summary.first_skipped["truncated"] == "features.jsonl:10"
    assert len(read_logs(str(tmp_path), app="a", spec_hash="h", any_spec_version=True).records) == 3
    with pytest.raises(ValueError, match="not found"):
        read_logs(str(tmp_path / "nope"), app="a", spec_hash="h")


# ------------------------------------------------------------------------------------ predictor


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("feature-log")
    ir = H.compile_ir(directory, sharded=True)
    repository = directory / "repository"
    H.export_models(ir, repository, [("north", "eta", 5.0), ("south", "eta", -5.0), ("south", "eta_b", 1.0)])
    return ir, repository


def test_the_record_is_what_the_predictor_served(served, tmp_path):
    ir, repository = served
    store = open_store(f"sqlite:{tmp_path / 'online.db'}", timeout=1.0, create=True)
    H.seed_store(store, ir, range(1, 50))                                # riders 50..59: no record
    store.put_many([(f"{NAMESPACE}:__mlc_watermark__:rider_activity", b"1767225600000000")])
    log = FeatureLog(RotatingFiles(str(tmp_path / "logs")), app=ir.name, spec_hash=features_fingerprint(ir),
                     sample_rate=1.0, store=store, namespace=NAMESPACE, groups=["rider_activity"])
    predictor = Predictor(ir, None, store, OnnxBackend(str(repository)), NAMESPACE, feature_log=log)
    rows = items(30) + [{"rider_id": 55, "distance_km": 2.0}]
    request = {"context": {"city": "beijing"}, "items": rows, "request_id": "req-1"}
    before = time.time_ns() // 1000
    response = predictor.predict(request)
    after = time.time_ns() // 1000
    log.close()
    [record] = read_logs(str(tmp_path / "logs"), app=ir.name, spec_hash=features_fingerprint(ir)).records
    assert record["request_id"] == "req-1" and record["model"] == "eta" and record["shard"] == "north"
    assert record["version_served"] == 1 and record["degraded"] is False and record["n"] == 31
    assert before <= record["time_us"] <= after
    assert record["request"] == {"context": {"city": "beijing"}, "items": rows}
    np.testing.assert_allclose(record["scores"], response.scores, rtol=1e-6)
    group = record["groups"]["rider_activity"]
    assert group["as_of_us"] == 1767225600000000 and group["realtime"] is False
    assert group["found"] == [r["rider_id"] < 50 for r in rows]
    assert group["values"]["deliveries_1h"] == [r["rider_id"] % 7 if r["rider_id"] < 50 else 0 for r in rows]
    # the model inputs as preprocessed: recomputed from the logged raw rows and group values
    from mlc.runtime.serving.validation import Rows

    columns = {name: [row.get(name) for row in request_rows(record)] for name in predictor.fields}
    retrieval = predictor.features(ir.model("eta"), Rows("eta", columns, 31))
    _, signature = predictor.prepare(ir.model("eta"), Rows("eta", columns, 31), retrieval.columns)
    assert sorted(record["features"]) == sorted(t.name for t in ir.model("eta").signature_inputs)
    for name, vec in signature.items():
        np.testing.assert_allclose(np.asarray(record["features"][name], dtype=float), vec.data.astype(float))
    store.close()


def test_a_store_outage_is_logged_as_degraded_with_defaults(served, tmp_path):
    ir, repository = served
    log = FeatureLog(RotatingFiles(str(tmp_path)), app=ir.name, spec_hash="h", sample_rate=1.0)
    predictor = Predictor(ir, None, BrokenStore(), OnnxBackend(str(repository)), NAMESPACE, feature_log=log)
    predictor.predict({"context": {"city": "shenzhen"}, "items": items(3)})
    log.close()
    [record] = read_logs(str(tmp_path), app=ir.name, spec_hash="h").records
    assert record["degraded"] is True and record["store_errors"] == 1 and record["shard"] == "south"
    assert record["groups"]["rider_activity"]["found"] == [False] * 3
    assert record["groups"]["rider_activity"]["values"]["deliveries_1h"] == [0] * 3


def test_nothing_is_logged_at_rate_zero_and_the_gateway_counts_records(served, tmp_path):
    ir, repository = served
    silent = FeatureLog(RotatingFiles(str(tmp_path / "off")), app=ir.name, spec_hash="h", sample_rate=0.0)
    predictor = Predictor(ir, None, BrokenStore(), OnnxBackend(str(repository)), NAMESPACE, feature_log=silent)
    predictor.predict({"context": {"city": "shenzhen"}, "items": items(2)})
    silent.close()
    assert (tmp_path / "off" / "features.jsonl").read_text() == ""

    metrics = ServingMetrics()
    log = FeatureLog(RotatingFiles(str(tmp_path / "on")), app=ir.name, spec_hash="h", sample_rate=1.0,
                     on_outcome=metrics.count_feature_log)
    predictor = Predictor(ir, None, BrokenStore(), OnnxBackend(str(repository)), NAMESPACE, feature_log=log,
                          metrics=metrics)
    with serve_in_thread(predictor) as running:
        for _ in range(3):
            body = json.dumps({"context": {"city": "shenzhen"}, "items": items(2)}).encode()
            urllib.request.urlopen(urllib.request.Request(running.url + "/v1/predict", body), timeout=10).read()
    assert len((tmp_path / "on" / "features.jsonl").read_text().splitlines()) == 3      # stop() closed the log
    assert 'mlc_feature_log_records_total{outcome="written"} 3.0' in metrics.render().decode()


# ------------------------------------------------------------------------------------ wiring


def test_gateway_flags_and_the_spec_rate(served, tmp_path):
    ir, _ = served
    assert load_feature_log(_parser().parse_args(["--feature-log", str(tmp_path)]), ir, None, "ns") is None  # spec: 0
    logged = dataclasses.replace(ir, deployment=dataclasses.replace(
        ir.deployment, feature_log=dataclasses.replace(ir.deployment.feature_log, sample_rate=0.2)))
    log = load_feature_log(_parser().parse_args(["--feature-log", str(tmp_path)]), logged, None, "ns")
    assert log.sample_rate == 0.2 and isinstance(log.sink, RotatingFiles) and log.spec_hash == features_fingerprint(ir)
    log.close()
    log = load_feature_log(_parser().parse_args(["--feature-log", "-", "--feature-log-rate", "1"]), ir, None, "ns")
    assert log.sample_rate == 1.0 and isinstance(log.sink, Stdout)
    log.close()
    assert load_feature_log(_parser().parse_args(["--feature-log-rate", "1"]), ir, None, "ns") is None   # no sink
    with pytest.raises(SystemExit, match="not in"):
        load_feature_log(_parser().parse_args(["--feature-log", "-", "--feature-log-rate", "2"]), ir, None, "ns")


def test_spec_rate_reaches_the_ir_and_the_gateway_manifest(tmp_path):
    from specs import MINIMAL_SPEC

    from mlc.backends.serving_k8s.emit import gateway_manifests

    def compiled(extra: str):
        path = tmp_path / "s.mlc.yaml"
        path.write_text(MINIMAL_SPEC + extra, encoding="utf-8")
        return build(str(path))

    plain = compiled("")
    logged = compiled("deployment:\n  feature_log: {sample_rate: 0.05, max_file_mb: 8, max_files: 3}\n")
    assert logged.ok and logged.ir.deployment.feature_log.sample_rate == 0.05
    assert logged.ir.deployment.feature_log.max_file_bytes == 8 * 1024 * 1024
    env = lambda ir: {e["name"]: e.get("value") for e in gateway_manifests(ir)[0]["spec"]["template"]["spec"]["containers"][0]["env"]}  # noqa: E731
    assert env(logged.ir)["MLC_FEATURE_LOG"] == "-" and "MLC_FEATURE_LOG" not in env(plain.ir)
    # the spec hash ignores deployment settings and fitted constants, not the features
    assert features_fingerprint(plain.ir) == features_fingerprint(logged.ir)
    bad = compiled("deployment:\n  feature_log: {sample_rate: 1.5}\n")
    assert not bad.ok and any("sample_rate" in (d.message + str(d.span)) or "1.5" in d.message for d in bad.diagnostics)
    changed = compiled("").ir
    path = tmp_path / "s.mlc.yaml"
    path.write_text(MINIMAL_SPEC.replace("log1p(distance_km)", "log1p(distance_km + 1)"), encoding="utf-8")
    assert features_fingerprint(build(str(path)).ir) != features_fingerprint(changed)


def test_the_standard_library_fallback_writes_the_same_document(monkeypatch):
    import sys

    from mlc.runtime.feature_log.format import Capture as C, build_record, encode
    from mlc.runtime.numpy_ops import Vec

    capture = C({"context": {"c": "é"}, "items": [{"v": 1}, {"v": 2}]}, "r", 2, 5, "m", 1, "main", False, 0, [],
                {}, {}, {"a": Vec.of([1.5, None], "float64"), "b": Vec.of(np.array([3, 4]), "int64"),
                         "c": Vec.of(np.array([np.inf, 1.0]), "float64"), "d": Vec.of(["x", None], "string")},
                np.array([0.25, 0.5]), ())
    record = build_record(capture, app="a", spec_hash="h", request_id="r", as_of={})
    fast = encode(record)
    monkeypatch.setitem(sys.modules, "orjson", None)           # `import orjson` now fails
    slow = encode(record)
    assert fast.endswith(b"\n") and slow.endswith(b"\n")
    assert json.loads(fast) == json.loads(slow)
    assert json.loads(slow)["features"] == {"a": [1.5, None], "b": [3, 4], "c": ["Infinity", 1.0], "d": ["x", None]}
    monkeypatch.delitem(sys.modules, "orjson")
    # orjson writes NaN as null: a float column whose only non-finite values are its nulls is kept as floats
    quick = build_record(capture, app="a", spec_hash="h", request_id="r", as_of={}, nan_as_null=True)
    assert quick["features"]["a"].dtype == np.float64 and quick["features"]["c"].dtype == object
    assert json.loads(encode(quick)) == json.loads(slow)
