"""Explicit model control of one Triton replica (Triton's model-repository extension over gRPC).

    control = TritonControl("127.0.0.1:8001")
    control.load("eta", [3, 4])          # version_policy specific [3, 4]: 4 next to 3
    control.loaded_versions()            # {"eta": (3, 4)}
    control.load("eta", [4])             # 3 unloaded, 4 keeps serving
    control.unload("eta")

``load`` sends ``load_model(name, config=<JSON>)``: the model's ``config.pbtxt`` from the
replica's repository, parsed with Triton's own ``ModelConfig`` protobuf, with
``version_policy { specific { versions: [...] } }``. Triton loads the versions that are new,
keeps serving the versions that stay, and unloads the versions no longer listed; requests for a
version that stays are served during the whole reload (measured in
``tests/deploy/test_local_deploy.py``: zero failed requests while switching).

``loaded_versions`` reads the repository index (``get_model_repository_index``): one entry per
model version with its state; only ``READY`` versions count.

:func:`start_replica` starts a :class:`~mlc.runtime.serving.local_triton.LocalTriton` in explicit
mode (nothing loaded) that outlives this process (its own session; ``mlc stop`` ends it by PID,
see :func:`stop_pid`); :func:`ensure_versions` copies exported versions into a replica's
repository (never changing a version directory that is already there: versions never change).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from typing import Any, Iterable, Mapping

from mlc.runtime.serving.local_triton import HOST, LocalTriton, LocalTritonError
from mlc.core.errors import MlcError
from mlc.backends.triton_layout import repository_plan
from mlc.core.ir import load_ir

READY = "READY"


class ControlError(MlcError, RuntimeError):
    """A model-control request failed (unreachable server, a version that does not load)."""
    code = "E7214"


def _short(err: BaseException, limit: int = 400) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit] + "..."


class TritonControl:
    """Model control of the Triton at ``address`` (gRPC ``host:port``)."""

    def __init__(self, address: str, repository: str | None = None, timeout: float = 2.0,
                 load_timeout: float = 120.0):
        self.address = address
        self.repository = repository
        self.timeout = timeout
        self.load_timeout = load_timeout
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import tritonclient.grpc as grpcclient

            self._client = grpcclient.InferenceServerClient(self.address)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
            self._client = None

    # ------------------------------------------------------------------ state

    def is_ready(self) -> bool:
        try:
            return bool(self.client.is_server_ready(client_timeout=self.timeout))
        except Exception:
            return False

    def loaded_versions(self) -> dict[str, tuple[int, ...]]:
        """``{model: (versions READY, ascending)}``; raises :class:`ControlError` when the server
        cannot be reached."""
        try:
            index = self.client.get_model_repository_index(as_json=True, client_timeout=self.timeout)
        except Exception as err:
            raise ControlError(f"Triton at {self.address}: {_short(err)}") from None
        loaded: dict[str, set[int]] = {}
        for entry in index.get("models", []):
            version = str(entry.get("version", ""))
            if entry.get("state") == READY and version.isdigit():
                loaded.setdefault(entry["name"], set()).add(int(version))
        return {name: tuple(sorted(versions)) for name, versions in sorted(loaded.items())}

    def is_version_ready(self, model: str, version: int) -> bool:
        try:
            return bool(self.client.is_model_ready(model, str(version), client_timeout=self.timeout))
        except Exception:
            return False

    # ------------------------------------------------------------------ control

    def config(self, model: str, versions: Iterable[int]) -> str:
        """The JSON model config of ``model`` (its ``config.pbtxt`` in the repository) with
        ``version_policy`` ``specific`` ``versions``."""
        from google.protobuf import json_format, text_format
        from tritonclient.grpc import model_config_pb2

        if self.repository is None:
            raise ControlError("no repository given: cannot read the model's config.pbtxt")
        path = os.path.join(self.repository, model, "config.pbtxt")
        try:
            with open(path, encoding="utf-8") as handle:
                config = text_format.Parse(handle.read(), model_config_pb2.ModelConfig())
        except (OSError, text_format.ParseError) as err:
            raise ControlError(f"cannot read {path}: {_short(err)}") from None
        config.version_policy.Clear()
        config.version_policy.specific.versions.extend(sorted({int(v) for v in versions}))
        return json_format.MessageToJson(config, preserving_proto_field_name=True)

    def load(self, model: str, versions: Iterable[int]) -> None:
        """Make exactly ``versions`` of ``model`` loaded (new ones loaded next to the ones that
        stay, the others unloaded); raises :class:`ControlError` when a version fails to load."""
        versions = sorted({int(v) for v in versions})
        if not versions:
            return self.unload(model)
        missing = [v for v in versions if self.repository and not os.path.isdir(os.path.join(self.repository, model, str(v)))]
        if missing:
            raise ControlError(f"version(s) {missing} of `{model}` are not in the repository {self.repository}")
        try:
            self.client.load_model(model, config=self.config(model, versions), client_timeout=self.load_timeout)
        except ControlError:
            raise
        except Exception as err:
            raise ControlError(f"Triton at {self.address}: loading `{model}` versions {versions} failed: "
                               f"{_short(err)}") from None
        not_ready = [v for v in versions if not self.is_version_ready(model, v)]
        if not_ready:
            raise ControlError(f"Triton at {self.address}: `{model}` version(s) {not_ready} not ready after loading")

    def unload(self, model: str) -> None:
        try:
            self.client.unload_model(model, client_timeout=self.load_timeout)
        except Exception as err:
            raise ControlError(f"Triton at {self.address}: unloading `{model}` failed: {_short(err)}") from None


# ---------------------------------------------------------------------- repository


def ensure_versions(build_dir: str, shard: str, repository: str, model: str,
                    sources: Mapping[int, str]) -> list[int]:
    """Copy exported versions of ``model`` (``sources``: version -> its exported folder, the
    registry's ``artifact``) into the replica's ``repository``, with the local ``model.py`` of the
    build (as ``assemble_repository`` does); a version directory already there is left as it is
    (versions never change). Returns the versions copied."""
    from mlc.runtime.serving.local_triton import shard_of

    ir = load_ir(os.path.join(build_dir, "mldl.json"))
    model_py = [c for c in repository_plan(ir, shard_of(ir, shard), local=True)
                if c.origin == "build" and c.target == f"{model}/*/model.py"]
    copied = []
    for version, source in sorted((int(v), s) for v, s in sources.items()):
        target = os.path.join(repository, model, str(version))
        if os.path.isdir(target):
            continue
        if not os.path.isfile(os.path.join(source, "model.onnx")):
            raise ControlError(f"version {version} of `{model}` (shard `{shard}`): no model.onnx in {source}")
        partial = target + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(source, partial)
        for copy in model_py:
            shutil.copyfile(os.path.join(build_dir, *copy.source.split("/")), os.path.join(partial, "model.py"))
        os.replace(partial, target)
        copied.append(version)
    return copied


# ---------------------------------------------------------------------- processes


def process_start_time(pid: int) -> str | None:
    """The start time of ``pid`` (``/proc/<pid>/stat`` field 22), to tell a reused PID from ours;
    ``None`` when no such (non-zombie) process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    if not fields or fields[0] == "Z":
        return None
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int | None, started: str | None = None) -> bool:
    """``pid`` runs (not a zombie) and, when ``started`` is given, is the process that started then."""
    if not pid:
        return False
    now = process_start_time(int(pid))
    return now is not None and (started is None or now == started)


