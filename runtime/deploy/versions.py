"""Which version of each (shard, model) the gateway routes to.

    router = VersionRouter(registry, {"east": ["eta"]}, refresh_seconds=0.25).start()
    router.route("east", "eta")      # 4, or None: nothing every live replica has loaded

The rule (docs/deploy.md, "Deploy to the local target"), per (shard, model), over the LIVE
replicas of the shard (heartbeat not expired, ``Registry.replicas``):

* the **desired** version -- the registry state ``routing`` (``{shard: {model: version}}``, set by
  ``mlc deploy`` once every replica reports the new version loaded) -- when every live replica
  reports it loaded;
* else the newest version every live replica reports loaded;
* else (no live replica, or no version common to all) none: the shard answers unavailable.

A live replica that has NO version of the model loaded (just started, or restarted after a
crash, before ``mlc deploy`` loaded it) is *joining*: it takes no traffic for that model and does
not constrain the choice; every other live replica does. So a version a serving replica lacks is
never routed to, and a deploy switches routing only after it loaded the new version everywhere.
:meth:`VersionRouter.serving` gives the addresses that may take a (shard, model)'s requests. The decision is :func:`choose` (pure); the router
recomputes it every ``refresh_seconds`` in a background thread and requests read the last
snapshot (no registry call per request). When the registry cannot be read, the last snapshot
stays (the replicas it was computed from keep serving; a dead replica is skipped by the backend).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

log = logging.getLogger("mlc.deploy.versions")

ROUTING_STATE = "routing"


def choose(desired: int | None, loaded: Sequence[Iterable[int]]) -> int | None:
    """The version to route to, given the desired one and each live replica's loaded versions."""
    if not loaded:
        return None
    common = set(loaded[0])
    for versions in loaded[1:]:
        common &= set(versions)
    if desired is not None and desired in common:
        return desired
    return max(common) if common else None


def compute_routes(targets: Mapping[str, Sequence[str]], replicas: Iterable[Any],
                   desired: Mapping[str, Mapping[str, int]] | None) -> dict[str, dict[str, int | None]]:
    """``{shard: {model: version | None}}`` from live ``ReplicaReport``s and the routing state."""
    return compute(targets, replicas, desired)[0]


def compute(targets: Mapping[str, Sequence[str]], replicas: Iterable[Any],
            desired: Mapping[str, Mapping[str, int]] | None
            ) -> tuple[dict[str, dict[str, int | None]], dict[str, dict[str, tuple[str, ...]]]]:
    """(routes, serving addresses ``{shard: {model: (address, ...)}}``)."""
    by_shard: dict[str, list[Any]] = {}
    for report in replicas:
        by_shard.setdefault(report.shard, []).append(report)
    desired = desired or {}
    routes: dict[str, dict[str, int | None]] = {}
    serving: dict[str, dict[str, tuple[str, ...]]] = {}
    for shard, models in targets.items():
        wanted = desired.get(shard) or {}
        routes[shard], serving[shard] = {}, {}
        for model in models:
            live = [r for r in by_shard.get(shard, []) if r.loaded.get(model)]      # joining ones aside
            version = choose(_int(wanted.get(model)), [r.loaded[model] for r in live])
            routes[shard][model] = version
            serving[shard][model] = tuple(sorted(r.address for r in live)) if version is not None else ()
    return routes, serving


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


class VersionRouter:
    """See the module docstring. ``registry``: a ``mlc.runtime.model_registry.Registry``
    (thread-safe); ``targets``: ``{shard: [models]}``."""

    def __init__(self, registry: Any, targets: Mapping[str, Sequence[str]], refresh_seconds: float = 0.5,
                 clock: Callable[[], float] = time.time):
        self.registry = registry
        self.targets = {shard: tuple(models) for shard, models in targets.items()}
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._routes: dict[str, dict[str, int | None]] = {s: {m: None for m in ms} for s, ms in self.targets.items()}
        self._serving: dict[str, dict[str, tuple[str, ...]]] = {}
        self.refreshed_at: float | None = None
        self.error: str | None = "not refreshed yet"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Recompute the routes from the registry; False (routes kept) when it cannot be read."""
        try:
            replicas = self.registry.replicas()
            desired = self.registry.get_state(ROUTING_STATE)
        except Exception as err:  # RegistryUnavailable, a Redis outage: keep the last routes
            if self.error is None:
                log.warning("model registry unreadable, routes kept: %s", err)
            self.error = str(err)
            return False
        routes, serving = compute(self.targets, replicas, desired)
        with self._lock:
            changed = routes != self._routes
            self._routes, self._serving = routes, serving
            self.refreshed_at = self.clock()
            self.error = None
        if changed:
            log.info("routes: %s", routes)
        return True

    def route(self, shard: str, model: str) -> int | None:
        with self._lock:
            return self._routes.get(shard, {}).get(model)

    def serving(self, shard: str, model: str) -> tuple[str, ...]:
        """The addresses of the live replicas that have the routed version (and may take requests)."""
        with self._lock:
            return self._serving.get(shard, {}).get(model, ())

    def routes(self) -> dict[str, dict[str, int | None]]:
        with self._lock:
            return {shard: dict(models) for shard, models in self._routes.items()}

    def start(self) -> "VersionRouter":
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="mlc-version-router", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def status(self) -> dict[str, Any]:
        with self._lock:
            serving = {s: {m: list(a) for m, a in models.items()} for s, models in self._serving.items()}
        return {"routes": self.routes(), "serving": serving, "refreshed_at": self.refreshed_at, "error": self.error}
