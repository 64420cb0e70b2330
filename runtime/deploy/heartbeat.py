"""Heartbeats: a thread per Triton replica reporting to the model registry what it has loaded.

    beat = ReplicaHeartbeat(registry, "east", "east-0", "127.0.0.1:8001", interval=1.0, ttl=5.0).start()
    beat.last          # {"at": ..., "loaded": {"eta": [3, 4]}} or {"error": "..."}
    beat.stop()

Every ``interval`` seconds the thread reads the replica's loaded versions (``probe``; default:
Triton's repository index through :class:`~mlc.runtime.deploy.triton_control.TritonControl`)
and calls ``registry.heartbeat(shard, replica, address, loaded, ttl)``. A replica that cannot be
reached is NOT reported: its last heartbeat expires after ``ttl`` and it stops being live (the
version router and ``mlc status`` ignore it). The gateway runs these threads for the replicas it
talks to ("the gateway's view" of each replica); a registry that cannot be written is logged and
retried on the next beat.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping

log = logging.getLogger("mlc.deploy.heartbeat")


class ReplicaHeartbeat:
    def __init__(self, registry: Any, shard: str, replica: str, address: str,
                 probe: Callable[[], Mapping[str, Any]] | None = None, interval: float = 1.0, ttl: float = 5.0):
        if ttl <= interval:
            raise ValueError(f"the heartbeat TTL ({ttl} s) must exceed its interval ({interval} s)")
        self.registry, self.shard, self.replica, self.address = registry, shard, replica, address
        self.interval, self.ttl = interval, ttl
        self._control = None
        if probe is None:
            from mlc.runtime.deploy.triton_control import TritonControl

            self._control = TritonControl(address, timeout=min(2.0, interval * 2))
            probe = self._control.loaded_versions
        self.probe = probe
        self.last: dict[str, Any] = {"error": "no heartbeat yet"}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> bool:
        """One probe and report; False when the replica or the registry failed."""
        try:
            loaded = {model: sorted(int(v) for v in versions) for model, versions in self.probe().items()}
        except Exception as err:
            if "error" not in self.last or self.last.get("reported"):
                log.warning("replica %s (%s) unreachable: %s", self.replica, self.address, err)
            self.last = {"error": f"unreachable: {err}", "at": time.time()}
            return False
        try:
            self.registry.heartbeat(self.shard, self.replica, self.address, loaded, self.ttl)
        except Exception as err:
            log.warning("heartbeat of %s not written: %s", self.replica, err)
            self.last = {"error": f"registry: {err}", "loaded": loaded, "at": time.time()}
            return False
        self.last = {"loaded": loaded, "at": time.time(), "reported": True}
        return True

    def start(self) -> "ReplicaHeartbeat":
        self.beat()
        self._thread = threading.Thread(target=self._run, name=f"mlc-heartbeat-{self.replica}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._control is not None:
            self._control.close()

    def status(self) -> dict[str, Any]:
        return {"shard": self.shard, "replica": self.replica, "address": self.address, **self.last}
