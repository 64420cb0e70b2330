"""The HTTP gateway (mlc.runtime.serving.gateway): /v1/predict with real ONNX models and a SQLite
online store, JSON errors (400 with field errors, 404, 405, 413, 500 without a traceback, 503),
/healthz, /readyz, /metrics, the CLI loading a build tree, and `python -m` as a process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import serving_helpers

from mlc.runtime.online_store import open_store
from mlc.runtime.serving import OnnxBackend, Predictor, TritonBackend
from mlc.runtime.serving.gateway import Gateway, _parser, load_predictor, serve_in_thread, triton_urls


H = serving_helpers("serving_test_helpers")


def call(url: str, method: str = "GET", body: bytes | dict | None = None, headers: dict | None = None):
    """(status, parsed JSON or text, content type)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, kind = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        status, raw, kind = err.code, err.read(), err.headers.get("Content-Type", "")
    text = raw.decode()
    return status, (json.loads(text) if kind.startswith("application/json") else text), kind


@pytest.fixture(scope="module")
def build_tree(tmp_path_factory):
    """An unsharded build tree (mldl.json fitted, preprocess module) and an exported repository."""
    from mlc.backends.mldl import render as render_mldl
    from mlc.backends.preprocess import emit as emit_preprocess

    directory = tmp_path_factory.mktemp("gateway")
    ir = H.compile_ir(directory, sharded=False)
    build = directory / "build"
    (build / "preprocess").mkdir(parents=True)
    (build / "mldl.json").write_text(render_mldl(ir), encoding="utf-8")
    for path, text in emit_preprocess(ir).items():
        (build / path).write_text(text, encoding="utf-8")
    repository = directory / "repository"
    H.export_models(ir, repository, [(None, "eta", 1.0), (None, "eta_b", -1.0)])
    store_url = f"sqlite:{directory / 'online.db'}"
    store = open_store(store_url, timeout=1.0, create=True)
    H.seed_store(store, ir, range(1, 50))
    store.close()
    return ir, build, repository, store_url


@pytest.fixture(scope="module")
def running(build_tree):
    ir, _, repository, store_url = build_tree
    store = open_store(store_url, timeout=1.0)
    predictor = Predictor(ir, None, store, OnnxBackend(str(repository)), H.NAMESPACE)
    with serve_in_thread(predictor) as server:
        yield server
    store.close()


def test_predict(running, build_tree):
    ir, _, repository, _ = build_tree
    rows = H.items(50)
    status, body, kind = call(running.url + "/v1/predict", "POST", {"context": {"city": "beijing"}, "items": rows})
    assert status == 200 and kind == "application/json"
    assert body["model"] == "eta" and body["shard"] == "main" and body["version"] == 1 and body["degraded"] is False
    expected = H.direct_scores(ir, repository / "eta" / "1" / "model.onnx", {"city": "beijing"}, rows,
                               H.store_values_of(range(1, 50)))
    assert body["scores"] == pytest.approx(list(expected), abs=1e-6)
    assert set(body["timings_ms"]) == {"validate", "route", "features", "preprocess", "inference", "total"}
    status, body, _ = call(running.url + "/v1/predict", "POST", {"model": "eta_b", "context": {"rider_id": 3}})
    assert status == 200 and body["model"] == "eta_b" and len(body["scores"]) == 1


def test_errors_are_json_with_the_right_status(running):
    url = running.url + "/v1/predict"
    status, body, _ = call(url, "POST", b"{not json", {"Content-Type": "application/json"})
    assert status == 400 and body["error"] == "the body is not valid JSON" and "body" in body["fields"]
    status, body, _ = call(url, "POST", {"context": {"rider_id": "x", "colour": 1}, "items": [{}]})
    assert status == 400 and body["fields"] == {"context.rider_id": "expected an integer, got a string",
                                                "context.colour": "unknown field"}
    status, body, _ = call(url, "POST", {"model": "nope", "context": {"rider_id": 1}})
    assert status == 404 and "unknown model `nope`" in body["error"]
    assert call(url, "GET")[0] == 405
    assert call(running.url + "/nowhere")[0] == 404
    assert call(running.url + "/healthz", "POST", b"{}")[0] == 405
    status, body, _ = call(url, "POST", b"x" * 10, {"Content-Length": str(10 ** 9)})
    assert status == 413


