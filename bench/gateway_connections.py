"""The gateway under many connections: idle ones, saturation, and a burst of requests.

    .venv/bin/python bench/gateway_connections.py [--connections 500] [--max-connections 256] [--idle-timeout 2]

The gateway (``mlc.runtime.serving.http_server`` limits; ``GET /healthz``, which needs no model)
runs in its own process; this process is the client, with raw sockets. Printed:

1. opening N idle connections: how long, how many the gateway answered at once with 503;
2. a new request while they are open: status, ``Retry-After``, latency;
3. how long until the gateway closed the idle ones (its idle timeout);
4. the next request afterwards;
5. N requests sent at the same moment on N fresh connections: statuses, p50/p99/max latency.
"""

from __future__ import annotations

import argparse
import multiprocessing
import select
import socket
import statistics
import threading
import time

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


def serve(port_out, max_connections: int, idle_timeout: float) -> None:
    from mlc.runtime.serving.gateway import Gateway, serve_in_thread
    from mlc.runtime.serving.http_server import Limits
    from mlc.runtime.serving.metrics import ServingMetrics

    running = serve_in_thread(Gateway(None, ServingMetrics()), limits=Limits(max_connections, idle_timeout))
    port_out.put(running.server.server_address[1])
    threading.Event().wait()


def ask(port: int, timeout: float = 30.0) -> tuple[int, dict, float]:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(REQUEST)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    return int(head[0].split()[1]), headers, time.perf_counter() - started


def idle_connections(port: int, count: int) -> tuple[list[socket.socket], float, int]:
    started = time.perf_counter()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
    elapsed = time.perf_counter() - started
    time.sleep(0.5)                                   # let the gateway answer the ones past its limit
    answered = sum(1 for s in socks if select.select([s], [], [], 0)[0] and s.recv(16).startswith(b"HTTP/1.1 503"))
    return socks, elapsed, answered


def wait_closed(socks: list[socket.socket], limit: float) -> float:
    started = time.perf_counter()
    pending = list(socks)
    while pending and time.perf_counter() - started < limit:
        readable, _, _ = select.select(pending, [], [], 0.1)
        for sock in readable:
            try:
                if not sock.recv(65536):
                    pending.remove(sock)
            except OSError:
                pending.remove(sock)
    return time.perf_counter() - started if not pending else float("inf")


def burst(port: int, count: int) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    gate = threading.Barrier(count)

    def one() -> None:
        gate.wait()
        try:
            status, _, seconds = ask(port, timeout=60)
        except OSError:
            status, seconds = 0, float("inf")
        results.append((status, seconds))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--idle-timeout", type=float, default=2.0)
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports, args.max_connections, args.idle_timeout), daemon=True)
    server.start()
    port = ports.get(timeout=60)
    try:
        socks, opened_s, rejected = idle_connections(port, args.connections)
        print(f"1. {args.connections} idle connections opened in {opened_s:.2f} s; {rejected} answered 503 at once "
              f"(limit {args.max_connections})")
        status, headers, seconds = ask(port)
        print(f"2. a new request meanwhile: {status} (Retry-After: {headers.get('Retry-After', '-')}) "
              f"in {seconds * 1000:.1f} ms")
        closed_s = wait_closed(socks, args.idle_timeout * 10)
        print(f"3. the gateway closed every idle connection after {closed_s:.2f} s (idle timeout {args.idle_timeout:g} s)")
        for sock in socks:
            sock.close()
        status, _, seconds = ask(port)
        print(f"4. the next request: {status} in {seconds * 1000:.1f} ms")
        results = burst(port, args.connections)
        statuses = {s: sum(1 for r, _ in results if r == s) for s in sorted({r for r, _ in results})}
        latencies = sorted(t for _, t in results if t != float("inf"))
        p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
        print(f"5. {args.connections} requests at once: statuses {statuses}; p50 "
              f"{statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    finally:
        server.terminate()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
