"""The registry's records and errors (plain frozen dataclasses, JSON round-trips)."""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping
from mlc.core.errors import MlcError

KINDS = ("full", "incremental")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class RegistryError(MlcError):
    """A problem the user can fix (unknown model/version/alias, nothing to roll back to,
    conflicting content ...). ``message`` is one line; ``hint`` an optional suggestion."""
    code = "E7204"

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class RegistryUnavailable(RegistryError):
    """The registry's store cannot be opened or reached (Redis down, SQLite file unusable)."""
    code = "E7203"


@dataclass(frozen=True)
class ModelVersion:
    app: str
    model: str
    shard: str
    version: int
    artifact: str
    kind: str                       # "full" | "incremental"
    parent: int | None
    spec_sha256: str | None
    mldl_sha256: str | None
    data_from: str | None
    data_to: str | None
    metrics: dict = field(hash=False)
    content_sha256: str
    registered_at: str              # ISO-8601 UTC, 'Z'

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ModelVersion":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})


@dataclass(frozen=True)
class AliasEvent:
    model: str
    shard: str
    alias: str
    version: int
    previous: int | None
    at: str                         # ISO-8601 UTC, 'Z'
    reason: str

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "AliasEvent":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})


@dataclass(frozen=True)
class ReplicaReport:
    shard: str
    replica: str
    address: str
    loaded: dict = field(hash=False)    # model -> tuple of loaded versions (sorted)
    at: float                           # clock() of the heartbeat
    expires_at: float

    def to_json(self) -> dict:
        return {"shard": self.shard, "replica": self.replica, "address": self.address,
                "loaded": {m: list(v) for m, v in self.loaded.items()}, "at": self.at, "expires_at": self.expires_at}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ReplicaReport":
        return cls(doc["shard"], doc["replica"], doc["address"], normalize_loaded(doc.get("loaded") or {}),
                   float(doc["at"]), float(doc["expires_at"]))


def normalize_loaded(loaded: Mapping[str, Iterable[int]]) -> dict[str, tuple[int, ...]]:
    """``{model: sorted unique int versions}`` with models in name order."""
    return {str(m): tuple(sorted({int(v) for v in loaded[m]})) for m in sorted(loaded)}


def iso_utc(seconds: float | None = None) -> str:
    """``2024-06-01T12:00:00.123Z`` (millisecond precision) of epoch ``seconds`` (now if None)."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise RegistryError(f"invalid {what} name {value!r}",
                            "names are letters, digits, `_`, `.` and `-`, starting with a letter, digit or `_`")
    return value


def check_version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RegistryError(f"invalid version {value!r}", "versions are positive integers")
    return int(value)
