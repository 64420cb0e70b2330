"""The local deploy controller: make what runs on this machine match the registry.

    deployment = LocalDeployment(spec_path, ir, build_dir, output, registry, registry_url, store_url)
    plan = deployment.plan(desired)            # {(shard, model): version} -> what would change
    outcome = deployment.apply(desired)        # start/reuse services, switch versions safely
    deployment.status()                        # desired, routed, each replica's report
    stop(spec_path)                            # stop what state.json lists
    start_stream(spec_path, argv, services, log_path, state_dir)   # the streaming job (`mlc run`)

Services (all on 127.0.0.1, recorded in ``.mlc/<app>/deploy/state.json``, logs in ``.mlc/<app>/deploy/logs``):

* a Triton per shard replica (``<shard>-<i>``), the server bundled with nvidia-pytriton, in
  explicit model-control mode, over its own repository ``.mlc/<app>/deploy/tritons/<replica>/repository``
  (assembled from the build and the run's exports; new versions are copied in from the
  registry's artifact folders). Started once; a later deploy reuses a replica that still answers,
  and restarts one that does not (on the same ports when they are free);
* the gateway, ``python -m mlc.runtime.serving.gateway`` detached, with ``--registry`` and
  ``--heartbeat``: it reports what each replica has loaded and routes with
  :class:`~mlc.runtime.deploy.versions.VersionRouter`. Restarted when its command line changes
  (replica addresses, store, registry, port);
* the streaming job of the spec's stream sources (``python -m mlc.runtime.stream_job``, started
  by the ``stream`` step of ``mlc run``), detached, its log and state in ``.mlc/<app>/stream/``.
  Restarted by every start (the job resumes from its checkpoints); ``stop`` stops it too.

The switch (per (shard, model) whose desired version is not the only one loaded):

1. load the new version next to the loaded ones on every replica (``version_policy specific``);
   a replica that fails stops the deploy here: nothing was routed to the new version;
2. wait until every replica reports it loaded in its heartbeat (and so does every live replica);
3. set the registry state ``routing`` to the new version;
4. wait until the gateway reports routing it (``GET /v1/status``), then a short drain;
5. unload the other versions on every replica.

A registry that cannot be reached raises :class:`DeployError` at the first call that needs it;
the steps after it are not taken (an interrupted switch leaves the old version routed; the next
deploy converges).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from mlc.core.errors import MlcError
from mlc.runtime.app_state import app_name, feature_log_dir, legacy_state_path
from mlc.runtime.deploy import state as state_file
from mlc.runtime.deploy.triton_control import (
    ControlError, ensure_versions, pid_alive, process_start_time, replica_record, start_replica, stop_pid,
    stop_replica, TritonControl,
)
from mlc.runtime.deploy.versions import compute_routes, ROUTING_STATE
from mlc.runtime.model_registry import RegistryError, RegistryUnavailable
from mlc.runtime.streaming.status import read_status, status_path
from mlc.runtime.urls import redact_text, redact_url

HOST = "127.0.0.1"
PRODUCTION = "production"


class DeployError(MlcError):
    """A deploy problem for the user: ``code`` (E72xx), one-line ``message``, optional ``hint``."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


DEFAULT_GATEWAY_PORT = 8080                # the gateway port when none is given or recorded
STREAM_GRACE_S = 30.0                      # SIGTERM to SIGKILL of the streaming job (its micro-batch ends)


@dataclass
class Options:
    replicas: int | None = None            # per shard; None: as deployed before, else 1
    port: int | None = None                # gateway port; None: the recorded one, else 8080; 0: recorded, else free
    heartbeat_interval: float = 0.5
    heartbeat_ttl: float = 3.0
    wait_timeout: float = 60.0             # replicas' heartbeats, the gateway's routes
    drain_seconds: float = 1.0             # after the gateway routes the new version, before unloading
    triton_timeout: float = 2.0


