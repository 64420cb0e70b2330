"""A real Triton Inference Server on this (CPU-only) machine: the one bundled with nvidia-pytriton.

    repository = assemble_repository("build/delivery", "out/repository/east", "east", "serve/east")
    with LocalTriton(repository, log_dir="serve/logs") as triton:
        client = tritonclient.http.InferenceServerClient(triton.url)
        ...

``assemble_repository`` follows ``mlc.backends.triton.repository_plan(ir, shard, local=True)``:
configs, ``model.py`` files, ``mldl.json`` and the preprocessing module from the build tree,
the exported versions from the training job's repository of the shard. The model itself is the
``triton_local`` variant (ONNX Runtime inside the python backend), because the bundled server
has only the python backend; the preprocess model and the ensemble are the production ones, so
the ensemble scheduler, dynamic batching and the HTTP/gRPC protocols are Triton's own.

``LocalTriton`` runs ``tritonserver`` (Triton 2.51, from the ``nvidia-pytriton`` 0.7.0 wheel)
the way pytriton does (``pytriton.triton.Triton._prepare_triton_inference_server`` and
``pytriton.server.triton_server.TritonServer._get_env``):

* the bundled ``pytriton/tritonserver`` tree is copied into a private directory, without the
  per-Python-version stubs, and ``python_backend_stubs/<major.minor>/triton_python_backend_stub``
  of THIS interpreter is placed at ``backends/python/triton_python_backend_stub``;
* ``LD_LIBRARY_PATH`` = this Python's ``LIBDIR`` (``sysconfig``: the stub links
  ``libpython3.X.so.1.0``; without it a pyenv-built Python's stub loads the system's libpython,
  another build than the standard library it then imports -- measured here: the stub mapped
  ``/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0`` without it, pyenv's with it), then
  ``nvidia_pytriton.libs`` (the server's and the stub's bundled libraries: their RPATH is
  relative to the wheel layout and does not survive the copy), then the caller's value;
* ``PATH`` starts with this interpreter's ``bin`` directory (as pytriton does). This is what
  makes the python backend use THIS environment: the stub embeds libpython and ignores
  ``PYTHONPATH``/``PYTHONHOME`` (measured: a ``sitecustomize.py`` on ``PYTHONPATH`` is never
  imported), and its interpreter resolves ``python3`` on ``PATH`` as its executable, so it
  finds this virtual environment's ``pyvenv.cfg`` and gets its prefix and site-packages, ``.pth``
  files included (an editable ``mlc`` is an import hook installed by one). Measured in the stub:
  ``sys.prefix`` = the venv, ``sys.executable`` = ``<venv>/bin/python3``, numpy, onnxruntime and
  ``mlc`` from the venv. Without it the stub takes the first ``python3`` on ``PATH`` (here the
  pyenv shim: base prefix, no onnxruntime, no mlc). ``EXECUTION_ENV_PATH`` is for conda-pack
  environments with their own interpreter, not for a venv;
* a unique ``shm-region-prefix-name`` for the python backend (two servers on one machine must
  not share shared-memory regions), HTTP/gRPC/metrics bound to ``127.0.0.1`` on free ports,
  ``--strict-readiness=true`` and ``--exit-on-error=true`` (a model that fails to load stops the
  server, and ``start`` raises with the log).

``model_control="explicit"`` starts the server in Triton's explicit model-control mode
(``--model-control-mode=explicit``): nothing is loaded at start (``load_models`` names models to
load at start-up), models and versions are loaded and unloaded through the model-control API
(``mlc.runtime.deploy.triton_control``), and ``--exit-on-error=false`` (a version that fails to
load is an error of that load request, not of the server). The default (``"none"``) loads the
whole repository at start and stops on any error, as before.

``start`` waits for ``/v2/health/ready`` (every model loaded); a server that exits or is not
ready within ``startup_timeout`` raises ``LocalTritonError`` with the tail of the server log.
``stop`` sends SIGTERM to the server's PID, waits ``grace`` seconds, then SIGKILLs its process
group (the server runs in its own session, so python-backend stubs go too).
"""

from __future__ import annotations

import codecs
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from mlc.backends.triton_layout import repository_plan
from mlc.core.errors import MlcError
from mlc.core.ir import load_ir

HOST = "127.0.0.1"
STUB = "triton_python_backend_stub"
LOG_FILE = "tritonserver.log"
LOG_TAIL = 20_000            # characters of the server log quoted by a failure
EXIT_TIMEOUT_S = 5           # --exit-timeout-secs: how long Triton waits for in-flight requests
UNLOAD_S = 10                # then for the python models to unload, before stop() SIGKILLs


