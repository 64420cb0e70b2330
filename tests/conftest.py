"""Shared test helpers.

Golden files: set ``MLC_UPDATE_GOLDEN=1`` to rewrite them instead of comparing
(``MLC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/golden tests/diagnostics``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
UPDATE_GOLDEN = os.environ.get("MLC_UPDATE_GOLDEN") == "1"


def run_mlc(*args: str, cwd: Path | str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m mlc ARGS` as a separate process (exactly what users run)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "mlc", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=120)


def compare_golden(path: Path, actual: str) -> None:
    """Byte-for-byte comparison with a golden file (or rewrite it under MLC_UPDATE_GOLDEN=1)."""
    if UPDATE_GOLDEN or not path.exists():
        if not UPDATE_GOLDEN:
            pytest.fail(f"golden file {path} is missing; run with MLC_UPDATE_GOLDEN=1 to create it")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path} differs from the golden file (MLC_UPDATE_GOLDEN=1 to accept)"


@pytest.fixture
def mlc():
    return run_mlc


def serving_helpers(alias: str):
    """The spec/export/store helpers of tests/runtime/test_serving_predictor.py (a test module,
    not a package), loaded under ``alias`` so each importer gets its own copy."""
    import importlib.util

    path = REPO / "tests" / "runtime" / "test_serving_predictor.py"
    spec = importlib.util.spec_from_file_location(alias, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url():
    """A throwaway `redis-server` on 127.0.0.1 (free port, no persistence) for the whole run."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if binary is None:
        pytest.fail("`redis-server` is not installed: the Redis online store tests need it "
                    "(install the Debian package `redis-server`: apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--daemonize", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5.0
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.settimeout(0.5)
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    ready = True
                    break
        except OSError:
            pass
        time.sleep(0.05)
    if not ready:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        pytest.fail(f"redis-server on port {port} did not answer PING within 5 s: "
                    f"{(err or b'').decode(errors='replace')[-500:]}")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
