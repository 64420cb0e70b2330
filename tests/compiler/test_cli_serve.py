"""`mlc serve`: the gateway over a trained run, with a real Triton (--local) or ONNX Runtime
(--embedded); both give the same scores for the same request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

from conftest import REPO, run_mlc
from mlc.app.serve import SHUTDOWN_LIMIT_S
from specs import TINY_TRAIN_SPEC as SPEC, write_tiny_project


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    write_tiny_project(root, seed=2)
    with open(root / "t.mlc.yaml", "a", encoding="utf-8") as spec:      # every answered request is logged
        spec.write("deployment:\n  feature_log: {sample_rate: 1.0}\n")
    result = run_mlc("run", "t.mlc.yaml", "--step", "all", "--output", "out", cwd=root,
                     env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-4000:]
    return root


def _serve(root, *mode):
    """Start `mlc serve`; returns (process, gateway URL, stderr lines so far). A thread keeps
    reading stderr afterwards, so the server can never block on a full pipe."""
    env = {**os.environ, "PYTHONPATH": str(REPO.parent), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "mlc", "serve", "t.mlc.yaml", *mode, "--output", "out",
                             "--port", "0", "--duration", "120"], cwd=root, env=env,
                            stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("gateway: "):
            threading.Thread(target=lambda: seen.extend(proc.stderr), daemon=True).start()
            return proc, line.split()[1], seen
    proc.wait(timeout=30)
    raise AssertionError("".join(seen)[-4000:])


def _predict(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _stop(proc, seen):
    """Ctrl-C: `mlc serve` stops within its own bound (SHUTDOWN_LIMIT_S; past it, it prints every
    thread's stack and exits 1), and says how long each part took."""
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=SHUTDOWN_LIMIT_S + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
        raise AssertionError("mlc serve outlived its own shutdown watchdog:\n" + "".join(seen)[-4000:])
    assert code == 0, "".join(seen)[-6000:]
    assert any(line.startswith("stopped in ") for line in seen), seen


def test_serve_local_triton_and_embedded_agree(trained):
    body = {"items": [{"x": 0.5}, {"x": 3.0}, {"x": None}, {"x": 9.5}]}
    proc, url, seen = _serve(trained, "--local")
    try:
        assert any(line.startswith("triton for shard `main`: grpc 127.0.0.1:") for line in seen), seen
        status, local = _predict(url, body)
        assert status == 200, local
        assert local["model"] == "m" and local["shard"] == "main" and local["version"] == 1
        assert len(local["scores"]) == 4 and not local["degraded"]   # no feature groups: nothing to degrade
        assert _predict(url, {"items": [{"x": "not a number"}]})[0] == 400
    finally:
        _stop(proc, seen)
    proc, url, seen = _serve(trained, "--embedded")
    try:
        status, embedded = _predict(url, body)
        assert status == 200
        assert embedded["scores"] == pytest.approx(local["scores"], abs=1e-5) and embedded["version"] == 1
    finally:
        _stop(proc, seen)
    # both gateways logged their answered request (not the 400) to the app's feature log
    lines = (trained / ".mlc" / "tiny" / "logs" / "features" / "features.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["n"] for r in records] == [4, 4] and records[0]["request"]["items"][2] == {"x": None}
    assert records[1]["scores"] == pytest.approx(embedded["scores"], abs=1e-6)


def test_serve_without_a_run_says_what_to_do(tmp_path):
    (tmp_path / "t.mlc.yaml").write_text(SPEC)
    result = run_mlc("serve", "t.mlc.yaml", "--embedded", "--output", "nothing", cwd=tmp_path)
    assert result.returncode == 1
    assert "error[E7007]" in result.stderr and "mlc run SPEC --step all" in result.stderr


def test_a_stop_that_hangs_is_cut_short_with_every_thread_stack(tmp_path):
    """The shutdown watchdog of `mlc serve`: a part that never returns (here the gateway's
    stop) ends the process after the limit with exit 1 and the stacks that show where it hung."""
    script = (
        "import threading, mlc.app.serve as cli\n"
        "cli.SHUTDOWN_LIMIT_S = 1.0\n"
        "class Hanging:\n"
        "    gateway = None\n"
        "    def stop(self):\n"
        "        threading.Event().wait()\n"
        "cli.shut_down(Hanging(), [])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO.parent)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Timeout" in result.stderr and "in stop" in result.stderr, result.stderr
