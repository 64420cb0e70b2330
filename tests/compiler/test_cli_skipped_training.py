"""A (model, shard) without training rows: `mlc run` skips it with the real cause and trains the
others, the summary lists it, the registry gets the others' versions, `mlc deploy` deploys them
and says which one has no version and why, `mlc serve` names the cause. When every selected
pair has no training rows, `mlc run` fails with the cause (E7260); the training entry point does
too, never with the misleading "train on fewer workers"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from conftest import REPO

ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "NO_COLOR": "1"}
TIMEOUT_S = 300

SPEC = """\
version: 1
name: {name}
sources:
  events:
    kind: csv
    path: events.csv
    event_time: ts
    columns: {{ts: timestamp, x: float64, y: float64, city: string}}
preprocess:
  inputs:
    x: {{dtype: float64, default: 0.0}}
    city: {{dtype: string}}
  features:
    lx: log1p(x)
models:
  m:
    type: lr
    task: regression
    label: y
    inputs: {{dense: [lx]}}
    training: {{source: events, epochs: 1, validation: {{last_fraction: 0.2}}}}
"""

SHARDING = """\
deployment:
  sharding:
    partition_key: city
    default: rest
    shards:
      north: {partitions: [a]}
      ghost: {partitions: [zzz]}
      rest: {}
"""


def mlc(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlc", *args], cwd=cwd, env={**os.environ, **ENV},
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def events(rows: int, same_time: bool) -> str:
    lines = ["ts,x,y,city"]
    for i in range(rows):
        ts = "2024-06-01T00:00:00Z" if same_time else f"2024-06-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
        lines.append(f"{ts},{(i * 37 % 100) / 10:.1f},{(i * 53 % 100) / 100:.2f},{'ab'[i % 2]}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    root = tmp_path_factory.mktemp("skipped_shard")
    (root / "events.csv").write_text(events(200, same_time=False))
    (root / "s.mlc.yaml").write_text(SPEC.format(name="skippy") + SHARDING)
    return root, mlc("run", "s.mlc.yaml", "--until", "register", cwd=root)


GHOST = "model `m` shard `ghost` has no rows: no labelled row of the training source has `city` in ['zzz']"


def test_a_shard_without_rows_is_skipped_and_the_others_train(sharded):
    root, run = sharded
    assert run.returncode == 0, run.stderr[-4000:]
    assert f"skipped m/ghost: no training rows: {GHOST}" in run.stderr
    assert "fewer workers" not in run.stderr
    assert "2 model(s) trained and exported, 1 skipped (no training rows)" in run.stderr
    summary = run.stderr[run.stderr.index("\nsummary"):]
    assert "skipped (no training rows, so no version):" in summary and f"m@ghost: {GHOST}" in summary
    assert "m@north v1" in summary and "m@rest v1" in summary and "m@ghost v" not in summary
    models = root / ".mlc" / "skippy" / "data" / "models"
    assert json.loads((models / "skipped.json").read_text()) == \
        {"skipped": [{"model": "m", "shard": "ghost", "reason": GHOST}]}
    assert (models / "repository" / "north" / "m" / "1").is_dir() and (models / "repository" / "rest" / "m" / "1").is_dir()
    assert not (models / "repository" / "ghost").exists()


def test_deploy_ships_the_other_shards_and_says_which_has_no_version(sharded):
    root, run = sharded
    assert run.returncode == 0, run.stderr[-2000:]
    plan = mlc("deploy", "s.mlc.yaml", "--dry-run", cwd=root)
    assert plan.returncode == 0, plan.stderr
    assert f"ghost/m: no version to deploy, its training was skipped ({GHOST})" in plan.stderr
    assert "plan: north/m: - -> 1" in plan.stderr and "plan: rest/m: - -> 1" in plan.stderr
    assert "plan: ghost/m" not in plan.stderr
    served = mlc("serve", "s.mlc.yaml", "--embedded", "--port", "0", "--duration", "0.1", cwd=root)
    assert served.returncode == 1 and "error[E7007]" in served.stderr, served.stderr
    assert f"no exported version of model `m` for shard `ghost`: its training was skipped: {GHOST}" in served.stderr
    assert "Traceback" not in served.stderr


def test_every_row_in_validation_fails_with_the_real_cause(tmp_path):
    (tmp_path / "events.csv").write_text(events(100, same_time=True))
    (tmp_path / "t.mlc.yaml").write_text(SPEC.format(name="sametime"))
    run = mlc("run", "t.mlc.yaml", "--until", "train", cwd=tmp_path)
    cause = ("model `m` shard `main`: the time split put all 100 row(s) in validation: every row has the same "
             "event time (2024-06-01T00:00:00Z)")
    assert run.returncode == 1, run.stderr[-3000:]
    assert "error[E7260]" in run.stderr and cause in run.stderr and "train        FAILED" in run.stderr
    assert "fewer workers" not in run.stderr
    # the training entry point itself names the cause too (it said "train on fewer workers")
    data = tmp_path / ".mlc" / "sametime" / "data"
    direct = subprocess.run([sys.executable, "-m", "mlc.runtime.training", "--mldl", str(data / "mldl.json"),
                             "--data", str(data / "training"), "--model", "m", "--output", str(tmp_path / "out")],
                            cwd=REPO, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert direct.returncode == 1, direct.stderr[-2000:]
    assert f"error: {cause}" in direct.stderr and "fewer workers" not in direct.stderr


def predict(url: str, item: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps({"items": [item]}).encode(), {"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_a_real_local_deploy_serves_the_trained_shards_and_503s_the_skipped_one(sharded):
    root, run = sharded
    assert run.returncode == 0, run.stderr[-2000:]
    try:
        deployed = mlc("run", "s.mlc.yaml", "--from", "deploy", "--port", "0", cwd=root)
        assert deployed.returncode == 0, deployed.stderr[-4000:]
        assert f"ghost/m: no version to deploy, its training was skipped ({GHOST})" in deployed.stderr
        assert f"m@ghost: {GHOST}" in deployed.stderr[deployed.stderr.index("\nsummary"):]
        url = next(line.split()[-1] for line in deployed.stderr.splitlines() if line.strip().startswith("gateway "))
        assert predict(url, {"x": 1.0, "city": "a"})[0] == 200
        status, body = predict(url, {"x": 1.0, "city": "b"})
        assert status == 200 and body["shard"] == "rest" and body["version"] == 1
        status, body = predict(url, {"x": 1.0, "city": "zzz"})
        assert status == 503 and "shard `ghost`" in body["error"]
    finally:
        stopped = mlc("stop", "s.mlc.yaml", cwd=root)
    assert stopped.returncode == 0, stopped.stderr