@dataclass
class Change:
    shard: str
    model: str
    version: int
    previous: int | None                   # routed before (registry state `routing`)
    loaded_on: int = 0
    replicas: int = 0
    routed: bool = False
    unloaded: list[int] = field(default_factory=list)

    def line(self) -> str:
        before = "-" if self.previous is None else str(self.previous)
        if self.previous == self.version and self.routed and not self.unloaded and self.loaded_on == 0:
            return f"{self.shard}/{self.model}: {self.version} (unchanged)"
        parts = [f"loaded on {self.loaded_on}/{self.replicas} replicas"]
        if self.routed:
            parts.append("routed")
        if self.unloaded:
            parts.append(f"{', '.join(map(str, self.unloaded))} unloaded")
        return f"{self.shard}/{self.model}: {before} -> {self.version} ({', '.join(parts)})"


def registry_call(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except RegistryUnavailable as err:
        raise DeployError("E7211", f"model registry unreachable while {what}: {err.message}",
                          err.hint or "start it again (or fix --registry), then rerun; nothing further was changed")
    except RegistryError as err:
        raise DeployError("E7211", f"model registry: {err.message} (while {what})", err.hint)


def targets(ir: Any) -> list[tuple[str, str]]:
    """(shard, model) of every model every shard serves, in deployment order."""
    return [(shard.name, model) for shard in ir.deployment.shards for model in shard.models]


def desired_versions(registry: Any, ir: Any, promote: bool = True,
                     skipped: Mapping[tuple[str, str], str] | None = None) -> tuple[dict[tuple[str, str], int], list[str]]:
    """The ``production`` version of every (shard, model); a model without one gets its latest
    registered version, promoted with reason "first deploy" (when ``promote``). Returns (desired,
    notes). ``skipped``: ``{(model, shard): reason}`` of the pairs training skipped (no training
    rows, ``mlc.runtime.training.skipped``): one without any version is left out with a note
    (its requests answer 503), as long as something else is deployed."""
    desired, notes, missing = {}, [], []
    skipped = skipped or {}
    for shard, model in targets(ir):
        version = registry_call("reading aliases", lambda: registry.resolve(model, shard, PRODUCTION))
        if version is None:
            latest = registry_call("reading versions", lambda: registry.latest(model, shard))
            if latest is None and (model, shard) in skipped:
                missing.append(f"{shard}/{model}: {skipped[(model, shard)]}")
                notes.append(f"{shard}/{model}: no version to deploy, its training was skipped "
                             f"({skipped[(model, shard)]}); its requests answer 503 until a version is registered")
                continue
            if latest is None:
                raise DeployError("E7221", f"no registered version of model `{model}` for shard `{shard}`",
                                  "export one first: mlc run SPEC --step all")
            version = latest.version
            if promote:
                registry_call("promoting", lambda: registry.promote(model, shard, version, PRODUCTION, "first deploy"))
                notes.append(f"{shard}/{model}: version {version} promoted to production (first deploy)")
            else:
                notes.append(f"{shard}/{model}: version {version} would be promoted to production (first deploy)")
        desired[(shard, model)] = int(version)
    if missing and not desired:
        raise DeployError("E7221", "no registered version to deploy: training skipped every model: " + "; ".join(missing),
                          "fix the data or the spec, then: mlc run SPEC --step all")
    return desired, notes


def _get_json(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"null")
        except ValueError:
            return err.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def _free_port() -> int:
    from mlc.runtime.serving.local_triton import free_port

    return free_port()


def _tail(path: str | None, limit: int = 3000) -> str:
    if not path or not os.path.isfile(path):
        return ""
    with open(path, "rb") as handle:
        handle.seek(max(0, os.path.getsize(path) - limit))
        return handle.read().decode("utf-8", errors="replace")


def _digest(values: Mapping[str, str]) -> str:
    """A fingerprint of ``values`` (secret-bearing URLs) that the state file can keep."""
    import hashlib

    return hashlib.sha256(json.dumps(dict(values), sort_keys=True).encode()).hexdigest()


def _environment(services: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``services`` replacing every store/registry variable."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("MLC_REDIS_URL", "MLC_STORE_URL", "MLC_REGISTRY")}
    return {**inherited, **services}


class LocalDeployment:
    def __init__(self, spec_path: str, ir: Any, build_dir: str, output: str, registry: Any, registry_url: str,
                 store_url: str, options: Options | None = None, say: Callable[[str], None] | None = None):
        self.spec_path = os.path.abspath(spec_path)
        self.ir, self.build_dir, self.output = ir, os.path.abspath(build_dir), os.path.abspath(output)
        self.registry, self.registry_url, self.store_url = registry, registry_url, store_url
        self.options = options or Options()
        self.say = say or (lambda line: None)
        self.root = state_file.deploy_dir(spec_path)
        self.state = self._load_state()

    # ------------------------------------------------------------------ state

    def _load_state(self) -> dict[str, Any]:
        try:
            found = state_file.load_state(self.spec_path)
        except ValueError as err:
            raise DeployError("E7219", str(err))
        return found or state_file.empty_state(self.spec_path, self.ir.name)

    def _save(self) -> None:
        self.state.update(app=self.ir.name, registry=self.registry_url, store=self.store_url, build=self.build_dir)
        state_file.save_state(self.spec_path, self.state)

    def replica_ids(self) -> dict[str, list[str]]:
        count = self.options.replicas
        if count is None:
            known = [r for r in self.state.get("tritons", {}).values()]
            count = max([int(r["replica"].rsplit("-", 1)[1]) + 1 for r in known] or [1])
        return {shard.name: [f"{shard.name}-{i}" for i in range(count)] for shard in self.ir.deployment.shards}

    # ------------------------------------------------------------------ plan

    def routing_state(self) -> dict[str, dict[str, int]]:
        return registry_call("reading the routing state", lambda: self.registry.get_state(ROUTING_STATE)) or {}

    def plan(self, desired: Mapping[tuple[str, str], int]) -> list[str]:
        routing = self.routing_state()
        lines = []
        running = {rid: rec for rid, rec in self.state.get("tritons", {}).items()
                   if pid_alive(rec.get("pid"), rec.get("started"))}
        for shard, ids in self.replica_ids().items():
            for rid in ids:
                lines.append(f"triton {rid}: " + ("reuse " + running[rid]["grpc"] if rid in running else "start"))
        gateway = self.state.get("gateway") or {}
        alive = pid_alive(gateway.get("pid"), gateway.get("started"))
        lines.append("gateway: " + (f"reuse or restart {gateway.get('url')}" if alive else "start"))
        for (shard, model), version in desired.items():
            previous = (routing.get(shard) or {}).get(model)
            what = "unchanged" if previous == version else "load next to the loaded versions, route, unload the others"
            lines.append(f"{shard}/{model}: {'-' if previous is None else previous} -> {version} ({what})")
        return lines

    # ------------------------------------------------------------------ services

    @property
    def serves_features(self) -> bool:
        """Whether the gateway reads the online store: some feature group is online."""
        return any(group.online for group in self.ir.feature_groups)

    def check_store(self) -> None:
        """The online store must exist and answer (never created here: `mlc materialize` writes
        it), when the spec has online feature groups."""
        from mlc.runtime.online_store import open_store

        if not self.serves_features:
            return
        try:
            store = open_store(self.store_url, timeout=2.0)
            try:
                store.get_many([f"{self.ir.name}:mlc-deploy-probe"])
            finally:
                store.close()
        except Exception as err:
            detail = redact_text(" ".join(str(err).split()), self.store_url)[:300]
            raise DeployError("E7212", f"online store `{redact_url(self.store_url)}` unreachable: {detail}",
                              "materialize it first (mlc materialize SPEC), start it, or pass another --store; "
                              "nothing was changed")

    def _models_dir(self, shard: str) -> str:
        repository = os.path.join(self.output, "models", "repository")
        return os.path.join(repository, shard) if self.ir.deployment.partition_key else repository

    def ensure_tritons(self, desired: Mapping[tuple[str, str], int]) -> dict[str, dict[str, Any]]:
        """Every replica running (reused or started); returns ``{replica: record}``."""
        from mlc.runtime.serving.local_triton import LocalTritonError, assemble_repository

        wanted = self.replica_ids()
        tritons = self.state.setdefault("tritons", {})
        keep = {rid for ids in wanted.values() for rid in ids}
        for rid in sorted(set(tritons) - keep):              # fewer replicas than before
            stop_replica(tritons.pop(rid))
            self.say(f"triton {rid}: stopped (no longer wanted)")
        to_start = []
        for shard, ids in wanted.items():
            for rid in ids:
                record = tritons.get(rid)
                if record and pid_alive(record.get("pid"), record.get("started")):
                    control = TritonControl(record["grpc"])
                    try:
                        control.loaded_versions()
                        continue
                    except ControlError:
                        pass
                    finally:
                        control.close()
                if record:
                    stop_replica(record)                    # a hung or dead one: remove what is left
                to_start.append((shard, rid, record))

        def start(item: tuple[str, str, Any]) -> dict[str, Any]:
            shard, rid, record = item
            repository = os.path.join(self.root, "tritons", rid, "repository")
            if not os.path.isdir(repository):
                partial = repository + ".partial"
                shutil.rmtree(partial, ignore_errors=True)
                assemble_repository(self.build_dir, self._models_dir(shard), shard, partial, missing_ok=True)
                os.replace(partial, repository)
            triton = start_replica(repository, os.path.join(self.root, "logs", f"triton-{rid}"),
                                   os.path.join(self.root, "work"), (record or {}).get("ports"))
            return replica_record(triton, shard, rid)

        if to_start:
            with ThreadPoolExecutor(max_workers=len(to_start)) as pool:
                futures = [(item, pool.submit(start, item)) for item in to_start]
                failures = []
                for (shard, rid, _), future in futures:
                    try:
                        record = future.result()
                    except (LocalTritonError, ControlError, OSError) as err:
                        failures.append(f"{rid}: {' '.join(str(err).split())[:600]}")
                        continue
                    tritons[rid] = record
                    self.say(f"triton {rid}: started, grpc {record['grpc']} (pid {record['pid']}, log {record['log']})")
            self._save()
            if failures:
                raise DeployError("E7213", "Triton could not be started: " + "; ".join(failures),
                                  f"see the server log under {os.path.join(self.root, 'logs')}")
        return {rid: tritons[rid] for ids in wanted.values() for rid in ids}

    def gateway_argv(self, tritons: Mapping[str, Mapping[str, Any]], port: int) -> list[str]:
        argv = [sys.executable, "-m", "mlc.runtime.serving.gateway", "--build", self.build_dir, "--heartbeat",
                "--heartbeat-interval", str(self.options.heartbeat_interval),
                "--heartbeat-ttl", str(self.options.heartbeat_ttl),
                "--triton-timeout", str(self.options.triton_timeout),
                "--host", HOST, "--port", str(port),
                "--feature-log", feature_log_dir(self.spec_path, self.ir.name)]   # at the spec's sample rate
        for shard, ids in self.replica_ids().items():
            argv += ["--triton", f"{shard}=" + ",".join(tritons[rid]["grpc"] for rid in ids)]
        return argv

    def gateway_services(self) -> dict[str, str]:
        """The store and registry URLs of the gateway, passed in its environment: they may hold
        passwords, which must not show in its command line (`ps`) or the state file."""
        services = {"MLC_REGISTRY": self.registry_url}
        if self.serves_features:
            services["MLC_STORE_URL"] = self.store_url
        return services

    def ensure_gateway(self, tritons: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        record = self.state.get("gateway") or {}
        alive = pid_alive(record.get("pid"), record.get("started"))
        # --port N: N; none given: the recorded port, else 8080; 0: the recorded port, else a free one
        fallback = DEFAULT_GATEWAY_PORT if self.options.port is None else None
        port = self.options.port or record.get("port") or fallback or _free_port()
        argv = self.gateway_argv(tritons, port)
        services = self.gateway_services()
        if alive and record.get("argv") == argv and record.get("services") == _digest(services) \
                and _get_json(record["url"] + "/healthz")[0] == 200:
            return record
        if alive:
            stop_pid(record["pid"], record.get("started"), grace=10.0)
            self.say(f"gateway: restarting (pid {record['pid']} stopped)")
        log_path = os.path.join(self.root, "logs", "gateway.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=self.root, env=_environment(services))
        url = f"http://{HOST}:{port}"
        record = {"pid": process.pid, "started": process_start_time(process.pid), "port": port, "url": url,
                  "argv": argv, "services": _digest(services), "log": log_path}
        self.state["gateway"] = record
        self._save()
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DeployError("E7216", f"the gateway exited with code {process.returncode} at start "
                                  f"(log {log_path}):\n{_tail(log_path)}",
                                  f"is port {port} taken? pass another --port")
            code, body = _get_json(url + "/v1/status")
            if code == 200 and body and body.get("spec") == self.ir.name:
                self.say(f"gateway: started, {url}/v1/predict (pid {process.pid}, log {log_path})")
                return record
            time.sleep(0.1)
        raise DeployError("E7216", f"the gateway did not load within 60 s (log {log_path})")

    # ------------------------------------------------------------------ switch

    def _wait(self, what: str, check: Callable[[], tuple[bool, str]], timeout: float, code: str) -> None:
        deadline = time.monotonic() + timeout
        detail = ""
        while True:
            done, detail = check()
            if done:
                return
            if time.monotonic() > deadline:
                raise DeployError(code, f"timed out after {timeout:.0f} s waiting for {what}: {detail}",
                                  "the old version stays routed; `mlc status SPEC` shows each replica")
            time.sleep(0.1)

    def _reports(self) -> dict[str, Any]:
        return {r.replica: r for r in registry_call("reading heartbeats", lambda: self.registry.replicas())}

    def _replicas_have(self, tritons: Mapping[str, Mapping[str, Any]],
                       want: Mapping[tuple[str, str], set[int]], exact: bool) -> tuple[bool, str]:
        reports = self._reports()
        missing = []
        for (shard, model), versions in want.items():
            expected = [rid for rid, rec in tritons.items() if rec["shard"] == shard]
            live = [r.replica for r in reports.values() if r.shard == shard]
            for rid in sorted(set(expected) | set(live)):
                report = reports.get(rid)
                if report is None:
                    missing.append(f"{rid}: no heartbeat")
                    continue
                have = set(report.loaded.get(model, ()))
                if (have != versions) if exact else not versions <= have:
                    missing.append(f"{rid} reports {model} {sorted(have)}")
        return not missing, "; ".join(missing)

    def _gateway_routes(self, want: Mapping[tuple[str, str], int]) -> tuple[bool, str]:
        url = (self.state.get("gateway") or {}).get("url")
        code, body = _get_json(f"{url}/v1/status")
        if code != 200 or not isinstance(body, dict):
            return False, f"gateway {url} not answering"
        routes = body.get("routes") or {}
        wrong = [f"{shard}/{model} routed {(routes.get(shard) or {}).get(model)}"
                 for (shard, model), version in want.items() if (routes.get(shard) or {}).get(model) != version]
        return not wrong, "; ".join(wrong)

    def switch(self, tritons: Mapping[str, Mapping[str, Any]], desired: Mapping[tuple[str, str], int]) -> list[Change]:
        artifacts = {}
        for (shard, model), version in desired.items():
            found = registry_call("reading versions", lambda: self.registry.get(model, shard, version))
            artifacts[(shard, model)] = found.artifact
        routing = self.routing_state()
        controls = {rid: TritonControl(rec["grpc"], rec["repository"], timeout=self.options.triton_timeout)
                    for rid, rec in tritons.items()}
        changes = {key: Change(key[0], key[1], version, (routing.get(key[0]) or {}).get(key[1]),
                               replicas=sum(1 for r in tritons.values() if r["shard"] == key[0]))
                   for key, version in desired.items()}
        try:
            # 1. load the new version next to what is loaded, on every replica (in parallel)
            def load(rid: str) -> list[tuple[str, str]]:
                record, control = tritons[rid], controls[rid]
                loaded = control.loaded_versions()
                done = []
                for (shard, model), version in desired.items():
                    if shard != record["shard"]:
                        continue
                    have = set(loaded.get(model, ()))
                    if version in have:
                        continue
                    routed = (routing.get(shard) or {}).get(model)
                    keep = have | ({routed} if routed is not None and not have else set())   # a restarted replica
                    ensure_versions(self.build_dir, shard, record["repository"], model,
                                    {version: artifacts[(shard, model)],
                                     **{v: self._artifact(model, shard, v) for v in keep - have}})
                    control.load(model, keep | {version})
                    done.append((shard, model))
                return done

            failures = []
            with ThreadPoolExecutor(max_workers=max(1, len(controls))) as pool:
                futures = {rid: pool.submit(load, rid) for rid in controls}
                for rid, future in futures.items():
                    try:
                        for key in future.result():
                            changes[key].loaded_on += 1
                    except (ControlError, OSError) as err:
                        failures.append(f"{rid}: {' '.join(str(err).split())[:500]}")
            if failures:
                raise DeployError("E7214", "a version could not be loaded: " + "; ".join(failures),
                                  "the previous version stays routed; fix the replica (or the model) and deploy again")
            # 2. every replica (and every live one) reports it
            want = {key: {version} for key, version in desired.items()}
            self._wait("every replica to report the new versions", lambda: self._replicas_have(tritons, want, False),
                       self.options.wait_timeout, "E7215")
            # 3. route to it
            current = self.routing_state()
            for (shard, model), version in desired.items():
                current.setdefault(shard, {})[model] = version
            registry_call("setting the routing state", lambda: self.registry.put_state(ROUTING_STATE, current))
            # 4. the gateway routes it
            self._wait("the gateway to route the new versions", lambda: self._gateway_routes(desired),
                       self.options.wait_timeout, "E7216")
            for change in changes.values():
                change.routed = True
            # 5. unload the others
            time.sleep(self.options.drain_seconds)
            for rid, control in controls.items():
                loaded = control.loaded_versions()
                for (shard, model), version in desired.items():
                    if shard != tritons[rid]["shard"]:
                        continue
                    others = sorted(set(loaded.get(model, ())) - {version})
                    if others:
                        control.load(model, [version])
                        unloaded = changes[(shard, model)].unloaded
                        unloaded.extend(v for v in others if v not in unloaded)
            try:
                self._wait("the replicas to report the old versions unloaded",
                           lambda: self._replicas_have(tritons, want, True), min(10.0, self.options.wait_timeout), "E7215")
            except DeployError as err:
                self.say(f"warning: {err.message}")
        finally:
            for control in controls.values():
                control.close()
        return list(changes.values())

    def _artifact(self, model: str, shard: str, version: int) -> str:
        return registry_call("reading versions", lambda: self.registry.get(model, shard, version)).artifact

    def apply(self, desired: Mapping[tuple[str, str], int]) -> list[Change]:
        self.check_store()
        tritons = self.ensure_tritons(desired)
        self.ensure_gateway(tritons)
        self._save()
        return self.switch(tritons, desired)

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        desired = {}
        for shard, model in targets(self.ir):
            desired[(shard, model)] = registry_call("reading aliases",
                                                     lambda: self.registry.resolve(model, shard, PRODUCTION))
        routing = self.routing_state()
        reports = list(registry_call("reading heartbeats", lambda: self.registry.replicas()))
        gateway = self.state.get("gateway") or {}
        gateway_alive = pid_alive(gateway.get("pid"), gateway.get("started"))
        routes, source = None, "computed from the registry"
        if gateway_alive:
            code, body = _get_json(gateway["url"] + "/v1/status")
            if code in (200, 503) and isinstance(body, dict) and "routes" in body:
                routes, source = body["routes"], "gateway"
        if routes is None:
            by_shard: dict[str, list[str]] = {}
            for shard, model in targets(self.ir):
                by_shard.setdefault(shard, []).append(model)
            routes = compute_routes(by_shard, reports, routing)
        now = time.time()
        recorded = self.state.get("tritons", {})
        entries = []
        for shard, model in targets(self.ir):
            replicas = []
            live = {r.replica: r for r in reports if r.shard == shard}
            for rid in sorted(set(live) | {rid for rid, rec in recorded.items() if rec["shard"] == shard}):
                report = live.get(rid)
                record = recorded.get(rid) or {}
                replicas.append({
                    "replica": rid, "address": report.address if report else record.get("grpc"),
                    "live": report is not None,
                    "loaded": list(report.loaded.get(model, ())) if report else [],
                    "heartbeat_age_s": round(now - report.at, 1) if report else None,
                    "pid": record.get("pid"), "running": pid_alive(record.get("pid"), record.get("started"))
                    if record else None})
            want, routed = desired[(shard, model)], (routes.get(shard) or {}).get(model)
            reasons = []
            if routed is None:
                reasons.append("nothing routed")
            elif want is not None and routed != want:
                reasons.append(f"routed {routed}, desired {want}")
            if not replicas:
                reasons.append("no replica")
            for replica in replicas:
                if not replica["live"]:
                    reasons.append(f"{replica['replica']} has no live heartbeat")
                elif want is not None and replica["loaded"] != [want]:
                    reasons.append(f"{replica['replica']} has {replica['loaded']} loaded")
            entries.append({"shard": shard, "model": model, "desired": want,
                            "routing_state": (routing.get(shard) or {}).get(model), "routed": routed,
                            "replicas": replicas, "consistent": not reasons, "problems": reasons})
        return {"app": self.ir.name, "registry": self.registry_url,
                "gateway": {"url": gateway.get("url"), "pid": gateway.get("pid"), "running": gateway_alive},
                "routes_from": source, "models": entries}


def stop(spec_path: str, say: Callable[[str], None] = lambda line: None) -> int:
    """Stop every service this application's ``state.json`` lists (the gateway first, then the
    streaming job, then the Tritons), and those an
    older shared ``.mlc/deploy/state.json`` recorded for this spec or app; returns how many were
    running. Another application's services (another spec in the folder) are never touched."""

    app = app_name(spec_path)
    try:
        found = state_file.load_state(spec_path)
    except ValueError as err:
        raise DeployError("E7219", str(err))
    states = [(None, found)] if found is not None else []
    legacy = _legacy_state(spec_path, app)
    if legacy is not None:
        states.append(legacy)
    if not states:
        raise DeployError("E7217", f"nothing deployed from here by `{app}` (no .mlc/{app}/deploy/state.json "
                                   f"beside the spec)")
    stopped = 0
    for path, recorded in states:
        stopped += _stop_recorded(recorded, say)
        recorded["gateway"] = {}
        recorded["tritons"] = {}
        recorded["stream"] = {}
        state_file.save_state(spec_path, recorded, path)
    return stopped


def _legacy_state(spec_path: str, app: str) -> tuple[str, dict[str, Any]] | None:
    """(path, state) of the older shared layout's ``.mlc/deploy/state.json`` when it records
    services of this spec (same file) or app; None otherwise."""

    path = legacy_state_path(spec_path)
    if not os.path.isfile(path):
        return None
    try:
        found = state_file.load_state(spec_path, path)
    except ValueError:
        return None
    if found is None or (found.get("spec") != os.path.abspath(spec_path) and found.get("app") != app):
        return None
    return path, found


def _stop_recorded(found: dict[str, Any], say: Callable[[str], None]) -> int:
    stopped = 0
    gateway = found.get("gateway") or {}
    if gateway and stop_pid(gateway.get("pid"), gateway.get("started"), grace=10.0, group=True):
        stopped += 1
        say(f"gateway (pid {gateway['pid']}): stopped")
    stream = found.get("stream") or {}
    if stream and stop_pid(stream.get("pid"), stream.get("started"), grace=STREAM_GRACE_S, group=True):
        stopped += 1
        say(f"stream job (pid {stream['pid']}): stopped")
    records = list(found.get("tritons", {}).items())
    if records:
        with ThreadPoolExecutor(max_workers=len(records)) as pool:
            results = list(pool.map(lambda item: (item[0], item[1], stop_replica(item[1])), records))
        for rid, record, was in results:
            if was:
                stopped += 1
                say(f"triton {rid} (pid {record.get('pid')}): stopped")
    return stopped


# ------------------------------------------------------------------ the streaming job


def start_stream(spec_path: str, argv: list[str], services: Mapping[str, str], log_path: str, state_dir: str,
                 timeout: float = 120.0, say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Start the streaming job ``argv`` detached (its own session: `stop` ends its JVM too), after
    stopping the one recorded before; record it in ``state.json`` (``stream``); wait until it has
    written its ``status.json`` (bounded by ``timeout``). ``services``: the store URL, passed in
    its environment (never its command line or the state file: it may hold a password). E7304 when
    it exits or does not report in time (then it is stopped); its record."""
    try:
        state = state_file.load_state(spec_path) or state_file.empty_state(spec_path, app_name(spec_path))
    except ValueError as err:
        raise DeployError("E7219", str(err))
    previous = state.get("stream") or {}
    if stop_pid(previous.get("pid"), previous.get("started"), grace=STREAM_GRACE_S, group=True):
        say(f"stream job: restarting (pid {previous['pid']} stopped)")
    os.makedirs(state_dir, exist_ok=True)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    began = time.time_ns()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=state_dir, env=_environment(services))
    record = {"pid": process.pid, "started": process_start_time(process.pid), "argv": argv,
              "services": _digest(services), "log": log_path, "state_dir": state_dir}
    state["stream"] = record
    state_file.save_state(spec_path, state)
    _wait_for_report(process, record, began, timeout)
    return record


def stream_reported(state_dir: str, since_ns: int) -> bool:
    """The job's ``status.json`` is readable and was written at or after ``since_ns`` (epoch ns)."""
    if read_status(state_dir) is None:
        return False
    try:
        return os.stat(status_path(state_dir)).st_mtime_ns >= since_ns
    except OSError:
        return False


def _wait_for_report(process: subprocess.Popen, record: Mapping[str, Any], began_ns: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    log_path = record["log"]
    while not stream_reported(record["state_dir"], began_ns):
        if process.poll() is not None:
            raise DeployError("E7304", f"the streaming job exited with code {process.returncode} at start "
                                       f"(log {log_path}):\n{_tail(log_path)}",
                              "fix what the log says, then: mlc run SPEC --from stream")
        if time.monotonic() > deadline:
            stop_pid(record["pid"], record.get("started"), grace=STREAM_GRACE_S, group=True)
            raise DeployError("E7304", f"the streaming job wrote no status within {timeout:.0f} s, and was stopped "
                                       f"(log {log_path}):\n{_tail(log_path)}",
                              "a slow machine: set MLC_STREAM_START_TIMEOUT (seconds) and run again")
        time.sleep(0.1)