class LocalTritonError(MlcError, RuntimeError):
    """The local server could not be prepared, did not become ready, or the repository is incomplete."""
    code = "E7213"


# ------------------------------------------------------------------------------ repository


def shard_of(ir: Any, shard: Any) -> Any:
    name = shard if isinstance(shard, str) else shard.name
    for candidate in ir.deployment.shards:
        if candidate.name == name:
            return candidate
    raise LocalTritonError(f"spec `{ir.name}` has no shard `{name}` "
                           f"(shards: {[s.name for s in ir.deployment.shards]})")


def _versions(directory: str) -> list[str]:
    if not os.path.isdir(directory):
        return []
    return sorted((e for e in os.listdir(directory) if e.isdigit() and os.path.isdir(os.path.join(directory, e))),
                  key=int)


def assemble_repository(build_dir: str, models_dir: str, shard: Any, out_dir: str, missing_ok: bool = False) -> str:
    """Assemble the servable repository of ``shard`` for the local (python-backend-only) Triton.

    ``build_dir``: the compiled build tree (after ``mlc fit``: its ``mldl.json`` has every
    analyzer fitted). ``models_dir``: the exported repository of that shard
    (``<output>/repository/`` unsharded, ``<output>/repository/<shard>/`` sharded), holding
    ``<model>/<version>/model.onnx``. ``out_dir`` must not exist or be empty. Every exported
    version directory is copied (``model.py`` is written into each); a model without any exported
    version is an error (Triton would refuse to start), unless ``missing_ok`` (a server in explicit
    model-control mode loads nothing at start: ``mlc deploy`` of a shard whose training was
    skipped). Returns ``out_dir`` (absolute).
    """
    build_dir, models_dir, out_dir = (os.path.abspath(p) for p in (build_dir, models_dir, out_dir))
    ir = load_ir(os.path.join(build_dir, "mldl.json"))
    shard_ir = shard_of(ir, shard)
    if not shard_ir.models:
        raise LocalTritonError(f"shard `{shard_ir.name}` serves no model")
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise LocalTritonError(f"{out_dir} is not empty; assemble into a new directory")
    os.makedirs(out_dir, exist_ok=True)
    for copy in repository_plan(ir, shard_ir, local=True):
        if copy.origin == "export":              # `M/*` -> `M/*`: every exported version
            model = copy.source.split("/")[0]
            versions = _versions(os.path.join(models_dir, model))
            if not versions and not missing_ok:
                raise LocalTritonError(f"no exported version of model `{model}` in {os.path.join(models_dir, model)}")
            for version in versions:
                shutil.copytree(os.path.join(models_dir, model, version), os.path.join(out_dir, model, version))
            continue
        source = os.path.join(build_dir, *copy.source.split("/"))
        if not os.path.isfile(source):
            raise LocalTritonError(f"{source} is missing from the build (compiled with another mlc, or not a build?)")
        parts = copy.target.split("/")
        if "*" in parts:                           # `M/*/model.py`: into every version directory
            star = parts.index("*")
            parent = os.path.join(out_dir, *parts[:star])
            targets = [os.path.join(parent, v, *parts[star + 1:]) for v in _versions(parent)]
        else:
            targets = [os.path.join(out_dir, *parts)]
        for target in targets:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
    return out_dir


# ------------------------------------------------------------------------------ the server tree


def pytriton_dist() -> tuple[str, str]:
    """(bundled ``tritonserver`` tree, directory of its shared libraries) of the installed
    nvidia-pytriton, found without importing pytriton (as ``pytriton.utils.distribution``)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise LocalTritonError("nvidia-pytriton is not installed: pip install 'mlc[serve-local]' (nvidia-pytriton==0.7.0)")
    package = list(spec.submodule_search_locations)[0]
    tree = os.path.join(package, "tritonserver")
    libs = os.path.join(os.path.dirname(package), "nvidia_pytriton.libs")     # wheel install
    if not os.path.isdir(libs):
        libs = os.path.join(tree, "external_libs")                              # editable install
    if not os.path.isfile(os.path.join(tree, "bin", "tritonserver")):
        raise LocalTritonError(f"no tritonserver binary in {tree}")
    return tree, libs


def stub_path(tree: str) -> str:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    path = os.path.join(tree, "python_backend_stubs", version, STUB)
    if not os.path.isfile(path):
        raise LocalTritonError(f"nvidia-pytriton has no python backend stub for Python {version} ({path})")
    return path


# Starting several servers from threads: while one thread writes its copy of the
# `tritonserver` binary, another thread's fork inherits that write descriptor, and exec'ing the
# copy fails with ETXTBSY ("Text file busy") until the forked child closes it. Copying and
# spawning under one lock keeps every copy's descriptor closed before any fork.
_SPAWN_LOCK = threading.Lock()


def prepare_server(target: str) -> str:
    """Copy the bundled server into ``target`` with this interpreter's stub in ``backends/python``."""
    tree, _ = pytriton_dist()
    shutil.copytree(tree, target, ignore=shutil.ignore_patterns("python_backend_stubs", STUB, "__pycache__"))
    shutil.copy2(stub_path(tree), os.path.join(target, "backends", "python", STUB))
    return target


