"""``.mlc/<app>/deploy/state.json`` beside the spec (``mlc.runtime.app_state``): what ``mlc deploy
--target local`` started for that application. One per application, so two specs in one folder
never see (or stop) each other's services.

    {"version": 1, "app": "demo", "spec": "/abs/s.mlc.yaml", "registry": "sqlite:...",
     "store": "sqlite:...", "build": "/abs/.mlc/demo/data/serve/build",
     "tritons": {"east-0": {"shard", "replica", "pid", "started", "grpc", "http", "ports",
                            "repository", "workdir", "log"}, ...},
     "gateway": {"pid", "started", "port", "url", "argv", "log"},
     "stream": {"pid", "started", "argv", "services", "log", "state_dir"}}   # `mlc run`'s streaming job

A later deploy reuses the services that still run (same PID and process start time, answering),
``mlc stop`` stops them. Written atomically (a temporary file in the same folder, then
``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any
from mlc.runtime.app_state import app_dir

STATE_VERSION = 1


def deploy_dir(spec_path: str, app: str | None = None) -> str:
    """``<spec folder>/.mlc/<app>/deploy`` (``app``: the spec's name unless given)."""
    return os.path.join(app_dir(spec_path, app), "deploy")


def state_path(spec_path: str, app: str | None = None) -> str:
    return os.path.join(deploy_dir(spec_path, app), "state.json")


def empty_state(spec_path: str, app: str | None = None) -> dict[str, Any]:
    return {"version": STATE_VERSION, "app": app, "spec": os.path.abspath(spec_path), "tritons": {}, "gateway": {},
            "stream": {}}


def load_state(spec_path: str, path: str | None = None) -> dict[str, Any] | None:
    """The recorded state, or None when this application deployed nothing from this folder.
    ``path``: another state file (the older shared layout's ``.mlc/deploy/state.json``)."""
    path = path or state_path(spec_path)
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} cannot be read ({err}); stop the services by hand and remove it") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise ValueError(f"{path} is not a deploy state of this mlc (version {state.get('version')!r})")
    state.setdefault("tritons", {})
    if not state.get("gateway"):
        state["gateway"] = {}
    if not state.get("stream"):
        state["stream"] = {}
    return state


def save_state(spec_path: str, state: dict[str, Any], path: str | None = None) -> str:
    path = path or state_path(spec_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return path


def remove_state(spec_path: str) -> None:
    try:
        os.unlink(state_path(spec_path))
    except FileNotFoundError:
        pass
