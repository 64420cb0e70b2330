"""The local deploy's online store and the gateway's service URLs: the store is never created by a
deploy, and passwords never reach the gateway's command line or the state file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from specs import MINIMAL_SPEC, TINY_TRAIN_SPEC

from mlc.compiler.pipeline import build
from mlc.runtime.deploy import local
from mlc.runtime.deploy.state import state_path

SECRET_STORE = "redis://app:store-secret@127.0.0.1:1/0"
SECRET_REGISTRY = "redis://app:registry-secret@127.0.0.1:1/1"


def _deployment(tmp_path: Path, text: str) -> local.LocalDeployment:
    spec = tmp_path / "s.mlc.yaml"
    spec.write_text(text, encoding="utf-8")
    result = build(str(spec))
    assert result.ok
    return local.LocalDeployment(str(spec), result.ir, str(tmp_path / "build"), str(tmp_path / "out"), None,
                                 SECRET_REGISTRY, SECRET_STORE)


def test_passwords_go_to_the_gateway_environment_not_its_command_line(tmp_path):
    deployment = _deployment(tmp_path, MINIMAL_SPEC)
    argv = deployment.gateway_argv({"main-0": {"grpc": "127.0.0.1:8001"}}, 8080)
    assert not any("secret" in part for part in argv), argv
    services = deployment.gateway_services()
    assert services == {"MLC_REGISTRY": SECRET_REGISTRY, "MLC_STORE_URL": SECRET_STORE}
    environment = local._environment(services)
    assert environment["MLC_STORE_URL"] == SECRET_STORE and "MLC_REDIS_URL" not in environment
    deployment._save()
    state = Path(state_path(str(tmp_path / "s.mlc.yaml"))).read_text()
    assert os.stat(state_path(str(tmp_path / "s.mlc.yaml"))).st_mode & 0o077 == 0   # private to the user
    assert "secret" not in json.dumps(deployment.state.get("gateway", {}))


def test_a_spec_without_online_groups_needs_no_store(tmp_path):
    deployment = _deployment(tmp_path, TINY_TRAIN_SPEC)
    assert not deployment.serves_features
    deployment.check_store()                                  # nothing to reach: no error
    assert "MLC_STORE_URL" not in deployment.gateway_services()


def test_deploy_never_creates_a_missing_store(tmp_path):
    missing = tmp_path / "typo.sqlite"
    deployment = _deployment(tmp_path, MINIMAL_SPEC)
    deployment.store_url = f"sqlite:{missing}"
    with pytest.raises(local.DeployError) as raised:
        deployment.check_store()
    assert raised.value.code == "E7212" and "mlc materialize" in raised.value.hint
    assert not missing.exists()


def test_a_store_error_never_shows_its_password(tmp_path):
    deployment = _deployment(tmp_path, MINIMAL_SPEC)           # nothing listens on port 1
    with pytest.raises(local.DeployError) as raised:
        deployment.check_store()
    assert "store-secret" not in str(raised.value) and "***" in str(raised.value)
