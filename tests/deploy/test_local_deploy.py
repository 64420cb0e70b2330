"""`mlc deploy --target local` end to end on real parts: a sharded spec (two shards, two Triton
replicas each: the server bundled with nvidia-pytriton in explicit model-control mode), model
versions exported with build_model/export_model (no training), the SQLite registry and store, a
private Redis for the registry-outage test, the gateway as a detached process. Every command
runs as users run it (`python -m mlc ...`).

The tests of this module share one deployment and run in order (Triton and gateway starts are
the slow part): v1, then v2 under load, a replica that cannot load v3, a Triton killed during a
switch, then `mlc stop`. A separate small deployment checks the registry Redis outage."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from conftest import REPO  # noqa: E402
from specs import MINIMAL_SPEC  # noqa: E402

SHARDING = """
deployment:
  sharding:
    partition_key: city
    default: south
    shards:
      north: {partitions: [beijing], models: [eta]}
      south: {partitions: [shenzhen], models: [eta]}
"""
FITTED = {"dist_z:standardize:0": {"mean": 0.4, "std": 0.7, "count": 100}}
FAST = {"MLC_HEARTBEAT_INTERVAL": "0.25", "MLC_HEARTBEAT_TTL": "2.0", "MLC_DEPLOY_DRAIN": "0.5",
        "MLC_DEPLOY_WAIT_TIMEOUT": "30", "NO_COLOR": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
NORTH = {"context": {"city": "beijing", "rider_id": 1}, "items": [{"distance_km": 1.0}, {"distance_km": 3.0}]}
SOUTH = {"context": {"city": "shenzhen", "rider_id": 2}, "items": [{"distance_km": 2.0}]}


# ------------------------------------------------------------------------------------ helpers


def mlc(root: Path, *args: str, env: dict | None = None, timeout: float = 150) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(REPO.parent), **FAST, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mlc", *args], cwd=root, env=full, capture_output=True,
                          text=True, timeout=timeout)


def make_project(root: Path) -> Path:
    """The spec, a run folder (.mlc/demo/data: fitted mldl.json, models/repository) and the default
    online store (as `mlc materialize` leaves it, here with no record) beside it."""
    from mlc.app.common import default_store_url
    from mlc.compiler.pipeline import build
    from mlc.runtime.features.job import write_run_mldl
    from mlc.runtime.features.fitting import with_fitted
    from mlc.runtime.online_store import open_store

    root.mkdir(parents=True, exist_ok=True)
    spec = root / "s.mlc.yaml"
    spec.write_text(MINIMAL_SPEC + SHARDING, encoding="utf-8")
    result = build(str(spec))
    assert result.ok, [d.message for d in result.diagnostics]
    write_run_mldl(with_fitted(result.ir, FITTED), str(root / ".mlc" / "demo" / "data"))
    open_store(default_store_url(str(spec)), create=True).close()
    return spec


def export(root: Path, version: int, shards=("north", "south")) -> None:
    """Version ``version`` of `eta` on ``shards`` (output bias = version: versions score apart)."""
    from mlc.compiler.pipeline import build
    from mlc.runtime.training.export import export_model
    from mlc.runtime.training.models import build_model

    ir = build(str(root / "s.mlc.yaml")).ir
    model = ir.model("eta")
    for shard in shards:
        target = root / ".mlc" / "demo" / "data" / "models" / "repository" / shard
        export_model(build_model(model, seed=version, output_bias=float(version)), model, str(target), version, {})


def promote(root: Path, version: int, shard: str) -> None:
    """Register the run's exports and point `production` of eta@shard at ``version``."""
    from mlc.compiler.pipeline import build
    from mlc.runtime.model_registry import default_registry_url, open_registry

    spec = str(root / "s.mlc.yaml")
    with open_registry(default_registry_url(spec), "demo") as registry:
        registry.register_run(build(spec).ir, str(root / ".mlc" / "demo" / "data"))
        registry.promote("eta", shard, version, "production", "test")


def predict(url: str, body: dict, timeout: float = 10.0) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/v1/predict", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def state(root: Path) -> dict:
    return json.loads((root / ".mlc" / "demo" / "deploy" / "state.json").read_text())


