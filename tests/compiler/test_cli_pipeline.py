"""`mlc run SPEC`: the whole pipeline on the embedded defaults (Spark local, TensorFlow,
SQLite store and registry, a real local Triton and the gateway), parts of it with
--from/--until, and a failing step that is named and leaves earlier outputs intact."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from conftest import run_mlc
from specs import write_tiny_project

from mlc.app.pipeline import STEPS, selected_steps

ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


def test_selected_steps():
    assert selected_steps(None, None) == list(STEPS)
    assert selected_steps("train", "register") == ["train", "materialize", "register"]
    assert selected_steps("deploy", None) == ["deploy", "stream", "score"]
    with pytest.raises(ValueError, match="comes before"):
        selected_steps("deploy", "train")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    write_tiny_project(root, seed=4)
    return root


def test_offline_part_then_a_failing_step_is_named_and_earlier_outputs_stay(project):
    result = run_mlc("run", "t.mlc.yaml", "--until", "train", cwd=project, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "features     ok" in result.stderr and "train        ok" in result.stderr
    assert "register     -" in result.stderr
    exported = project / ".mlc" / "tiny" / "data" / "models" / "repository" / "m" / "1" / "model.onnx"
    assert exported.is_file()
    mldl = (project / ".mlc" / "tiny" / "data" / "mldl.json").read_bytes()
    # the training sets disappear: `train` fails, is named, and nothing written before changes
    sets = project / ".mlc" / "tiny" / "data" / "training"
    hidden = project / ".mlc" / "hidden-training"
    sets.rename(hidden)
    try:
        failed = run_mlc("run", "t.mlc.yaml", "--from", "train", "--until", "train", cwd=project, env=ENV)
    finally:
        hidden.rename(sets)
    assert failed.returncode == 1
    assert "E7007" in failed.stderr and "train        FAILED" in failed.stderr
    assert "step `train` failed; the outputs of the steps before it are intact" in failed.stderr
    assert "mlc run t.mlc.yaml --from train" in failed.stderr
    assert exported.is_file() and (project / ".mlc" / "tiny" / "data" / "mldl.json").read_bytes() == mldl


def test_usage_errors(project):
    both = run_mlc("run", "t.mlc.yaml", "--step", "all", "--from", "train", cwd=project)
    assert both.returncode == 2 and "give one or the other" in both.stderr
    backwards = run_mlc("run", "t.mlc.yaml", "--from", "deploy", "--until", "train", cwd=project)
    assert backwards.returncode == 2 and "comes before" in backwards.stderr


def test_the_whole_pipeline_serves_a_sample_request(project):
    try:
        result = run_mlc("run", "t.mlc.yaml", "--port", "0", cwd=project, env=ENV)
        assert result.returncode == 0, result.stderr[-4000:]
        for step in STEPS:
            assert f"{step:<12} ok" in result.stderr, step
        # the earlier test exported version 1; this run trains again: version 2, registered and served
        assert "m@main v2: " in result.stderr and "mae" in result.stderr
        assert "stop the services: mlc stop t.mlc.yaml" in result.stderr
        url = next(line.split()[-1] for line in result.stderr.splitlines() if line.strip().startswith("gateway "))
        body = json.dumps({"items": [{"x": 1.5}, {"x": 3.0}]}).encode()
        with urllib.request.urlopen(urllib.request.Request(url, body, {"Content-Type": "application/json"}),
                                    timeout=30) as answer:
            response = json.loads(answer.read())
        assert response["model"] == "m" and response["version"] == 2 and len(response["scores"]) == 2
        status = run_mlc("status", "t.mlc.yaml", "--format", "json", cwd=project)
        assert status.returncode == 0, status.stderr
    finally:
        stopped = run_mlc("stop", "t.mlc.yaml", cwd=project)
    assert stopped.returncode == 0, stopped.stderr
    assert not os.path.exists(project / ".mlc" / "tiny" / "deploy" / "state.json") or \
        not json.loads((project / ".mlc" / "tiny" / "deploy" / "state.json").read_text()).get("gateway")
