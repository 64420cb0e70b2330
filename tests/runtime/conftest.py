"""One local Spark session for the whole test run (session-scoped), configured as the Spark
executor requires (UTC session time zone, ANSI off), with Hive support whose metastore and
warehouse live in a temporary catalog directory."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    """The session's catalog directory: Hive metastore (Derby) and warehouse for table sources."""
    return tmp_path_factory.mktemp("catalog")


@pytest.fixture(scope="session")
def spark(catalog):
    from mlc.runtime.spark_session import local_session

    session = local_session("mlc-tests", cores="2", catalog=str(catalog))
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


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
