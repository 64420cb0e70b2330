"""The streaming job's commands around it, without the job itself (a fake stands in where one
is needed): `mlc stream` (its arguments to the job, Ctrl-C, specs without streams), the `stream`
step of `mlc run` (order, start, record, `mlc stop`), `mlc status` from a hand-written
status.json, and the gateway's `mlc_stream_*` metrics from a store holding freshness records."""

from __future__ import annotations

import _thread
import json
import os
import subprocess
import sys
import threading
import types

import pytest

from conftest import run_mlc
from specs import MINIMAL_SPEC

from mlc.app.common import built
from mlc.app.pipeline import PipelineOptions, Run, STEPS, step_stream
from mlc.app.stream import default_state_dir, stream, stream_status, StreamOptions
from mlc.cli.deploy import render_status
from mlc.cli.stream import render_stream
from mlc.core.errors import MlcError
from mlc.runtime.deploy.local import DeployError, start_stream, stop
from mlc.runtime.deploy.state import empty_state, load_state, save_state
from mlc.runtime.deploy.triton_control import pid_alive, process_start_time
from mlc.runtime.streaming.status import freshness_key, write_freshness, write_json_atomic

# MINIMAL_SPEC with a `files` stream on `orders` (as in test_events_push.py) and a batch source
STREAMS = """\
    stream: {kind: files, path: streams/orders}
  history:
    kind: csv
    path: data/orders.csv
    event_time: ts
    columns: {ts: timestamp, rider_id: int64}
"""
ORDERS_COLUMNS = "    columns: {ts: timestamp, rider_id: int64, eta: float64, distance_km: float64, city: string, status: string}\n"

STATUS = {
    "version": 1, "app": "demo",
    "sources": {"orders": {"batches": 12, "events": 1000, "applied": 990, "late": 3,
                           "bad": {"not_json": 1, "missing_key": 2, "wrong_type": 0, "future": 4},
                           "quarantined": 5, "watermark_us": 1_717_200_000_000_000,
                           "max_event_us": 1_717_200_300_000_000, "last_batch_id": 11,
                           "updated_at_us": 1_717_200_301_000_000}},
    "groups": {"rider_activity": {"source": "orders", "records": 40, "last_event_us": 1_717_200_300_000_000,
                                  "visible_at_us": 1_717_200_301_000_000, "freshness_p50_s": 0.8,
                                  "freshness_p99_s": 1.4}},
}


@pytest.fixture
def spec(tmp_path):
    assert ORDERS_COLUMNS in MINIMAL_SPEC
    (tmp_path / "s.mlc.yaml").write_text(MINIMAL_SPEC.replace(ORDERS_COLUMNS, ORDERS_COLUMNS + STREAMS, 1))
    return str(tmp_path / "s.mlc.yaml")


# ------------------------------------------------------------------------------ mlc stream


