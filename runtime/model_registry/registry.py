"""The model registry of one application: versions, aliases and their history, replica
heartbeats and small state documents, on SQLite or Redis (``store``). See README.md."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from mlc.runtime.model_registry.records import (KINDS, AliasEvent, ModelVersion, RegistryError, ReplicaReport,
                                                check_name, check_version, iso_utc, normalize_loaded)
from mlc.runtime.model_registry.store import RedisStore, SqliteStore, open_store
from mlc.runtime.app_state import app_dir
from mlc.core.suggest import did_you_mean

METADATA_FILE = "metadata.json"
LATEST = "latest"


def default_registry_url(spec_path: str) -> str:
    """``$MLC_REGISTRY`` when set, else ``sqlite:<spec dir>/.mlc/<app>/registry.sqlite`` (one per
    application: ``mlc.runtime.app_state``)."""
    env = os.environ.get("MLC_REGISTRY")
    if env:
        return env

    return "sqlite:" + os.path.join(app_dir(spec_path), "registry.sqlite")


def open_registry(url: str, app: str, clock: Callable[[], float] = time.time) -> "Registry":
    """The registry of application ``app`` at ``url`` (``sqlite:PATH`` or ``redis://HOST:PORT/DB``);
    :class:`RegistryUnavailable` when it cannot be opened or reached."""
    check_name(app, "application")
    return Registry(open_store(url, app), app, clock)


def content_sha256(folder: str) -> str:
    """SHA-256 over every file below ``folder``: for each, in sorted order of its relative
    POSIX path, ``path NUL size NUL bytes`` (symlinks followed, empty folders ignored)."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in names:
            full = os.path.join(root, name)
            files.append((os.path.relpath(full, folder).replace(os.sep, "/"), full))
    digest = hashlib.sha256()
    for rel, full in sorted(files):
        digest.update(rel.encode("utf-8") + b"\0" + str(os.path.getsize(full)).encode() + b"\0")
        with open(full, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str) -> str | None:
    if not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """JSON-able copy of ``value`` with non-finite floats as None (metrics of empty splits)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise RegistryError(f"value {value!r} of type {type(value).__name__} cannot be stored as JSON")


def _time_key(text: str) -> tuple:
    try:
        return (0, datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp(), text)
    except ValueError:
        return (1, 0.0, text)


def data_range(data: Any) -> tuple[str | None, str | None]:
    """(earliest ``from``, latest ``to``) over the splits of an export's ``metadata["data"]``
    (``{"train": {"rows", "from", "to"}, "validation": {...}}``; lists ``[from, to]`` accepted)."""
    starts, ends = [], []
    for split in (data or {}).values() if isinstance(data, Mapping) else ():
        if isinstance(split, Mapping):
            start, end = split.get("from"), split.get("to")
        elif isinstance(split, (list, tuple)) and len(split) == 2:
            start, end = split
        else:
            continue
        if isinstance(start, str) and start:
            starts.append(start)
        if isinstance(end, str) and end:
            ends.append(end)
    return (min(starts, key=_time_key) if starts else None, max(ends, key=_time_key) if ends else None)


def _numeric_dirs(folder: str) -> list[int]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and int(n) > 0 and os.path.isdir(os.path.join(folder, n)))


def _subdirs(folder: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n for n in names if not n.startswith(".") and os.path.isdir(os.path.join(folder, n)))


class Registry:
    """One application's registry. Thread-safe; every method is one store round (a
    transaction where it writes), so several processes can share one registry."""

    def __init__(self, store: SqliteStore | RedisStore, app: str, clock: Callable[[], float] = time.time):
        self.store, self.app, self.clock = store, app, clock

    @property
    def url(self) -> str:
        return getattr(self.store, "shown", None) or self.store.url

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ versions
    def register(self, model: str, shard: str, version: int, artifact: str, *, kind: str = "full",
                 parent: int | None = None, spec_sha256: str | None = None, mldl_sha256: str | None = None,
                 data_from: str | None = None, data_to: str | None = None, metrics: Mapping | None = None,
                 content_sha256: str) -> tuple[ModelVersion, bool]:
        """Record one version; ``(record, created)``. The same version with the same
        ``content_sha256`` again is a no-op returning the stored record; with other content,
        :class:`RegistryError` (versions never change)."""
        check_name(model, "model")
        check_name(shard, "shard")
        version = check_version(version)
        if kind not in KINDS:
            raise RegistryError(f"invalid kind {kind!r}", f"one of {', '.join(KINDS)}")
        if parent is not None and check_version(parent) == version:
            raise RegistryError(f"{model}@{shard} version {version} cannot be its own parent")
        if not isinstance(content_sha256, str) or not content_sha256:
            raise RegistryError("a version needs its content_sha256")
        if not isinstance(artifact, str) or not artifact:
            raise RegistryError("a version needs its artifact location")
        record = ModelVersion(self.app, model, shard, version, artifact, kind, parent, spec_sha256, mldl_sha256,
                              data_from, data_to, _plain(dict(metrics or {})), content_sha256,
                              iso_utc(self.clock()))
        existing = self.store.insert_version(record)
        if existing is None:
            return record, True
        if existing.content_sha256 == content_sha256:
            return existing, False
        raise RegistryError(f"{model}@{shard} version {version} is already registered with other content "
                            f"(sha256 {existing.content_sha256[:12]}, not {content_sha256[:12]})",
                            "versions never change: export a new version instead")

    def register_export(self, version_dir: str, model: str, shard: str,
                        mldl_sha256: str | None = None) -> tuple[ModelVersion, bool]:
        """Register an exported version folder (``<repository>/<model>/<version>/`` with its
        ``metadata.json``, see ``mlc.runtime.training.export``)."""
        folder = os.path.abspath(version_dir)
        path = os.path.join(folder, METADATA_FILE)
        try:
            with open(path, encoding="utf-8") as fh:
                metadata = json.load(fh)
        except (OSError, ValueError) as err:
            raise RegistryError(f"cannot read the export metadata {path}: {err}",
                                "register exported version folders (<repository>/<model>/<version>/)") from None
        if not isinstance(metadata, dict):
            raise RegistryError(f"{path} is not a JSON object")
        name = os.path.basename(folder)
        if name.isdigit():
            version = int(name)
            if "version" in metadata and metadata["version"] != version:
                raise RegistryError(f"{path} is version {metadata['version']!r} but its folder is `{name}`")
        else:
            version = metadata.get("version")
        if metadata.get("model", model) != model:
            raise RegistryError(f"{path} is an export of model `{metadata['model']}`, not `{model}`")
        if metadata.get("shard", shard) != shard:
            raise RegistryError(f"{path} was trained for shard `{metadata['shard']}`, not `{shard}`")
        version = check_version(version)
        warm = metadata.get("warm_start")
        kind, parent = "full", None
        if isinstance(warm, Mapping) and warm:
            kind = "incremental"
            if warm.get("source") == "version" and isinstance(warm.get("version"), int):
                parent = int(warm["version"])
            else:    # a checkpoint: the run continued from the latest version of the series below this one
                below = [v.version for v in self.store.versions(model, shard) if v.version < version]
                parent = max(below) if below else None
        data_from, data_to = data_range(metadata.get("data"))
        metrics = metadata.get("metrics") if isinstance(metadata.get("metrics"), Mapping) else {}
        return self.register(model, shard, version, folder, kind=kind, parent=parent,
                             spec_sha256=metadata.get("spec_hash") or metadata.get("spec_sha256"),
                             mldl_sha256=mldl_sha256, data_from=data_from, data_to=data_to, metrics=metrics,
                             content_sha256=content_sha256(folder))

    def register_run(self, ir: Any, output_dir: str) -> list[tuple[ModelVersion, bool]]:
        """Register every exported version of a run folder: ``<output_dir>/models/repository/
        [<shard>/]<model>/<version>/`` (one folder per shard when the deployment is sharded,
        else the implicit shard), oldest version first, models and shards in name order."""
        repository = os.path.join(output_dir, "models", "repository")
        mldl = file_sha256(os.path.join(output_dir, "mldl.json"))
        names = {m.name for m in ir.models}
        deployment = ir.deployment
        if deployment.partition_key:
            places = [(shard, os.path.join(repository, shard)) for shard in _subdirs(repository)]
        else:
            implicit = deployment.shards[0].name if deployment.shards else "main"
            places = [(implicit, repository)]
        found = []
        for shard, folder in places:
            for model in _subdirs(folder):
                if model in names:
                    found += [(model, shard, v, os.path.join(folder, model, str(v)))
                              for v in _numeric_dirs(os.path.join(folder, model))]
        return [self.register_export(path, model, shard, mldl) for model, shard, _, path in sorted(found)]

    def versions(self, model: str | None = None, shard: str | None = None) -> list[ModelVersion]:
        return self.store.versions(model, shard)

    def get(self, model: str, shard: str, version: int) -> ModelVersion:
        found = self.store.get_version(model, shard, version)
        if found is None:
            raise self._unknown(model, shard, version)
        return found

    def latest(self, model: str, shard: str) -> ModelVersion | None:
        found = self.store.versions(model, shard)
        return found[-1] if found else None

    def _unknown(self, model: str, shard: str, version: int | None) -> RegistryError:
        everything = self.store.versions()
        models = sorted({v.model for v in everything})
        if model not in models:
            return RegistryError(f"no version of model `{model}` is registered",
                                 did_you_mean(model, models, "models") if models else
                                 "nothing is registered yet: train and register a version first")
        shards = sorted({v.shard for v in everything if v.model == model})
        if shard not in shards:
            return RegistryError(f"model `{model}` has no version registered for shard `{shard}`",
                                 did_you_mean(shard, shards, "shards"))
        numbers = [str(v.version) for v in everything if v.model == model and v.shard == shard]
        return RegistryError(f"{model}@{shard} has no version {version}", f"registered versions: {', '.join(numbers)}")

    # ------------------------------------------------------------------ aliases
    def aliases(self, model: str, shard: str) -> dict[str, int]:
        return self.store.aliases(model, shard)

    def resolve(self, model: str, shard: str, alias: str) -> int | None:
        """The version ``alias`` points at (``latest``: the newest registered one); None when unset."""
        if alias == LATEST:
            newest = self.latest(model, shard)
            return None if newest is None else newest.version
        return self.store.aliases(model, shard).get(alias)

    def promote(self, model: str, shard: str, version: int, alias: str = "production", reason: str = "") -> AliasEvent:
        """Point ``alias`` at ``version`` (which must be registered), atomically, and append the
        event to the history. Promoting the version the alias already holds changes nothing and
        returns the event that set it."""
        check_name(alias, "alias")
        if alias == LATEST:
            raise RegistryError("`latest` is implicit (the newest version) and cannot be moved",
                                "promote to another alias such as `production`")
        version = check_version(version)
        self.get(model, shard, version)
        return self.store.move_alias(model, shard, alias, lambda current, events: version,
                                     iso_utc(self.clock()), str(reason or ""))

    def rollback(self, model: str, shard: str, alias: str = "production", reason: str = "") -> AliasEvent:
        """Point ``alias`` back at the version it held before its current one (the ``previous``
        of its last history event), atomically, and record that. Two rollbacks in a row
        therefore toggle between the last two versions."""
        check_name(alias, "alias")
        series = f"{model}@{shard}"

        def decide(current: int | None, events: list[AliasEvent]) -> int:
            if current is None or not events:
                raise RegistryError(f"alias `{alias}` of {series} is not set", "promote a version first")
            if events[-1].previous is None:
                raise RegistryError(f"alias `{alias}` of {series} has no previous version to roll back to "
                                    f"(version {current} is the first it held)")
            return events[-1].previous

        if not self.store.versions(model, shard):
            raise self._unknown(model, shard, None)
        return self.store.move_alias(model, shard, alias, decide, iso_utc(self.clock()), str(reason or ""))

    def history(self, model: str, shard: str, alias: str | None = None) -> list[AliasEvent]:
        events = self.store.history(model, shard)
        return [e for e in events if alias is None or e.alias == alias]

    # ------------------------------------------------------------------ replicas
    def heartbeat(self, shard: str, replica: str, address: str, loaded: Mapping[str, Iterable[int]],
                  ttl_seconds: float) -> None:
        """Report the versions ``replica`` of ``shard`` has loaded; live for ``ttl_seconds``."""
        check_name(shard, "shard")
        if not isinstance(replica, str) or not replica or any(c.isspace() for c in replica):
            raise RegistryError(f"invalid replica name {replica!r}")
        if not ttl_seconds or ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        now = float(self.clock())
        self.store.heartbeat(ReplicaReport(shard, replica, str(address), normalize_loaded(loaded), now,
                                           now + float(ttl_seconds)))

    def replicas(self, shard: str | None = None) -> list[ReplicaReport]:
        """Live replicas (heartbeat not expired), sorted by (shard, replica)."""
        return self.store.replicas(float(self.clock()), shard)

    # ------------------------------------------------------------------ state
    def put_state(self, key: str, value: dict) -> None:
        if not isinstance(key, str) or not key:
            raise RegistryError(f"invalid state key {key!r}")
        if not isinstance(value, Mapping):
            raise RegistryError(f"state `{key}` must be a JSON object, not {type(value).__name__}")
        self.store.put_state(key, json.dumps(_plain(value), sort_keys=True, separators=(",", ":")))

    def get_state(self, key: str) -> dict | None:
        text = self.store.get_state(key)
        return None if text is None else json.loads(text)