def test_an_unexpected_failure_is_a_500_without_traceback(build_tree, monkeypatch):
    ir, _, repository, _ = build_tree
    backend = OnnxBackend(str(repository))
    predictor = Predictor(ir, None, None, backend, H.NAMESPACE)

    def boom(*args, **kwargs):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(backend, "infer", boom)
    with serve_in_thread(predictor) as server:
        status, body, _ = call(server.url + "/v1/predict", "POST", {"context": {"rider_id": 1}})
        assert status == 500 and body == {"error": "internal error (see the gateway log)"}
        metrics = call(server.url + "/metrics")[1]
    assert 'mlc_gateway_requests_total{status="500"} 1.0' in metrics


def test_health_readiness_and_metrics(running):
    assert call(running.url + "/healthz")[:2] == (200, {"status": "ok"})
    status, body, _ = call(running.url + "/readyz")
    assert status == 200 and body["ready"] is True and "2 ONNX session(s)" in body["detail"]
    call(running.url + "/v1/predict", "POST", {"context": {"rider_id": 1}})
    status, text, kind = call(running.url + "/metrics")
    assert status == 200 and kind.startswith("text/plain")
    for stage in ("validate", "route", "features", "preprocess", "inference", "total"):
        assert f'mlc_gateway_stage_seconds_bucket{{le="0.005",stage="{stage}"}}' in text
        assert f'mlc_gateway_stage_seconds_count{{stage="{stage}"}}' in text
    assert 'mlc_gateway_requests_total{status="200"}' in text
    assert "mlc_gateway_degraded_total" in text and "mlc_gateway_store_errors_total" in text


def test_unreachable_triton_gives_503_and_not_ready(build_tree):
    ir = build_tree[0]
    backend = TritonBackend(f"127.0.0.1:{H.closed_port()}", timeout=0.5)
    with serve_in_thread(Predictor(ir, None, None, backend, H.NAMESPACE)) as server:
        status, body, _ = call(server.url + "/readyz")
        assert status == 503 and body["ready"] is False and "shard `main`" in body["detail"]
        status, body, _ = call(server.url + "/v1/predict", "POST", {"context": {"rider_id": 1}})
        assert status == 503 and "unreachable" in body["error"] and "Traceback" not in body["error"]
    backend.close()


def test_a_loading_gateway_is_live_but_not_ready():
    with serve_in_thread(Gateway(None)) as server:
        assert call(server.url + "/healthz")[0] == 200
        assert call(server.url + "/readyz")[:2] == (503, {"ready": False, "detail": "loading"})
        assert call(server.url + "/v1/predict", "POST", {"context": {}})[0] == 503


def test_cli_loads_a_build_tree(build_tree, tmp_path):
    ir, build, repository, store_url = build_tree
    args = _parser().parse_args(["--build", str(build), "--models", str(repository), "--embedded",
                                 "--store", store_url, "--port", "0"])
    predictor = load_predictor(args)
    assert predictor.namespace == ir.name and predictor.ready()[0]
    response = predictor.predict({"context": {"rider_id": 1, "distance_km": 2.0}})
    assert len(response.scores) == 1 and not response.degraded
    predictor.store.close()
    # Triton addresses: one for all shards, per shard, or from the routing table
    from mlc.backends.serving_k8s.emit import routing_json

    routing_path = tmp_path / "routing.json"
    routing_path.write_text(routing_json(ir), encoding="utf-8")
    args = _parser().parse_args(["--build", str(build), "--routing", str(routing_path)])
    predictor = load_predictor(args)
    assert set(predictor.backend.urls) == {"main"}
    assert predictor.backend.urls["main"].endswith(".default.svc:8001")
    assert triton_urls(["h:1"], predictor.routing) == "h:1"
    assert triton_urls(["main=h:2"], predictor.routing) == {"main": "h:2"}
    with pytest.raises(SystemExit, match="no --triton address"):
        triton_urls(["other=h:2"], predictor.routing)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_dash_m_gateway(build_tree):
    _, build, repository, store_url = build_tree
    port = _free_port()
    env = {**os.environ, "MLC_PORT": str(port), "MLC_HOST": "127.0.0.1", "MLC_REDIS_URL": store_url}
    proc = subprocess.Popen([sys.executable, "-m", "mlc.runtime.serving.gateway", "--build", str(build),
                             "--models", str(repository), "--embedded"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 30, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = call(url + "/readyz")
                if ready[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        assert ready is not None and ready[0] == 200, proc.stdout.read().decode() if proc.poll() is not None else ready
        status, body, _ = call(url + "/v1/predict", "POST", {"context": {"rider_id": 2}, "items": [{}, {}]})
        assert status == 200 and len(body["scores"]) == 2 and body["degraded"] is False
    finally:
        proc.terminate()
        proc.wait(timeout=10)