def status(root: Path) -> dict:
    result = mlc(root, "status", "s.mlc.yaml", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def entry(doc: dict, shard: str) -> dict:
    return next(e for e in doc["models"] if e["shard"] == shard and e["model"] == "eta")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants_of_sessions(pids) -> list[int]:
    """Every live process whose session is one of ``pids`` (Tritons and their stubs, gateways)."""
    found = []
    for entry_ in os.listdir("/proc"):
        if not entry_.isdigit():
            continue
        try:
            with open(f"/proc/{entry_}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) in pids:     # field 6: session id
            found.append(int(entry_))
    return found


class Load:
    """Requests in a loop from a thread: every answer's (status, version) kept in order."""

    def __init__(self, url: str, body: dict):
        self.url, self.body, self.answers = url, body, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                code, doc = predict(self.url, self.body)
            except Exception as err:     # a connection error counts as a failure
                code, doc = -1, {"error": str(err)}
            self.answers.append((code, doc.get("version"), doc.get("error")))

    def __enter__(self) -> "Load":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def versions_seen(answers) -> list[int]:
    """The versions of the successful answers, consecutive repeats collapsed."""
    out = []
    for code, version, _ in answers:
        if code == 200 and (not out or out[-1] != version):
            out.append(version)
    return out


# ------------------------------------------------------------------------------------ the deployment


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    make_project(root)
    export(root, 1)
    yield root
    if (root / ".mlc" / "demo" / "deploy" / "state.json").exists():      # a test failed before `mlc stop`
        mlc(root, "stop", "s.mlc.yaml")


def test_deploy_then_switch_under_load_without_a_failed_request(project):
    started = time.monotonic()
    plan = mlc(project, "deploy", "s.mlc.yaml", "--replicas", "2", "--port", "0", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "plan: north/eta: - -> 1" in plan.stderr and "plan: triton north-1: start" in plan.stderr
    assert not (project / ".mlc" / "demo" / "deploy" / "state.json").exists()     # a dry run starts nothing

    first = mlc(project, "deploy", "s.mlc.yaml", "--replicas", "2", "--port", "0")
    assert first.returncode == 0, first.stderr
    assert "north/eta: - -> 1 (loaded on 2/2 replicas, routed)" in first.stderr, first.stderr
    assert "version 1 promoted to production (first deploy)" in first.stderr
    url = state(project)["gateway"]["url"]
    assert predict(url, NORTH)[1]["version"] == 1 and predict(url, SOUTH)[1]["version"] == 1
    print(f"first deploy: {time.monotonic() - started:.1f} s")

    export(project, 2)
    promote(project, 2, "north")                   # south: registered, not promoted: stays on 1
    pids = {r["pid"] for r in state(project)["tritons"].values()}
    with Load(url, NORTH) as load:
        time.sleep(0.5)
        second = mlc(project, "deploy", "s.mlc.yaml", "--port", "0")
        time.sleep(0.5)
    assert second.returncode == 0, second.stderr
    assert "north/eta: 1 -> 2 (loaded on 2/2 replicas, routed, 1 unloaded)" in second.stderr, second.stderr
    assert "south/eta: 1 (unchanged)" in second.stderr, second.stderr
    assert {r["pid"] for r in state(project)["tritons"].values()} == pids        # the Tritons were reused
    failures = [a for a in load.answers if a[0] != 200]
    assert len(load.answers) >= 200, len(load.answers)
    assert failures == [], failures[:5]
    assert versions_seen(load.answers) == [1, 2]                                  # never back
    doc = status(project)
    north = entry(doc, "north")
    assert north["desired"] == 2 and north["routed"] == 2 and north["consistent"], north
    assert [r["loaded"] for r in north["replicas"]] == [[2], [2]]
    assert entry(doc, "south")["routed"] == 1
    print(f"switch: {len(load.answers)} requests, deploy + switch {time.monotonic() - started:.1f} s")


def test_routing_waits_for_every_replica(project):
    """north-1 cannot load v3 (a corrupt copy already in its repository): the deploy fails, v2
    stays routed everywhere, `mlc status` marks the shard INCONSISTENT."""
    export(project, 3, shards=("north",))
    promote(project, 3, "north")
    broken = Path(state(project)["tritons"]["north-1"]["repository"]) / "eta" / "3"
    shutil.copytree(Path(state(project)["tritons"]["north-1"]["repository"]) / "eta" / "2", broken)
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    url = state(project)["gateway"]["url"]
    with Load(url, NORTH) as load:
        result = mlc(project, "deploy", "s.mlc.yaml", "--port", "0")
        time.sleep(1.0)
    assert result.returncode == 1
    assert "error[E7214]" in result.stderr and "north-1" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    print(f"replica without v3: {len(load.answers)} requests during the failed deploy")
    assert [a for a in load.answers if a[0] != 200] == []
    assert {a[1] for a in load.answers} == {2}                # north-0 has v3 loaded, never routed
    doc = status(project)
    north = entry(doc, "north")
    assert north["desired"] == 3 and north["routed"] == 2 and not north["consistent"]
    loaded = {r["replica"]: r["loaded"] for r in north["replicas"]}
    assert loaded == {"north-0": [2, 3], "north-1": [2]}, loaded
    text = mlc(project, "status", "s.mlc.yaml").stdout
    assert "north/eta: desired 3, routed 2  INCONSISTENT" in text, text
    # fixed: the next deploy converges
    shutil.rmtree(broken)
    again = mlc(project, "deploy", "s.mlc.yaml", "--port", "0")
    assert again.returncode == 0, again.stderr
    assert "north/eta: 2 -> 3 (loaded on 1/2 replicas, routed, 2 unloaded)" in again.stderr, again.stderr
    north = entry(status(project), "north")
    assert north["routed"] == 3 and north["consistent"], north


def test_triton_killed_during_a_switch_then_the_next_deploy_converges(project):
    """Both north replicas killed while v4 loads: the shard answers v3 or 503 (never v4 before
    the switch, never a mix within the shard); the next deploy restarts them and converges."""
    export(project, 4, shards=("north",))
    promote(project, 4, "north")
    records = state(project)["tritons"]
    url = state(project)["gateway"]["url"]
    targets = [Path(records[r]["repository"]) / "eta" / "4" for r in ("north-0", "north-1")]
    killed = []

    def killer():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            if any(t.exists() for t in targets):          # the deploy copied v4 in: loading starts
                for rid in ("north-0", "north-1"):
                    os.killpg(records[rid]["pid"], signal.SIGKILL)
                killed.append(time.monotonic())
            time.sleep(0.005)

    thread = threading.Thread(target=killer)
    with Load(url, NORTH) as load:
        thread.start()
        result = mlc(project, "deploy", "s.mlc.yaml", "--port", "0")
        thread.join()
        time.sleep(1.0)
    assert killed, "the deploy never copied version 4"
    codes = [a[0] for a in load.answers]
    print(f"killed during the switch: {codes.count(200)} answered v3, {codes.count(503)} unavailable")
    assert result.returncode == 1 and "error[E7214]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert {a[1] for a in load.answers if a[0] == 200} <= {3}
    assert {a[0] for a in load.answers} <= {200, 503}, {a for a in load.answers if a[0] not in (200, 503)}
    assert predict(url, SOUTH)[1]["version"] == 1                 # the other shard is unaffected
    again = mlc(project, "deploy", "s.mlc.yaml", "--port", "0")
    assert again.returncode == 0, again.stderr
    assert "triton north-0: started" in again.stderr and "north/eta: 3 -> 4" in again.stderr, again.stderr
    assert state(project)["gateway"]["url"] == url
    code, body = predict(url, NORTH)
    assert code == 200 and body["version"] == 4
    north = entry(status(project), "north")
    assert north["routed"] == 4 and north["consistent"], north


def test_rollback_moves_production_back_and_switches(project):
    result = mlc(project, "rollback", "s.mlc.yaml")
    assert result.returncode == 0, result.stderr
    assert "north/eta: production 4 -> 3" in result.stderr, result.stderr     # south has nothing before 1
    assert "north/eta: 4 -> 3 (loaded on 2/2 replicas, routed, 4 unloaded)" in result.stderr, result.stderr
    assert predict(state(project)["gateway"]["url"], NORTH)[1]["version"] == 3
    assert mlc(project, "rollback", "s.mlc.yaml", "--to", "2").returncode == 1     # releases are k8s's


def test_a_deploy_killed_halfway_leaves_the_old_version_and_the_next_one_converges(project):
    """`mlc deploy` itself SIGKILLed while it loads version 5 next to 3: the shard keeps
    answering 3 without a failed request; the next deploy finishes the switch, and afterwards
    every replica has only version 5 loaded."""
    export(project, 5, shards=("north",))
    promote(project, 5, "north")
    records = state(project)["tritons"]
    url = state(project)["gateway"]["url"]
    targets = [Path(records[r]["repository"]) / "eta" / "5" for r in ("north-0", "north-1")]
    env = {**os.environ, "PYTHONPATH": str(REPO.parent), **FAST}
    with Load(url, NORTH) as load:
        deploy = subprocess.Popen([sys.executable, "-m", "mlc", "deploy", "s.mlc.yaml", "--port", "0"], cwd=project,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(t.exists() for t in targets) and deploy.poll() is None:
            time.sleep(0.005)
        interrupted = deploy.poll() is None
        os.killpg(deploy.pid, signal.SIGKILL)
        deploy.wait(timeout=10)
        time.sleep(1.5)
    assert interrupted, "the deploy finished before it could be interrupted"
    assert load.answers and all(code == 200 for code, _, _ in load.answers), \
        {a for a in load.answers if a[0] != 200}
    assert versions_seen(load.answers) == [3]
    again = mlc(project, "deploy", "s.mlc.yaml", "--port", "0")
    assert again.returncode == 0, again.stderr
    assert "north/eta: 3 -> 5" in again.stderr, again.stderr
    assert predict(url, NORTH)[1]["version"] == 5
    north = entry(status(project), "north")
    assert north["routed"] == 5 and north["consistent"], north
    assert [r["loaded"] for r in north["replicas"]] == [[5], [5]]


def test_stop_stops_every_process(project):
    recorded = state(project)
    pids = {recorded["gateway"]["pid"], *(r["pid"] for r in recorded["tritons"].values())}
    assert all(alive(pid) for pid in pids)
    assert len(descendants_of_sessions(pids)) > len(pids)             # the python-backend stubs too
    result = mlc(project, "stop", "s.mlc.yaml")
    assert result.returncode == 0, result.stderr
    assert "stopped 5 service(s)" in result.stderr, result.stderr
    assert descendants_of_sessions(pids) == []
    assert state(project)["tritons"] == {} and state(project)["gateway"] == {}
    again = mlc(project, "stop", "s.mlc.yaml")
    assert again.returncode == 0 and "stopped 0 service(s)" in again.stderr


# ------------------------------------------------------------------------------------ registry outage


def _redis(port: int) -> subprocess.Popen:
    binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("redis-server did not start")


def test_registry_redis_down_during_deploy(tmp_path, redis_url):
    """The registry on a Redis that goes down: the deploy stops with E7211 before changing
    anything further; what runs keeps serving the old version; `mlc stop` still works."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    registry = f"redis://127.0.0.1:{port}/0"
    redis = _redis(port)
    root = tmp_path / "p"
    make_project(root)
    export(root, 1)
    try:
        first = mlc(root, "deploy", "s.mlc.yaml", "--port", "0", "--registry", registry, "--store", redis_url)
        assert first.returncode == 0, first.stderr
        url = state(root)["gateway"]["url"]
        assert predict(url, NORTH)[1]["version"] == 1
        before = state(root)
        export(root, 2)
        redis.terminate()
        redis.wait(timeout=10)
        result = mlc(root, "deploy", "s.mlc.yaml", "--port", "0", "--registry", registry, "--store", redis_url)
        assert result.returncode == 1
        assert "error[E7211]" in result.stderr and "registry" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert state(root) == before                                      # nothing restarted or recorded
        repository = Path(before["tritons"]["north-0"]["repository"])
        assert not (repository / "eta" / "2").exists()                    # nothing copied or loaded
        code, body = predict(url, NORTH)
        assert code == 200 and body["version"] == 1                       # the last routes keep serving
    finally:
        redis.kill()
        redis.wait()
        stop = mlc(root, "stop", "s.mlc.yaml")
        assert stop.returncode == 0, stop.stderr
        assert "stopped 3 service(s)" in stop.stderr, stop.stderr