def test_stream_without_a_stream_source_is_an_error(tmp_path):
    (tmp_path / "s.mlc.yaml").write_text(MINIMAL_SPEC)
    result = run_mlc("stream", "s.mlc.yaml", "--once", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "error[E7300]" in result.stderr and "no source with `stream:`" in result.stderr
    assert "Traceback" not in result.stderr


def test_stream_of_a_batch_only_source_is_an_error(tmp_path, spec):
    result = run_mlc("stream", "s.mlc.yaml", "--source", "history", cwd=tmp_path)
    assert result.returncode == 1 and "error[E7301]" in result.stderr and "Traceback" not in result.stderr
    typo = run_mlc("stream", "s.mlc.yaml", "--source", "order", cwd=tmp_path)
    assert typo.returncode == 1 and "did you mean `orders`?" in typo.stderr


def test_stream_calls_the_job_with_the_spec_defaults(tmp_path, spec):
    calls = []

    def job(ir, **kwargs):
        calls.append((ir.name, kwargs))
        return STATUS

    final = stream(StreamOptions(spec, sources=["orders", "orders"], once=True), runner=job)
    assert final == STATUS
    (name, kwargs), = calls
    assert name == "demo" and kwargs["namespace"] == "demo"
    assert kwargs["spec_dir"] == str(tmp_path) and kwargs["sources"] == ["orders"] and kwargs["available_now"] is True
    assert kwargs["state_dir"] == os.path.join(str(tmp_path), ".mlc", "demo", "stream") == default_state_dir(spec)
    assert kwargs["store_url"] == "sqlite:" + os.path.join(str(tmp_path), ".mlc", "demo", "online.sqlite")
    assert isinstance(kwargs["stop"], threading.Event) and not kwargs["stop"].is_set()
    stream(StreamOptions(spec, store="sqlite:/x.sqlite", state_dir=str(tmp_path / "st")), runner=job)
    assert calls[1][1]["sources"] is None and calls[1][1]["available_now"] is False
    assert calls[1][1]["store_url"] == "sqlite:/x.sqlite" and calls[1][1]["state_dir"] == str(tmp_path / "st")


def test_ctrl_c_sets_stop_and_waits_for_the_job(spec):
    said = []

    def job(ir, *, stop, **kwargs):
        _thread.interrupt_main()                       # Ctrl-C while the job runs
        return {"stopped": stop.wait(30)}

    assert stream(StreamOptions(spec), runner=job, progress=said.append) == {"stopped": True}
    assert any("stopping the streaming queries" in line for line in said)


def test_a_job_failure_is_raised_as_its_diagnostic(spec):
    def job(ir, **kwargs):
        raise MlcError("cannot reach the brokers", code="E7003")

    with pytest.raises(MlcError, match="cannot reach the brokers"):
        stream(StreamOptions(spec), runner=job)


# ------------------------------------------------------------------------------ mlc status


def test_status_shows_the_job_report(tmp_path, spec):
    ir = built(spec, None).ir
    assert stream_status(spec, ir) == {"state_dir": default_state_dir(spec), "job": None, "reported": False,
                                       "sources": {}, "groups": {}}
    write_json_atomic(os.path.join(default_state_dir(spec), "status.json"), STATUS)
    found = stream_status(spec, ir)
    assert found["reported"] and found["sources"] == STATUS["sources"] and found["groups"] == STATUS["groups"]
    text = render_stream(found)
    assert ("source orders: 1000 events, 990 applied, 3 late, 7 bad (not_json 1, missing_key 2, future 4), "
            "5 quarantined; watermark 2024-06-01T00:00:00.000Z") in text
    assert ("group rider_activity: 40 records, last event 2024-06-01T00:05:00.000Z, "
            "freshness p50 0.80 s, p99 1.40 s") in text
    status = {"app": "demo", "registry": "sqlite:r", "gateway": {"url": None, "running": False}, "models": [],
              "stream": found}
    assert text in render_status(status)


def test_status_command_shows_the_stream_in_text_and_json(tmp_path, spec):
    write_json_atomic(os.path.join(default_state_dir(spec), "status.json"), STATUS)
    text = run_mlc("status", "s.mlc.yaml", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "source orders: 1000 events" in text.stdout and "group rider_activity: 40 records" in text.stdout
    as_json = run_mlc("status", "s.mlc.yaml", "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["stream"]["groups"] == STATUS["groups"]


def test_status_of_a_spec_without_streams_has_no_stream_part(tmp_path):
    (tmp_path / "s.mlc.yaml").write_text(MINIMAL_SPEC)
    spec = str(tmp_path / "s.mlc.yaml")
    assert stream_status(spec, built(spec, None).ir) is None


# ------------------------------------------------------------------------------ mlc run / stop


def test_the_stream_step_comes_between_deploy_and_score():
    assert STEPS.index("deploy") + 1 == STEPS.index("stream") == STEPS.index("score") - 1


def test_the_stream_step_notes_a_spec_without_streams(tmp_path):
    (tmp_path / "s.mlc.yaml").write_text(MINIMAL_SPEC)
    spec = str(tmp_path / "s.mlc.yaml")
    run = Run(PipelineOptions(spec), built(spec, None), str(tmp_path / "out"))
    assert step_stream(run) == "no stream source: no streaming job"
    assert load_state(spec) is None                     # nothing started, nothing recorded


def _sleeper(spec: str) -> subprocess.Popen:
    """A harmless child recorded as the streaming job, as `mlc run` records the real one."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    state = empty_state(spec, "demo")
    state["stream"] = {"pid": child.pid, "started": process_start_time(child.pid), "log": "job.log"}
    save_state(spec, state)
    return child


def test_stop_terminates_the_recorded_stream_job(spec):
    child = _sleeper(spec)
    try:
        said = []
        assert stop(spec, said.append) == 1
        assert child.wait(timeout=30) is not None
        assert any(line.startswith(f"stream job (pid {child.pid}): stopped") for line in said)
        assert load_state(spec)["stream"] == {}
        assert stop(spec) == 0                          # nothing left to stop
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


def test_mlc_stop_counts_the_stream_job(tmp_path, spec):
    child = _sleeper(spec)
    try:
        result = run_mlc("stop", "s.mlc.yaml", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "stopped 1 service(s)" in result.stderr
        assert child.wait(timeout=30) is not None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


FAKE_JOB = """\
import sys, time
from mlc.runtime.streaming.status import empty_status, status_path, write_json_atomic
write_json_atomic(status_path(sys.argv[1]), empty_status("demo"))
time.sleep(600)
"""


def test_start_stream_records_the_job_once_it_reports_and_restarts_it(tmp_path, spec):
    state_dir = default_state_dir(spec)
    log = os.path.join(state_dir, "job.log")
    argv = [sys.executable, "-c", FAKE_JOB, state_dir]
    first = start_stream(spec, argv, {"MLC_ONLINE_STORE": "sqlite:/secret"}, log, state_dir, timeout=60)
    try:
        assert pid_alive(first["pid"], first["started"]) and os.path.isfile(os.path.join(state_dir, "status.json"))
        assert load_state(spec)["stream"]["pid"] == first["pid"]
        assert "secret" not in json.dumps(load_state(spec))          # the store URL only in the environment
        said = []
        second = start_stream(spec, argv, {"MLC_ONLINE_STORE": "sqlite:/secret"}, log, state_dir, timeout=60,
                              say=said.append)
        assert not pid_alive(first["pid"], first["started"]) and second["pid"] != first["pid"]
        assert said == [f"stream job: restarting (pid {first['pid']} stopped)"]
    finally:
        assert stop(spec) == 1
    assert not pid_alive(second["pid"], second["started"])


def test_a_job_that_exits_at_start_is_reported_with_its_log(tmp_path, spec):
    state_dir = default_state_dir(spec)
    argv = [sys.executable, "-c", "import sys; print('no pyspark here'); sys.exit(3)"]
    with pytest.raises(DeployError) as failure:
        start_stream(spec, argv, {}, os.path.join(state_dir, "job.log"), state_dir, timeout=60)
    assert failure.value.code == "E7304" and "exited with code 3" in failure.value.message
    assert "no pyspark here" in failure.value.message


def test_a_job_that_never_reports_is_stopped(tmp_path, spec):
    state_dir = default_state_dir(spec)
    argv = [sys.executable, "-c", "import time; time.sleep(600)"]
    with pytest.raises(DeployError) as failure:
        start_stream(spec, argv, {}, os.path.join(state_dir, "job.log"), state_dir, timeout=0.5)
    assert failure.value.code == "E7304" and "no status within" in failure.value.message
    record = load_state(spec)["stream"]
    assert not pid_alive(record["pid"], record["started"])


# ------------------------------------------------------------------------------ gateway metrics


class FakeStore:
    """In memory, with the online store's get_many/put_many; ``fail``: every call raises."""

    def __init__(self, fail: bool = False):
        self.data, self.fail = {}, fail

    def get_many(self, keys):
        if self.fail:
            raise ConnectionError("store down")
        return [self.data.get(k) for k in keys]

    def put_many(self, items, ttl_seconds=None):
        self.data.update(items)


def _predictor(spec, store):
    return types.SimpleNamespace(ir=built(spec, None).ir, store=store, namespace="demo")


def _samples(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_export_the_freshness_of_real_time_groups(spec):
    pytest.importorskip("prometheus_client")
    import time

    from mlc.runtime.serving.metrics import ServingMetrics

    store = FakeStore()
    metrics = ServingMetrics()
    metrics.watch_streams(_predictor(spec, store))
    assert not any(name.startswith("mlc_stream") for name, _ in _samples(metrics.render().decode()))  # not reported yet
    now = time.time()
    entry = dict(STATUS["groups"]["rider_activity"], last_event_us=int((now - 5) * 1e6),
                 visible_at_us=int((now - 2) * 1e6))
    write_freshness(store, "demo", {"rider_activity": entry})
    assert freshness_key("demo", "rider_activity") in store.data
    samples = _samples(metrics.render().decode())
    assert samples[("mlc_stream_freshness_seconds", (("group", "rider_activity"), ("quantile", "0.5")))] == 0.8
    assert samples[("mlc_stream_freshness_seconds", (("group", "rider_activity"), ("quantile", "0.99")))] == 1.4
    event_age = samples[("mlc_stream_last_event_age_seconds", (("group", "rider_activity"),))]
    write_age = samples[("mlc_stream_last_write_age_seconds", (("group", "rider_activity"),))]
    assert 5 <= event_age < 65 and 2 <= write_age < 62 and event_age > write_age


def test_a_failing_store_never_fails_the_scrape(spec):
    pytest.importorskip("prometheus_client")
    from mlc.runtime.serving.metrics import ServingMetrics, StreamCollector

    metrics = ServingMetrics()
    metrics.watch_streams(_predictor(spec, FakeStore(fail=True)))
    samples = _samples(metrics.render().decode())
    assert not any(name.startswith("mlc_stream") for name, _ in samples)
    assert any(name.startswith("mlc_gateway_stage_seconds") for name, _ in samples)

    def broken():
        raise RuntimeError("bug in the reader")

    collector = StreamCollector(broken)                  # whatever the reader raises
    assert [len(family.samples) for family in collector.collect()] == [0, 0, 0]


def test_no_stream_metrics_without_real_time_groups(tmp_path):
    pytest.importorskip("prometheus_client")
    from mlc.runtime.serving.metrics import ServingMetrics

    (tmp_path / "s.mlc.yaml").write_text(MINIMAL_SPEC)
    metrics = ServingMetrics()
    metrics.watch_streams(_predictor(str(tmp_path / "s.mlc.yaml"), FakeStore()))
    assert metrics.streams is None and b"mlc_stream" not in metrics.render()


def test_a_bad_stream_start_timeout_is_a_clear_error():
    from mlc.app.pipeline import STREAM_START_TIMEOUT_S, _start_timeout
    from mlc.core.errors import MlcError

    assert _start_timeout(None) == STREAM_START_TIMEOUT_S and _start_timeout("300") == 300.0
    for bad in ("soon", "-5", "0", "inf", "nan"):
        with pytest.raises(MlcError, match="MLC_STREAM_START_TIMEOUT"):
            _start_timeout(bad)
