"""Experiments in the predictor: assign a request, pick the variant's model, log exposures.

    router = ExperimentRouter(Assigner.load("build/experiments/config.json"),
                              ExposureLog("exposures.jsonl"))
    predictor = Predictor(ir, fitted, store, backend, namespace, experiments=router)

Per request (docs/experiments.md "Routing"):

1. the request fields the experiments read (unit fields, switchback regions, targeting
   references) are taken from the validated rows: a field whose rows all agree has that value,
   a field whose items disagree counts as missing (so the request is in no experiment on it);
2. ``Assigner.assign`` gives every assignment, ``Assigner.route`` the one that decides the
   model (switchbacks first, then layers; only models the request's shard serves, only the
   request's explicit ``model`` when it names one; a holdout never routes);
3. a variant's ``version`` is served as is; its ``alias`` is resolved by ``aliases(shard,
   model, alias) -> version`` (the model registry provides it); ``latest`` means the latest
   version; an alias nothing resolves does not route (normal route, ``routed: false``);
4. after the response is computed, one exposure line per assignment is written, ``routed``
   marking the deciding one. A request that fails logs nothing: its unit saw no variant.

A pinned version the backend cannot serve (not exported, not loaded) falls back to the normal
route (:meth:`ExperimentRouter.without_routing`) rather than failing the user's request; the
fallback is counted in ``fallbacks``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence

AliasResolver = Callable[[str, str, str], "int | None"]
LATEST = "latest"


@dataclass(frozen=True)
class Decision:
    """What the experiments decided for one request."""
    at: datetime
    assignments: tuple[Any, ...]        # mlc.runtime.experiments.assigner.Assignment
    routed: Any | None                  # the deciding assignment, or None (normal route)
    model: str | None = None            # the variant's model when routed
    version: int | None = None          # pinned or alias-resolved version; None: latest
    fell_back: bool = False             # the variant's version could not serve: normal route

    def summary(self) -> list[dict[str, Any]]:
        """The assignments as the response reports them."""
        return [{"experiment": a.experiment, "variant": a.variant, "routed": a is self.routed}
                for a in self.assignments]


class ExperimentRouter:
    def __init__(self, assigner: Any, exposures: Any = None, aliases: AliasResolver | None = None,
                 now: Callable[[], datetime] | None = None):
        self.assigner = assigner
        self.exposures = exposures
        self.aliases = aliases
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.fields = tuple(sorted(experiment_fields(assigner.config)))
        self.fallbacks = 0
        self._lock = threading.Lock()

    @property
    def config_version(self) -> str:
        return self.assigner.config.config_version

    def decide(self, columns: Mapping[str, Sequence[Any]], requested_model: str | None, shard: str,
               served: Sequence[str]) -> Decision:
        at = self.now()
        assignments = tuple(self.assigner.assign(request_fields(columns, self.fields), at))
        routed = self.assigner.route(assignments, served, requested_model) if assignments else None
        if routed is None:
            return Decision(at, assignments, None)
        version = routed.version
        if routed.alias is not None and routed.alias != LATEST:
            version = self.aliases(shard, routed.model, routed.alias) if self.aliases is not None else None
            if version is None:
                return Decision(at, assignments, None)
        return Decision(at, assignments, routed, routed.model, version)

    def without_routing(self, decision: Decision) -> Decision:
        """The same assignments on the normal route (the variant's model could not serve)."""
        with self._lock:
            self.fallbacks += 1
        return replace(decision, routed=None, model=None, version=None, fell_back=True)

    def record(self, decision: Decision, shard: str, request_id: str | None) -> None:
        if self.exposures is None or not decision.assignments:
            return
        self.exposures.write_all(decision.assignments, ts=decision.at, request_id=request_id,
                                 config_version=self.config_version, routed_assignment=decision.routed,
                                 shard=shard)

    def close(self) -> None:
        if self.exposures is not None and hasattr(self.exposures, "close"):
            self.exposures.close()


def request_fields(columns: Mapping[str, Sequence[Any]], names: Iterable[str]) -> dict[str, Any]:
    """Each named field whose rows all agree, with that value (nulls included)."""
    out = {}
    for name in names:
        column = columns.get(name)
        if not column:
            continue
        first = column[0]
        if all(value == first for value in column):
            out[name] = first
    return out


def experiment_fields(config: Any) -> set[str]:
    """Every request field an experiments config reads: units, regions, targeting references."""
    names: set[str] = set()
    for experiment in config.experiments:
        names.add(experiment.unit)
        names.update(_references(experiment.targeting))
    for switchback in config.switchbacks:
        names.add(switchback.unit)
        names.update(_references(switchback.targeting))
    return names


def _references(tree: Any) -> set[str]:
    if isinstance(tree, list):
        return set().union(*(_references(item) for item in tree)) if tree else set()
    if not isinstance(tree, dict):
        return set()
    found = {tree["name"]} if tree.get("kind") == "ref" else set()
    for value in tree.values():
        if isinstance(value, (dict, list)):
            found |= _references(value)
    return found
