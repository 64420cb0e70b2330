"""Two specs in one folder never share local state: the run folder, the default online store, the
default registry and the deploy state (services, logs) live in `.mlc/<name>/`, so `mlc serve
a.mlc.yaml` cannot serve `b`'s models and `mlc stop a.mlc.yaml` never stops `b`'s services. An
older shared `.mlc/` is ignored with a note; `mlc stop` still stops what it recorded for the spec."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_mlc
from specs import TINY_TRAIN_SPEC


def spec_named(folder: Path, file: str, name: str) -> Path:
    path = folder / file
    path.write_text(TINY_TRAIN_SPEC.replace("name: tiny", f"name: {name}"), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLC_REGISTRY", raising=False)
    (tmp_path / "events.csv").write_text("ts,x,y\n2024-06-01T00:00:00Z,1.0,2.0\n")
    return tmp_path


def test_every_default_path_is_per_application(folder):
    from mlc.app.common import default_run_dir, default_store_url
    from mlc.runtime.deploy.state import deploy_dir, state_path
    from mlc.runtime.model_registry import default_registry_url

    a, b = spec_named(folder, "a.mlc.yaml", "app_a"), spec_named(folder, "b.mlc.yaml", "app_b")
    for spec, name in ((a, "app_a"), (b, "app_b")):
        root = folder / ".mlc" / name
        assert default_run_dir(str(spec)) == str(root / "data")
        assert default_store_url(str(spec)) == f"sqlite:{root / 'online.sqlite'}"
        assert default_registry_url(str(spec)) == f"sqlite:{root / 'registry.sqlite'}"
        assert deploy_dir(str(spec)) == str(root / "deploy")
        assert state_path(str(spec)) == str(root / "deploy" / "state.json")
    # a spec that cannot be read still gets a folder of its own (its file name)
    broken = folder / "c.mlc.yaml"
    broken.write_text("version: [", encoding="utf-8")
    assert default_run_dir(str(broken)) == str(folder / ".mlc" / "c" / "data")


def test_serve_never_serves_another_application(folder):
    """Only `b` has a run folder: serving `a` finds nothing of its own (it once found `b`'s)."""
    from mlc.compiler.pipeline import build
    from mlc.runtime.features.job import write_run_mldl

    a, b = spec_named(folder, "a.mlc.yaml", "app_a"), spec_named(folder, "b.mlc.yaml", "app_b")
    write_run_mldl(build(str(b)).ir, str(folder / ".mlc" / "app_b" / "data"))
    served = run_mlc("serve", a.name, "--embedded", "--port", "0", "--duration", "0.1", cwd=folder)
    assert served.returncode == 1, served.stderr
    assert "error[E7007]" in served.stderr and str(folder / ".mlc" / "app_a" / "data") in served.stderr
    assert "app_b" not in served.stderr


def sleeper() -> subprocess.Popen:
    """A detached stand-in for a deployed service (its own session, like the gateway)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def record(path: Path, spec: Path, app: str, process: subprocess.Popen) -> None:
    """A deploy state listing ``process`` as the gateway of ``app``."""
    from mlc.runtime.deploy.triton_control import process_start_time

    deadline = time.monotonic() + 10
    while process_start_time(process.pid) is None and time.monotonic() < deadline:   # /proc entry up
        time.sleep(0.01)
    state = {"version": 1, "app": app, "spec": str(spec.resolve()), "tritons": {},
             "gateway": {"pid": process.pid, "started": process_start_time(process.pid), "port": 1,
                         "url": "http://127.0.0.1:1", "log": "-"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state), encoding="utf-8")


def ended(process: subprocess.Popen, timeout: float = 20.0) -> bool:
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def test_stop_of_one_application_leaves_the_other_running(folder):
    a, b = spec_named(folder, "a.mlc.yaml", "app_a"), spec_named(folder, "b.mlc.yaml", "app_b")
    services = {"a": sleeper(), "b": sleeper(), "old": sleeper()}
    try:
        record(folder / ".mlc" / "app_a" / "deploy" / "state.json", a, "app_a", services["a"])
        record(folder / ".mlc" / "app_b" / "deploy" / "state.json", b, "app_b", services["b"])
        # what an older mlc left: one shared state, recording a's gateway
        record(folder / ".mlc" / "deploy" / "state.json", a, "app_a", services["old"])
        (folder / ".mlc" / "online.sqlite").write_bytes(b"")

        stopped = run_mlc("stop", "a.mlc.yaml", cwd=folder)
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped 2 service(s)" in stopped.stderr
        assert "are from an older mlc" in stopped.stderr and ".mlc/online.sqlite" in stopped.stderr
        assert ended(services["a"]) and ended(services["old"])
        assert services["b"].poll() is None                       # b's service still runs
        again = run_mlc("stop", "a.mlc.yaml", cwd=folder)
        assert again.returncode == 0 and "stopped 0 service(s)" in again.stderr

        stopped = run_mlc("stop", "b.mlc.yaml", cwd=folder)
        assert stopped.returncode == 0 and "stopped 1 service(s)" in stopped.stderr, stopped.stderr
        assert ended(services["b"])
        spec_named(folder, "c.mlc.yaml", "app_c")
        nothing = run_mlc("stop", "c.mlc.yaml", cwd=folder)          # never deployed: says so
        assert nothing.returncode == 1 and "error[E7217]" in nothing.stderr and "app_c" in nothing.stderr
    finally:
        for process in services.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