def stop_pid(pid: int | None, started: str | None = None, grace: float = 15.0, group: bool = True) -> bool:
    """SIGTERM ``pid``, wait ``grace`` seconds, then SIGKILL it (and its process group when
    ``group``: a Triton's python-backend stubs). Only when it is the process recorded
    (``started``). Returns whether it was running."""
    if not pid_alive(pid, started):
        return False
    pid = int(pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pid_alive(pid, started):
        _reap(pid)
        time.sleep(0.05)
    for kill in ((os.killpg, os.kill) if group else (os.kill,)):
        try:                 # a session leader's group: what is left of it (stubs of a killed server)
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collect ``pid`` when it is a child of this process (else it stays a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:
        pass


def start_replica(repository: str, log_dir: str, work_root: str, ports: Mapping[str, int] | None = None,
                  startup_timeout: float = 120.0) -> LocalTriton:
    """A Triton in explicit model-control mode over ``repository`` (nothing loaded), detached
    from this process: it keeps running after this process exits. ``ports``: ``http``, ``grpc``,
    ``metrics`` to reuse (a restarted replica keeps its addresses); a port that is taken makes
    the start fail, and it is retried on free ports."""
    ports = dict(ports or {})
    triton = LocalTriton(repository, http_port=ports.get("http", 0), grpc_port=ports.get("grpc", 0),
                         metrics_port=ports.get("metrics", 0), log_dir=log_dir, startup_timeout=startup_timeout,
                         model_control="explicit", work_root=work_root)
    try:
        return triton.start()
    except LocalTritonError:
        if not ports:
            raise
    triton = LocalTriton(repository, log_dir=log_dir, startup_timeout=startup_timeout, model_control="explicit",
                         work_root=work_root)
    return triton.start()


def replica_record(triton: LocalTriton, shard: str, replica: str) -> dict[str, Any]:
    """What ``state.json`` keeps of a started replica."""
    return {"shard": shard, "replica": replica, "pid": triton.pid, "started": process_start_time(triton.pid),
            "grpc": triton.grpc_url, "http": triton.url,
            "ports": {"http": triton.http_port, "grpc": triton.grpc_port, "metrics": triton.metrics_port},
            "repository": triton.repository, "workdir": triton.workdir, "log": triton.log_path}


def stop_replica(record: Mapping[str, Any], grace: float = 15.0) -> bool:
    """Stop the replica ``record`` describes and remove its private work directory."""
    was = stop_pid(record.get("pid"), record.get("started"), grace=grace)
    workdir = record.get("workdir")
    if workdir and os.path.basename(workdir).startswith("mlc-local-triton-"):
        shutil.rmtree(workdir, ignore_errors=True)
    return was


__all__ = ["ControlError", "TritonControl", "ensure_versions", "pid_alive", "process_start_time", "replica_record",
           "start_replica", "stop_pid", "stop_replica", "HOST"]
