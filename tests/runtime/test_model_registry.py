"""The model registry (mlc.runtime.model_registry) on SQLite and on a real Redis, and
`mlc models list|show|promote|rollback` end to end on the delivery example."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import EXAMPLES, run_mlc

from mlc.runtime.model_registry import (AliasEvent, ModelVersion, RegistryError, RegistryUnavailable, content_sha256,
                                        default_registry_url, open_registry)


class Clock:
    def __init__(self, now: float = 1_717_200_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
def backend(request, tmp_path):
    """(name, make): ``make(app=..., clock=...)`` opens another connection to one registry store."""
    if request.param == "sqlite":
        url = f"sqlite:{tmp_path / 'registry' / 'registry.sqlite'}"
    else:
        url = request.getfixturevalue("redis_url")
    app = "t" + uuid.uuid4().hex[:10]      # one namespace per test: the Redis server is shared
    opened = []

    def make(app: str = app, clock=time.time):
        registry = open_registry(url, app, clock=clock)
        opened.append(registry)
        return registry

    yield request.param, make
    for registry in opened:
        registry.close()


def _register(registry, version, model="eta_dnn", shard="east", content=None, **kw):
    return registry.register(model, shard, version, f"/models/{model}/{version}",
                             content_sha256=content or f"sha-{model}-{shard}-{version}", **kw)


# ------------------------------------------------------------------------- versions


def test_register_is_idempotent_and_refuses_other_content(backend):
    _, make = backend
    registry = make()
    record, created = _register(registry, 1, metrics={"final": {"mae": 3.5}}, data_from="2024-06-01T00:00:00Z")
    assert created and record.version == 1 and record.kind == "full" and record.app == registry.app
    assert record.registered_at.endswith("Z")
    again, created = _register(registry, 1, metrics={"final": {"mae": 9.9}})
    assert not created and again == record                 # the stored record, unchanged
    with pytest.raises(RegistryError, match="already registered with other content") as err:
        _register(registry, 1, content="different")
    assert "never change" in err.value.hint
    assert registry.get("eta_dnn", "east", 1) == record
    assert registry.versions() == [record]


def test_versions_are_sorted_and_namespaced_by_app(backend):
    _, make = backend
    registry = make()
    for model, shard, version in [("eta_wide_deep", "east", 2), ("eta_dnn", "south", 1), ("eta_dnn", "east", 10),
                                  ("eta_dnn", "east", 2), ("eta_wide_deep", "east", 1)]:
        _register(registry, version, model=model, shard=shard)
    keys = [(v.model, v.shard, v.version) for v in registry.versions()]
    assert keys == [("eta_dnn", "east", 2), ("eta_dnn", "east", 10), ("eta_dnn", "south", 1),
                    ("eta_wide_deep", "east", 1), ("eta_wide_deep", "east", 2)]
    assert [v.version for v in registry.versions("eta_dnn", "east")] == [2, 10]
    assert [v.model for v in registry.versions(shard="east")] == ["eta_dnn", "eta_dnn",
                                                                  "eta_wide_deep", "eta_wide_deep"]
    assert registry.latest("eta_dnn", "east").version == 10
    assert registry.latest("eta_dnn", "north_west") is None
    assert registry.resolve("eta_dnn", "east", "latest") == 10
    other = make(app="other" + uuid.uuid4().hex[:6])
    assert other.versions() == []


def test_unknown_names_get_did_you_mean_hints(backend):
    _, make = backend
    registry = make()
    for version in (1, 2):
        _register(registry, version)
    with pytest.raises(RegistryError) as err:
        registry.get("eta_dn", "east", 1)
    assert "eta_dn" in err.value.message and "eta_dnn" in err.value.hint
    with pytest.raises(RegistryError) as err:
        registry.get("eta_dnn", "eats", 1)
    assert "`east`" in err.value.hint
    with pytest.raises(RegistryError) as err:
        registry.get("eta_dnn", "east", 7)
    assert err.value.message == "eta_dnn@east has no version 7" and err.value.hint == "registered versions: 1, 2"
    with pytest.raises(RegistryError, match="invalid model name"):
        _register(registry, 1, model="bad:name")
    with pytest.raises(RegistryError, match="invalid version"):
        _register(registry, 0)


def _export(root: Path, model: str, version: int, *, shard: str = "east", warm_start=None, payload: bytes = b"w",
            data=None) -> Path:
    """A version folder as `mlc.runtime.training.export` writes it (without TensorFlow)."""
    folder = root / model / str(version)
    (folder / "model.savedmodel" / "variables").mkdir(parents=True)
    (folder / "model.savedmodel" / "saved_model.pb").write_bytes(b"graph" + payload)
    (folder / "model.savedmodel" / "variables" / "variables.data-00000-of-00001").write_bytes(payload * 64)
    (folder / "model.onnx").write_bytes(b"onnx" + payload)
    metadata = {
        "model": model, "version": version, "shard": shard, "type": "dnn", "task": "regression",
        "spec_hash": "ab" * 32,
        "data": data or {"train": {"rows": 90, "from": "2024-06-01T00:00:00Z", "to": "2024-06-25T23:00:00Z"},
                         "validation": {"rows": 10, "from": "2024-06-26T00:00:00Z", "to": "2024-06-30T12:00:00Z"}},
        "metrics": {"final": {"rows": 10, "loss": 1.5, "mae": 3.25, "rmse": 4.0}, "best": None},
        "warm_start": warm_start, "files": {"savedmodel": "model.savedmodel", "onnx": "model.onnx"},
    }
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True))
    return folder


def test_register_export_reads_metadata_and_infers_parents(backend, tmp_path):
    _, make = backend
    registry = make()
    repo = tmp_path / "repository" / "east"
    first = _export(repo, "eta_dnn", 1)
    record, created = registry.register_export(str(first), "eta_dnn", "east", mldl_sha256="cd" * 32)
    assert created
    assert (record.kind, record.parent, record.artifact) == ("full", None, str(first))
    assert (record.data_from, record.data_to) == ("2024-06-01T00:00:00Z", "2024-06-30T12:00:00Z")
    assert record.metrics["final"]["mae"] == 3.25
    assert (record.spec_sha256, record.mldl_sha256) == ("ab" * 32, "cd" * 32)
    assert record.content_sha256 == content_sha256(str(first))
    assert registry.register_export(str(first), "eta_dnn", "east")[1] is False        # idempotent
    # warm start from an exported version: that version is the parent
    _export(repo, "eta_dnn", 2, payload=b"x")
    third = _export(repo, "eta_dnn", 3, payload=b"y", warm_start={"source": "version", "version": 1, "last_epoch": 3})
    registry.register_export(str(repo / "eta_dnn" / "2"), "eta_dnn", "east")
    record, _ = registry.register_export(str(third), "eta_dnn", "east")
    assert (record.kind, record.parent) == ("incremental", 1)
    # warm start from a checkpoint: the latest registered version below this one
    fifth = _export(repo, "eta_dnn", 5, payload=b"z", warm_start={"source": "checkpoint", "checkpoint": "ckpt-7"})
    record, _ = registry.register_export(str(fifth), "eta_dnn", "east")
    assert (record.kind, record.parent) == ("incremental", 3)
    # a changed file is other content: refused
    (first / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="other content"):
        registry.register_export(str(first), "eta_dnn", "east")
    with pytest.raises(RegistryError, match="shard `east`, not `south`"):
        registry.register_export(str(third), "eta_dnn", "south")
    with pytest.raises(RegistryError, match="cannot read the export metadata"):
        registry.register_export(str(tmp_path / "nowhere" / "1"), "eta_dnn", "east")


def test_content_sha256_covers_paths_and_bytes(tmp_path):
    a = _export(tmp_path / "a", "m", 1)
    b = _export(tmp_path / "b", "m", 1)
    assert content_sha256(str(a)) == content_sha256(str(b))
    (b / "model.onnx").rename(b / "model2.onnx")
    assert content_sha256(str(a)) != content_sha256(str(b))


def test_register_run_sharded_and_unsharded(backend, tmp_path):
    _, make = backend
    registry = make()
    ir = SimpleNamespace(models=[SimpleNamespace(name="eta_dnn"), SimpleNamespace(name="eta_wide_deep")],
                         deployment=SimpleNamespace(partition_key="city", shards=[SimpleNamespace(name="east"),
                                                                                 SimpleNamespace(name="south")]))
    out = tmp_path / "run"
    repo = out / "models" / "repository"
    _export(repo / "east", "eta_dnn", 1)
    _export(repo / "east", "eta_dnn", 2, warm_start={"source": "checkpoint", "checkpoint": "ckpt-2"})
    _export(repo / "south", "eta_wide_deep", 1, shard="south")
    (repo / "east" / "eta_dnn" / ".3.tmp-abc").mkdir()          # an export in progress: ignored
    (repo / "east" / "unknown_model" / "1").mkdir(parents=True)  # not a model of the spec: ignored
    (out / "mldl.json").write_text("{}")
    results = registry.register_run(ir, str(out))
    assert [(r.model, r.shard, r.version, r.kind, r.parent, created) for r, created in results] == [
        ("eta_dnn", "east", 1, "full", None, True), ("eta_dnn", "east", 2, "incremental", 1, True),
        ("eta_wide_deep", "south", 1, "full", None, True)]
    assert all(r.mldl_sha256 == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" for r, _ in results)
    assert [c for _, c in registry.register_run(ir, str(out))] == [False, False, False]

    flat = make(app="flat" + uuid.uuid4().hex[:6])
    ir_flat = SimpleNamespace(models=[SimpleNamespace(name="eta_dnn")],
                              deployment=SimpleNamespace(partition_key=None, shards=[SimpleNamespace(name="main")]))
    out2 = tmp_path / "run2"
    _export(out2 / "models" / "repository", "eta_dnn", 1, shard="main")
    [(record, created)] = flat.register_run(ir_flat, str(out2))
    assert (record.shard, record.version, record.mldl_sha256, created) == ("main", 1, None, True)
    assert flat.register_run(ir_flat, str(tmp_path / "empty")) == []


# ------------------------------------------------------------------------- aliases


def test_promote_rollback_and_history(backend):
    _, make = backend
    clock = Clock()
    registry = make(clock=clock)
    for version in (1, 2, 3):
        _register(registry, version)
    first = registry.promote("eta_dnn", "east", 1, reason="first")
    assert first == AliasEvent("eta_dnn", "east", "production", 1, None, first.at, "first")
    clock.now += 1
    registry.promote("eta_dnn", "east", 2)
    clock.now += 1
    registry.promote("eta_dnn", "east", 3, alias="candidate")
    clock.now += 1
    assert registry.promote("eta_dnn", "east", 2).version == 2     # already there: nothing recorded
    assert registry.aliases("eta_dnn", "east") == {"candidate": 3, "production": 2}
    assert registry.resolve("eta_dnn", "east", "production") == 2
    assert registry.resolve("eta_dnn", "east", "shadow") is None

    back = registry.rollback("eta_dnn", "east", reason="bad p99")
    assert (back.alias, back.version, back.previous, back.reason) == ("production", 1, 2, "bad p99")
    assert registry.resolve("eta_dnn", "east", "production") == 1
    history = registry.history("eta_dnn", "east")
    assert [(e.alias, e.previous, e.version) for e in history] == [
        ("production", None, 1), ("production", 1, 2), ("candidate", None, 3), ("production", 2, 1)]
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert [e.version for e in registry.history("eta_dnn", "east", alias="production")] == [1, 2, 1]
    # a second rollback goes back to the version held before the current one: 2 again
    assert registry.rollback("eta_dnn", "east").version == 2
    with pytest.raises(RegistryError, match="no previous version"):
        registry.rollback("eta_dnn", "east", alias="candidate")
    with pytest.raises(RegistryError, match="is not set"):
        registry.rollback("eta_dnn", "east", alias="shadow")
    with pytest.raises(RegistryError, match="no version 9"):
        registry.promote("eta_dnn", "east", 9)
    with pytest.raises(RegistryError, match="no version of model `nope`"):
        registry.rollback("nope", "east")
    assert len(registry.history("eta_dnn", "east")) == 5                 # failures recorded nothing


def test_concurrent_promotes_keep_one_consistent_history(backend):
    _, make = backend
    setup = make()
    for version in (1, 2, 3, 4):
        _register(setup, version)
    rounds, errors = 25, []
    barrier = threading.Barrier(2)

    def promoter(versions):
        registry = make(app=setup.app)       # its own connection, as another process would have
        try:
            barrier.wait()
            for i in range(rounds):
                registry.promote("eta_dnn", "east", versions[i % 2], reason=f"{versions}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=promoter, args=(pair,)) for pair in ((1, 2), (3, 4))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    history = setup.history("eta_dnn", "east", "production")
    # each thread alternates between its own two versions, so no promote is a no-op
    assert len(history) == 2 * rounds
    assert history[0].previous is None
    assert all(later.previous == earlier.version for earlier, later in zip(history, history[1:]))
    assert setup.resolve("eta_dnn", "east", "production") == history[-1].version
    assert sorted(e.version for e in history) == sorted([1, 2, 3, 4] * (rounds // 2) + [1, 3])


# ------------------------------------------------------------------------- replicas and state


def test_heartbeats_expire(backend):
    name, make = backend
    clock = Clock() if name == "sqlite" else time.time
    registry = make(clock=clock)
    ttl = 10.0 if name == "sqlite" else 0.3
    registry.heartbeat("east", "eta-east-0", "10.0.0.1:8001", {"eta_dnn": [3, 2, 3], "eta_wide_deep": (1,)}, ttl)
    registry.heartbeat("east", "eta-east-1", "10.0.0.2:8001", {"eta_dnn": [3]}, ttl * 100)
    registry.heartbeat("south", "eta-south-0", "10.0.0.3:8001", {}, ttl * 100)
    live = registry.replicas()
    assert [(r.shard, r.replica) for r in live] == [("east", "eta-east-0"), ("east", "eta-east-1"),
                                                    ("south", "eta-south-0")]
    assert live[0].loaded == {"eta_dnn": (2, 3), "eta_wide_deep": (1,)} and live[0].address == "10.0.0.1:8001"
    assert live[0].expires_at == pytest.approx(live[0].at + ttl)
    assert [r.replica for r in registry.replicas("south")] == ["eta-south-0"]
    if name == "sqlite":
        clock.now += ttl + 0.001
    else:
        time.sleep(ttl + 0.2)
    assert [r.replica for r in registry.replicas()] == ["eta-east-1", "eta-south-0"]
    registry.heartbeat("east", "eta-east-0", "10.0.0.1:8001", {"eta_dnn": [4]}, ttl * 100)   # back again
    assert registry.replicas("east")[0].loaded == {"eta_dnn": (4,)}
    with pytest.raises(ValueError):
        registry.heartbeat("east", "r", "a", {}, 0)


def test_state_documents(backend):
    _, make = backend
    registry = make()
    assert registry.get_state("deploy") is None
    registry.put_state("deploy", {"release": 3, "versions": {"eta_dnn@east": 4}})
    registry.put_state("deploy", {"release": 4, "versions": {"eta_dnn@east": 5}})
    assert make(app=registry.app).get_state("deploy") == {"release": 4, "versions": {"eta_dnn@east": 5}}
    with pytest.raises(RegistryError):
        registry.put_state("deploy", ["not", "an", "object"])


# ------------------------------------------------------------------------- stores


def test_redis_down_is_registry_unavailable():
    from conftest import _free_port

    url = f"redis://:s3cret@127.0.0.1:{_free_port()}/0"
    with pytest.raises(RegistryUnavailable) as err:
        open_registry(url, "app")
    assert "cannot reach the model registry" in err.value.message
    assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in err.value.message
    assert "s3cret" not in str(err.value) and "***" in err.value.message
    with pytest.raises(RegistryUnavailable, match="unknown model registry URL"):
        open_registry("mysql://x", "app")


def test_sqlite_schema_is_versioned(tmp_path):
    path = tmp_path / "registry.sqlite"
    open_registry(f"sqlite:{path}", "app").close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(RegistryUnavailable, match="schema version 99"):
        open_registry(f"sqlite:{path}", "app")


def test_default_registry_url(tmp_path, monkeypatch):
    spec = tmp_path / "app.mlc.yaml"
    monkeypatch.delenv("MLC_REGISTRY", raising=False)
    assert default_registry_url(str(spec)) == f"sqlite:{tmp_path / '.mlc' / 'app' / 'registry.sqlite'}"
    monkeypatch.setenv("MLC_REGISTRY", "redis://r:6379/2")
    assert default_registry_url(str(spec)) == "redis://r:6379/2"


def test_model_version_json_round_trip():
    record = ModelVersion("a", "m", "s", 2, "/x", "incremental", 1, None, "ff", "2024-01-01T00:00:00Z", None,
                          {"final": {"auc": 0.8}}, "c" * 64, "2024-06-01T00:00:00.000Z")
    assert ModelVersion.from_json(json.loads(json.dumps(record.to_json()))) == record


# ------------------------------------------------------------------------- CLI


@pytest.fixture
def example(tmp_path):
    """The delivery example in tmp_path with three registered versions of eta_dnn@east."""
    folder = tmp_path / "delivery_eta"
    shutil.copytree(EXAMPLES / "delivery_eta", folder, ignore=shutil.ignore_patterns(".mlc", "data"))
    spec = folder / "delivery.mlc.yaml"
    registry = open_registry(default_registry_url(str(spec)), "delivery_eta")
    try:
        for version in (1, 2, 3):
            _register(registry, version, kind="incremental" if version > 1 else "full", parent=version - 1 or None,
                      metrics={"final": {"rows": 10, "loss": 1.0, "mae": 3.0 + version / 10, "rmse": 4.0}},
                      data_from="2024-06-01T00:00:00Z", data_to=f"2024-06-{20 + version}T00:00:00Z")
    finally:
        registry.close()
    return spec


def _models(*args, env=None):
    return run_mlc("models", *args, env={"MLC_REGISTRY": "", **(env or {})})


def test_cli_list_show_promote_rollback(example):
    spec = str(example)
    done = _models("promote", spec, "eta_dnn", "2", "--shard", "east", "--reason", "canary ok")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "production: eta_dnn@east - -> 2\n"
    assert _models("promote", spec, "eta_dnn", "3", "--shard", "east").stdout == "production: eta_dnn@east 2 -> 3\n"
    assert _models("promote", spec, "eta_dnn", "3", "--shard", "east", "--alias", "candidate").returncode == 0

    listed = _models("list", spec)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "SHARD", "VERSION", "KIND", "PARENT", "DATA", "METRICS", "ALIASES",
                                "REGISTERED"]
    assert [line.split()[:5] for line in lines[1:]] == [["eta_dnn", "east", "1", "full", "-"],
                                                         ["eta_dnn", "east", "2", "incremental", "1"],
                                                         ["eta_dnn", "east", "3", "incremental", "2"]]
    assert "candidate,production" in lines[3] and "mae=3.3 rmse=4" in lines[3]
    assert "2024-06-01T00:00:00Z..2024-06-23T00:00:00Z" in lines[3]

    back = _models("rollback", spec, "eta_dnn", "--shard", "east", "--reason", "p99 regression")
    assert back.returncode == 0, back.stderr
    assert back.stdout == "production: eta_dnn@east 3 -> 2 (rollback)\n"

    shown = _models("show", spec, "eta_dnn", "2", "--shard", "east")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("eta_dnn@east version 2\n")
    assert "aliases of eta_dnn@east: candidate=3, production=2" in shown.stdout
    assert "production: 3 -> 2  (p99 regression)" in shown.stdout

    doc = json.loads(_models("show", spec, "eta_dnn", "2", "--shard", "east", "--format", "json").stdout)
    assert doc["app"] == "delivery_eta" and doc["version"]["version"] == 2 and doc["version"]["parent"] == 1
    assert doc["aliases"] == {"candidate": 3, "production": 2}
    assert [(e["alias"], e["previous"], e["version"]) for e in doc["history"]] == [
        ("production", None, 2), ("production", 2, 3), ("candidate", None, 3), ("production", 3, 2)]
    listing = json.loads(_models("list", spec, "--model", "eta_dnn", "--shard", "east", "--format", "json").stdout)
    assert [(v["version"], v["aliases"]) for v in listing["versions"]] == [
        (1, []), (2, ["production"]), (3, ["candidate"])]


def test_cli_errors_are_diagnostics(example, redis_url):
    spec = str(example)
    wrong = _models("show", spec, "eta_dn", "1", "--shard", "east")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "error[E7201]" in wrong.stderr and "did you mean `eta_dnn`?" in wrong.stderr
    ambiguous = _models("promote", spec, "eta_dnn", "1")
    assert ambiguous.returncode == 1 and "error[E7202]" in ambiguous.stderr and "`north_west`" in ambiguous.stderr
    shard = _models("list", spec, "--shard", "eats")
    assert shard.returncode == 1 and "did you mean `east`?" in shard.stderr
    missing = _models("show", spec, "eta_dnn", "9", "--shard", "east", "--format", "json")
    assert missing.returncode == 1
    [diagnostic] = json.loads(missing.stdout)["diagnostics"]
    assert diagnostic["code"] == "E7204" and diagnostic["hint"] == "registered versions: 1, 2, 3"
    nothing = _models("rollback", spec, "eta_dnn", "--shard", "east")
    assert nothing.returncode == 1 and "error[E7204]" in nothing.stderr and "is not set" in nothing.stderr
    from conftest import _free_port

    down = _models("list", spec, "--registry", f"redis://:pw@127.0.0.1:{_free_port()}/0")
    assert down.returncode == 1 and "error[E7203]" in down.stderr and ":pw@" not in down.stderr
    # the registry from $MLC_REGISTRY: a Redis one, empty for this app
    empty = _models("list", spec, env={"MLC_REGISTRY": redis_url.rsplit("/", 1)[0] + "/3"})
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.startswith("no versions registered for `delivery_eta`")
