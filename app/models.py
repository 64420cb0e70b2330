"""The model registry: `list`, `show`, `promote`, `rollback`.

The spec is built only for the application name (the registry's namespace) and to check the
model and shard names; the registry is ``registry``, else ``$MLC_REGISTRY``, else
``sqlite:.mlc/<app>/registry.sqlite`` beside the spec. Problems are MlcErrors: E7201 unknown
model/shard, E7202 ambiguous shard, E7203 registry unreachable, E7204 the registry refused
(unknown version, nothing to roll back to ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlc.app.common import built, Diagnostics, unshown
from mlc.core.errors import MlcError
from mlc.core.suggest import did_you_mean
from mlc.runtime.model_registry import default_registry_url, open_registry, RegistryError, RegistryUnavailable


def shards_of(ir: Any, model: str) -> list[str]:
    """The shards serving ``model`` (the implicit `main` when none does, as training does)."""
    found = [s.name for s in ir.deployment.shards if model in s.models]
    return sorted(found) if found else ["main"]


def check_model(ir: Any, model: str) -> None:
    names = [m.name for m in ir.models]
    if model not in names:
        raise MlcError(f"unknown model `{model}` in spec `{ir.name}`", code="E7201",
                       hint=did_you_mean(model, names, "models"))


def shard_for(ir: Any, model: str, shard: str | None) -> str:
    check_model(ir, model)
    shards = shards_of(ir, model)
    if shard is None:
        if len(shards) == 1:
            return shards[0]
        raise MlcError(f"model `{model}` is served by {len(shards)} shards: pass --shard", code="E7202",
                       hint="one of " + ", ".join(f"`{s}`" for s in shards))
    if shard not in shards:
        raise MlcError(f"model `{model}` has no shard `{shard}`", code="E7201", hint=did_you_mean(shard, shards, "shards"))
    return shard


def _open(spec: str, registry: str | None, ir: Any) -> Any:
    url = registry or default_registry_url(spec)
    return _call(lambda: open_registry(url, ir.name))


def _call(action):
    try:
        return action()
    except RegistryUnavailable as err:
        raise MlcError(err.message, code="E7203", hint=err.hint or "check --registry or MLC_REGISTRY") from None
    except RegistryError as err:
        raise MlcError(err.message, code="E7204", hint=err.hint) from None


# ------------------------------------------------------------------------- workflows


@dataclass
class Listing:
    app: str
    url: str
    versions: list                   # (version record, the aliases pointing at it)


def list_versions(spec: str, *, model: str | None = None, shard: str | None = None, registry: str | None = None,
                  env: str | None = None, diagnostics: Diagnostics = unshown) -> Listing:
    """Every registered version (of ``model``, on ``shard``), with its aliases."""

    ir = built(spec, env, diagnostics).ir
    if model is not None:
        check_model(ir, model)
    if shard is not None:
        shards = sorted({s for m in ir.models for s in shards_of(ir, m.name)})
        if shard not in shards:
            raise MlcError(f"unknown shard `{shard}` in spec `{ir.name}`", code="E7201",
                           hint=did_you_mean(shard, shards, "shards"))
    opened = _open(spec, registry, ir)
    try:
        versions = _call(lambda: opened.versions(model, shard))
        aliases = {}
        for series in sorted({(v.model, v.shard) for v in versions}):
            aliases[series] = _call(lambda: opened.aliases(*series))
        url = opened.url
    finally:
        opened.close()
    marked = [(v, sorted(a for a, n in aliases[(v.model, v.shard)].items() if n == v.version)) for v in versions]
    return Listing(ir.name, url, marked)


@dataclass
class Shown:
    app: str
    url: str
    record: Any
    aliases: dict
    history: list


def show(spec: str, model: str, version: int, *, shard: str | None = None, registry: str | None = None,
         env: str | None = None, diagnostics: Diagnostics = unshown) -> Shown:
    """One version: its record, the series' aliases and alias history."""
    ir = built(spec, env, diagnostics).ir
    shard = shard_for(ir, model, shard)
    opened = _open(spec, registry, ir)
    try:
        record = _call(lambda: opened.get(model, shard, version))
        aliases = _call(lambda: opened.aliases(model, shard))
        history = _call(lambda: opened.history(model, shard))
        url = opened.url
    finally:
        opened.close()
    return Shown(ir.name, url, record, aliases, history)


@dataclass
class Moved:
    """An alias move: the event, and the version the alias held before (None: none)."""
    event: Any
    before: Any = None
    shard: str = ""


def promote(spec: str, model: str, version: int, *, shard: str | None = None, alias: str = "production",
            reason: str = "", registry: str | None = None, env: str | None = None,
            diagnostics: Diagnostics = unshown) -> Moved:
    """Point ``alias`` at ``version`` (atomic, recorded in the history)."""
    ir = built(spec, env, diagnostics).ir
    shard = shard_for(ir, model, shard)
    opened = _open(spec, registry, ir)
    try:
        before = _call(lambda: opened.resolve(model, shard, alias))
        event = _call(lambda: opened.promote(model, shard, version, alias, reason))
    finally:
        opened.close()
    return Moved(event, before, shard)


def rollback(spec: str, model: str, *, shard: str | None = None, alias: str = "production", reason: str = "",
             registry: str | None = None, env: str | None = None, diagnostics: Diagnostics = unshown) -> Moved:
    """Point ``alias`` back at the version it held before."""
    ir = built(spec, env, diagnostics).ir
    shard = shard_for(ir, model, shard)
    opened = _open(spec, registry, ir)
    try:
        event = _call(lambda: opened.rollback(model, shard, alias, reason))
    finally:
        opened.close()
    return Moved(event, None, shard)