def python_bin() -> str:
    """This interpreter's ``bin`` directory, which must hold ``python3``: the stub's embedded
    interpreter resolves ``python3`` on ``PATH`` and takes its prefix from there (a virtual
    environment's ``pyvenv.cfg`` beside it), see the module docstring."""
    directory = os.path.dirname(sys.executable)
    if not os.path.exists(os.path.join(directory, "python3")):
        raise LocalTritonError(f"{directory} has no `python3`: the python backend stub finds its environment "
                               "through the `python3` on PATH; run mlc from a virtual environment or a "
                               "Python installation that has one")
    return directory


def server_env(libs: str) -> dict[str, str]:
    """The server's environment: this Python's LIBDIR and the bundled libraries on
    ``LD_LIBRARY_PATH``, this interpreter's ``bin`` first on ``PATH``."""
    env = os.environ.copy()
    libdir = sysconfig.get_config_var("LIBDIR")
    env["LD_LIBRARY_PATH"] = ":".join(p for p in (libdir, libs, env.get("LD_LIBRARY_PATH")) if p)
    env["PATH"] = python_bin() + os.pathsep + env.get("PATH", "")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ the server


class LocalTriton:
    """``tritonserver`` from nvidia-pytriton serving ``repository`` on 127.0.0.1 (see the module
    docstring). Ports left at 0 are chosen free; ``log_dir`` keeps ``tritonserver.log`` (default:
    the private work directory, removed by ``stop``; kept, only the log, when ``start`` fails)."""

    def __init__(self, repository: str, http_port: int = 0, grpc_port: int = 0, metrics_port: int = 0,
                 log_dir: str | None = None, startup_timeout: float = 120.0, log_verbose: int = 0,
                 exit_timeout: int = EXIT_TIMEOUT_S, extra_args: tuple[str, ...] = (),
                 model_control: str = "none", load_models: tuple[str, ...] = (), work_root: str | None = None):
        if model_control not in ("none", "explicit"):
            raise LocalTritonError(f"model_control must be `none` or `explicit`, not `{model_control}`")
        if load_models and model_control != "explicit":
            raise LocalTritonError("load_models needs model_control='explicit'")
        self.model_control = model_control
        self.load_models = tuple(load_models)
        self.work_root = os.path.abspath(work_root) if work_root else None    # parent of the private work directory
        self.repository = os.path.abspath(repository)
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.log_dir = os.path.abspath(log_dir) if log_dir else None
        self.startup_timeout = startup_timeout
        self.log_verbose = log_verbose
        self.exit_timeout = int(exit_timeout)
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen | None = None
        self.workdir: str | None = None
        self.log_path: str | None = None
        self.startup_s: float | None = None
        self._log_handle = None
        self._stopped = False

    # ---------------------------------------------------------------- endpoints

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def url(self) -> str:
        """``127.0.0.1:<http port>``: what ``tritonclient.http.InferenceServerClient`` takes."""
        return f"{HOST}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``127.0.0.1:<grpc port>``: what ``tritonclient.grpc.InferenceServerClient`` takes."""
        return f"{HOST}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.metrics_port}/metrics"

    # ---------------------------------------------------------------- lifecycle

    def command(self, server: str) -> list[str]:
        shm_prefix = "mlc" + str(os.getpid()) + "-" + codecs.encode(os.urandom(4), "hex").decode()
        return [os.path.join(server, "bin", "tritonserver"),
                f"--model-repository={self.repository}",
                f"--backend-directory={os.path.join(server, 'backends')}",
                f"--cache-directory={os.path.join(server, 'caches')}",
                f"--backend-config=python,shm-region-prefix-name={shm_prefix}",
                f"--http-address={HOST}", f"--http-port={self.http_port}",
                f"--grpc-address={HOST}", f"--grpc-port={self.grpc_port}",
                f"--metrics-address={HOST}", f"--metrics-port={self.metrics_port}",
                "--allow-gpu-metrics=false",
                "--strict-readiness=true",
                *(["--exit-on-error=true"] if self.model_control == "none" else
                  ["--exit-on-error=false", "--model-control-mode=explicit",
                   *(f"--load-model={name}" for name in self.load_models)]),
                f"--exit-timeout-secs={self.exit_timeout}", f"--log-verbose={self.log_verbose}",
                *self.extra_args]

    def start(self) -> "LocalTriton":
        if self.process is not None:
            raise LocalTritonError("already started")
        if not os.path.isdir(self.repository):
            raise LocalTritonError(f"no model repository at {self.repository}")
        started = time.monotonic()
        if self.work_root:
            os.makedirs(self.work_root, exist_ok=True)
        self.workdir = tempfile.mkdtemp(prefix="mlc-local-triton-", dir=self.work_root)
        try:
            _, libs = pytriton_dist()
            env = server_env(libs)
            self.http_port = self.http_port or free_port()
            self.grpc_port = self.grpc_port or free_port()
            self.metrics_port = self.metrics_port or free_port()
            log_dir = self.log_dir or self.workdir
            os.makedirs(log_dir, exist_ok=True)
            self.log_path = os.path.join(log_dir, LOG_FILE)
            self._log_handle = open(self.log_path, "ab")
            with _SPAWN_LOCK:   # copy + exec under one lock: see _SPAWN_LOCK
                server = prepare_server(os.path.join(self.workdir, "tritonserver"))
                self.process = subprocess.Popen(self.command(server), env=env, cwd=self.workdir,
                                                stdin=subprocess.DEVNULL, stdout=self._log_handle,
                                                stderr=subprocess.STDOUT, start_new_session=True)
            self._wait_ready(started)
        except BaseException as error:
            log = self.log()
            self._terminate(keep_log=True)
            if isinstance(error, LocalTritonError):
                raise
            raise LocalTritonError(f"could not start tritonserver: {error}\n--- server log ---\n{log[-LOG_TAIL:]}") from error
        self.startup_s = time.monotonic() - started
        return self

    def _wait_ready(self, started: float) -> None:
        deadline = started + self.startup_timeout
        ready = f"http://{HOST}:{self.http_port}/v2/health/ready"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))    # never via a proxy
        while True:
            code = self.process.poll()
            if code is not None:
                raise LocalTritonError(f"tritonserver exited with code {code} before it was ready "
                                       f"(log: {self.log_path})\n--- server log ---\n{self.log()[-LOG_TAIL:]}")
            try:
                with opener.open(ready, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise LocalTritonError(f"tritonserver was not ready within {self.startup_timeout:.0f} s "
                                       f"(log: {self.log_path})\n--- server log ---\n{self.log()[-LOG_TAIL:]}")
            time.sleep(0.2)

    def log(self) -> str:
        """The server log so far (stdout and stderr of tritonserver and its python stubs)."""
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM the server by PID, SIGKILL its process group after ``grace`` seconds (default:
        ``exit_timeout`` + 10); returns its exit code (``None`` if it was never started).
        Triton first waits up to ``exit_timeout`` seconds for in-flight requests AND open HTTP
        connections (close your clients first, or stop takes that long and exits non-zero
        without unloading the models), then unloads the python models (about 2-3 s). Removes the private work directory
        (the log too, unless ``log_dir`` was given)."""
        return self._terminate(grace)

    def _terminate(self, grace: float | None = None, keep_log: bool = False) -> int | None:
        process, code = self.process, None
        if process is not None and self._stopped:       # stopped before: nothing left to signal
            return process.returncode
        if process is not None:
            self._stopped = True
            grace = self.exit_timeout + UNLOAD_S if grace is None else grace
            if process.poll() is None:
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    pass
            try:                         # anything left in its session (stubs of a killed server)
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            code = process.wait()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        if self.workdir is not None:
            if keep_log and self.log_dir is None:    # the log is in the work directory: keep only it
                shutil.rmtree(os.path.join(self.workdir, "tritonserver"), ignore_errors=True)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        return code

    def __enter__(self) -> "LocalTriton":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_alive() else "stopped"
        return f"LocalTriton({self.repository!r}, pid={self.pid}, http={self.url}, grpc={self.grpc_url}, {state})"
